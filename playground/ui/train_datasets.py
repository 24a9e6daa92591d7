"""The Train tab's data set uploads: a .zip kept as a named data set, the list of kept ones (a
choice there trains on it), Delete; the panel's layout and wiring, and its callbacks, thin:
playground.dataset_upload does the work and words it."""

from __future__ import annotations

from typing import Any

import gradio as gr

from playground import dataset_upload
from playground.training.settings import UPLOAD_KIND


def uploads_update(value: str | None) -> Any:
    """The kept data sets as the dropdown's choices, `value` chosen if it is still kept."""
    choices = dataset_upload.choices()
    return gr.update(choices=choices, value=value if value in dict(choices).values() else None)


def on_upload_zip(path: str | None) -> tuple[Any, Any, Any, Any]:
    """Keep the uploaded .zip: (the message, the list with the new data set chosen, the data set
    kind, the emptied file box); refused, the message says why and the rest stays."""
    message, name = dataset_upload.upload(path)
    if name is None:
        return message, gr.skip(), gr.skip(), None
    return message, uploads_update(name), UPLOAD_KIND, None


def on_pick_upload(name: str | None) -> Any:
    """A data set chosen in the list: the form trains on it (the data set kind follows)."""
    return UPLOAD_KIND if name else gr.skip()


def on_delete_upload(name: str | None) -> tuple[str, Any]:
    message = dataset_upload.delete(name)
    return message, uploads_update(None if message.startswith("Deleted") else name)


def on_refresh_uploads(name: str | None) -> Any:
    """Opening the tab: the list as the server keeps it now (another page may have changed it)."""
    return uploads_update(name)


def upload_panel() -> dict[str, Any]:
    """The uploads panel, shown when the data set is an uploaded one: the .zip box, the list of
    kept data sets (the form's `upload`), Delete and the message; by name."""
    panel: dict[str, Any] = {}
    with gr.Column(visible=False, elem_id="train-upload-box") as panel["upload_box"]:
        panel["upload_zip"] = gr.File(
            label=f"Upload a data set: a .zip of <class>/<image> folders (or train/ and test/), "
            f"at most {dataset_upload.MAX_ZIP_BYTES / 2**20:,.0f} MB",
            file_types=[".zip"], type="filepath", height=120, elem_id="train-upload-zip",
        )  # fmt: skip
        with gr.Row(equal_height=True):
            # choices change as uploads come and go; a name is only ever looked up, never a path
            panel["upload"] = gr.Dropdown(
                dataset_upload.choices(), value=None, allow_custom_value=True, scale=3,
                label="Uploaded data set (kept on this server)", elem_id="train-upload",
            )  # fmt: skip
            panel["upload_delete"] = gr.Button(
                "Delete it", size="sm", variant="stop", scale=1, elem_id="train-upload-delete"
            )
        panel["upload_message"] = gr.Markdown(elem_id="train-upload-message")
    return panel


def wire_upload_panel(form: dict[str, Any], tab: gr.Tab) -> None:
    """`form`: build_form's controls (the panel's among them)."""
    quiet = {"show_progress": "hidden"}
    tab.select(
        on_refresh_uploads, [form["upload"]], [form["upload"]], api_name=False, queue=False,
        **quiet,
    )  # fmt: skip
    form["upload_zip"].upload(
        on_upload_zip, [form["upload_zip"]],
        [form["upload_message"], form["upload"], form["dataset"], form["upload_zip"]],
        api_name="train_dataset_upload", concurrency_id="train-uploads",
    )  # fmt: skip
    form["upload"].input(
        on_pick_upload, [form["upload"]], [form["dataset"]], api_name=False, queue=False, **quiet
    )
    form["upload_delete"].click(
        on_delete_upload, [form["upload"]], [form["upload_message"], form["upload"]],
        api_name="train_dataset_delete", concurrency_id="train-uploads",
    )  # fmt: skip
