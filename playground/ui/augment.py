"""The Augment tab: image in, a pipeline editor (ordered steps), a live 8-sample grid.

Layout and event wiring only. The callbacks are plain functions of plain values (tests call
them directly), each in a module named for what it does: playground.ui.editing (the seed, a
step's control, the step list, presets), views (step by step, the strength strip), sharing
(the share link), image_upload (the input image); playground.ui.step_editor draws one step.
They are built on playground.controls (the editor's edits), playground.augment_view (what
the tab shows), playground.preview and playground.images. The step list is drawn by
`gr.render` from `layout_state`, which changes only when the list itself changes (add, remove,
move, duplicate, preset, file); a slider edits `spec_state` alone, so dragging never re-draws
the list. Element ids: see playground.controls.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipelines.catalogue import PRESETS
from pipelines.spec import from_json
from playground import controls, preview, share
from playground.augment_view import Layout
from playground.controls import step_views
from playground.images import DEFAULT_SAMPLE, SAMPLE_IMAGES, describe
from playground.ui.editing import clear_preset, on_add, on_new_samples, on_pipeline, on_seed
from playground.ui.image_upload import on_image, sample_after_upload
from playground.ui.sharing import LINK_LABEL, on_share, on_shared_link, request_query
from playground.ui.step_editor import FAST, STEP_BUTTONS_JS, draw_step
from playground.ui.views import on_steps, on_strength, refresh_views, strength_update

TAB_ID = "augment"  # gr.Tab's id: "Use this pipeline" (ui/train_sweep.py) selects the tab by it
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
                draw_step(view, state)

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
        return on_shared_link(request_query(request), image, seed_value, spec, layout)

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
