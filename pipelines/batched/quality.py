"""Blur and noise kernels: GaussianBlur, GaussianNoise."""

from __future__ import annotations

import math

import torch
from torchvision.transforms import v2

from pipelines.batched.base import Kernel, Params, _uniform


class GaussianBlur(Kernel):
    """GaussianBlur: sigma per sample, torchvision's kernel (softmax of -(x/sigma)^2 over
    [-lim, lim]) and reflect padding, as two grouped 1-D convolutions for the whole batch."""

    def __init__(self, t: v2.GaussianBlur) -> None:
        self.size = (int(t.kernel_size[0]), int(t.kernel_size[1]))  # x, y
        self.sigma = (float(t.sigma[0]), float(t.sigma[1]))

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        sigma = _uniform(n, *self.sigma, gen)
        return {"sigma": torch.stack((sigma, sigma), dim=1)}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        n, c, height, width = x.shape
        kx, ky = self.size
        x = torch.nn.functional.pad(x, [kx // 2, kx // 2, ky // 2, ky // 2], mode="reflect")
        wx = _gaussian(kx, params["sigma"][:, 0], x.dtype).repeat_interleave(c, 0)
        wy = _gaussian(ky, params["sigma"][:, 1], x.dtype).repeat_interleave(c, 0)
        x = x.reshape(1, n * c, *x.shape[-2:])
        x = torch.nn.functional.conv2d(x, wy.view(n * c, 1, ky, 1), groups=n * c)
        x = torch.nn.functional.conv2d(x, wx.view(n * c, 1, 1, kx), groups=n * c)
        return x.view(n, c, height, width)


def _gaussian(size: int, sigma: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    lim = (size - 1) / (2.0 * math.sqrt(2.0))
    grid = torch.linspace(-lim, lim, steps=size, dtype=dtype, device=sigma.device)
    return torch.softmax(-(grid / sigma.to(dtype).view(-1, 1)).pow(2), dim=1)


class GaussianNoise(Kernel):
    """GaussianNoise (clip=True): mean + sigma * randn per pixel, drawn here for the batch."""

    def __init__(self, t: v2.GaussianNoise) -> None:
        self.mean, self.sigma, self.clip = float(t.mean), float(t.sigma), bool(t.clip)

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        noise = torch.randn((n, 3, height, width), generator=gen, device=gen.device)
        return {"noise": noise * self.sigma + self.mean}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        x = x + params["noise"].to(x.dtype)
        return x.clamp(0, 1) if self.clip else x
