"""The Gradio app: one module per tab; this module only assembles them."""

from __future__ import annotations

import gradio as gr

from pipelines.spec import default_spec
from playground.images import DEFAULT_SAMPLE, sample_image
from playground.ui import augment, export, train, train_prefs

# Gradio also adds each rule under `.gradio-container .contain`, which outranks a plain class
# rule: the view rules below hide (never show) and name #preview-grid to hold their own.
CSS = """
.sample-grid { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; }
.sample-grid figure { margin: 0; }
.sample-grid img { width: 100%; height: auto; image-rendering: auto; border-radius: 4px; }
.sample-grid figcaption { font-size: 0.75rem; line-height: 1.25; opacity: 0.85; }
.sample-grid .grid-view-note { grid-column: 1 / -1; margin: 0; font-size: 0.75rem; opacity: 0.85; }
html:not([data-grid-view="native"]) #preview-grid .view-native { display: none; }
html[data-grid-view="native"] #preview-grid .view-display { display: none; }
#preview-grid .sample-grid.small img { image-rendering: pixelated; }
html[data-grid-view="native"] #preview-grid .sample-grid img { width: auto; max-width: 100%; }
/* A phone: the controls and the grid no longer fit side by side, and stacked the grid would sit
   some 2,000 px below the first slider. The grid goes first and stays at the top of the screen
   while the editor scrolls under it (captions hidden there: Step by step shows them). */
/* Gradio's container has overflow: hidden, a scroll box of its own that a sticky grid would
   stick in; clip cuts the same overflow without making one. (Outside the @media below: inside
   one, Gradio keeps only the copy under `.gradio-container .contain`, which cannot match it.) */
.gradio-container { overflow: clip !important; }
@media (max-width: 720px) {
  #editor-row { flex-direction: column; }
  #preview-column { display: contents; }
  #preview-grid { order: -2; position: sticky; top: 0; z-index: 50; padding: 4px 0;
                  background: var(--body-background-fill); }
  #preview-head { order: -1; }
  #preview-grid figcaption { display: none; }
  #preview-grid .sample-grid { gap: 4px; }
}
/* A desktop: the grid beside the editor stays at the top of the screen while the step list
   scrolls (step 4 and below would otherwise be edited with the grid out of sight). The column
   stretches to the editor's height, so the grid can stick all the way down. */
@media (min-width: 721px) {
  #preview-column { align-self: stretch; }
  /* else (its scale, an inline flex-grow) it takes the stretched height and puts the grid last */
  #preview-head { flex-grow: 0 !important; }
  #preview-grid { position: sticky; top: 0; z-index: 50; padding: 4px 0;
                  background: var(--body-background-fill); }
}
/* The Train tab's first batch: Gradio's gallery gives each of its columns at least 100 px, so
   8 columns overflowed a half-width column and cut the 6th: as many columns as fit, at least
   64 px, and rows enough for all 32 (no scroll box of 55% of the screen's height). */
#train-first-batch .grid-container {
  grid-template-columns: repeat(auto-fill, minmax(64px, 1fr)) !important;
  grid-template-rows: none !important; grid-auto-rows: auto !important; }
#train-first-batch .grid-wrap { max-height: none !important; overflow-y: visible !important; }
.pipeline-step { margin-bottom: 10px; }
.pipeline-step .step-title { padding: 6px 10px 0; }
.pipeline-step .step-tools button { min-width: 36px; }
"""
TITLE = "Augmentation playground"


def build_app() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(
            f"# {TITLE}\nTune torchvision augmentations and watch 8 random samples change live; "
            "export exactly what you see; train ResNet-18 with it."
        )
        spec_state = gr.State(default_spec())
        image_state = gr.State(sample_image(DEFAULT_SAMPLE))
        owner_token = train_prefs.owner_token()
        train_prefs_state = train_prefs.prefs_state()
        with gr.Tabs() as tabs:
            with gr.Tab("Augment", id=augment.TAB_ID, elem_id="augment-tab"):
                parts = augment.build_tab(spec_state, image_state, demo)
            export.build_tab(spec_state, image_state, parts)
            train.build_tab(
                spec_state, image_state, demo, owner_token, train_prefs_state,
                draft=parts["draft"], augment=parts, tabs=tabs,
            )  # fmt: skip
    return demo
