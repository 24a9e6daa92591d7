"""The erasing kernel: RandomErasing with its vectorised tries."""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms import v2

from pipelines.batched.base import Kernel, Params, _randint_below, _uniform


class Erasing(Kernel):
    """RandomErasing with value 0: the coin, then v2's 10 tries (h/w from area and h/w ratio,
    strictly inside the image) vectorised. When no try fits torchvision erases nothing: its
    "v" (the fill) is None then, here a per-sample flag False."""

    TRIES = 10

    def __init__(self, t: v2.RandomErasing) -> None:
        if t.value not in ([0], [0.0]):
            raise ValueError("the batched RandomErasing erases to 0 only")
        self.p, self.scale = float(t.p), t.scale
        self.log_ratio = (float(t._log_ratio[0]), float(t._log_ratio[1]))

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        applied = torch.rand(n, generator=gen, device=gen.device) < self.p
        tries = (self.TRIES,)
        area = _uniform(n, *self.scale, gen, tries).double() * (height * width)
        aspect = torch.exp(_uniform(n, *self.log_ratio, gen, tries)).double()
        h = torch.round(torch.sqrt(area * aspect)).long()
        w = torch.round(torch.sqrt(area / aspect)).long()
        ok = (h < height) & (w < width)
        first = ok.int().argmax(dim=1, keepdim=True)
        fits = ok.any(dim=1)
        h = torch.where(fits, h.gather(1, first).squeeze(1), height)
        w = torch.where(fits, w.gather(1, first).squeeze(1), width)
        i = torch.where(fits, _randint_below(height - h + 1, gen), 0)
        j = torch.where(fits, _randint_below(width - w + 1, gen), 0)
        return {"applied": applied, "i": i, "j": j, "h": h, "w": w, "v": fits}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        height, width = x.shape[-2:]
        i, j, h, w = (params[k].view(-1, 1, 1) for k in "ijhw")
        rows = torch.arange(height, device=x.device).view(1, -1, 1)
        cols = torch.arange(width, device=x.device).view(1, 1, -1)
        inside = (rows >= i) & (rows < i + h) & (cols >= j) & (cols < j + w)
        erase = inside & (params["applied"] & params["v"]).view(-1, 1, 1)
        return x.masked_fill(erase.unsqueeze(1), 0.0)

    def torchvision_params(self, params: Params, i: int) -> dict[str, Any]:
        out = super().torchvision_params(params, i)
        out["v"] = torch.zeros(1, 1, 1) if out["v"] else None
        return out
