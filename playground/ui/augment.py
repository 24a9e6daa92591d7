"""The Augment tab: image in, a pipeline editor (ordered steps), a live 8-sample grid.

Layout and event wiring only; the callbacks are plain functions of plain values (tests call
them directly), built on playground.controls (the editor's edits), playground.preview and
playground.images. The step list is drawn by `gr.render` from `layout_state`, which changes only
when the list itself changes (add, remove, move, duplicate, preset, file); a slider edits
`spec_state` alone, so dragging never re-draws the list. Element ids: see playground.controls.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from pipelines.catalogue import PRESETS, STEP_P, Param, Preset
from pipelines.spec import (
    PipelineSpec,
    SpecError,
    default_spec,
    from_json,
    load,
    preset,
    validate,
)
from playground import controls, preview, share
from playground.controls import StepView, step_views
from playground.images import ImageLoadError, describe, load_image

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SAMPLE_IMAGES = {
    "cat": "chelsea.png",
    "coffee": "coffee.png",
    "astronaut": "astronaut.png",
    "rocket": "rocket.jpg",
}
DEFAULT_SAMPLE = "cat"
MAX_SEED = int(controls.SEED.high)
FAST = {"queue": False, "show_progress": "hidden", "trigger_mode": "always_last"}

GRID_VIEW_JS = "(view) => { document.documentElement.dataset.gridView = view; }"
# The share query becomes a full link in the box, copied to the clipboard where the browser
# allows it; the page's own address does not change (it would then outlive later edits).
SHARE_JS = """(query) => {
  if (!query?.startsWith("?")) return query;
  const link = location.origin + location.pathname + query;
  navigator.clipboard?.writeText(link).catch(() => {});
  return link;
}"""
# Once a shared link is applied, its query leaves the page's address (other parameters stay).
CLEAR_QUERY_JS = f"""() => {{
  const url = new URL(location.href);
  for (const name of {list(share.QUERY_PARAMS)!r}) url.searchParams.delete(name);
  if (url.href !== location.href) history.replaceState(null, "", url.href);
}}"""

# A step's order buttons: (text, what it does). The text keeps to characters every common font
# has (a rarer symbol such as U+29C9 drew as an empty box); what it does becomes each button's
# tooltip and accessible name (STEP_BUTTONS_JS: Gradio's Button takes neither).
STEP_BUTTONS = {
    "up": ("↑", "Move step {} up"),
    "down": ("↓", "Move step {} down"),
    "duplicate": ("Copy", "Duplicate step {}"),
    "remove": ("×", "Remove step {}"),
}
# Run once by an empty gr.HTML: label every step button drawn now and later (gr.render redraws
# the list), naming the step: "Remove step 2 (Random resized crop)".
STEP_BUTTONS_JS = r"""
const said = SAID;
const label = () => {
  for (const step of document.querySelectorAll('.pipeline-step')) {
    const title = step.querySelector('.step-title')?.innerText?.split(' · ')[0]?.trim() ?? '';
    const [, number, name] = title.match(/^(\d+)\.\s*(.*)$/) ?? [];
    for (const button of step.querySelectorAll('button[id]')) {
      const what = said[button.id.split('-').pop()];
      const text = what?.replace(' {}', number ? ` ${number} (${name})` : '');
      if (text && button.getAttribute('aria-label') !== text) {
        button.setAttribute('aria-label', text);
        button.title = text;
      }
    }
  }
};
label();
new MutationObserver(label).observe(document.body, {childList: true, subtree: true});
""".replace("SAID", json.dumps({name: what for name, (_, what) in STEP_BUTTONS.items()}))

# (version, the JSON of the spec the step list is drawn from). Gradio hashes a State that has
# listeners on every event, and a PipelineSpec (dicts inside) cannot be hashed: text can.
Layout = tuple[int, str]


def sample_image(name: str) -> Image.Image:
    return load_image(ASSETS / SAMPLE_IMAGES[name])


def _render(spec: PipelineSpec, image: Image.Image | None, seed: Any) -> tuple[str, str]:
    if image is None:
        return "", "Upload an image or pick a sample to see the preview."
    return preview.render(spec, image, _seed(seed))


def _seed(value: Any) -> int:
    """The seed box's number as the seed: whole, within 0..MAX_SEED (clamped: see on_seed)."""
    try:
        return int(controls.clamp(controls.SEED, round(value)))
    except (TypeError, ValueError, OverflowError):
        return 0


