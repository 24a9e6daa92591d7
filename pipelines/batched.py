"""The pipeline applied to a whole NCHW batch at once, with a different random draw per image.

torchvision v2 given a batch draws one set of parameters and applies it to every image, which is
wrong for training. Here each kernel mirrors one torchvision v2 transform, split the way v2
splits it: `draw(n, height, width, generator)` returns per-sample parameter tensors drawn from
the same distributions as the transform's `make_params` (tests compare them over thousands of
draws), and `apply(images, params)` is deterministic given them (tests compare pixels with
torchvision applied to the same parameters). The kernels read their settings from the
torchvision transform that `build_step` makes, so the catalogue stays the one declaration.

Images are float in [0, 1] (uint8 input is scaled once): torchvision on uint8 rounds to uint8
after every step, we keep full precision between steps. Transforms without a kernel here run
per image through torchvision in DataLoader workers (see playground.training.augment).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv

from pipelines.build import build_parts
from pipelines.spec import PipelineSpec, StepSpec

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

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        raise NotImplementedError

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return height, width

    def torchvision_params(self, params: Params, i: int) -> dict[str, Any]:
        """Sample i's draws as torchvision's `transform(inpt, params)` takes them (tests,
        previews). "applied" is the coin v2's _RandomApplyTransform tosses in `forward`."""
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


class Flip(Kernel):
    """RandomHorizontalFlip / RandomVerticalFlip: applied where rand < p, as in v2's forward."""

    def __init__(self, t: v2.Transform, dim: int) -> None:
        self.p, self.dim = float(t.p), dim

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        return {"applied": torch.rand(n, generator=gen, device=gen.device) < self.p}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        return _where(params["applied"], x.flip(self.dim), x)


class Grayscale(Kernel):
    """RandomGrayscale: luma copied to the three channels where rand < p."""

    def __init__(self, t: v2.RandomGrayscale) -> None:
        self.p = float(t.p)

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        return {"applied": torch.rand(n, generator=gen, device=gen.device) < self.p}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        return _where(params["applied"], _gray(x).expand_as(x), x)


