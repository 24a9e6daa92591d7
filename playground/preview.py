"""image + spec + seed -> the preview grid: 8 samples and the values each one drew.

The grid is one HTML fragment with the samples inlined as JPEG data URIs: one response, no
extra file fetches, which is most of what makes a slider feel live (docs/benchmarks.md).
"""

from __future__ import annotations

import base64
import html
import io
import os
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from pipelines.cost import PreviewPlan, PreviewTooCostly, preview_plan
from pipelines.samples import (
    SAMPLE_COUNT,
    PreviewTimeout,
    Sample,
    render_samples,
    render_steps,
    strength_strip,
)
from pipelines.spec import PipelineSpec
from playground import budget
from playground.images import source_size

# What one preview may cost (pipelines.cost estimates it before rendering): on a Space, where
# every visitor shares the CPU, a few seconds; locally the user waits only for themself.
BUDGET_ENV = "PLAYGROUND_PREVIEW_BUDGET_S"
SPACE_BUDGET_S = 4.0
LOCAL_BUDGET_S = 60.0
DEADLINE_FACTOR = 3.0  # a render that outruns its estimate this much stops between steps
# Estimated above this, a render runs in its request's own thread instead of the shared sample
# pool, where the next visitor's samples would queue behind its 8 (docs/benchmarks.md)
POOLED_S = 0.25


def budget_s() -> float:
    raw = os.environ.get(BUDGET_ENV, "").strip()
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        value = 0.0
    if value > 0:
        return value
    return SPACE_BUDGET_S if budget.on_space() else LOCAL_BUDGET_S


def _bounded(
    spec: PipelineSpec, image: Image.Image, count: int
) -> tuple[Image.Image, PreviewPlan, float, str]:
    """(the image to render, the plan, the deadline, a note when the preview was reduced);
    PreviewTooCostly when no preview fits the budget."""
    budget = budget_s()
    plan = preview_plan(spec, image.size, count, budget)
    note = ""
    if plan.scale < 1.0:
        size = (max(1, round(image.width * plan.scale)), max(1, round(image.height * plan.scale)))
        given = f"{image.width} x {image.height} px"
        image = image.resize(size, Image.Resampling.BILINEAR)
        note = f"shown on a {size[0]} x {size[1]} px copy of the {given} input"
    if plan.count < count:
        note += ("; " if note else "shown with ") + f"{plan.count} of {count} samples"
    if note:
        note = (
            f"This pipeline is costly (about {plan.full_seconds:,.0f} s to preview in full, and "
            f"a preview may take {budget:g} s on this server): {note}."
        )
    return image, plan, time.monotonic() + DEADLINE_FACTOR * max(budget, plan.seconds), note


def _refusal(err: Exception, kind: str = "sample-grid") -> str:
    if isinstance(err, PreviewTimeout):
        text = (
            "Not previewed: the preview ran past this server's time budget and was stopped. "
            "Lower the costliest step's size or strength."
        )
    elif isinstance(err, PreviewTooCostly):
        text = f"Not previewed: {err}"
    else:  # torchvision refused these settings on this image (an ElasticTransform field
        # larger than the image, say): the pipeline is valid, this image is too small for it
        text = f"Not previewed: torchvision could not apply this pipeline to this image ({err})"
    return (
        f'<div class="{kind} preview-refused"><p class="preview-note">{html.escape(text)}</p></div>'
    )


def _guarded(work: Callable[[], Any]) -> tuple[Any, Exception | None]:
    try:
        return work(), None
    except (PreviewTooCostly, PreviewTimeout, RuntimeError) as err:
        return None, err


JPEG_QUALITY = 90
SMALL_SIDE = 64  # samples up to this side are training resolution (CIFAR): PNG, pixelated


def caption(sample: Sample) -> list[str]:
    """One line per active step: what that step drew for this sample (pipelines.samples)."""
    return sample.captions