def _relayout(layout: Layout, spec: PipelineSpec) -> Layout:
    return (layout[0] + 1, spec.to_json())


def on_seed(image: Image.Image | None, seed: Any, spec: PipelineSpec):
    """The seed was typed (Enter or leaving the box): (seed box, grid, summary). A number outside
    0..MAX_SEED is clamped, one not whole is rounded; either way the box shows the seed used and
    the summary says why it changed."""
    used = _seed(seed)
    grid, summary = _render(spec, image, used)
    if seed == used or seed is None or isinstance(seed, bool):
        return gr.skip(), grid, summary
    if isinstance(seed, (int, float)) and seed == seed:
        summary = f"{controls.seed_note(seed, used)} {summary}"
    return used, grid, summary


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
        note = controls.step_note(err) if refused in (None, _changed_step(base, new_draft)) else ""
        return gr.skip(), controls.refused_summary(err, new_draft), spec, new_draft, note
    grid, summary = _render(new_spec, image, seed)
    return grid, summary, new_spec, None, ""


def _changed_step(before: PipelineSpec, after: PipelineSpec) -> int | None:
    pairs = zip(before.steps, after.steps, strict=False)
    return next((i for i, (a, b) in enumerate(pairs) if a != b), None)


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
    grid, summary = _render(new_spec, image, seed)
    return new_spec, _relayout(layout, new_spec), grid, summary, None


def on_add(transform: Any, image: Image.Image | None, seed: Any, spec: PipelineSpec, layout):
    return on_structure(lambda s: controls.add_step(s, transform), image, seed, spec, layout)


def on_steps(image: Image.Image | None, seed: Any, spec: PipelineSpec, sample: Any) -> str:
    """The step-by-step view: one sample (1-8) after each step, with what each step drew."""
    if image is None:
        return ""
    return preview.steps_html(spec, image, _seed(seed), _sample_index(sample))


def on_strength(
    image: Image.Image | None, seed: Any, spec: PipelineSpec, sample: Any, choice: Any
) -> str:
    """The strength strip: one parameter ("key/param") at 8 strengths on one sample."""
    if image is None or not choice:
        return ""
    try:
        return preview.strength_html(spec, image, _seed(seed), _sample_index(sample), choice)
    except (SpecError, KeyError, ValueError) as err:  # a step removed since it was picked
        return f"<p>⚠️ {err}</p>"


def refresh_views(
    image: Image.Image | None, seed: Any, spec: PipelineSpec, sample: Any, choice: Any, shown: Any
):
    """After a new image: (step by step, strength strip) drawn again from it where they are
    shown (`shown`: the step-by-step view's content), so neither keeps the previous image."""
    steps = on_steps(image, seed, spec, sample) if shown else gr.skip()
    strength = on_strength(image, seed, spec, sample, choice) if choice else gr.skip()
    return steps, strength


def strength_update(layout: Layout):
    """The strength strip's parameter list follows the step list."""
    return gr.update(choices=preview.strength_choices(from_json(layout[1])), value=None)


def _sample_index(value: Any) -> int:
    try:
        return min(max(int(value), 1), 8) - 1
    except (TypeError, ValueError):
        return 0


def clear_preset():
    """A preset is a starting point: once loaded into the editor (and edited, likely), its
    name would no longer describe the pipeline, so the picker goes back to empty."""
    return None


def sample_after_upload(summary: str) -> tuple[Any, Any]:
    """(sample pick, upload box) after an upload. An uploaded image is no longer the picked
    sample: clear the pick. A refused file keeps the previous image and its pick, and leaves
    the upload box, which would otherwise list it as if it were the image shown."""
    if summary.startswith("⚠️"):
        return gr.skip(), None
    return None, gr.skip()


