"""The shared base of the batched kernels: `Kernel` (draw, then apply), `Coin` (a v2
_RandomApplyTransform's per-image coin), the per-sample random helpers and `_by_group`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torchvision.transforms import v2

Params = dict[str, torch.Tensor]


def _uniform(
    n: int, low: float, high: float, gen: torch.Generator, shape: tuple = ()
) -> torch.Tensor:
    # float32 like torchvision's torch.empty(1).uniform_(low, high)
    return torch.rand((n, *shape), generator=gen, device=gen.device) * (high - low) + low


def _randint_below(bound: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Uniform integers in [0, bound) per sample: torch.randint with a tensor of bounds."""
    u = torch.rand(bound.shape, generator=gen, device=gen.device, dtype=torch.float64)
    return (u * bound).floor().long().clamp_(max=bound - 1)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma, as torchvision's _rgb_to_grayscale_image (N1HW)."""
    r, g, b = x.unbind(dim=-3)
    return (r * 0.2989 + g * 0.587 + b * 0.114).unsqueeze(-3)


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, 1, 1, 1), a, b)


class Kernel:
    """One transform for a batch: per-sample draws, then a deterministic application."""

    changes_size = False
    # apply splits the batch by the draws when eager (and so must stay out of a compiled graph
    # to gain from it; see BatchedPipeline)
    grouped = False

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        raise NotImplementedError

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return height, width

    def torchvision_params(self, params: Params, i: int) -> dict[str, Any]:
        """Sample i's draws as torchvision's `transform(inpt, params)` takes them, plus
        "applied", the coin v2's _RandomApplyTransform tosses in `forward` (where there is one)."""
        return {k: _scalar(v[i]) for k, v in params.items()}


def _scalar(v: torch.Tensor) -> Any:
    return v.item() if v.ndim == 0 else v.tolist()


class Coin(Kernel):
    """A v2 _RandomApplyTransform: `op` applied where rand < p (forward's `rand >= p` skips)."""

    def __init__(self, t: v2.Transform) -> None:
        self.p = float(t.p)

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        return {"applied": torch.rand(n, generator=gen, device=gen.device) < self.p}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        return _where(params["applied"], self.op(x), x)

    def op(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _by_group(
    x: torch.Tensor,
    group: torch.Tensor,
    count: int,
    run: Callable[[int, Any, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """`run(g, idx, x[idx])` for each group g in [0, count) that some image is in, the results
    scattered back to the images' places: a stable sort of the group codes, then one call
    per group present (the counts come to the host once). `idx` indexes the batch's per-image
    parameters; a batch all in one group runs whole, without a gather."""
    counts = torch.bincount(group, minlength=count).tolist()
    present = [g for g, c in enumerate(counts) if c]
    if len(present) == 1:
        return run(present[0], slice(None), x)
    order = torch.argsort(group, stable=True)
    out = torch.empty_like(x)
    start = 0
    for g, c in enumerate(counts):
        if c:
            idx = order[start : start + c]
            # index_select / index_copy_: several times faster than x[idx] / out[idx] = ...
            out.index_copy_(0, idx, run(g, idx, x.index_select(0, idx)))
            start += c
    return out