def encode_jpeg(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def image_src(image: Image.Image) -> str:
    """A data URI: PNG for training-resolution samples (CIFAR's 32 px), whose every pixel shows
    when enlarged and which JPEG's 8x8 blocks and colour subsampling would smear; JPEG else."""
    if max(image.size) > SMALL_SIDE:
        return f"data:image/jpeg;base64,{encode_jpeg(image)}"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def view_note(samples: list[Sample]) -> str:
    """Which view the grid is in, said in the grid. Both sentences are in the page; the "Show
    samples at" switch (playground.ui, CSS) shows the one that holds."""
    sizes = sorted({s.image.size for s in samples})
    size = " / ".join(f"{w} x {h}" for w, h in sizes)
    small = max(max(s) for s in sizes) <= SMALL_SIDE
    display = (
        f"Display size: the {size} px samples enlarged to fit, each pixel a sharp square."
        if small
        else f"Display size: the {size} px samples scaled to fit."
    )
    native = f"Training resolution: {size} px, one image pixel per screen pixel"
    native += "." if small else " (shrunk where wider than the column)."
    return (
        f'<p class="grid-view-note"><span class="view-display">{display}</span>'
        f'<span class="view-native">{native}</span></p>'
    )


def grid_html(samples: list[Sample], seed: int) -> str:
    figures = []
    for i, sample in enumerate(samples):
        text = "<br>".join(html.escape(line) for line in caption(sample)) or "no active steps"
        w, h = sample.image.size
        figures.append(
            f'<figure class="sample" data-index="{i}">'
            f'<img alt="sample {i + 1}" width="{w}" height="{h}" src="{image_src(sample.image)}">'
            f"<figcaption>{text}</figcaption></figure>"
        )
    small = bool(samples) and max(max(s.image.size) for s in samples) <= SMALL_SIDE
    kind = "sample-grid small" if small else "sample-grid"
    note = view_note(samples) if samples else ""
    return f'<div class="{kind}" data-seed="{seed}">{note}{"".join(figures)}</div>'


def output_size_text(spec: PipelineSpec, image: Image.Image, samples: list[Sample]) -> str:
    sizes = {s.image.size for s in samples}
    size = " / ".join(f"{w} x {h}" for w, h in sorted(sizes)) if sizes else "-"
    active = " -> ".join(s.transform for s in spec.image_steps)
    if spec.batch_steps:  # they run after every per-image step, wherever a file lists them
        mixing = " -> ".join(s.transform for s in spec.batch_steps)
        active = f"{active}, then on the batch: {mixing}" if active else f"on the batch: {mixing}"
    return f"{input_text(image)} -> output {size} px. Order: {active or 'nothing (all steps off)'}."


def input_text(image: Image.Image) -> str:
    """What the pipeline is applied to; says so when the upload was scaled down to preview it."""
    source = source_size(image)
    if source is None:
        return f"Input {image.width} x {image.height} px"
    return (
        f"Input scaled down from {source[0]} x {source[1]} to {image.width} x {image.height} px "
        "for the preview"
    )


def render(spec: PipelineSpec, image: Image.Image, seed: int) -> tuple[str, str]:
    """(grid HTML, one-line summary) for the Augment tab. A pipeline whose preview would cost
    more than this server's budget is shown smaller or with fewer samples (said above the
    grid), or not at all (said instead of the grid); it never holds the CPU for minutes."""

    def work() -> tuple[list[Sample], str, Image.Image]:
        small, plan, deadline, note = _bounded(spec, image, SAMPLE_COUNT)
        pooled = plan.seconds <= POOLED_S
        return render_samples(spec, small, seed, plan.count, deadline, pooled), note, small

    result, err = _guarded(work)
    if err is not None:
        return _refusal(err), f"⚠️ {input_text(image)}: not previewed (see above the grid)."
    samples, note, small = result
    grid = grid_html(samples, seed)
    if note:
        grid = grid.replace(">", f'><p class="preview-note">{html.escape(note)}</p>', 1)
    summary = output_size_text(spec, small if note else image, samples)
    return grid, (f"{note} " if note else "") + summary


def _figure(image: Image.Image, lines: list[str], index: int) -> str:
    text = "<br>".join(html.escape(line) for line in lines)
    w, h = image.size
    return (
        f'<figure class="sample" data-index="{index}">'
        f'<img alt="image {index + 1}" width="{w}" height="{h}" '
        f'src="data:image/jpeg;base64,{encode_jpeg(image)}">'
        f"<figcaption>{text}</figcaption></figure>"
    )


def step_titles(spec: PipelineSpec) -> dict[str, str]:
    """Each active step's key ("ColorJitter#1", an internal id) -> how the editor titles it:
    its number in the step list and its label ("4. Colour jitter")."""
    active = [(i, step) for i, step in enumerate(spec.steps) if step.enabled]
    return {
        key: f"{i + 1}. {step.definition.label}"
        for key, (i, step) in zip(spec.step_keys(), active, strict=True)
    }


def steps_html(spec: PipelineSpec, image: Image.Image, seed: int, index: int) -> str:
    """Sample `index` after each step, with what each step drew (the last is the grid's)."""

    def work() -> tuple[list, Image.Image]:
        small, _, deadline, _ = _bounded(spec, image, 1)
        return render_steps(spec, small, seed, index, deadline), small

    result, err = _guarded(work)
    if err is not None:
        return _refusal(err, "sample-grid steps-view")
    rows, image = result
    if not rows:
        return '<div class="sample-grid steps-view">no active steps</div>'
    titles = step_titles(spec)
    figures = [_figure(image, ["input"], 0)]
    figures += [
        _figure(shown, [titles[key], text], n + 1) for n, (key, shown, text) in enumerate(rows)
    ]
    return f'<div class="sample-grid steps-view">{"".join(figures)}</div>'


def strength_choices(spec: PipelineSpec) -> list[tuple[str, str]]:
    """(label, "key/param") for every numeric parameter of the active per-image steps."""
    choices = []
    titles = step_titles(spec)
    for key, step in zip(spec.step_keys(), spec.active, strict=True):
        if step.definition.batch:
            continue
        for p in step.definition.params:
            if p.kind in ("int", "float"):
                choices.append((f"{titles[key]} · {p.label}", f"{key}/{p.name}"))
    return choices


def strength_html(
    spec: PipelineSpec, image: Image.Image, seed: int, index: int, choice: str
) -> str:
    """One parameter at 8 strengths over its range, on sample `index` (other draws fixed)."""
    key, _, param = choice.partition("/")

    def work() -> list:
        small, _, deadline, _ = _bounded(spec, image, SAMPLE_COUNT)
        return strength_strip(spec, small, seed, key, param, index, deadline)

    strip, err = _guarded(work)
    if err is not None:
        return _refusal(err, "sample-grid strength-view")
    keyed = zip(spec.step_keys(), spec.active, strict=True)
    image_keys = [k for k, step in keyed if not step.definition.batch]
    figures = []
    for n, (value, result) in enumerate(strip):
        label = f"{param} = {value:.3g}"
        if isinstance(result, str):
            figures.append(
                f'<figure class="sample" data-index="{n}"><figcaption>{html.escape(label)}'
                f"<br>not valid here: {html.escape(result)}</figcaption></figure>"
            )
        else:
            lines = [label, result.captions[image_keys.index(key)]]
            figures.append(_figure(result.image, lines, n))
    return f'<div class="sample-grid strength-view">{"".join(figures)}</div>'