LINK_LABEL = "Link to this pipeline, seed and sample image"
UPLOAD_NOT_SHARED = (
    "Link to this pipeline and seed. Your uploaded image cannot travel in a link: whoever opens "
    f"it sees the {DEFAULT_SAMPLE} photo, so their grid differs."
)


def on_share(spec: PipelineSpec, seed: Any, sample: Any = DEFAULT_SAMPLE):
    """The "Share link" button: the link box gets the query string of the pipeline, the seed and
    the sample image on screen (SHARE_JS makes it a full link; the page's own address is left
    alone, so a reload never brings back a pipeline shared earlier). `sample` is the sample
    picked, None after an upload: an uploaded image stays out of the link, and the box says so."""
    name = sample if sample in SAMPLE_IMAGES else None
    return gr.update(
        value=share_query(spec, seed, name), label=LINK_LABEL if name else UPLOAD_NOT_SHARED
    )


def share_query(spec: PipelineSpec, seed: Any, sample: str | None = DEFAULT_SAMPLE) -> str:
    """ "?pipeline=...&seed=...&image=...": what opens the page on this pipeline, seed and image."""
    return "?" + share.encode(spec, _seed(seed), sample)


def on_shared_link(
    query: dict[str, str],
    image: Image.Image | None,
    seed: Any,
    spec: PipelineSpec,
    layout: Layout,
):
    """A page opened with a shared link: (spec, step list, seed, grid, summary, draft, image,
    the image shown, the sample pick) restored from its query; a link that cannot be read says
    why, and the default pipeline stays. The page then removes the query from its address
    (CLEAR_QUERY_JS): the editor is the truth from here on, and a reload must not undo edits."""
    skip = gr.skip()
    try:
        shared = share.decode(query)
        name = share.image(query, SAMPLE_IMAGES)
    except share.ShareError as err:
        grid, summary = _render(default_spec(), image, seed)
        message = f"⚠️ This link's pipeline could not be read: {err}. Showing the default pipeline."
        new_layout = _relayout(layout, default_spec())
        summary = f"{message} {summary}"
        return default_spec(), new_layout, 0, grid, summary, None, skip, skip, skip
    if shared is None and name is None:
        return (skip,) * 9
    pictured = (skip, skip, skip)
    if name is not None:
        image = sample_image(name)
        pictured = (image, gr.update(value=image, label=f"Input: {describe(image)}"), name)
    new_spec, new_seed = shared if shared is not None else (spec, _seed(seed))
    new_spec, moved = _mixing_last(new_spec)
    grid, summary = _render(new_spec, image, new_seed)
    summary = f"{moved} {summary}".strip()
    return new_spec, _relayout(layout, new_spec), new_seed, grid, summary, None, *pictured


def on_new_samples(image: Image.Image | None, spec: PipelineSpec):
    seed = random.randint(0, MAX_SEED)
    grid, summary = _render(spec, image, seed)
    return seed, grid, summary


def _mixing_last(spec: PipelineSpec) -> tuple[PipelineSpec, str]:
    """The pipeline as the editor lists it (mixing steps last, where they run), and a word on
    it when that moved a step."""
    listed = controls.mixing_last(spec)
    if listed == spec:
        return spec, ""
    names = ", ".join(dict.fromkeys(s.transform for s in spec.steps if s.definition.batch))
    return listed, f"{names} listed last: mixing runs on the batch, after every per-image step."


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


def size_hint(loaded: Preset | None, image: Image.Image | None) -> str:
    """A preset made for small images (CIFAR's 32 x 32) on a photo: its crops show a patch of
    fur, not what it does to the images it was made for; say so."""
    side = loaded.image_side if loaded else None
    if side is None or image is None or min(image.size) <= 2 * side:
        return ""
    return (
        f"ℹ️ {loaded.name} is made for {side} x {side} images (CIFAR's): on this "
        f"{image.width} x {image.height} picture its {side} px crops show only a patch. Upload a "
        f"{side} x {side} image to see what it does in training."
    )


