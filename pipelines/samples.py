"""Seeded preview samples: spec + image + seed -> 8 images and the values each one drew.

How samples are seeded: sample `i` of a preview runs the active steps in order, and before each
step the global torch RNG is seeded with `step_seed(seed, i, key)`, where `key` names the step
("ColorJitter#0"). Each step of each sample therefore has a random stream of its own: moving
one slider changes only the draws of that step, and the other steps keep theirs. The exported
script (pipelines.export) does exactly this with plain `torch.manual_seed` + `step(img)`, so
its samples are pixel-identical to the preview's.

Following torchvision v2, randomness is drawn in `make_params` and the application is
deterministic given the params; we call the two halves separately so the drawn values can be
shown under each sample.
"""

from __future__ import annotations

import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2._transform import _RandomApplyTransform

from pipelines.build import build_step
from pipelines.spec import PipelineSpec

SAMPLE_COUNT = 8

# Draws use the global torch RNG (that is what torchvision's make_params uses), so they are
# serialised; applying the drawn params is pure and runs in parallel (Pillow releases the GIL).
_DRAW_LOCK = threading.Lock()
_POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="sample")


def step_seed(seed: int, index: int, key: str) -> int:
    """The seed of one step of one sample; the exported script repeats this formula."""
    return zlib.crc32(f"{seed}:{index}:{key}".encode())


@dataclass(frozen=True)
class Sample:
    image: Image.Image
    drawn: list[tuple[str, dict[str, Any]]]  # (step key, drawn values) per active step


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def draw_params(step: v2.Transform, image: Any) -> dict[str, Any] | None:
    """What `step(image)` would draw from the global RNG; None when a random-apply step skips.

    Mirrors `Transform.forward` / `_RandomApplyTransform.forward` of torchvision v2; a test
    checks that `step.transform(image, draw_params(step, image))` equals `step(image)`.
    """
    if isinstance(step, _RandomApplyTransform) and torch.rand(1) >= step.p:
        return None
    return step.make_params([image])


def _seeded_draw(step: v2.Transform, image: Any, seed: int) -> dict[str, Any] | None:
    # Only the CPU generator matters to these draws; torch.manual_seed would also queue a
    # (slow, stack-capturing) lazy CUDA seed on every call. The caller's RNG state is restored.
    generator = torch.default_generator
    with _DRAW_LOCK:
        saved = generator.get_state()
        generator.manual_seed(seed)
        try:
            return draw_params(step, image)
        finally:
            generator.set_state(saved)


def _one_sample(
    steps: list[tuple[str, v2.Transform]], image: Image.Image, seed: int, index: int
) -> Sample:
    drawn = []
    for key, step in steps:
        width, height = image.size if isinstance(image, Image.Image) else image.shape[-1:-3:-1]
        params = _seeded_draw(step, image, step_seed(seed, index, key))
        info = {"applied": params is not None, "in_width": width, "in_height": height}
        if params is not None:
            info.update({k: _plain(v) for k, v in params.items()})
            image = step.transform(image, params)
        drawn.append((key, info))
    return Sample(image, drawn)


def render_samples(
    spec: PipelineSpec, image: Image.Image, seed: int, count: int = SAMPLE_COUNT
) -> list[Sample]:
    """`count` samples of `spec` applied to `image`, reproducible from `seed`."""
    steps = list(zip(spec.step_keys(), (build_step(s) for s in spec.active), strict=True))
    futures = [_POOL.submit(_one_sample, steps, image, seed, i) for i in range(count)]
    return [f.result() for f in futures]
