"""spec -> Python source: a module that gives `transform`, and a script that re-draws the preview.

The generated file imports only torch, torchvision and Pillow (and numpy, for 16-bit and float
images, when run as a script). Its numbers are written with repr() of validated floats/ints and
its strings come from the catalogue's fixed choices, so no user text reaches the code.
"""

from __future__ import annotations

from pipelines.samples import SAMPLE_COUNT
from pipelines.spec import PipelineSpec

_HEADER = '''"""Augmentation pipeline exported from the augmentation playground (pipeline format v1).

In training code, import it and use `transform` (a torchvision.transforms.v2.Compose):

    from augmentation_pipeline import transform
    train_tf = v2.Compose([transform, v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])

Run as a script, it writes the {count} samples the playground shows for an image and a seed,
pixel for pixel:

    python augmentation_pipeline.py IMAGE --seed 0 --out samples/
"""

import argparse
import zlib
from pathlib import Path

import torch
from PIL import Image, ImageOps
from torchvision.transforms import v2

'''

_SCRIPT = '''

# How the playground seeds its preview: before step `key` of sample `index`, the global torch RNG
# is seeded with crc32("seed:index:key"), so every step of every sample has a stream of its own.
STEP_KEYS = {keys!r}
PREVIEW_MAX_SIDE = 1024


def step_seed(seed, index, key):
    return zlib.crc32(f"{{seed}}:{{index}}:{{key}}".encode())


HIGH_BIT_DEPTH_MODES = {{"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}}


def stretch_to_8bit(image):
    """A 16/32-bit or float image's actual min..max stretched onto 0..255, as the playground does."""
    import numpy as np  # installed with torchvision

    values = np.asarray(image, dtype=np.float32)
    values = np.where(np.isfinite(values), values, np.float32(0))
    low, high = float(values.min()), float(values.max())
    if high > low:
        scaled = (values - low) * np.float32(255.0 / (high - low))
    else:
        level = 128.0 if image.mode == "F" else min(max(low, 0.0), 65535.0) / 257.0
        scaled = np.full(values.shape, level, dtype=np.float32)
    return Image.fromarray(np.rint(scaled).astype(np.uint8))


def load_image(path, max_side=PREVIEW_MAX_SIDE):
    """Open an image as the playground does: upright, RGB (alpha on white, 16-bit and float
    images stretched to 8 bits), longer side <= max_side."""
    image = ImageOps.exif_transpose(Image.open(path))
    if image.mode in HIGH_BIT_DEPTH_MODES:
        image = stretch_to_8bit(image)
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    image = image.convert("RGB")
    longer = max(image.size)
    if longer > max_side:
        w, h = image.size
        size = (max_side, max(1, round(h * max_side / w))) if w >= h else (max(1, round(w * max_side / h)), max_side)
        image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=None)
    return image


def render_samples(image, seed, count={count}):
    samples = []
    for index in range(count):
        out = image
        for key, step in zip(STEP_KEYS, transform.transforms):
            torch.manual_seed(step_seed(seed, index, key))
            out = step(out)
        samples.append(out)
    return samples


def main():
    parser = argparse.ArgumentParser(description="Write the playground's preview samples of an image.")
    parser.add_argument("image")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="samples")
    parser.add_argument("--count", type=int, default={count})
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, sample in enumerate(render_samples(load_image(args.image), args.seed, args.count)):
        sample.save(out / f"sample_{{i}}.png")
    print(f"wrote {{args.count}} samples to {{out}}")


if __name__ == "__main__":
    main()
'''


def _kwargs_source(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def transform_source(spec: PipelineSpec) -> str:
    """Just the `transform = v2.Compose([...])` statement."""
    lines = [
        f"    v2.{s.transform}({_kwargs_source(s.definition.to_kwargs(s.params))}),"
        for s in spec.active
    ]
    body = "\n".join(lines)
    return f"transform = v2.Compose([\n{body}\n])\n" if lines else "transform = v2.Compose([])\n"


def to_python(spec: PipelineSpec) -> str:
    """A standalone module + script for `spec`."""
    header = _HEADER.format(count=SAMPLE_COUNT)
    script = _SCRIPT.format(keys=spec.step_keys(), count=SAMPLE_COUNT)
    return header + transform_source(spec) + script


def to_json(spec: PipelineSpec) -> str:
    return spec.to_json()
