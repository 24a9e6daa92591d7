"""Seeded preview samples: spec + image + seed -> 8 images and the values each one drew.

How samples are seeded: sample `i` of a preview runs the active per-image steps in order, and
before each step the global torch RNG is seeded with `step_seed(seed, i, key)`, where `key`
names the step ("ColorJitter#0"). Each step of each sample therefore has a random stream of its
own: moving one slider changes only the draws of that step, and the other steps keep theirs.
Mixing steps (CutMix, MixUp) then mix the 8 samples among themselves as one batch, each seeded
with `step_seed(seed, "batch", key)`. The exported script (pipelines.export) does exactly this
with plain `torch.manual_seed` + `step(img)`, so its samples are pixel-identical to the preview's.

Following torchvision v2, randomness is drawn in `make_params` and the application is
deterministic given the params; we call the two halves separately so the drawn values can be
shown under each sample. Transforms that draw inside forward instead (the automatic policies,
Gaussian noise) run whole under their seed, with their draws recorded on the way
(`_record_draws`): the pixels are those of a plain call.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._transform import _RandomApplyTransform

from pipelines.build import build_parts
from pipelines.catalogue import IN_FORWARD_OPS, TransformDef
from pipelines.spec import PipelineSpec, SpecError, StepSpec

SAMPLE_COUNT = 8
BATCH_INDEX = "batch"  # the `index` in step_seed for mixing steps, which draw once per batch
_SMALL = 16  # tensors up to this many values are shown as lists; larger ones are summarised

# Draws use the global torch RNG (that is what torchvision's make_params uses), so they are
# serialised; applying the drawn params is pure and runs in parallel (Pillow releases the GIL).
_DRAW_LOCK = threading.Lock()
_POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="sample")


def step_seed(seed: int, index: int | str, key: str) -> int:
    """The seed of one step of one sample; the exported script repeats this formula."""
    return zlib.crc32(f"{seed}:{index}:{key}".encode())


@dataclass(frozen=True)
class Sample:
    image: Image.Image
    drawn: list[tuple[str, dict[str, Any]]]  # (step key, drawn values) per active step
    captions: list[str]  # one line per active step: what it drew, in words


@dataclass(frozen=True)
class StepPlan:
    """One active step, built: what the preview runs for it."""

    key: str
    step: StepSpec
    parts: list[v2.Transform]  # run in order; the catalogue's transform is the last
    p: float | None  # the step's RandomApply probability, None when it always runs

    @property
    def core(self) -> v2.Transform:
        return self.parts[-1]

    @property
    def tdef(self) -> TransformDef:
        return self.step.definition


def plan(spec: PipelineSpec) -> list[StepPlan]:
    """The active steps, built once per render."""
    plans = []
    for key, step in zip(spec.step_keys(), spec.active, strict=True):
        parts, p = build_parts(step)
        plans.append(StepPlan(key, step, parts, p))
    return plans


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        if value.numel() <= _SMALL:
            return value.tolist()
        return {"shape": list(value.shape), "max_abs": float(value.abs().max())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _size(image: Any) -> tuple[int, int]:
    return image.size if isinstance(image, Image.Image) else (image.shape[-1], image.shape[-2])


def draw_params(step: v2.Transform, image: Any) -> dict[str, Any] | None:
    """What `step(image)` would draw from the global RNG; None when a random-apply step skips.

    Mirrors `Transform.forward` / `_RandomApplyTransform.forward` of torchvision v2; a test
    checks that `step.transform(image, draw_params(step, image))` equals `step(image)`.
    """
    if isinstance(step, _RandomApplyTransform) and torch.rand(1) >= step.p:
        return None
    return step.make_params([image])


def _draw_cheaply(step: v2.Transform, image: Any) -> dict[str, Any] | None:
    """What `draw_params` draws, holding the RNG lock only for the draws themselves:
    ElasticTransform's make_params also blurs its two random fields with a kernel of up to
    161 x 161, which is pure and runs after the lock is released (`_finish_params`)."""
    if isinstance(step, v2.ElasticTransform):
        width, height = _size(image)
        return {"_fields": (torch.rand(1, 1, height, width), torch.rand(1, 1, height, width))}
    return draw_params(step, image)


def _finish_params(step: v2.Transform, params: dict[str, Any], image: Any) -> dict[str, Any]:
    """ElasticTransform.make_params after its draws, as torchvision computes it (a test
    compares the two under the same seed)."""
    if "_fields" not in params:
        return params
    width, height = _size(image)
    fields = []
    for field, axis, norm in zip(params["_fields"], (0, 1), (width, height), strict=True):
        field = field * 2 - 1
        if step.sigma[axis] > 0.0:
            k = int(8 * step.sigma[axis] + 1)
            k += 1 if k % 2 == 0 else 0
            field = step._call_kernel(F.gaussian_blur, field, [k, k], list(step.sigma))
        fields.append(field * step.alpha[axis] / norm)
    return {"displacement": torch.concat(fields, 1).permute([0, 2, 3, 1])}


class PreviewTimeout(RuntimeError):
    """A render that ran past its deadline (the estimate was wrong); stopped between steps."""


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    # Only the CPU generator matters to these draws; torch.manual_seed would also queue a
    # (slow, stack-capturing) lazy CUDA seed on every call. The caller's RNG state is restored.
    generator = torch.default_generator
    with _DRAW_LOCK:
        saved = generator.get_state()
        generator.manual_seed(seed)
        try:
            yield
        finally:
            generator.set_state(saved)


class _LoggedPolicies(list):
    """AutoAugment's sub-policy list, noting which one forward picks (it indexes it once)."""

    def __init__(self, policies: list, record: dict[str, Any]) -> None:
        super().__init__(policies)
        self.record = record

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        self.record.update(policy=index, policies=len(self), policy_ops=[op for op, _, _ in item])
        return item


