"""Colour and light kernels: grayscale, ColorJitter (with the closed-form hue shift),
invert, posterize, solarize, sharpness, autocontrast, equalize, channel permutation."""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from pipelines.batched.base import Coin, Kernel, Params, _by_group, _gray, _uniform


class Grayscale(Coin):
    """RandomGrayscale: luma copied to the three channels."""

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return _gray(x).expand_as(x)


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
        self.grouped = t.hue is not None

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
        if not torch.compiler.is_compiling():  # eager: each image's three blends and hue only
            return _by_group(x, hue_at, 4, lambda h, idx, part: self._ordered(part, params, idx, h))
        for k in range(3):
            x = self._blend(x, params, torch.where(hue_at > k, order[:, k], self.NONE))
        x = _shift_hue(x, params["hue_factor"])
        for k in range(1, 4):
            x = self._blend(x, params, torch.where(hue_at < k, order[:, k], self.NONE))
        return x

    def _ordered(self, x: torch.Tensor, params: Params, idx: Any, hue_at: int) -> torch.Tensor:
        """The images `idx` of the batch, whose hue shift is at position `hue_at` of their
        order: the blends before it, the shift, the blends after."""
        params = {k: v[idx] for k, v in params.items()}
        order = params["fn_idx"]
        for k in range(hue_at):
            x = self._blend(x, params, order[:, k])
        x = _shift_hue(x, params["hue_factor"])
        for k in range(hue_at + 1, 4):
            x = self._blend(x, params, order[:, k])
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
    if not refs:
        return (x * f.view(-1, 1, 1, 1)).clamp_(0, 1)  # f == 1 leaves x exactly unchanged
    # ref * (1 - f) as luma * a + mean * b, one of a and b being 1 - f and the other 0: the
    # same values as picking ref with torch.where (adding an exact 0 changes nothing), in
    # fewer passes over the batch
    weight = 1 - f
    a = torch.where(op == 2, weight, 0.0).view(-1, 1, 1, 1)
    b = torch.where(op == 1, weight, 0.0).view(-1, 1, 1, 1)
    gray = _gray(x)
    mean = gray.mean(dim=(-3, -2, -1), keepdim=True)
    return (x * f.view(-1, 1, 1, 1)).add_(gray * a + mean * b).clamp_(0, 1)


def _shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """torchvision's adjust_hue per sample: RGB to HSV, the hue turned by `shift` (a fraction
    of a turn), back to RGB. The same function, written in about half the passes over the
    batch: the hue in sixths of a turn straight from the channels, and each output channel by
    the closed form v - c * clamp(min(k, 4 - k), 0, 1), k = (hue + offset) mod 6, instead of
    torchvision's p, q, t and a per-pixel table lookup (an indexed gather, slow on the CPU).
    The values agree with torchvision's to float32 rounding (a few units in the last place),
    not bit for bit."""
    r, g, b = x.unbind(dim=-3)
    minc, maxc = torch.aminmax(x, dim=-3)
    chroma = maxc - minc
    # which channel is the largest, as 0/1 planes from signs (maxc - r is 0 where red is):
    # ties go to red, then green, as in torchvision (PIL's formula). torch.where, comparisons
    # and remainder are several times slower than arithmetic on the CPU, and a 0/1 factor
    # selects exactly
    not_r, not_g = (maxc - r).sign_(), (maxc - g).sign_()
    is_b = not_r * not_g
    sixths = (g - b).mul_(1.0 - not_r)
    sixths += (b - r).add_(chroma * 2.0).mul_(not_r - is_b)
    sixths += (r - g).add_(chroma * 4.0).mul_(is_b)
    # a grey pixel (chroma 0) has a 0 numerator; any hue gives it v in every channel
    sixths = sixths.div_(chroma.clamp(min=1e-30))
    sixths = _mod6(sixths.add_(shift.to(x.dtype).view(-1, 1, 1) * 6.0))

    def channel(offset: float) -> torch.Tensor:
        k = _mod6(sixths + offset)
        return maxc - chroma * k.minimum(4.0 - k).clamp_(0.0, 1.0)

    return torch.stack((channel(5.0), channel(3.0), channel(1.0)), dim=-3)


def _mod6(k: torch.Tensor) -> torch.Tensor:
    """k mod 6 as k - 6 floor(k / 6), in place: within rounding of remainder (a result just
    below 0 stands for just below 6, where the hue functions are continuous), twice as fast."""
    return k.sub_((k / 6.0).floor_().mul_(6.0))


class Invert(Coin):
    """RandomInvert."""

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 - x


class Posterize(Coin):
    """RandomPosterize (torchvision's float formula: floor(x * 2^bits) / 2^bits)."""

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
    """RandomAdjustSharpness."""

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
    # torchvision's 3x3 convolution (1/13 around, 5/13 in the middle) as a separable 3x3 sum
    # plus 4/13 of the middle: the same weights to float32 rounding, in a few passes over
    # the batch (a grouped convolution is slow on small images on the CPU)
    rows = x[..., :-2, :] + x[..., 1:-1, :] + x[..., 2:, :]
    box = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]
    inner = x[..., 1:-1, 1:-1]
    blurred = box * (1.0 / 13.0) + inner * (4.0 / 13.0)
    inner = inner + (blurred - inner) * (1.0 - factor.to(x.dtype)).view(-1, 1, 1, 1)
    out = x.clone()
    out[..., 1:-1, 1:-1] = inner
    return out.clamp_(0, 1)


class Autocontrast(Coin):
    """RandomAutocontrast."""

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return F.autocontrast_image(x)  # per image and channel already


class Equalize(Coin):
    """RandomEqualize."""

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return F.equalize_image(x)  # per image and channel already (through uint8, as there)


class ChannelPermutation(Kernel):
    """RandomChannelPermutation: randperm(3) per sample; output channel c is input permutation[c]."""

    def __init__(self, t: v2.RandomChannelPermutation) -> None:
        pass  # no settings

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        return {"permutation": torch.rand(n, 3, generator=gen, device=gen.device).argsort(dim=1)}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        index = params["permutation"].view(x.shape[0], -1, 1, 1).expand_as(x)
        return x.gather(1, index)
