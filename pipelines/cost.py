"""What a preview will cost, estimated from the pipeline and the image size before rendering.

A valid pipeline can be very costly: ElasticTransform blurs two random fields with a 2-D
Gaussian of side 8 x sigma + 1 (161 px at sigma 20, i.e. 25,921 multiply-adds per pixel and
field), GaussianBlur's kernel is up to 31 x 31, and RandomZoomOut or Pad grow the image for
every later step. On a shared server one such preview would take the CPU from every other
visitor for minutes. `preview_plan` says, before anything runs, at which size and with how many
samples a preview fits a time budget, or why it cannot.

The work model counts multiply-adds per output pixel, weighted by what was measured on a 2-core
CPU (docs/benchmarks.md, "A public Space: the preview's cost bound"): a cheap step (flip, crop,
colour) about 30 units per pixel; GaussianBlur 3 channels x k^2 at 1 unit; the displacement
blur of ElasticTransform 2 fields x k^2 at 5 units (a 1-channel convolution with a huge kernel
runs five times slower per multiply-add). A unit is 1/1.8e9 s on that CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipelines.spec import PipelineSpec, StepSpec

UNITS_PER_S = 1.8e9  # measured: GaussianBlur 31 x 31 on 8 samples of 1024 x 768 px in 10.2 s
CHEAP_UNITS = 30.0  # per pixel: a flip, crop, colour or geometry step (and a policy's op)
ELASTIC_UNITS = 5.0  # per multiply-add of ElasticTransform's displacement blur
MIN_SIDE = 32  # a preview is never shrunk below this (CIFAR's size)


class PreviewTooCostly(ValueError):
    """A pipeline that no preview within the budget can show; the message says why."""


@dataclass(frozen=True)
class PreviewPlan:
    scale: float  # of the input image's sides (1.0: as given)
    count: int  # samples
    seconds: float  # the estimate at this scale and count
    full_seconds: float  # the estimate as asked


def elastic_kernel(sigma: float) -> int:
    """ElasticTransform's blur kernel side, as torchvision computes it."""
    k = int(8 * sigma + 1)
    return k + 1 if k % 2 == 0 else k


def _step(step: StepSpec, w: float, h: float) -> tuple[float, float, float]:
    """(work units of one sample of this step, output width, output height)."""
    name, params = step.transform, step.params
    work = CHEAP_UNITS * w * h
    size_param = next((p for p in step.definition.params if p.is_size), None)
    if size_param is not None:
        side = float(params[size_param.name])
        w2, h2 = side, side
    elif name == "Pad":
        w2, h2 = w + 2 * params["padding"], h + 2 * params["padding"]
    elif name == "RandomZoomOut":
        w2, h2 = w * params["side_max"], h * params["side_max"]
    elif name == "RandomRotation" and params.get("expand"):
        w2, h2 = w * math.sqrt(2), h * math.sqrt(2)
    else:
        w2, h2 = w, h
    if name == "GaussianBlur":
        k = params["kernel_size"]
        work += 3 * k * k * (w + k) * (h + k)
    elif name == "ElasticTransform":
        k = elastic_kernel(params["sigma"])
        work += ELASTIC_UNITS * 2 * k * k * (w + k) * (h + k)
    elif name == "AugMix":
        work *= 3 * params["mixture_width"] + 2  # chains of up to 3 ops, then the mixing
    elif step.definition.draws_in_forward:
        work *= 3  # a policy: up to a few ops
    return work, max(w2, 1.0), max(h2, 1.0)


def estimate_seconds(spec: PipelineSpec, size: tuple[int, int], count: int) -> float:
    """The time `count` samples of `spec` on an image of `size` take, on the measured CPU."""
    w, h = float(size[0]), float(size[1])
    total = 0.0
    for step in spec.active:
        if step.definition.batch:
            total += CHEAP_UNITS * w * h  # per sample: one mix of the batch
            continue
        work, w, h = _step(step, w, h)
        total += work
    return total * count / UNITS_PER_S


def min_side(spec: PipelineSpec) -> int:
    """The smallest input side the pipeline runs on: ElasticTransform reflects its random
    field by half its kernel, which must be less than the image's side."""
    sides = [MIN_SIDE]
    for step in spec.active:
        if step.transform == "ElasticTransform":
            sides.append(elastic_kernel(step.params["sigma"]) // 2 + 1)
    return max(sides)


def preview_plan(
    spec: PipelineSpec, size: tuple[int, int], count: int, budget_s: float
) -> PreviewPlan:
    """The largest preview within `budget_s`: the image as given if it fits, else scaled down
    (not below `min_side`), else with fewer samples; PreviewTooCostly if one sample at the
    smallest size does not fit either."""
    full = estimate_seconds(spec, size, count)
    if full <= budget_s:
        return PreviewPlan(1.0, count, full, full)
    smallest = min(1.0, min_side(spec) / min(size))
    scale = max(smallest, math.sqrt(budget_s / full))
    for _ in range(40):  # the work is not exactly quadratic in the scale (kernels, padding)
        seconds = estimate_seconds(spec, _scaled(size, scale), count)
        if seconds <= budget_s or scale <= smallest:
            break
        scale = max(smallest, scale * 0.9)
    small = _scaled(size, scale)
    per_sample = estimate_seconds(spec, small, 1)
    fits = min(count, int(budget_s // per_sample)) if per_sample > 0 else count
    if fits < 1:
        heavy = max(spec.active, key=lambda s: _step(s, *small)[0] if not s.definition.batch else 0)
        raise PreviewTooCostly(
            f"this pipeline is too costly to preview on this server: even one sample at "
            f"{small[0]} x {small[1]} px would take about {per_sample:,.0f} s, and a preview "
            f"may take {budget_s:g} s (the costliest step: {heavy.transform}"
            + (
                f" with sigma {heavy.params['sigma']:g}; lower it"
                if "sigma" in heavy.params
                else ""
            )
            + "). It still exports and trains as it is."
        )
    return PreviewPlan(scale, fits, estimate_seconds(spec, small, fits), full)


def _scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
