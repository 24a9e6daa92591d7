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
import re
import textwrap
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from torchvision.transforms import v2

from pipelines import images
from pipelines.build import recipe
from pipelines.samples import BATCH_INDEX, SAMPLE_COUNT
from pipelines.spec import VERSION, PipelineSpec, StepSpec

_HEADER = '''"""Augmentation pipeline exported from the augmentation playground (pipeline format v{version}).

In training code, import it and use `transform` (a torchvision.transforms.v2.Compose):

    from augmentation_pipeline import transform
    train_tf = v2.Compose([transform, v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
{batch_note}{eval_note}
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

_EVAL_NOTE = """
and `eval_transform` on validation and test images: the input {model} expects (see below).
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


_MODEL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def eval_transform_source(
    model: str,
    resize: int,
    crop: int,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    interpolation: str,
) -> str:
    """The `eval_transform = v2.Compose([...])` statement for validation and test images, with a
    comment: resize the shorter side to `resize` (`interpolation`, a torchvision
    InterpolationMode value such as "bilinear"), centre-crop `crop`, then ToImage, ToDtype and
    Normalize by `mean` and `std`: what torchvision's `weights.transforms()` does, written out
    as the pair of the augmentation `transform`. `mean` None: the network normalises by its
    training images' own statistics (the CIFAR-style ResNet-18), which a file cannot know; the
    statement is then ToImage and ToDtype at the `crop` size the data already has, and the
    comment says where the numbers come from. `model` names the network in the comment only."""
    if not _MODEL_NAME.fullmatch(model):  # it goes into a comment: one plain word
        raise ValueError(f"{model!r} is not a model name")
    for name, value in (("resize", resize), ("crop", crop)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, not {value!r}")
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    tensor_steps = ["v2.ToImage()", "v2.ToDtype(torch.float32, scale=True)"]
    if mean is None:
        comment = (
            f"# Validation and test images for {model}: {crop} x {crop} pixels, the size its\n"
            "# training images have (no resize or crop). It normalises by the training images'\n"
            "# own per-channel mean and std, computed by the training command (the run's\n"
            '# config.json, "normalize"): add v2.Normalize(mean=..., std=...) with those numbers\n'
            "# here and after `transform` in training.\n"
        )
        steps = tensor_steps
    else:
        mean_std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        normalize = _call_source("Normalize", {"mean": mean_std[0], "std": mean_std[1]})
        mode = python_literal(v2.InterpolationMode(interpolation))
        comment = (
            f"# Validation and test images for {model}: its weights' transforms(), written out\n"
            f"# (shorter side to {resize}, centre crop {crop}, then normalised by the weights' mean\n"
            f"# and std). Training images take `transform` (ending at {crop} x {crop}), then the\n"
            "# same last three steps:\n"
            "#     train_transform = v2.Compose([\n"
            "#         transform, v2.ToImage(), v2.ToDtype(torch.float32, scale=True),\n"
            f"#         {normalize},\n"
            "#     ])\n"
        )
        steps = [
            f"v2.Resize({resize}, interpolation={mode}, antialias=True)",
            f"v2.CenterCrop({crop})",
            *tensor_steps,
            normalize,
        ]
    body = "\n".join(f"    {step}," for step in steps)
    return f"{comment}eval_transform = v2.Compose([\n{body}\n])\n"


def to_python(spec: PipelineSpec, eval_for: Mapping[str, Any] | None = None) -> str:
    """A standalone module + script for `spec`; with `eval_for` (the keyword arguments of
    `eval_transform_source`: model, resize, crop, mean, std, interpolation) it also defines
    that model's `eval_transform`, after `transform`. Without it, the file is as it always was."""
    keyed = list(zip(spec.active, spec.step_keys(), strict=True))
    batch = spec.batch_steps
    evaluation = "\n\n" + eval_transform_source(**eval_for) if eval_for else ""
    header = _HEADER.format(
        version=VERSION,
        count=SAMPLE_COUNT,
        batch_note=_BATCH_NOTE if batch else "",
        eval_note=_EVAL_NOTE.format(model=eval_for["model"]) if eval_for else "",
    )
    script = _SCRIPT.format(
        keys=[key for s, key in keyed if not s.definition.batch],
        batch_keys=[key for s, key in keyed if s.definition.batch],
        batch_index=BATCH_INDEX,
        num_classes=batch[0].params["num_classes"] if batch else 1,
        count=SAMPLE_COUNT,
        loader=loader_source(),
    )
    return header + transform_source(spec) + evaluation + script


def to_json(spec: PipelineSpec) -> str:
    return spec.to_json()