def load_pipeline(source: str) -> PipelineSpec:
    """A preset's name or a pipeline file's path as a spec (SpecError says why not)."""
    return preset(source) if source in PRESETS else load(source)


def show_pipeline(spec: PipelineSpec, image: Image.Image | None, seed: Any, layout: Layout):
    """A loaded pipeline in the editor: (spec, step list, grid, summary, draft)."""
    spec, moved = _mixing_last(spec)
    grid, summary = _render(spec, image, seed)
    summary = f"{moved} {summary}".strip()
    return [spec, _relayout(layout, spec), grid, summary, None]


# The editor's controls say interactive=True: drawn by gr.render, their listeners are not in the
# page's first config, so Gradio would otherwise draw them disabled (a browser test types in one).
def _param_control(view: StepView, name: str) -> gr.components.Component:
    p = view.tdef.param(name)
    value = view.step.params[name]
    elem_id = view.elem_id(name)
    if p.kind == "choice":
        return gr.Dropdown(
            list(p.choices), value=value, label=p.label, elem_id=elem_id, interactive=True
        )
    if p.kind == "bool":
        return gr.Checkbox(value=value, label=p.label, elem_id=elem_id, interactive=True)
    return _slider(p, value, elem_id)


def _slider(p: Param, value: Any, elem_id: str) -> gr.Slider:
    low, high = controls.slider_bounds(p, value)
    return gr.Slider(
        low,
        high,
        value=value,
        step=p.step,
        label=p.label,
        info=p.info or None,
        elem_id=elem_id,
        interactive=True,
    )


def _wire(
    component: gr.components.Component,
    edit,
    state: dict[str, Any],
    note: gr.Markdown,
    param: Param | None = None,
) -> None:
    """Send `component`'s value through `edit(spec, value)` and re-render the grid. A slider
    (`param` declares its range) takes its value unchecked (preprocess=False: Gradio would
    refuse an out-of-range number with an error toast) and clamps it on release."""
    inputs = [state["image"], state["seed"], state["spec"], state["draft"], component]
    outputs = [state["grid"], state["summary"], state["spec"], state["draft"], note]
    if param is None:
        component.change(
            lambda image, seed, spec, draft, value: on_edit(edit, image, seed, spec, draft, value),
            inputs,
            outputs,
            api_name=False,
            **FAST,
        )
        return
    component.input(
        lambda image, seed, spec, draft, value: on_edit(
            edit, image, seed, spec, draft, value, param
        ),
        inputs,
        outputs,
        api_name=False,
        preprocess=False,
        **FAST,
    )
    component.release(
        lambda image, seed, spec, draft, value: on_release(
            edit, image, seed, spec, draft, value, param
        ),
        inputs,
        [component, *outputs],
        api_name=False,
        preprocess=False,
        **FAST,
    )


def _set_param(spec: PipelineSpec, value: Any, *, index: int, name: str) -> PipelineSpec:
    return controls.set_param(spec, index, name, value, check=False)


