"""The naive version of this app, the baseline of bench/preview_latency.py (not part of the product).

As issue 2 defines it: torchvision v1 (`torchvision.transforms`) on the full-size PIL image (the
cat photo), d2l's order RandomHorizontalFlip -> ColorJitter -> RandomResizedCrop, a default
gr.Gallery of the 8 outputs, and one queued `.change` per slider (with the app's slider
elem_ids). No seeding, no captions, no validation beyond what torchvision does.

    python bench/naive_app.py     # honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from PIL import Image
from torchvision import transforms

CAT = Path(__file__).resolve().parents[1] / "assets" / "chelsea.png"
IMAGE = Image.open(CAT).convert("RGB")

# (elem_id, label, low, high, step, d2l's value)
SLIDERS = (
    ("hflip-p", "Flip probability", 0.0, 1.0, 0.05, 0.5),
    ("jitter-brightness", "Brightness", 0.0, 1.0, 0.05, 0.5),
    ("jitter-contrast", "Contrast", 0.0, 1.0, 0.05, 0.5),
    ("jitter-saturation", "Saturation", 0.0, 1.0, 0.05, 0.5),
    ("jitter-hue", "Hue", 0.0, 0.5, 0.01, 0.5),
    ("rrc-scale-min", "Area fraction, min", 0.01, 1.0, 0.01, 0.1),
    ("rrc-scale-max", "Area fraction, max", 0.01, 1.0, 0.01, 1.0),
    ("rrc-ratio-min", "Aspect ratio, min", 0.1, 10.0, 0.05, 0.5),
    ("rrc-ratio-max", "Aspect ratio, max", 0.1, 10.0, 0.05, 2.0),
)


def augment(p, brightness, contrast, saturation, hue, scale_min, scale_max, ratio_min, ratio_max):
    transform = transforms.Compose(
        [
            transforms.RandomHorizontalFlip(p),
            transforms.ColorJitter(brightness, contrast, saturation, hue),
            transforms.RandomResizedCrop(
                (200, 200), scale=(scale_min, scale_max), ratio=(ratio_min, ratio_max)
            ),
        ]
    )
    return [transform(IMAGE) for _ in range(8)]


def build() -> gr.Blocks:
    with gr.Blocks(title="Naive augmentation preview") as demo:
        with gr.Row():
            with gr.Column(scale=1):
                sliders = [
                    gr.Slider(low, high, value=value, step=step, label=label, elem_id=elem_id)
                    for elem_id, label, low, high, step, value in SLIDERS
                ]
            with gr.Column(scale=3):
                gallery = gr.Gallery(
                    value=augment(*(s[-1] for s in SLIDERS)), elem_id="preview-grid"
                )
        for slider in sliders:
            slider.change(augment, sliders, gallery)
    return demo


if __name__ == "__main__":
    build().launch()
