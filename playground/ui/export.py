"""The Export tab: the pipeline as Python code and as a JSON file; a JSON file restores the UI."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from pipelines import export
from pipelines.spec import PipelineSpec, SpecError
from playground import controls
from playground.augment_view import load_pipeline, show_pipeline
from playground.model_input import eval_for
from playground.training.settings import MODEL_NAMES, by_name

CODE_NAME = "augmentation_pipeline.py"
JSON_NAME = "augmentation_pipeline.json"


def export_files(spec: PipelineSpec, model: str | None = None) -> tuple[str, str, str]:
    """(Python source, path of the .py file, path of the .json file) for the current pipeline;
    with a `model` (the dropdown's), the code also defines that model's `eval_transform`."""
    folder = Path(tempfile.mkdtemp(prefix="pipeline-"))
    code = export.to_python(spec, eval_for(model) if model else None)
    (folder / CODE_NAME).write_text(code)
    (folder / JSON_NAME).write_text(export.to_json(spec))
    return code, str(folder / CODE_NAME), str(folder / JSON_NAME)


def export_label(draft: PipelineSpec | None = None):
    """The code box's label: while the Augment tab holds a refused value, it says the code is
    the last valid pipeline, not what the boxes show."""
    refused = controls.refused_note(draft)
    return gr.update(label=f"{CODE_NAME} · {refused}" if refused else CODE_NAME)


LOADED = "Loaded into the Augment tab's editor."


def on_pipeline_file(
    source: Any, image: Image.Image | None, seed: Any, spec: PipelineSpec, layout: Any
) -> list[Any]:
    """A pipeline .json dropped here: (spec, step list, grid, summary, the file box, this tab's
    status; the draft state among them). Loaded, the editor shows it; refused, the error is said here, where the file was
    dropped, and the file leaves the box: the Augment tab keeps its pipeline and its summary."""
    if not source:
        return [spec, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), ""]
    try:
        new_spec = load_pipeline(source)
    except SpecError as err:
        return [
            spec,
            gr.skip(),
            gr.skip(),
            gr.skip(),
            gr.skip(),
            None,
            f"⚠️ Pipeline not loaded: {err}",
        ]
    return [*show_pipeline(new_spec, image, seed, layout), gr.skip(), LOADED]


def build_tab(spec_state: gr.State, image_state: gr.State, augment: dict[str, Any]) -> gr.Tab:
    with gr.Tab("Export", id="export", elem_id="export-tab") as tab:
        gr.Markdown(
            "The pipeline set in the Augment tab. The code is ready to paste into a training "
            f"script (it defines `transform`) and is also a script: `python {CODE_NAME} IMAGE "
            "--seed S --out DIR` writes the 8 samples the Augment tab shows for that seed."
        )
        with gr.Row():
            download_code = gr.DownloadButton("Download .py", elem_id="download-code")
            download_json = gr.DownloadButton("Download pipeline .json", elem_id="download-json")
        model = gr.Dropdown(
            list(MODEL_NAMES),
            value=by_name("model").default,
            label=f"{by_name('model').label} (for eval_transform)",
            info="the code also defines `eval_transform`: the validation and test images' "
            "preprocessing this model expects",
            elem_id="export-model",
        )
        code = gr.Code(language="python", label=CODE_NAME, interactive=False, elem_id="export-code")
        restore = gr.File(
            label="Load a pipeline .json (restores the editor: order, repeats, probabilities)",
            file_types=[".json"],
            type="filepath",
            elem_id="pipeline-upload",
        )
        status = gr.Markdown(elem_id="pipeline-status")
    draft = augment["draft"]
    outputs = [code, download_code, download_json]
    tab.select(export_files, [spec_state, model], outputs, api_name="export")
    model.change(export_files, [spec_state, model], outputs, api_name=False)
    tab.select(export_label, [draft], [code], api_name=False, queue=False)
    restore.upload(
        on_pipeline_file,
        [restore, image_state, augment["seed"], spec_state, augment["layout"]],
        [*augment["pipeline_outputs"], restore, status],
        api_name="load_pipeline",
    ).then(export_files, [spec_state, model], outputs, api_name=False)
    return tab
