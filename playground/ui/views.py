"""The Augment tab's two closer views of one sample: step by step (the sample after each step)
and the strength strip (one parameter at 8 strengths). Plain functions of plain values."""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import Image

from pipelines.spec import PipelineSpec, SpecError, from_json
from playground import controls, preview
from playground.augment_view import Layout, sample_index


def on_steps(image: Image.Image | None, seed: Any, spec: PipelineSpec, sample: Any) -> str:
    """The step-by-step view: one sample (1-8) after each step, with what each step drew."""
    if image is None:
        return ""
    return preview.steps_html(spec, image, controls.typed_seed(seed), sample_index(sample))


def on_strength(
    image: Image.Image | None, seed: Any, spec: PipelineSpec, sample: Any, choice: Any
) -> str:
    """The strength strip: one parameter ("key/param") at 8 strengths on one sample."""
    if image is None or not choice:
        return ""
    try:
        return preview.strength_html(
            spec, image, controls.typed_seed(seed), sample_index(sample), choice
        )
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
