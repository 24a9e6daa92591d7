"""The Augment tab: image in, controls for every catalogue transform, a live 8-sample grid.

Layout and event wiring only; the callbacks are plain functions of plain values (tests call
them directly), built on playground.controls, playground.preview and playground.images.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from pipelines.catalogue import CATALOGUE, PRESETS
from pipelines.spec import PipelineSpec, SpecError, load, preset
from playground import preview
from playground.controls import FIELDS, spec_from_values, values_from_spec
from playground.images import ImageLoadError, describe, load_image

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SAMPLE_IMAGES = {
    "cat": "chelsea.png",
    "coffee": "coffee.png",
    "astronaut": "astronaut.png",
    "rocket": "rocket.jpg",
}
DEFAULT_SAMPLE = "cat"
MAX_SEED = 2**31 - 1


def sample_image(name: str) -> Image.Image:
    return load_image(ASSETS / SAMPLE_IMAGES[name])


def _render(spec: PipelineSpec, image: Image.Image | None, seed: Any) -> tuple[str, str]:
    if image is None:
        return "", "Upload an image or pick a sample to see the preview."
    return preview.render(spec, image, _seed(seed))


def _seed(value: Any) -> int:
    try:
        return int(value) % (MAX_SEED + 1)
    except (TypeError, ValueError, OverflowError):
        return 0


def on_controls(image: Image.Image | None, seed: Any, spec: PipelineSpec, *values: Any):
    """A control moved: re-render, or explain why the settings are invalid and keep the grid."""
    try:
        new_spec = spec_from_values(values, base=spec)
    except SpecError as err:
        return gr.skip(), f"⚠️ {err}", spec
    grid, summary = _render(new_spec, image, seed)
    return grid, summary, new_spec


def on_new_samples(image: Image.Image | None, spec: PipelineSpec):
    seed = random.randint(0, MAX_SEED)
    grid, summary = _render(spec, image, seed)
    return seed, grid, summary


def on_image(source: Any, spec: PipelineSpec, seed: Any, current: Image.Image | None):
    """An upload or a sample pick: sanitise it, show it, re-render; a bad file keeps the old one."""
    if source is None:
        return current, gr.skip(), gr.skip(), gr.skip()
    try:
        image = sample_image(source) if source in SAMPLE_IMAGES else load_image(source)
    except ImageLoadError as err:
        return current, gr.skip(), gr.skip(), f"⚠️ {err} The previous image is kept."
    grid, summary = _render(spec, image, seed)
    shown = gr.update(value=image, label=f"Input: {describe(image)}")
    return image, shown, grid, summary


def on_pipeline(source: Any, image: Image.Image | None, seed: Any, spec: PipelineSpec):
    """A pipeline file upload or a preset pick: restore every control from it."""
    if not source:
        return [spec, *([gr.skip()] * len(FIELDS)), gr.skip(), gr.skip()]
    try:
        new_spec = preset(source) if source in PRESETS else load(source)
    except SpecError as err:
        return [spec, *([gr.skip()] * len(FIELDS)), gr.skip(), f"⚠️ Pipeline not loaded: {err}"]
    grid, summary = _render(new_spec, image, seed)
    return [new_spec, *values_from_spec(new_spec), grid, summary]


def _control(field) -> gr.components.Component:
    p = field.param
    if p is None:
        return gr.Checkbox(value=field.transform.default_enabled, label="on", elem_id=field.elem_id)
    if p.kind == "choice":
        return gr.Dropdown(list(p.choices), value=p.default, label=p.label, elem_id=field.elem_id)
    if p.kind == "bool":
        return gr.Checkbox(value=p.default, label=p.label, elem_id=field.elem_id)
    return gr.Slider(
        p.low,
        p.high,
        value=p.default,
        step=p.step,
        label=p.label,
        info=p.info or None,
        elem_id=field.elem_id,
    )


def build_controls() -> list[gr.components.Component]:
    """One accordion per catalogue transform (open when on by default): switch, then parameters."""
    controls: list[gr.components.Component] = []
    for tdef in CATALOGUE:
        with gr.Accordion(f"{tdef.label} · {tdef.name}", open=tdef.default_enabled):
            controls.extend(_control(f) for f in FIELDS if f.transform is tdef)
    return controls


def build_tab(spec_state: gr.State, image_state: gr.State) -> dict[str, Any]:
    first_image = image_state.value
    first_grid, first_summary = preview.render(spec_state.value, first_image, 0)
    with gr.Row(equal_height=True):
        upload = gr.File(
            label="Upload an image",
            file_types=["image"],
            type="filepath",
            height=140,
            elem_id="upload",
        )
        shown = gr.Image(
            value=first_image,
            label=f"Input: {describe(first_image)}",
            interactive=False,
            height=140,
            elem_id="input-image",
        )
        with gr.Column():
            sample = gr.Radio(
                list(SAMPLE_IMAGES), value=DEFAULT_SAMPLE, label="…or a sample", elem_id="sample"
            )
            presets = gr.Dropdown(
                [(f"{n}: {p.description}", n) for n, p in PRESETS.items()],
                value=None,
                label="Start from a preset",
                elem_id="preset",
            )
        with gr.Column():
            seed = gr.Number(value=0, precision=0, label="Seed", elem_id="seed", minimum=0)
            new_samples = gr.Button("New samples", elem_id="new-samples")
    with gr.Row():
        with gr.Column(scale=1, min_width=280, elem_id="controls"):
            controls = build_controls()
        with gr.Column(scale=3):
            summary = gr.Markdown(first_summary, elem_id="preview-summary")
            grid = gr.HTML(first_grid, elem_id="preview-grid", js_on_load=None)
            gr.Markdown(
                "Each sample seeds each of its steps on its own (seed, sample number, step), so "
                "moving one slider changes only what that step draws. The Export tab's code "
                "reproduces these samples exactly.",
                elem_id="seeding-note",
            )

    fast = {"queue": False, "show_progress": "hidden", "trigger_mode": "always_last"}
    control_inputs = [image_state, seed, spec_state, *controls]
    render_outputs = [grid, summary, spec_state]
    for control in controls:
        event = control.input if isinstance(control, gr.Slider) else control.change
        event(on_controls, control_inputs, render_outputs, api_name=False, **fast)
    seed.submit(on_controls, control_inputs, render_outputs, api_name="render", **fast)
    seed.blur(on_controls, control_inputs, render_outputs, api_name=False, **fast)
    new_samples.click(
        on_new_samples, [image_state, spec_state], [seed, grid, summary], api_name="new_samples"
    )
    image_outputs = [image_state, shown, grid, summary]
    upload.upload(
        on_image, [upload, spec_state, seed, image_state], image_outputs, api_name="upload"
    )
    sample.input(
        on_image, [sample, spec_state, seed, image_state], image_outputs, api_name="sample"
    )
    pipeline_outputs = [spec_state, *controls, grid, summary]
    presets.input(
        on_pipeline, [presets, image_state, seed, spec_state], pipeline_outputs, api_name="preset"
    )
    return {
        "controls": controls,
        "grid": grid,
        "summary": summary,
        "seed": seed,
        "pipeline_outputs": pipeline_outputs,
    }
