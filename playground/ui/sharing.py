"""The Augment tab's share link: what is on screen as a link, and a page opened with one.
Plain functions of plain values (playground.share encodes and reads the link itself)."""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import Image

from pipelines.spec import PipelineSpec, default_spec
from playground import controls, share
from playground.augment_view import Layout, relayout, render, with_mixing_last
from playground.images import DEFAULT_SAMPLE, SAMPLE_IMAGES, describe, sample_image

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
    return "?" + share.encode(spec, controls.typed_seed(seed), sample)


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
        grid, summary = render(default_spec(), image, seed)
        message = f"⚠️ This link's pipeline could not be read: {err}. Showing the default pipeline."
        new_layout = relayout(layout, default_spec())
        summary = f"{message} {summary}"
        return default_spec(), new_layout, 0, grid, summary, None, skip, skip, skip
    if shared is None and name is None:
        return (skip,) * 9
    pictured = (skip, skip, skip)
    if name is not None:
        image = sample_image(name)
        pictured = (image, gr.update(value=image, label=f"Input: {describe(image)}"), name)
    new_spec, new_seed = shared if shared is not None else (spec, controls.typed_seed(seed))
    new_spec, moved = with_mixing_last(new_spec)
    grid, summary = render(new_spec, image, new_seed)
    summary = f"{moved} {summary}".strip()
    return new_spec, relayout(layout, new_spec), new_seed, grid, summary, None, *pictured


def request_query(request: gr.Request) -> dict[str, str]:
    """The page's query parameters (none when there is no request)."""
    return dict(request.query_params) if request is not None else {}
