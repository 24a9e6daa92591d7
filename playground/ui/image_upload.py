"""The Augment tab's input image: an upload or a sample pick. Plain functions of plain values."""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import Image

from pipelines.spec import PipelineSpec
from playground.augment_view import render
from playground.images import SAMPLE_IMAGES, ImageLoadError, describe, load_image, sample_image


def on_image(source: Any, spec: PipelineSpec, seed: Any, current: Image.Image | None):
    """An upload or a sample pick: sanitise it, show it, re-render; a bad file keeps the old one."""
    if source is None:
        return current, gr.skip(), gr.skip(), gr.skip()
    try:
        image = sample_image(source) if source in SAMPLE_IMAGES else load_image(source)
    except ImageLoadError as err:
        return current, gr.skip(), gr.skip(), f"⚠️ {err} The previous image is kept."
    grid, summary = render(spec, image, seed)
    shown = gr.update(value=image, label=f"Input: {describe(image)}")
    return image, shown, grid, summary


def sample_after_upload(summary: str) -> tuple[Any, Any]:
    """(sample pick, upload box) after an upload. An uploaded image is no longer the picked
    sample: clear the pick. A refused file keeps the previous image and its pick, and leaves
    the upload box, which would otherwise list it as if it were the image shown."""
    if summary.startswith("⚠️"):
        return gr.skip(), None
    return None, gr.skip()