def _step_editor(view: StepView, state: dict[str, Any]) -> None:
    """One step: title, on/off, order buttons, step probability, then its parameters."""
    i, tdef = view.index, view.tdef
    with gr.Group(elem_classes="pipeline-step"):
        gr.Markdown(f"**{view.title}**", elem_classes="step-title")
        note = gr.Markdown("", elem_id=view.elem_id("note"), elem_classes="step-note")
        with gr.Row(equal_height=True, elem_classes="step-tools"):
            enabled = gr.Checkbox(
                value=view.step.enabled,
                label="on",
                elem_id=view.elem_id("enabled"),
                scale=1,
                min_width=80,  # Gradio's 160 px pushed the last button onto a line of its own
                interactive=True,
            )
            buttons = {
                "up": lambda s: controls.move_step(s, i, -1),
                "down": lambda s: controls.move_step(s, i, +1),
                "duplicate": lambda s: controls.duplicate_step(s, i),
                "remove": lambda s: controls.remove_step(s, i),
            }
            for name, change in buttons.items():
                text = STEP_BUTTONS[name][0]
                button = gr.Button(
                    text, size="sm", scale=0, min_width=36, elem_id=view.elem_id(name)
                )
                button.click(
                    lambda image, seed, spec, layout, change=change: on_structure(
                        change, image, seed, spec, layout
                    ),
                    [state["image"], state["seed"], state["spec"], state["layout"]],
                    [
                        state["spec"],
                        state["layout"],
                        state["grid"],
                        state["summary"],
                        state["draft"],
                    ],
                    api_name=False,
                    show_progress="hidden",  # queued: a queue=False event does not redraw
                )
        _wire(enabled, lambda s, v: controls.set_enabled(s, i, v, check=False), state, note)
        if not tdef.own_p:
            chance = _slider(STEP_P, view.step.p, view.elem_id("step_p"))
            edit = lambda s, v: controls.set_probability(s, i, v, check=False)  # noqa: E731
            _wire(chance, edit, state, note, STEP_P)
        for p in tdef.params:
            control = _param_control(view, p.name)
            edit = functools.partial(_set_param, index=i, name=p.name)
            _wire(control, edit, state, note, p if isinstance(control, gr.Slider) else None)


def _query(request: gr.Request) -> dict[str, str]:
    return dict(request.query_params) if request is not None else {}


