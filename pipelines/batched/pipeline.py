"""The pipeline: a spec's kernels (`kernel`, `unsupported`) and `BatchedPipeline`, which draws
every step's parameters, then applies them, eagerly or compiled (the faster way measured)."""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torchvision.transforms import v2

from pipelines.batched.base import Kernel, Params
from pipelines.batched.policies import Sometimes
from pipelines.build import build_parts
from pipelines.catalogue import CATALOGUE, KERNEL_PACKAGE
from pipelines.spec import PipelineSpec, StepSpec


def resolve(name: str) -> Callable[[Any], Kernel]:
    """The kernel a `Batched.kernel` names ("module:Name" in KERNEL_PACKAGE); an unknown
    module or name raises (ImportError, AttributeError) rather than falling back."""
    module, attr = name.split(":")
    return getattr(importlib.import_module(f"{KERNEL_PACKAGE}.{module}"), attr)


# transform name -> its kernel, as the catalogue declares them (resolved here, on import: a
# name that does not resolve fails loudly)
KERNELS: dict[str, Callable[[Any], Kernel]] = {
    t.name: resolve(t.batched.kernel) for t in CATALOGUE if t.batched.kernel
}
_REASONS = {t.name: t.batched.reason for t in CATALOGUE if t.batched.reason}


def kernel_or_reason(step: StepSpec) -> Kernel | str:
    """The batched kernel of `step`, or why it has none for these settings (the caller falls
    back to per-image torchvision)."""
    make = KERNELS.get(step.transform)
    if make is None:
        return _REASONS[step.transform]
    parts, p = build_parts(step)
    if any(type(t) is not v2.ToImage for t in parts[:-1]):  # conversions: a per-image concern
        return "its input conversions run per image"
    try:
        found = make(parts[-1])
    except ValueError as err:  # settings the kernel does not cover (e.g. bicubic interpolation)
        return str(err)
    if p is None:
        return found
    if found.changes_size:
        return "a step probability around a size-changing step: the outputs would not stack"
    return Sometimes(found, p)


def kernel(step: StepSpec) -> Kernel | None:
    """The batched kernel of `step`, or None when it has none for these settings (the caller
    falls back to per-image torchvision)."""
    found = kernel_or_reason(step)
    return None if isinstance(found, str) else found


def fallback(spec: PipelineSpec) -> list[tuple[str, str]]:
    """(transform, why it has no batched kernel) for each active per-image step without one,
    in pipeline order: what the training log names when the pipeline runs per image."""
    found = [(s.transform, kernel_or_reason(s)) for s in spec.image_steps]
    return [(name, why) for name, why in found if isinstance(why, str)]


def unsupported(spec: PipelineSpec) -> list[str]:
    """The active per-image transforms without a batched kernel, in pipeline order.

    Mixing steps (CutMix, MixUp) are not in the list: they act on batches in any case, and the
    trainer applies `pipelines.build.build_batch(spec)` after this pipeline.
    """
    return [name for name, _ in fallback(spec)]


def batched_supported(spec: PipelineSpec) -> bool:
    return not unsupported(spec)