def _record_draws(core: v2.Transform, draws: str, record: dict[str, Any]) -> Callable[[], None]:
    """Wrap the instance's own hooks so forward reports its draws; returns the undo.

    The policies call `_apply_image_or_video_transform(image, op, magnitude, ...)` once per op
    they apply (AugMix starts every chain from the same input, which marks its chains), AutoAugment
    indexes `_policies` once, AugMix draws its weights with `_sample_dirichlet`. The wrappers
    call through unchanged and use no randomness, so the pixels are those of a plain call.
    """
    if draws != IN_FORWARD_OPS:  # drawn in transform() (noise): the caption shows the settings
        return lambda: None
    ops: list[list[Any]] = []
    chains: list[list[list[Any]]] = []
    record["ops"] = ops
    apply = core._apply_image_or_video_transform
    first: list[Any] = []

    def recorded_apply(image: Any, transform_id: str, magnitude: float, **kwargs: Any) -> Any:
        if not first or image is first[0]:
            first[:] = [image]
            chains.append([])
        ops.append([transform_id, magnitude])
        chains[-1].append([transform_id, magnitude])
        return apply(image, transform_id, magnitude, **kwargs)

    core._apply_image_or_video_transform = recorded_apply
    undo = [lambda: delattr(core, "_apply_image_or_video_transform")]
    if isinstance(core, v2.AutoAugment):
        policies = core._policies
        core._policies = _LoggedPolicies(policies, record)
        undo.append(lambda: setattr(core, "_policies", policies))
    if isinstance(core, v2.AugMix):
        sample = core._sample_dirichlet
        weights: list[torch.Tensor] = []

        def recorded_dirichlet(params: torch.Tensor) -> torch.Tensor:
            weights.append(sample(params))
            if len(weights) == 2:  # (original, augmented) share, then the chains' split
                original, chained = weights
                record["original_weight"] = float(original[0, 0])
                record["chain_weights"] = (chained[0] * original[0, 1]).tolist()
            return weights[-1]

        core._sample_dirichlet = recorded_dirichlet
        record["chains"] = chains
        undo.append(lambda: delattr(core, "_sample_dirichlet"))
    return lambda: [u() for u in undo]


Pin = Callable[[dict[str, Any]], dict[str, Any]]  # a step's drawn params -> the params it applies


def _run_step(
    plan: StepPlan, image: Any, seed: int, pin: Pin | None = None
) -> tuple[Any, dict[str, Any]]:
    """`plan`'s step on one image under `seed`: the new image and what it drew (`pin` may
    replace some of the draws: see strength_strip)."""
    width, height = _size(image)
    info: dict[str, Any] = {"applied": True, "in_width": width, "in_height": height}
    params = None
    with _seeded(seed):
        if plan.p is not None and torch.rand(1) >= plan.p:  # v2.RandomApply's own draw
            info["applied"] = False
        elif plan.tdef.draws_in_forward:
            record: dict[str, Any] = {}
            undo = _record_draws(plan.core, plan.tdef.draws, record)
            try:
                for part in plan.parts:
                    image = part(image)
            finally:
                undo()
            info.update(record)
        else:
            for part in plan.parts[:-1]:  # conversions (ToImage): they draw nothing
                image = part(image)
            params = _draw_cheaply(plan.core, image)
            info["applied"] = params is not None
    if params is not None and pin is not None:
        params = pin(params)
    if params is not None:
        params = _finish_params(plan.core, params, image)
        info.update({k: _plain(v) for k, v in params.items()})
        image = plan.core.transform(image, params)
    info["out_width"], info["out_height"] = _size(image)
    return image, info


