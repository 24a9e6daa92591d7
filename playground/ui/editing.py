"""The Augment tab's edits: the seed, a step's control, the step list (add, remove, move,
duplicate), a preset or a pipeline file. Plain functions of plain values (tests call them
directly); the editor's edits themselves are playground.controls, what they show
playground.augment_view."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import gradio as gr
from PIL import Image

from pipelines.catalogue import PRESETS, Param
from pipelines.spec import PipelineSpec, SpecError, validate
from playground import controls
from playground.augment_view import (
    Layout,
    load_pipeline,
    relayout,
    render,
    show_pipeline,
    size_hint,
)

MAX_SEED = int(controls.SEED.high)


def on_seed(image: Image.Image | None, seed: Any, spec: PipelineSpec):
    """The seed was typed (Enter or leaving the box): (seed box, grid, summary). A number outside
    0..MAX_SEED is clamped, one not whole is rounded; either way the box shows the seed used and
    the summary says why it changed."""
    used = controls.typed_seed(seed)
    grid, summary = render(spec, image, used)
    if seed == used or seed is None or isinstance(seed, bool):
        return gr.skip(), grid, summary
    if isinstance(seed, (int, float)) and seed == seed:
        summary = f"{controls.seed_note(seed, used)} {summary}"
    return used, grid, summary


def on_new_samples(image: Image.Image | None, spec: PipelineSpec):
    seed = random.randint(0, MAX_SEED)
    grid, summary = render(spec, image, seed)
    return seed, grid, summary


def on_edit(
    edit: Callable[[PipelineSpec, Any], PipelineSpec],
    image: Image.Image | None,
    seed: Any,
    spec: PipelineSpec,
    draft: PipelineSpec | None,
    value: Any,
    param: Param | None = None,
):
    """A step's control moved: (grid, summary, spec, draft, the step's note).

    `edit(pipeline, value)` returns the edited pipeline unchecked. The edit applies to what the
    boxes show: the draft when one is held (a value was refused earlier), else the pipeline. When
    the result validates it becomes the pipeline (and the draft is dropped); when it does not,
    the pipeline, the grid and everything that uses them keep their last valid state, the draft
    keeps what the boxes show, the refused step's note says why and the summary says that
    nothing uses the boxes until it is fixed. A number typed outside `param`'s declared range
    is clamped when the box is left (on_release); until then the note says what it will be."""
    if param is not None and controls.out_of_range(param, value):
        note = controls.range_note(param, value, pending=True)
        return gr.skip(), gr.skip(), spec, draft, note
    base = spec if draft is None else draft
    new_draft = edit(base, value)
    try:
        new_spec = validate(new_draft)
    except SpecError as err:
        refused = controls.refused_step(err)
        note = (
            controls.step_note(err)
            if refused in (None, controls.changed_step(base, new_draft))
            else ""
        )
        return gr.skip(), controls.refused_summary(err, new_draft), spec, new_draft, note
    grid, summary = render(new_spec, image, seed)
    return grid, summary, new_spec, None, ""


def on_release(
    edit: Callable[[PipelineSpec, Any], PipelineSpec],
    image: Image.Image | None,
    seed: Any,
    spec: PipelineSpec,
    draft: PipelineSpec | None,
    value: Any,
    param: Param,
):
    """A slider let go or its number box left: (slider, grid, summary, spec, draft, note).

    A number outside the declared range is clamped to it, applied, and shown in the box. Gradio's
    own frontend clamps the box to the slider's ends on leaving it; a valid value beyond a
    track's end (RATIO_TRACK) is put back and the slider widened to show it. Anything else was
    already applied by the `input` event: nothing to do."""
    used = controls.clamp(param, value)
    low, high = controls.slider_bounds(param, used)
    if used == value and param.slider_range == (low, high):
        return (gr.skip(),) * 6
    grid, summary, new_spec, new_draft, note = on_edit(edit, image, seed, spec, draft, used)
    if used != value:  # and, when a check between parameters refuses the result, why
        note = f"{controls.range_note(param, value)} {note.removeprefix('⚠️ ')}".strip()
    slider = gr.update(value=used, minimum=low, maximum=high)
    return slider, grid, summary, new_spec, new_draft, note


def on_structure(
    change: Callable[[PipelineSpec], PipelineSpec],
    image: Image.Image | None,
    seed: Any,
    spec: PipelineSpec,
    layout: Layout,
):
    """Add, remove, move or duplicate a step: (spec, step list, grid, summary, draft). The step
    list is drawn anew from the pipeline, so a refused value held in the boxes (the draft) goes:
    the boxes show the pipeline in use again."""
    try:
        new_spec = change(spec)
    except SpecError as err:
        text = str(err)
        return spec, gr.skip(), gr.skip(), f"⚠️ {text[:1].upper()}{text[1:]}.", gr.skip()
    grid, summary = render(new_spec, image, seed)
    return new_spec, relayout(layout, new_spec), grid, summary, None


def on_add(transform: Any, image: Image.Image | None, seed: Any, spec: PipelineSpec, layout):
    return on_structure(lambda s: controls.add_step(s, transform), image, seed, spec, layout)


def on_pipeline(
    source: Any, image: Image.Image | None, seed: Any, spec: PipelineSpec, layout: Layout
):
    """A pipeline file upload or a preset pick: the editor shows it exactly (order, repeats,
    step probabilities)."""
    if not source:
        return [spec, gr.skip(), gr.skip(), gr.skip(), gr.skip()]
    try:
        new_spec = load_pipeline(source)
    except SpecError as err:
        return [spec, gr.skip(), gr.skip(), f"⚠️ Pipeline not loaded: {err}", gr.skip()]
    shown = show_pipeline(new_spec, image, seed, layout)
    hint = size_hint(PRESETS.get(source), image)
    return [*shown[:3], f"{shown[3]} {hint}" if hint else shown[3], *shown[4:]]


def clear_preset():
    """A preset is a starting point: once loaded into the editor (and edited, likely), its
    name would no longer describe the pipeline, so the picker goes back to empty."""
    return None
