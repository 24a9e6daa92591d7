"""spec -> Python source: a module that gives `transform`, and a script that re-draws the preview.

The generated file imports only torch, torchvision, Pillow and numpy (which torchvision needs).
Each step is written from the same recipe `pipelines.build` instantiates, and every argument
with `python_literal`, which writes numbers, strings, None, tuples and torchvision's enums as
the Python that builds them (never a repr such as `<InterpolationMode.BILINEAR: 'bilinear'>`);
strings come from the catalogue's fixed choices, so no user text reaches the code. Its image
loader is not a copy kept in step by hand: it is the source of the app's own pixel functions
(`pipelines.images.PIXEL_FUNCTIONS`), pasted in when the file is generated.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from enum import Enum

from torchvision.transforms import v2

from pipelines import images
from pipelines.build import recipe
from pipelines.samples import BATCH_INDEX, SAMPLE_COUNT
from pipelines.spec import VERSION, PipelineSpec, StepSpec

_HEADER = '''"""Augmentation pipeline exported from the augmentation playground (pipeline format v{version}).

In training code, import it and use `transform` (a torchvision.transforms.v2.Compose):

    from augmentation_pipeline import transform
    train_tf = v2.Compose([transform, v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
{batch_note}
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

_BATCH_NOTE = """
and `batch_transform` (CutMix/MixUp) on each batch of the training loop (see below).
"""

_BATCH_COMMENT = """
# CutMix and MixUp mix whole batches and their labels, so they are not part of `transform`. In
# the training loop, on each batch of float images from the DataLoader, before the model:
#     images, labels = batch_transform(images, labels)  # labels: (N,) class ids -> (N, classes)
#     loss = torch.nn.functional.cross_entropy(model(images), labels)  # soft targets
"""

_SCRIPT = '''

# How the playground seeds its preview: before step `key` of sample `index`, the global torch RNG
# is seeded with crc32("seed:index:key"), so every step of every sample has a stream of its own.
# Mixing steps draw once for the batch of samples, with index "{batch_index}".
STEP_KEYS = {keys!r}
BATCH_KEYS = {batch_keys!r}


def step_seed(seed, index, key):
    return zlib.crc32(f"{{seed}}:{{index}}:{{key}}".encode())


{loader}


def mix_samples(samples, seed):
    """The samples mixed among themselves as one training batch (float), as the playground does."""
    if not BATCH_KEYS:
        return samples
    if len({{s.size for s in samples}}) > 1:
        print("not mixed: the samples differ in size (add a crop or resize step)")
        return samples
    images = torch.stack([v2.functional.pil_to_tensor(s) for s in samples])
    images = v2.functional.to_dtype(images, torch.float32, scale=True)
    labels = torch.arange(len(samples)) % {num_classes}
    for key, step in zip(BATCH_KEYS, batch_transform.transforms):
        torch.manual_seed(step_seed(seed, "{batch_index}", key))
        images, labels = step(images, labels)
    images = v2.functional.to_dtype(images, torch.uint8, scale=True)
    return [v2.functional.to_pil_image(x) for x in images]


def render_samples(image, seed, count={count}):
    samples = []
    for index in range(count):
        out = image
        for key, step in zip(STEP_KEYS, transform.transforms):
            torch.manual_seed(step_seed(seed, index, key))
            out = step(out)
        if not isinstance(out, Image.Image):  # a tensor-only step (noise) made a tensor
            out = v2.functional.to_pil_image(out)
        samples.append(out)
    return mix_samples(samples, seed)


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
'''


def python_literal(value: object) -> str:
    """`value` as Python source that evaluates to an equal value in the exported file."""
    if isinstance(value, Enum):  # first: some enums are also str or int
        cls = type(value)
        if getattr(v2, cls.__name__, None) is not cls:
            raise TypeError(f"{cls.__name__} is not reachable as v2.{cls.__name__}")
        return f"v2.{cls.__name__}.{value.name}"
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no literal")
        return repr(value)
    if isinstance(value, tuple):
        items = [python_literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(python_literal(v) for v in value)}]"
    if isinstance(value, frozenset):  # sorted: the same file from every run
        return "frozenset({" + ", ".join(python_literal(v) for v in sorted(value)) + "})"
    if isinstance(value, dict):
        pairs = (f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(f"cannot write a {type(value).__name__} as Python source")


def loader_source() -> str:
    """The app's loader (pipelines.images) as standalone source: its constants and functions."""
    constants = [
        f"{name} = {python_literal(getattr(images, name))}" for name in images.PIXEL_CONSTANTS
    ]
    functions = [textwrap.dedent(inspect.getsource(f)).strip() for f in images.PIXEL_FUNCTIONS]
    return "\n".join(constants) + "\n\n\n" + "\n\n\n".join(functions)


def _call_source(name: str, kwargs: dict) -> str:
    args = ", ".join(f"{k}={python_literal(v)}" for k, v in kwargs.items())
    return f"v2.{name}({args})"


def step_source(step: StepSpec) -> str:
    """The expression `pipelines.build.build_step(step)` evaluates, as source."""
    r = recipe(step)
    parts = [_call_source(name, kwargs) for name, kwargs in r.parts]
    if r.p is not None:
        return f"v2.RandomApply([{', '.join(parts)}], p={python_literal(r.p)})"
    return parts[0] if len(parts) == 1 else f"v2.Compose([{', '.join(parts)}])"


def _compose_source(variable: str, steps: tuple[StepSpec, ...]) -> str:
    if not steps:  # torchvision refuses an empty Compose
        return f"{variable} = v2.Compose([v2.Identity()])  # no active steps\n"
    body = "\n".join(f"    {step_source(s)}," for s in steps)
    return f"{variable} = v2.Compose([\n{body}\n])\n"


def transform_source(spec: PipelineSpec) -> str:
    """The `transform = v2.Compose([...])` statement, and `batch_transform` if the pipeline
    mixes batches."""
    source = _compose_source("transform", spec.image_steps)
    if spec.batch_steps:
        source += _BATCH_COMMENT + _compose_source("batch_transform", spec.batch_steps)
    return source


def to_python(spec: PipelineSpec) -> str:
    """A standalone module + script for `spec`."""
    keyed = list(zip(spec.active, spec.step_keys(), strict=True))
    batch = spec.batch_steps
    header = _HEADER.format(
        version=VERSION, count=SAMPLE_COUNT, batch_note=_BATCH_NOTE if batch else ""
    )
    script = _SCRIPT.format(
        keys=[key for s, key in keyed if not s.definition.batch],
        batch_keys=[key for s, key in keyed if s.definition.batch],
        batch_index=BATCH_INDEX,
        num_classes=batch[0].params["num_classes"] if batch else 1,
        count=SAMPLE_COUNT,
        loader=loader_source(),
    )
    return header + transform_source(spec) + script


def to_json(spec: PipelineSpec) -> str:
    return spec.to_json()