class BatchedPipeline:
    """`spec` for whole batches: `pipeline(images, generator)` -> float NCHW in [0, 1].

    All parameters are drawn first (they depend on image sizes, never on pixels), then applied
    by `apply`, a pure function of the images and the parameters.

    Eagerly, the kernels that can split the batch by their draws (the policies, ColorJitter
    with a hue shift: `Kernel.grouped`) do so. `compile=True` has two ways to run, with the
    same result per image; which is faster depends on the device, so the first batch on a
    device measures both and keeps the faster (`plan` says which and why; `log`, when given,
    hears it once per device and batch shape):

    - "compiled, all ops": the whole of `apply` as one torch.compile graph, the grouped
      kernels running every op on every image (no shape depends on the draws);
    - "grouped, the rest compiled": the grouped kernels eagerly, by group, and the runs of
      other kernels between them compiled.

    A pipeline without a grouped kernel has one way only, "compiled".
    """

    TIMED_RUNS = 3  # per way, after a first run that compiles; the fastest run counts

    def __init__(
        self,
        spec: PipelineSpec,
        compile: bool = False,
        log: Callable[[str], Any] | None = None,
    ) -> None:
        missing = unsupported(spec)
        if missing:
            raise ValueError(f"{missing[0]} has no batched kernel")
        self.kernels = [kernel(s) for s in spec.image_steps]
        self.compile, self.log = compile, log
        self.plans: dict[tuple, str] = {}  # (device, shape, dtype) -> the way chosen there
        self.plan = "eager, grouped" if any(k.grouped for k in self.kernels) else "eager"
        if compile:
            self._whole = torch.compile(self._apply, dynamic=False)
            self._segments = self._split()

    def _split(self) -> list[tuple[int, int, Callable]]:
        """(start, stop, how) runs of kernels: a grouped kernel alone, eager; other kernels
        in maximal runs, each run one compiled function."""
        runs: list[tuple[int, int, Callable]] = []
        start = 0
        for i, k in enumerate([*self.kernels, None]):
            if k is None or k.grouped:
                if i > start:
                    run = self._run_of(start, i)
                    runs.append((start, i, torch.compile(run, dynamic=False)))
                if k is not None:
                    runs.append((i, i + 1, self._run_of(i, i + 1)))
                start = i + 1
        return runs

    def _run_of(self, start: int, stop: int) -> Callable:
        def run(x: torch.Tensor, drawn: list[Params]) -> torch.Tensor:
            if start == 0:
                x = _to_float(x)
            for kernel, params in zip(self.kernels[start:stop], drawn[start:stop], strict=True):
                x = kernel.apply(x, params)
            return x

        return run

    def draw_params(self, n: int, height: int, width: int, gen: torch.Generator) -> list[Params]:
        drawn = []
        for kernel in self.kernels:
            drawn.append(kernel.draw(n, height, width, gen))
            height, width = kernel.output_size(height, width)
        return drawn

    def _apply(self, x: torch.Tensor, drawn: list[Params]) -> torch.Tensor:
        x = _to_float(x)
        for kernel, params in zip(self.kernels, drawn, strict=True):
            x = kernel.apply(x, params)
        return x

    def _grouped(self, x: torch.Tensor, drawn: list[Params]) -> torch.Tensor:
        if not self.kernels:
            return _to_float(x)
        for _, _, run in self._segments:
            x = run(x, drawn)
        return x

    def apply(self, x: torch.Tensor, drawn: list[Params]) -> torch.Tensor:
        """The batch x with the parameters `draw_params` drew for it."""
        if not self.compile:
            self._say((x.device, tuple(x.shape), x.dtype), self.plan)
            return self._apply(x, drawn)
        if not any(k.grouped for k in self.kernels):
            self._say((x.device, tuple(x.shape), x.dtype), "compiled")
            return self._whole(x, drawn)
        key = (x.device, tuple(x.shape), x.dtype)
        if key not in self.plans:
            self._choose(key, x, drawn)
        return self._whole(x, drawn) if self.plans[key] == ALL_OPS else self._grouped(x, drawn)

    def _choose(self, key: tuple, x: torch.Tensor, drawn: list[Params]) -> None:
        """Time both ways on this batch (each run once first, to compile it), alternating,
        and keep the faster."""
        ways = {ALL_OPS: self._whole, GROUPED: self._grouped}
        best = {name: math.inf for name in ways}
        for run in ways.values():
            run(x, drawn)
        for _ in range(self.TIMED_RUNS):
            for name, run in ways.items():
                best[name] = min(best[name], _seconds(run, x, drawn))
        chosen = min(best, key=best.__getitem__)
        other = next(name for name in ways if name != chosen)
        self._say(
            key,
            chosen,
            f"{best[chosen] * 1e3:.1f} ms a batch of {x.shape[0]} against "
            f"{best[other] * 1e3:.1f} ms {other}, measured on the first batch",
        )

    def _say(self, key: tuple, way: str, why: str = "") -> None:
        if key in self.plans:
            return
        self.plans[key] = way
        self.plan = f"{way} ({why})" if why else way
        if self.log is not None:
            self.log(f"batched augmentation on {key[0]}: {self.plan}")

    def draw(self, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, list[Params]]:
        """The augmented batch and each step's drawn parameters (for tests and previews)."""
        drawn = self.draw_params(x.shape[0], x.shape[-2], x.shape[-1], gen)
        return self.apply(x, drawn), drawn

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return self.draw(x, gen)[0]


ALL_OPS = "compiled, all ops"
GROUPED = "grouped, the rest compiled"


def _to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div(255) if x.dtype == torch.uint8 else x.float()


def _seconds(run: Callable, x: torch.Tensor, drawn: list[Params]) -> float:
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    start = time.perf_counter()
    run(x, drawn)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    return time.perf_counter() - start