class ResizedCrop(Kernel):
    """RandomResizedCrop: v2's 10-try rejection sampling, vectorised, with its centre fallback."""

    TRIES = 10
    changes_size = True

    def __init__(self, t: v2.RandomResizedCrop) -> None:
        if InterpolationMode(t.interpolation) != InterpolationMode.BILINEAR:
            raise ValueError("the batched RandomResizedCrop supports bilinear interpolation only")
        self.size = (int(t.size[0]), int(t.size[1]))
        self.scale, self.ratio = t.scale, t.ratio
        self.log_ratio = (float(t._log_ratio[0]), float(t._log_ratio[1]))
        self.antialias = bool(t.antialias)

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        tries = (self.TRIES,)
        area = _uniform(n, *self.scale, gen, tries).double() * (height * width)
        aspect = torch.exp(_uniform(n, *self.log_ratio, gen, tries)).double()
        w = torch.round(torch.sqrt(area * aspect)).long()
        h = torch.round(torch.sqrt(area / aspect)).long()
        ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        first = ok.int().argmax(dim=1, keepdim=True)  # the first try that fits, as the loop breaks
        fits = ok.any(dim=1)
        fw, fh = self._fallback(height, width)
        w = torch.where(fits, w.gather(1, first).squeeze(1), fw)
        h = torch.where(fits, h.gather(1, first).squeeze(1), fh)
        # torchvision draws top, then left, only for a fitting try; the centre fallback draws none
        top = torch.where(fits, _randint_below(height - h + 1, gen), (height - h) // 2)
        left = torch.where(fits, _randint_below(width - w + 1, gen), (width - w) // 2)
        return {"top": top, "left": left, "height": h, "width": w}

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.size

    def _fallback(self, height: int, width: int) -> tuple[int, int]:
        in_ratio = width / height
        if in_ratio < min(self.ratio):
            return width, int(round(width / min(self.ratio)))
        if in_ratio > max(self.ratio):
            return int(round(height * max(self.ratio))), height
        return width, height

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        out_h, out_w = self.size
        rows = resize_weights(params["top"], params["height"], x.shape[-2], out_h, self.antialias)
        cols = resize_weights(params["left"], params["width"], x.shape[-1], out_w, self.antialias)
        # crop + separable resize as two batched matrix products: (out_h x H) @ img @ (W x out_w)
        return rows.unsqueeze(1) @ x @ cols.transpose(1, 2).unsqueeze(1)


def resize_weights(
    start: torch.Tensor, length: torch.Tensor, in_size: int, out_size: int, antialias: bool
) -> torch.Tensor:
    """Per-sample (n, out_size, in_size) matrices: crop [start, start+length) and resize it.

    The weights are those of ATen's bilinear (antialiased) upsample kernel
    (`_compute_weights_aa` in UpSampleKernel.cpp): a triangle filter widened by the scale when
    shrinking, renormalised at the borders. Without antialias, or when enlarging, this is plain
    bilinear interpolation with align_corners=False and clamped borders, as F.interpolate does.
    """
    dev = start.device
    scale = (length.double() / out_size).view(-1, 1, 1)
    aa = antialias & (scale >= 1.0)
    support = torch.where(aa, scale, torch.ones_like(scale))
    invscale = torch.where(aa, 1.0 / scale, torch.ones_like(scale))
    center = scale * (torch.arange(out_size, device=dev, dtype=torch.float64).view(1, -1, 1) + 0.5)
    xmin = (center - support + 0.5).trunc().clamp(min=0)
    xmax = torch.minimum((center + support + 0.5).trunc(), length.view(-1, 1, 1).double())
    j = torch.arange(in_size, device=dev, dtype=torch.float64).view(1, 1, -1) - start.view(-1, 1, 1)
    weights = (1.0 - ((j - center + 0.5) * invscale).abs()).clamp(min=0)
    weights = weights * ((j >= xmin) & (j < xmax))
    return (weights / weights.sum(dim=2, keepdim=True)).float()


class Crop(Kernel):
    """RandomCrop with padding (constant 0, edge, reflect, symmetric) and pad_if_needed."""

    changes_size = True

    def __init__(self, t: v2.RandomCrop) -> None:
        self.size = (int(t.size[0]), int(t.size[1]))
        self.padding = list(t.padding) if t.padding is not None else [0, 0, 0, 0]  # l, r, t, b
        self.pad_if_needed, self.mode = bool(t.pad_if_needed), t.padding_mode
        if self.mode == "constant" and any(v != 0 for v in t._fill.values()):
            raise ValueError("the batched RandomCrop pads with 0 only")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.size

    def _layout(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(padded height, padded width, pad top, pad left) exactly as v2's make_params."""
        pad_left, pad_right, pad_top, pad_bottom = self.padding
        ph, pw = height + pad_top + pad_bottom, width + pad_left + pad_right
        ch, cw = self.size
        if self.pad_if_needed and ph < ch:
            pad_top, ph = pad_top + ch - ph, ph + 2 * (ch - ph)
        if self.pad_if_needed and pw < cw:
            pad_left, pw = pad_left + cw - pw, pw + 2 * (cw - pw)
        if ph < ch or pw < cw:
            raise ValueError(f"crop size {self.size} is larger than the padded input {(ph, pw)}")
        return ph, pw, pad_top, pad_left

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        ph, pw, _, _ = self._layout(height, width)
        ch, cw = self.size

        def offset(padded: int, size: int) -> torch.Tensor:
            if padded <= size:  # v2 draws nothing for a side that needs no crop
                return torch.zeros(n, dtype=torch.long, device=gen.device)
            return _randint_below(torch.full((n,), padded - size + 1, device=gen.device), gen)

        return {"top": offset(ph, ch), "left": offset(pw, cw)}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        height, width = x.shape[-2:]
        _, _, pad_top, pad_left = self._layout(height, width)
        rows, row_ok = self._source(params["top"] - pad_top, self.size[0], height)
        cols, col_ok = self._source(params["left"] - pad_left, self.size[1], width)
        n = torch.arange(x.shape[0], device=x.device).view(-1, 1, 1)
        out = x[n, :, rows.unsqueeze(2), cols.unsqueeze(1)].permute(0, 3, 1, 2)
        if self.mode == "constant":
            out = out * (row_ok.unsqueeze(2) & col_ok.unsqueeze(1)).unsqueeze(1)
        return out

    def _source(
        self, first: torch.Tensor, size: int, limit: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Source index of each output row/column in the unpadded image, and whether it is inside."""
        idx = first.view(-1, 1) + torch.arange(size, device=first.device)
        inside = (idx >= 0) & (idx < limit)
        if self.mode == "reflect":  # ... 3 2 1 | 0 1 2 3 | 2 1 0 ...
            period = max(2 * (limit - 1), 1)
            idx = idx.remainder(period)
            idx = torch.where(idx >= limit, period - idx, idx)
        elif self.mode == "symmetric":  # ... 2 1 0 | 0 1 2 3 | 3 2 1 ...
            idx = idx.remainder(2 * limit)
            idx = torch.where(idx >= limit, 2 * limit - 1 - idx, idx)
        return idx.clamp(0, limit - 1), inside  # clamping is "edge"; constant masks it out


class ColorJitter(Kernel):
    """ColorJitter: a random order of the four ops per sample, torchvision's tensor maths.

    Brightness, contrast and saturation are all blends clamp(f*x + (1-f)*ref) with a different
    reference (0, the mean luma, the luma), so one position of a sample's order is one blend
    with a per-sample factor and reference. The hue shift, costly, runs once for the whole
    batch: first the blends each sample has before its hue position, then hue, then the rest.
    """

    NONE = 3  # the op code "hue" doubles as "no blend at this position"

    def __init__(self, t: v2.ColorJitter) -> None:
        self.ranges = (t.brightness, t.contrast, t.saturation, t.hue)

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        order = torch.rand(n, 4, generator=gen, device=gen.device).argsort(dim=1)  # randperm(4)
        params = {"fn_idx": order}
        for name, rng in zip(_JITTER, self.ranges, strict=True):
            if rng is not None:
                params[name] = _uniform(n, rng[0], rng[1], gen)
        return params

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        order = params["fn_idx"]
        if "hue_factor" not in params:
            for k in range(4):
                x = self._blend(x, params, order[:, k])
            return x
        hue_at = (order == 3).int().argmax(dim=1)
        for k in range(3):
            x = self._blend(x, params, torch.where(hue_at > k, order[:, k], self.NONE))
        x = _shift_hue(x, params["hue_factor"])
        for k in range(1, 4):
            x = self._blend(x, params, torch.where(hue_at < k, order[:, k], self.NONE))
        return x

    def _blend(self, x: torch.Tensor, params: Params, op: torch.Tensor) -> torch.Tensor:
        """Brightness (op 0), contrast (1) or saturation (2) per sample; op 3 leaves x as is."""
        ones = torch.ones(x.shape[0], device=x.device, dtype=x.dtype)
        f = ones
        for code, name in enumerate(_JITTER[:3]):
            if name in params:
                f = torch.where(op == code, params[name].to(x.dtype), f)
        return _blend_by_code(
            x, f, op, "contrast_factor" in params or "saturation_factor" in params
        )


_JITTER = ("brightness_factor", "contrast_factor", "saturation_factor", "hue_factor")


def _blend_by_code(x: torch.Tensor, f: torch.Tensor, op: torch.Tensor, refs: bool) -> torch.Tensor:
    """clamp(f*x + (1-f)*ref) per sample, ref 0 (op 0, brightness), the mean luma (op 1,
    contrast) or the luma (op 2, saturation): torchvision's _blend with per-sample factors."""
    f = f.view(-1, 1, 1, 1)
    if refs:
        gray = _gray(x)
        mean = gray.mean(dim=(-3, -2, -1), keepdim=True).expand_as(gray)
        ref = _where(op == 2, gray, _where(op == 1, mean, torch.zeros_like(gray)))
        return (x * f + ref * (1 - f)).clamp_(0, 1)
    return (x * f).clamp_(0, 1)  # f == 1 leaves x exactly unchanged


def _shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    h, s, v = _rgb_to_hsv(x).unbind(dim=-3)
    h = (h + shift.view(-1, 1, 1)).remainder(1.0)
    return _hsv_to_rgb(torch.stack((h, s, v), dim=-3))


class Invert(Coin):
    def op(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 - x


class Posterize(Coin):
    def __init__(self, t: v2.RandomPosterize) -> None:
        super().__init__(t)
        self.levels = 1 << int(t.bits)

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return _posterize(x, self.levels)


def _posterize(x: torch.Tensor, levels: torch.Tensor | int) -> torch.Tensor:
    """torchvision's posterize_image on float images: floor to `levels` (per sample) steps."""
    levels = torch.as_tensor(levels, dtype=x.dtype, device=x.device)
    return (x * levels).floor_().clamp_(min=0).minimum(levels - 1) * (1.0 / levels)


class Solarize(Coin):
    """The catalogue's threshold is on the 0-255 scale of uint8 images and PIL."""

    def __init__(self, t: v2.RandomSolarize) -> None:
        super().__init__(t)
        self.threshold = float(t.threshold) / 255

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x >= self.threshold, 1.0 - x, x)


class Sharpness(Coin):
    def __init__(self, t: v2.RandomAdjustSharpness) -> None:
        super().__init__(t)
        self.factor = float(t.sharpness_factor)

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return _sharpen(x, torch.full((x.shape[0],), self.factor, device=x.device))


def _sharpen(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """adjust_sharpness_image with a factor per sample: the interior blended with a 3x3
    smoothing (5 in the middle), the one-pixel border kept."""
    height, width = x.shape[-2:]
    if height <= 2 or width <= 2:
        return x
    kernel = torch.full((3, 3), 1.0 / 13.0, dtype=x.dtype, device=x.device)
    kernel[1, 1] = 5.0 / 13.0
    blurred = torch.nn.functional.conv2d(x, kernel.expand(x.shape[1], 1, 3, 3), groups=x.shape[1])
    inner = x[..., 1:-1, 1:-1]
    inner = inner + (blurred - inner) * (1.0 - factor.to(x.dtype)).view(-1, 1, 1, 1)
    out = x.clone()
    out[..., 1:-1, 1:-1] = inner
    return out.clamp_(0, 1)


class Autocontrast(Coin):
    def op(self, x: torch.Tensor) -> torch.Tensor:
        return F.autocontrast_image(x)  # per image and channel already


class Equalize(Coin):
    def op(self, x: torch.Tensor) -> torch.Tensor:
        return F.equalize_image(x)  # per image and channel already (through uint8, as there)


class ChannelPermutation(Kernel):
    """RandomChannelPermutation: randperm(3) per sample; output channel c is input permutation[c]."""

    def __init__(self, t: v2.RandomChannelPermutation) -> None:
        pass

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        return {"permutation": torch.rand(n, 3, generator=gen, device=gen.device).argsort(dim=1)}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        index = params["permutation"].view(x.shape[0], -1, 1, 1).expand_as(x)
        return x.gather(1, index)


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


class Sometimes(Kernel):
    """A step with a probability of its own (v2.RandomApply): the kernel where rand < p.

    Only for kernels that keep the size: a batch cannot hold cropped and uncropped images.
    """

    def __init__(self, kernel: Kernel, p: float) -> None:
        self.kernel, self.p = kernel, p

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        params = dict(self.kernel.draw(n, height, width, gen))
        params["step_applied"] = torch.rand(n, generator=gen, device=gen.device) < self.p
        return params

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        inner = {k: v for k, v in params.items() if k != "step_applied"}
        return _where(params["step_applied"], self.kernel.apply(x, inner), x)


KERNELS: dict[str, Callable[[Any], Kernel]] = {
    "RandomHorizontalFlip": lambda t: Flip(t, -1),
    "RandomVerticalFlip": lambda t: Flip(t, -2),
    "RandomResizedCrop": ResizedCrop,
    "RandomCrop": Crop,
    "ColorJitter": ColorJitter,
    "RandomGrayscale": Grayscale,
    "RandomErasing": Erasing,
    "RandomInvert": Invert,
    "RandomPosterize": Posterize,
    "RandomSolarize": Solarize,
    "RandomAdjustSharpness": Sharpness,
    "RandomAutocontrast": Autocontrast,
    "RandomEqualize": Equalize,
    "RandomChannelPermutation": ChannelPermutation,
    "GaussianBlur": GaussianBlur,
    "GaussianNoise": GaussianNoise,
}


def kernel(step: StepSpec) -> Kernel | None:
    """The batched kernel of `step`, or None when it has none for these settings (the caller
    falls back to per-image torchvision)."""
    make = KERNELS.get(step.transform)
    if make is None:
        return None
    parts, p = build_parts(step)
    if any(type(t) is not v2.ToImage for t in parts[:-1]):  # conversions: a per-image concern
        return None
    try:
        found = make(parts[-1])
    except ValueError:  # settings the kernel does not cover (e.g. bicubic interpolation)
        return None
    if p is None:
        return found
    return None if found.changes_size else Sometimes(found, p)


def unsupported(spec: PipelineSpec) -> list[str]:
    """The active per-image transforms without a batched kernel, in pipeline order.

    Mixing steps (CutMix, MixUp) are not in the list: they act on batches in any case, and the
    trainer applies `pipelines.build.build_batch(spec)` after this pipeline.
    """
    return [s.transform for s in spec.image_steps if kernel(s) is None]


def batched_supported(spec: PipelineSpec) -> bool:
    return not unsupported(spec)


class BatchedPipeline:
    """`spec` for whole batches: `pipeline(images, generator)` -> float NCHW in [0, 1].

    All parameters are drawn first (they depend on image sizes, never on pixels), then applied
    by `apply`, a pure function of the images and the parameters: `compile=True` hands that
    one function to torch.compile, which fuses ColorJitter's many small elementwise ops.
    """

    def __init__(self, spec: PipelineSpec, compile: bool = False) -> None:
        missing = unsupported(spec)
        if missing:
            raise ValueError(f"{missing[0]} has no batched kernel")
        self.kernels = [kernel(s) for s in spec.image_steps]
        self.apply = torch.compile(self._apply, dynamic=False) if compile else self._apply

    def draw_params(self, n: int, height: int, width: int, gen: torch.Generator) -> list[Params]:
        drawn = []
        for kernel in self.kernels:
            drawn.append(kernel.draw(n, height, width, gen))
            height, width = kernel.output_size(height, width)
        return drawn

    def _apply(self, x: torch.Tensor, drawn: list[Params]) -> torch.Tensor:
        x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
        for kernel, params in zip(self.kernels, drawn, strict=True):
            x = kernel.apply(x, params)
        return x

    def draw(self, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, list[Params]]:
        """The augmented batch and each step's drawn parameters (for tests and previews)."""
        drawn = self.draw_params(x.shape[0], x.shape[-2], x.shape[-1], gen)
        return self.apply(x, drawn), drawn

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return self.draw(x, gen)[0]
