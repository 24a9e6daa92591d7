"""spec -> Python source: a module that gives `transform`, and a script that re-draws the preview.

The generated file imports only torch, torchvision, Pillow and numpy (which torchvision needs).
Its image loader is not a copy kept in step by hand: it is the source of the app's own pixel
functions (`pipelines.images.PIXEL_FUNCTIONS`), pasted in when the file is generated. Its numbers are written with repr() of validated floats/ints and
its strings come from the catalogue's fixed choices, so no user text reaches the code.
"""

from __future__ import annotations

import inspect
import textwrap

from pipelines import images
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

from __future__ import annotations

import argparse
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.transforms import v2

'''

_SCRIPT = """

# How the playground seeds its preview: before step `key` of sample `index`, the global torch RNG
# is seeded with crc32("seed:index:key"), so every step of every sample has a stream of its own.
STEP_KEYS = {keys!r}


def step_seed(seed, index, key):
    return zlib.crc32(f"{{seed}}:{{index}}:{{key}}".encode())


{loader}


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
    for i, sample in enumerate(render_samples(load_trusted_image(args.image), args.seed, args.count)):
        sample.save(out / f"sample_{{i}}.png")
    print(f"wrote {{args.count}} samples to {{out}}")


if __name__ == "__main__":
    main()
"""


def loader_source() -> str:
    """The app's loader (pipelines.images) as standalone source: its constants and functions."""
    constants = [f"{name} = {_literal(getattr(images, name))}" for name in images.PIXEL_CONSTANTS]
    functions = [textwrap.dedent(inspect.getsource(f)).strip() for f in images.PIXEL_FUNCTIONS]
    return "\n".join(constants) + "\n\n\n" + "\n\n\n".join(functions)


def _literal(value: object) -> str:
    if isinstance(value, frozenset):  # sorted: the same file from every run
        return "frozenset({" + ", ".join(repr(v) for v in sorted(value)) + "})"
    return repr(value)


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
    script = _SCRIPT.format(keys=spec.step_keys(), count=SAMPLE_COUNT, loader=loader_source())
    return header + transform_source(spec) + script


def to_json(spec: PipelineSpec) -> str:
    return spec.to_json()