def build_tab(spec_state: gr.State, image_state: gr.State, demo: gr.Blocks) -> dict[str, Any]:
    first_image = image_state.value
    first_grid, first_summary = preview.render(spec_state.value, first_image, 0)
    layout_state = gr.State((0, spec_state.value.to_json()))
    # What the boxes show when it differs from spec_state: a pipeline holding a refused value
    # (unchecked), else None. No listeners: Gradio would hash it on every event.
    draft_state = gr.State(None)
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
            seed = gr.Number(
                value=0,
                precision=0,
                label=controls.SEED.label,
                elem_id="seed",
                minimum=controls.SEED.low,
                maximum=controls.SEED.high,
            )
            new_samples = gr.Button("New samples", elem_id="new-samples")
            share_button = gr.Button("Share link", size="sm", elem_id="share")
            share_link = gr.Textbox(
                label=LINK_LABEL,
                placeholder="Share link writes a link to what is on screen here",
                buttons=["copy"],
                interactive=False,
                elem_id="share-link",
            )
    with gr.Row(elem_id="editor-row"):  # on a phone: the grid first and sticky (ui.CSS)
        with gr.Column(scale=1, min_width=300, elem_id="controls"):
            with gr.Row(equal_height=True):
                picker = gr.Dropdown(
                    controls.picker_choices(),
                    value=None,
                    label="Add a step",
                    elem_id="step-picker",
                    scale=3,
                )
                add = gr.Button("Add", elem_id="add-step", scale=1, min_width=60)
            steps_column = gr.Column(elem_id="pipeline-steps")
            gr.HTML("", elem_id="step-button-labels", js_on_load=STEP_BUTTONS_JS, padding=False)
        with gr.Column(scale=3, elem_id="preview-column"):
            with gr.Column(elem_id="preview-head"):
                summary = gr.Markdown(first_summary, elem_id="preview-summary")
                grid_view = gr.Radio(
                    [("Display size", "display"), ("Training resolution", "native")],
                    value="display",
                    label="Show samples at",
                    elem_id="grid-view",
                )
            grid = gr.HTML(first_grid, elem_id="preview-grid", js_on_load=None)
            gr.Markdown(
                "Each sample seeds each of its steps on its own (seed, sample number, step), so "
                "moving one slider changes only what that step draws. The Export tab's code "
                "reproduces these samples exactly.",
                elem_id="seeding-note",
            )
            with gr.Accordion("Step by step and strength strip", open=False, elem_id="views"):
                with gr.Row(equal_height=True):
                    view_sample = gr.Slider(
                        1, 8, value=1, step=1, label="Sample", elem_id="view-sample", scale=2
                    )
                    show_steps = gr.Button("Show step by step", elem_id="show-steps", scale=1)
                    strength_param = gr.Dropdown(
                        preview.strength_choices(spec_state.value),
                        value=None,
                        label="Strength strip: parameter",
                        elem_id="strength-param",
                        scale=2,
                    )
                steps_view = gr.HTML(elem_id="steps-view")
                strength_view = gr.HTML(elem_id="strength-view")

    state = {
        "image": image_state,
        "seed": seed,
        "spec": spec_state,
        "layout": layout_state,
        "draft": draft_state,
        "grid": grid,
        "summary": summary,
    }
    with steps_column:

        @gr.render(inputs=[layout_state], show_progress="hidden")
        def draw_steps(layout: Layout) -> None:
            views = list(step_views(from_json(layout[1])))
            if not views:
                gr.Markdown("No steps: add one above.", elem_id="no-steps")
            for view in views:
                _step_editor(view, state)

    # The view is the page's alone: a data attribute the grid's CSS reads (playground.ui.CSS), so
    # switching costs no render and every later grid keeps it.
    grid_view.change(None, [grid_view], None, js=GRID_VIEW_JS, api_name=False, queue=False)
    steps_inputs = [image_state, seed, spec_state, view_sample]
    show_steps.click(on_steps, steps_inputs, [steps_view], api_name="steps")
    view_sample.change(on_steps, steps_inputs, [steps_view], api_name=False)
    strength_inputs = [*steps_inputs, strength_param]
    strength_param.change(on_strength, strength_inputs, [strength_view], api_name="strength")
    view_sample.change(on_strength, strength_inputs, [strength_view], api_name=False)
    layout_state.change(strength_update, [layout_state], [strength_param], api_name=False)
    # preprocess=False: the seed box's own bounds check would refuse -5 with an error toast and
    # leave it showing; on_seed clamps it and shows the seed it used instead.
    seed_args = ([image_state, seed, spec_state], [seed, grid, summary])
    seed.submit(on_seed, *seed_args, api_name="render", preprocess=False, **FAST)
    seed.blur(on_seed, *seed_args, api_name=False, preprocess=False, **FAST)
    new_samples.click(
        on_new_samples, [image_state, spec_state], [seed, grid, summary], api_name="new_samples"
    )
    share_button.click(
        on_share, [spec_state, seed, sample], [share_link], api_name="share", preprocess=False
    ).then(None, [share_link], [share_link], js=SHARE_JS, api_name=False, queue=False)

    def load_shared(image, seed_value, spec, layout, request: gr.Request):
        return on_shared_link(_query(request), image, seed_value, spec, layout)

    demo.load(
        load_shared,
        [image_state, seed, spec_state, layout_state],
        [spec_state, layout_state, seed, grid, summary, draft_state, image_state, shown, sample],
        api_name=False,
        preprocess=False,
    ).then(None, None, None, js=CLEAR_QUERY_JS, api_name=False, queue=False)
    structure_outputs = [spec_state, layout_state, grid, summary, draft_state]
    add.click(
        on_add,
        [picker, image_state, seed, spec_state, layout_state],
        structure_outputs,
        api_name="add_step",
    )
    image_outputs = [image_state, shown, grid, summary]
    views = ([*strength_inputs, steps_view], [steps_view, strength_view])
    upload.upload(
        on_image, [upload, spec_state, seed, image_state], image_outputs, api_name="upload"
    ).then(sample_after_upload, [summary], [sample, upload], api_name=False).then(
        refresh_views, *views, api_name=False
    )
    sample.input(
        on_image, [sample, spec_state, seed, image_state], image_outputs, api_name="sample"
    ).then(refresh_views, *views, api_name=False)
    presets.input(
        on_pipeline,
        [presets, image_state, seed, spec_state, layout_state],
        structure_outputs,
        api_name="preset",
    ).then(clear_preset, None, [presets], api_name=False)
    return {
        "grid": grid,
        "summary": summary,
        "seed": seed,
        "layout": layout_state,
        "draft": draft_state,
        "pipeline_outputs": structure_outputs,
    }