def caption(plan: StepPlan, info: dict[str, Any]) -> str:
    if not info["applied"]:
        return info.get("note") or f"no {plan.tdef.label.lower()}"
    return plan.tdef.describe(info, plan.step.params)


def _one_sample(
    plans: list[StepPlan],
    image: Image.Image,
    seed: int,
    index: int,
    pins: dict[str, Pin] | None = None,
    deadline: float | None = None,
) -> Sample:
    drawn, captions = [], []
    for p in plans:
        if deadline is not None and time.monotonic() > deadline:
            raise PreviewTimeout(f"the preview ran past its time budget before {p.key}")
        pin = (pins or {}).get(p.key)
        image, info = _run_step(p, image, step_seed(seed, index, p.key), pin)
        drawn.append((p.key, info))
        captions.append(caption(p, info))
    if not isinstance(image, Image.Image):  # a tensor-only step (noise) made a tensor
        image = F.to_pil_image(image)
    return Sample(image, drawn, captions)


def _mix(samples: list[Sample], plans: list[StepPlan], seed: int) -> list[Sample]:
    """The mixing steps over the samples as one batch, as `batch_transform` runs in training.

    Sample i is paired with sample i-1 (torchvision rolls the batch by one), so each caption
    names its partner. The batch is float in [0, 1] as in a training loop, then back to 8 bits.
    """
    n = len(samples)
    drawn = [list(s.drawn) for s in samples]
    captions = [list(s.captions) for s in samples]
    if len({s.image.size for s in samples}) > 1:
        note = "not mixed: the samples differ in size (add a crop or resize step)"
        for i in range(n):
            for p in plans:
                drawn[i].append((p.key, {"applied": False, "note": f"{p.tdef.label} {note}"}))
                captions[i].append(f"{p.tdef.label} {note}")
        return [Sample(s.image, d, c) for s, d, c in zip(samples, drawn, captions, strict=True)]
    batch = torch.stack([F.pil_to_tensor(s.image) for s in samples])
    batch = F.to_dtype(batch, torch.float32, scale=True)
    for p in plans:
        with _seeded(step_seed(seed, BATCH_INDEX, p.key)):
            skipped = p.p is not None and torch.rand(1) >= p.p
            params = None if skipped else p.core.make_params([batch])
        if params is not None:
            batch = p.core.transform(batch, {"labels": None, "batch_size": n, **params})
        for i in range(n):
            info = {"applied": params is not None, "partner": (i - 1) % n}
            info.update({k: _plain(v) for k, v in (params or {}).items()})
            drawn[i].append((p.key, info))
            captions[i].append(caption(p, info))
    images = F.to_dtype(batch, torch.uint8, scale=True)
    return [
        Sample(F.to_pil_image(x), d, c) for x, d, c in zip(images, drawn, captions, strict=True)
    ]


def render_samples(
    spec: PipelineSpec,
    image: Image.Image,
    seed: int,
    count: int = SAMPLE_COUNT,
    deadline: float | None = None,
    pool: bool = True,
) -> list[Sample]:
    """`count` samples of `spec` applied to `image`, reproducible from `seed`. Past `deadline`
    (time.monotonic) the samples stop at their next step and PreviewTimeout is raised.
    `pool`: on the shared thread pool (fast for the usual pipelines); a costly render passes
    False and runs in its caller's thread, so other visitors' samples never queue behind it."""
    plans = plan(spec)
    per_image = [p for p in plans if not p.tdef.batch]
    if pool:
        jobs = [
            _POOL.submit(_one_sample, per_image, image, seed, i, None, deadline)
            for i in range(count)
        ]
        samples = [f.result() for f in jobs]
    else:
        samples = [_one_sample(per_image, image, seed, i, deadline=deadline) for i in range(count)]
    mixing = [p for p in plans if p.tdef.batch]
    return _mix(samples, mixing, seed) if mixing else samples


