"""What the Augment tab shows, as plain values (no Gradio here): the grid and summary for the
seed box's value, the step list's layout, and a pipeline loaded from a preset or a file.

playground/ui/augment.py lays the tab out and wires it; its callbacks (playground/ui/editing,
views, sharing, image_upload) are built on these.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from pipelines.catalogue import PRESETS, Preset
from pipelines.spec import PipelineSpec, load, preset
from playground import controls, preview

# (version, the JSON of the spec the step list is drawn from). Gradio hashes a State that has
# listeners on every event, and a PipelineSpec (dicts inside) cannot be hashed: text can.
Layout = tuple[int, str]


def render(spec: PipelineSpec, image: Image.Image | None, seed: Any) -> tuple[str, str]:
    """(grid, summary) for the seed box's value; without an image, what to do instead."""
    if image is None:
        return "", "Upload an image or pick a sample to see the preview."
    return preview.render(spec, image, controls.typed_seed(seed))


def relayout(layout: Layout, spec: PipelineSpec) -> Layout:
    return (layout[0] + 1, spec.to_json())


def sample_index(value: Any) -> int:
    """The sample slider's number (1-8) as an index (0-7)."""
    try:
        return min(max(int(value), 1), 8) - 1
    except (TypeError, ValueError):
        return 0


def with_mixing_last(spec: PipelineSpec) -> tuple[PipelineSpec, str]:
    """The pipeline as the editor lists it (mixing steps last, where they run), and a word on
    it when that moved a step."""
    listed = controls.mixing_last(spec)
    if listed == spec:
        return spec, ""
    names = ", ".join(dict.fromkeys(s.transform for s in spec.steps if s.definition.batch))
    return listed, f"{names} listed last: mixing runs on the batch, after every per-image step."


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
    spec, moved = with_mixing_last(spec)
    grid, summary = render(spec, image, seed)
    summary = f"{moved} {summary}".strip()
    return [spec, relayout(layout, spec), grid, summary, None]