def render_steps(
    spec: PipelineSpec,
    image: Image.Image,
    seed: int,
    index: int = 0,
    deadline: float | None = None,
) -> list[tuple[str, Image.Image, str]]:
    """Sample `index` of the grid after each active step: (step key, image, what it drew).

    The same seeds as the grid, so the last image is the grid's sample `index`. Mixing steps
    need the whole batch: their rows show that sample after the batch was mixed.
    """
    plans = plan(spec)
    rows = []
    current: Any = image
    for p in (p for p in plans if not p.tdef.batch):
        if deadline is not None and time.monotonic() > deadline:
            raise PreviewTimeout(f"the preview ran past its time budget before {p.key}")
        current, info = _run_step(p, current, step_seed(seed, index, p.key))
        shown = current if isinstance(current, Image.Image) else F.to_pil_image(current)
        rows.append((p.key, shown, caption(p, info)))
    mixing = [p for p in plans if p.tdef.batch]
    if mixing:
        count = max(index + 1, SAMPLE_COUNT)
        mixed = render_samples(spec, image, seed, count=count, deadline=deadline)[index]
        rows += [
            (p.key, mixed.image, text)
            for p, text in zip(mixing, mixed.captions[-len(mixing) :], strict=True)
        ]
    return rows


def strength_values(spec: PipelineSpec, key: str, param: str, count: int = SAMPLE_COUNT) -> list:
    """`count` values of one parameter of step `key`, evenly over its slider's range."""
    step = dict(zip(spec.step_keys(), spec.active, strict=True))[key]
    p = step.definition.param(param)
    if p.kind not in ("int", "float"):
        raise SpecError(f"'{param}' is not a number: it has no strengths")
    low, high = p.slider_range  # where a track is declared, the useful part of the range
    values = [low + (high - low) * k / (count - 1) for k in range(count)]
    if p.kind == "float":
        return values
    ints = [int(round(v)) | 1 if p.odd else int(round(v)) for v in values]
    return sorted({min(v, int(high)) for v in ints})


def strength_strip(
    spec: PipelineSpec,
    image: Image.Image,
    seed: int,
    key: str,
    param: str,
    index: int = 0,
    deadline: float | None = None,
) -> list[tuple[Any, Sample | str]]:
    """The grid's sample `index` with one parameter of step `key` at each of its strengths:
    (value, sample) or (value, why that value is not valid with the other settings).

    Every step is seeded as in the grid, so the other steps keep their draws. Within the step,
    a value can change how many numbers it draws (ColorJitter's brightness 0 draws no factor, so
    contrast would take the number brightness took): the step's draws that do not depend on the
    swept parameter are therefore pinned to those of the pipeline as it is (`_pinned_draws`), so
    only that parameter changes along the strip.
    """
    cells: list[tuple[Any, PipelineSpec | str]] = []
    for value in strength_values(spec, key, param):
        try:
            cells.append((value, spec.with_key_params(key, **{param: value})))
        except SpecError as err:
            cells.append((value, str(err)))
    pins = _pinned_draws(
        spec, [c for _, c in cells if not isinstance(c, str)], image, seed, key, index
    )
    strip: list[tuple[Any, Sample | str]] = []
    for value, varied in cells:
        if isinstance(varied, str):
            strip.append((value, varied))
            continue
        per_image = [p for p in plan(varied) if not p.tdef.batch]
        strip.append((value, _one_sample(per_image, image, seed, index, pins, deadline)))
    return strip


def _pinned_draws(
    spec: PipelineSpec,
    varied: list[PipelineSpec],
    image: Image.Image,
    seed: int,
    key: str,
    index: int,
) -> dict[str, Pin]:
    """{key: pin} keeping the step's draws that do not depend on the swept parameter as the
    pipeline `spec` draws them. Which draws depend on it: those that differ between the two
    strongest valid settings (the most likely to draw every number). Empty where the step draws
    inside forward (the policies) or only two settings are valid."""
    if len(varied) < 2:
        return {}
    draws = [_draw(s, image, seed, key, index) for s in (spec, varied[-2], varied[-1])]
    reference, strong, stronger = draws
    if any(d is None for d in draws) or set(strong) != set(stronger):
        return {}
    fixed = {k for k in strong if _same(strong[k], stronger[k]) and k in reference}
    if not fixed:
        return {}
    return {key: lambda params: {**params, **{k: reference[k] for k in fixed if k in params}}}


def _draw(
    spec: PipelineSpec, image: Image.Image, seed: int, key: str, index: int
) -> dict[str, Any] | None:
    """The params step `key` draws for sample `index` (None: it skips or draws in forward)."""
    plans = [p for p in plan(spec) if not p.tdef.batch]
    current: Any = image
    captured: list[dict[str, Any]] = []

    def capture(params: dict[str, Any]) -> dict[str, Any]:
        captured.append(params)
        return params

    for p in plans:
        if p.key == key:
            if p.tdef.draws_in_forward:
                return None
            _run_step(p, current, step_seed(seed, index, key), capture)
            return captured[0] if captured else None
        current, _ = _run_step(p, current, step_seed(seed, index, p.key))
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and bool(torch.equal(a, b))
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except (TypeError, ValueError, RuntimeError):
        return False
