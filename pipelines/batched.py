"""The pipeline applied to a whole NCHW batch at once, with a different random draw per image.

torchvision v2 given a batch draws one set of parameters and applies it to every image, which is
wrong for training. Here each kernel mirrors one torchvision v2 transform, split the way v2
splits it: `draw(n, height, width, generator)` returns per-sample parameter tensors drawn from
the same distributions as the transform's `make_params` (or its `forward`, for the coin of a
`p` and the policies' choices), under torchvision's own parameter names, and
`apply(images, params)` is deterministic given them. `Kernel.torchvision_params(params, i)`
gives image i's draws as torchvision's `transform` takes them, so one test, parametrized over
every kernel, compares the draws' distributions and the pixels with torchvision's. The kernels
read their settings from the torchvision transform that `build_parts` makes, so the catalogue
stays the one declaration.

`apply` has no per-image Python loop. Traced by torch.compile it has no control flow that
depends on the draws either: a choice per image (a coin, a policy's op) is a torch.where over
the whole batch, and warps build one sampling grid for the batch from a matrix per image, so
torch.compile sees one graph. Eagerly, the kernels marked `grouped` (the three policies,
ColorJitter with a hue shift) instead split the batch by their draws and run each op on the
images that drew it only (`_by_group`): the same pixels, at the cost of the ops drawn rather
than of all of them. `BatchedPipeline(compile=True)` measures which of the two is faster on
its device. Draws that need a data-dependent step (RandomResizedCrop's and RandomErasing's
first fitting try, the perspective solve) are vectorised too and happen in `draw`, outside
the compiled function.

Images are float in [0, 1] (uint8 input is scaled once): torchvision on uint8 rounds to uint8
after every step, we keep full precision between steps. Transforms without a kernel here run
per image through torchvision in DataLoader workers (see playground.training.augment).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._utils import _get_fill

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


class Flip(Coin):
    """RandomHorizontalFlip / RandomVerticalFlip."""

    def __init__(self, t: v2.Transform, dim: int) -> None:
        super().__init__(t)
        self.dim = dim

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(self.dim)


class Grayscale(Coin):
    """RandomGrayscale: luma copied to the three channels."""

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return _gray(x).expand_as(x)


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
        # crop + separable resize as two batched matrix products: (out_h x H) @ img @ (W x out_w),
        # the first over the three channels' rows at once
        n, c, height, width = x.shape
        x = x.reshape(n, c * height, width).bmm(cols.transpose(1, 2))
        return rows.unsqueeze(1) @ x.view(n, c, height, out_w)


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
    # only the taps of each output's window, xmin .. xmin + taps - 1 (the window spans at most
    # floor(2 * support) + 1 inputs, support being at most in_size / out_size), then scattered
    # into the dense matrix: the same weights as computing all in_size columns, in a fraction
    # of the time
    taps = int(2 * max(1.0, in_size / out_size)) + 1 if antialias else 3
    j = xmin + torch.arange(taps, device=dev, dtype=torch.float64)
    weights = (1.0 - ((j - center + 0.5) * invscale).abs()).clamp(min=0) * (j < xmax)
    weights = (weights / weights.sum(dim=2, keepdim=True)).float()
    column = (j + start.view(-1, 1, 1)).clamp(0, in_size - 1).long()
    dense = torch.zeros(len(start), out_size, in_size, device=dev)
    return dense.scatter_add_(2, column, weights)


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


# ---- warps: one sampling grid for the batch, a matrix per image -----------------------------


def _inverse_affine(
    center: torch.Tensor,
    angle: torch.Tensor,
    translate: torch.Tensor,
    scale: torch.Tensor,
    shear: torch.Tensor,
) -> torch.Tensor:
    """torchvision's _get_inverse_affine_matrix for a batch: (n, 2, 3), float64.

    Arguments are per sample, angles in degrees, center relative to the image centre."""
    rot, sx, sy = angle.deg2rad(), shear[:, 0].deg2rad(), shear[:, 1].deg2rad()
    cx, cy = center.unbind(1)
    tx, ty = translate.unbind(1)
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -(a * torch.tan(sx) + torch.sin(rot))
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = torch.cos(rot) - c * torch.tan(sx)
    m0, m1, m3, m4 = d / scale, -b / scale, -c / scale, a / scale
    m2 = cx - m0 * (cx + tx) - m1 * (cy + ty)
    m5 = cy - m3 * (cx + tx) - m4 * (cy + ty)
    return torch.stack((m0, m1, m2, m3, m4, m5), dim=1).view(-1, 2, 3)


def _warp(x: torch.Tensor, theta: torch.Tensor, mode: str, fill: float | None) -> torch.Tensor:
    """torchvision's _affine_grid + _apply_grid_transform with a matrix per image: one
    grid_sample for the batch."""
    n, _, height, width = x.shape
    half = torch.tensor([0.5 * width, 0.5 * height], dtype=x.dtype, device=x.device)
    m = (theta.to(x.dtype).transpose(1, 2) / half).view(n, 3, 2, 1, 1)
    xs = torch.linspace(0.5 - 0.5 * width, 0.5 * width - 0.5, width, dtype=x.dtype, device=x.device)
    ys = torch.linspace(
        0.5 - 0.5 * height, 0.5 * height - 0.5, height, dtype=x.dtype, device=x.device
    )
    # x * m0 + y * m1 + m2 elementwise, in the order of torchvision's (1, h*w, 3) product
    # (so the same values), into a contiguous grid: a batched product over an expanded base
    # grid, or a strided grid, make the CPU several times slower
    grid = torch.empty(n, height, width, 2, dtype=x.dtype, device=x.device)
    for c in range(2):
        grid[..., c] = xs.view(1, 1, -1) * m[:, 0, c] + ys.view(1, -1, 1) * m[:, 1, c] + m[:, 2, c]
    return _sample(x, grid, mode, fill)


def _base_grid(height: int, width: int, x0: float, y0: float, like: torch.Tensor) -> torch.Tensor:
    """(1, height*width, 3) rows of (x, y, 1), x from x0 and y from y0 in steps of 1."""
    base = torch.empty(1, height, width, 3, dtype=like.dtype, device=like.device)
    xs = torch.linspace(x0, x0 + width - 1.0, width, dtype=like.dtype, device=like.device)
    ys = torch.linspace(y0, y0 + height - 1.0, height, dtype=like.dtype, device=like.device)
    base[..., 0].copy_(xs)
    base[..., 1].copy_(ys.unsqueeze(-1))
    base[..., 2].fill_(1)
    return base.view(1, height * width, 3)


def _perspective_warp(
    x: torch.Tensor, coeffs: torch.Tensor, mode: str, fill: float | None
) -> torch.Tensor:
    """torchvision's _perspective_grid with 8 coefficients per image, one grid_sample."""
    n, _, height, width = x.shape
    coeffs = coeffs.to(x.dtype)
    ones = torch.ones_like(coeffs[:, :1])
    theta1 = coeffs[:, :6].view(n, 2, 3)
    theta2 = torch.cat((coeffs[:, 6:], ones), dim=1).view(n, 1, 3).expand(n, 2, 3)
    base = _base_grid(height, width, 0.5, 0.5, x).expand(n, -1, -1)
    half = torch.tensor([0.5 * width, 0.5 * height], dtype=x.dtype, device=x.device)
    grid = base.bmm(theta1.transpose(1, 2) / half) / base.bmm(theta2.transpose(1, 2)) - 1.0
    return _sample(x, grid.view(n, height, width, 2), mode, fill)


def _sample(x: torch.Tensor, grid: torch.Tensor, mode: str, fill: float | None) -> torch.Tensor:
    """_apply_grid_transform: `fill` None leaves grid_sample's zeros; a number goes through
    torchvision's extra mask channel, so bilinear edges blend towards it exactly as there."""
    c = x.shape[1]
    if fill is not None:
        x = torch.cat((x, torch.ones_like(x[:, :1])), dim=1)
    out = torch.nn.functional.grid_sample(
        x, grid, mode=mode, padding_mode="zeros", align_corners=False
    )
    if fill is None:
        return out
    out, mask = out[:, :c], out[:, c:].expand(-1, c, -1, -1)
    if mode == "nearest":
        return torch.where(mask < 0.5, torch.full_like(out, fill), out)
    return (out - fill) * mask + fill


def _grid_mode(t: v2.Transform) -> str:
    mode = InterpolationMode(t.interpolation)
    if mode not in (InterpolationMode.NEAREST, InterpolationMode.BILINEAR):
        raise ValueError("the batched warps sample nearest or bilinear only")
    return mode.value


def _scalar_fill(t: v2.Transform) -> float | None:
    fill = _get_fill(t._fill, torch.Tensor)
    if isinstance(fill, (list, tuple)):
        if len(set(fill)) > 1:
            raise ValueError("the batched warps fill with one grey level only")
        fill = fill[0]
    return None if fill is None else float(fill) / 255  # torchvision's fill is in uint8 units


def _zeros(n: int, device: torch.device, k: int = 0) -> torch.Tensor:
    return torch.zeros((n, k) if k else (n,), dtype=torch.float64, device=device)


class Affine(Kernel):
    """RandomAffine: angle, integer translation, scale and shear per sample, one warp."""

    def __init__(self, t: v2.RandomAffine) -> None:
        if t.center is not None:
            raise ValueError("the batched RandomAffine turns about the centre only")
        self.mode, self.fill = _grid_mode(t), _scalar_fill(t)
        self.degrees, self.translate, self.scale = t.degrees, t.translate, t.scale
        self.shear = t.shear

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        angle = _uniform(n, *self.degrees, gen).double()
        translate = torch.zeros(n, 2, dtype=torch.long, device=gen.device)
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * width, self.translate[1] * height
            tx = _uniform(n, -max_dx, max_dx, gen).double().round()
            ty = _uniform(n, -max_dy, max_dy, gen).double().round()
            translate = torch.stack((tx, ty), dim=1).long()
        scale = _zeros(n, gen.device) + 1.0
        if self.scale is not None:
            scale = _uniform(n, *self.scale, gen).double()
        shear = _zeros(n, gen.device, 2)
        if self.shear is not None:
            shear[:, 0] = _uniform(n, self.shear[0], self.shear[1], gen).double()
            if len(self.shear) == 4:
                shear[:, 1] = _uniform(n, self.shear[2], self.shear[3], gen).double()
        return {"angle": angle, "translate": translate, "scale": scale, "shear": shear}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        center = _zeros(x.shape[0], x.device, 2)
        theta = _inverse_affine(
            center,
            params["angle"].double(),
            params["translate"].double(),
            params["scale"].double(),
            params["shear"].double(),
        )
        return _warp(x, theta, self.mode, self.fill)


class Rotation(Kernel):
    """RandomRotation without expand (expand gives each image its own size)."""

    def __init__(self, t: v2.RandomRotation) -> None:
        if t.expand or t.center is not None:
            raise ValueError("the batched RandomRotation keeps the size and turns about the centre")
        self.mode, self.fill, self.degrees = _grid_mode(t), _scalar_fill(t), t.degrees

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        return {"angle": _uniform(n, *self.degrees, gen).double()}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        return _warp(x, _rotation(params["angle"].double()), self.mode, self.fill)


def _rotation(angle: torch.Tensor) -> torch.Tensor:
    """F.rotate's matrix (its angle runs the other way from affine's)."""
    n, dev = angle.shape[0], angle.device
    return _inverse_affine(
        _zeros(n, dev, 2), -angle, _zeros(n, dev, 2), _zeros(n, dev) + 1, _zeros(n, dev, 2)
    )


class Perspective(Coin):
    """RandomPerspective: corners moved per sample as v2 draws them, coefficients from a
    batched least-squares solve in float64 (as there), one warp."""

    def __init__(self, t: v2.RandomPerspective) -> None:
        super().__init__(t)
        self.mode, self.fill = _grid_mode(t), _scalar_fill(t)
        self.distortion = float(t.distortion_scale)

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        params = super().draw(n, height, width, gen)
        bh = int(self.distortion * (height // 2)) + 1
        bw = int(self.distortion * (width // 2)) + 1

        def randint(low: int, high: int) -> torch.Tensor:
            return low + _randint_below(torch.full((n,), high - low, device=gen.device), gen)

        ends = torch.stack(
            [
                torch.stack((randint(0, bw), randint(0, bh)), 1),
                torch.stack((randint(width - bw, width), randint(0, bh)), 1),
                torch.stack((randint(width - bw, width), randint(height - bh, height)), 1),
                torch.stack((randint(0, bw), randint(height - bh, height)), 1),
            ],
            dim=1,
        ).double()  # (n, 4 corners, x y)
        starts = torch.tensor(
            [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]],
            dtype=torch.float64,
            device=gen.device,
        ).expand(n, 4, 2)
        params["coefficients"] = _perspective_coeffs(starts, ends)
        return params

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        warped = _perspective_warp(x, params["coefficients"], self.mode, self.fill)
        return _where(params["applied"], warped, x)


def _perspective_coeffs(starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """_get_perspective_coeffs for a batch: (n, 8) float32 from (n, 4, 2) corner pairs."""
    n = starts.shape[0]
    ex, ey = ends.unbind(2)
    sx, sy = starts.unbind(2)
    one, zero = torch.ones_like(ex), torch.zeros_like(ex)
    rows_x = torch.stack((ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey), dim=2)
    rows_y = torch.stack((zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey), dim=2)
    a = torch.stack((rows_x, rows_y), dim=2).reshape(n, 8, 8)
    b = starts.reshape(n, 8, 1)
    return torch.linalg.solve(a, b).squeeze(2).float()


# ---- the automatic policies: each image draws its own ops and magnitudes --------------------

OPS = (
    "Identity",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
    "Brightness",
    "Color",
    "Contrast",
    "Sharpness",
    "Posterize",
    "Solarize",
    "AutoContrast",
    "Equalize",
    "Invert",
)
_OP = {name: code for code, name in enumerate(OPS)}
_BLEND = {"Brightness": 0, "Contrast": 1, "Color": 2}  # _blend_by_code's op codes
_GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
# ops that share one call: the five warps are one grid_sample, the three blends one blend
_FAMILIES = ("Identity", "warp", "blend", "Sharpness", "Posterize", "Solarize")
_FAMILIES += ("AutoContrast", "Equalize", "Invert")
_FAMILY_OF = torch.tensor(
    [_FAMILIES.index("warp" if n in _GEOMETRIC else "blend" if n in _BLEND else n) for n in OPS]
)


class Policy(Kernel):
    """The base of AutoAugment, RandAugment and TrivialAugmentWide for a batch.

    Draws: per image and op slot, "transform_id" (a code into OPS) and "magnitude", signed as
    torchvision signs it, from the transform's own _AUGMENTATION_SPACE. Application, per op
    slot, in one of two ways with the same result per image:

    - grouped (eager): the batch split by the family of the op each image drew, each family
      run on its own images only, the results scattered back. A policy then costs about one
      op per slot, not the sum of its fourteen.
    - all ops (inside torch.compile, where `torch.compiler.is_compiling()`): every family on
      the whole batch, each image keeping its own op's result (torch.where), so shapes never
      depend on the draws and the compiled graph has no break.

    The five geometric ops are one family (one grid_sample with a matrix per image), and so
    are the three blends (brightness, contrast, saturation).
    """

    slots = 1
    grouped = True

    def __init__(self, t: v2.Transform) -> None:
        self.mode, self.fill = _grid_mode(t), _scalar_fill(t)
        self.space = t._AUGMENTATION_SPACE
        self.codes = torch.tensor([_OP[name] for name in self.space])

    def _tables(self, bins: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(len(OPS), bins) magnitudes, zero for an op without; (len(OPS),) signed flags."""
        table = torch.zeros(len(OPS), bins, dtype=torch.float64)
        signed = torch.zeros(len(OPS), dtype=torch.bool)
        for name, (magnitudes, sign) in self.space.items():
            values = magnitudes(bins, height, width)
            if values is not None:  # float32 (or int) values, as float(magnitudes[i]) reads them
                table[_OP[name]] = values.double()
            signed[_OP[name]] = sign
        return table, signed

    def _signed(
        self,
        code: torch.Tensor,
        magnitude: torch.Tensor,
        signed: torch.Tensor,
        gen: torch.Generator,
    ) -> torch.Tensor:
        flip = signed.to(code.device)[code] & (
            torch.rand(code.shape, generator=gen, device=gen.device) <= 0.5
        )
        return torch.where(flip, -magnitude, magnitude)

    def _random_ops(self, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
        k = torch.full(shape, len(self.space), device=gen.device)
        return self.codes.to(gen.device)[_randint_below(k, gen)]

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        applied = params.get("op_applied")
        by_group = not torch.compiler.is_compiling()
        for k in range(params["transform_id"].shape[1]):
            code = params["transform_id"][:, k]
            if applied is not None:
                code = torch.where(applied[:, k], code, _OP["Identity"])
            op = self._op_grouped if by_group else self._op_all
            x = op(x, code, params["magnitude"][:, k])
        return x

    def _op_grouped(
        self, x: torch.Tensor, code: torch.Tensor, magnitude: torch.Tensor
    ) -> torch.Tensor:
        """Each family of ops on the images that drew one of its ops only (`_by_group`): an
        image's result is the all-ops path's (the same arithmetic on fewer images), at the
        cost of the ops drawn rather than of all of them. Shapes depend on the draws, so
        this runs eagerly."""

        def run(family: int, idx: Any, part: torch.Tensor) -> torch.Tensor:
            if family == 0:  # Identity
                return part
            return self._family(_FAMILIES[family], part, code[idx], magnitude[idx].double())

        return _by_group(x, _FAMILY_OF.to(code.device)[code], len(_FAMILIES), run)

    def _op_all(self, x: torch.Tensor, code: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
        """Every family on the whole batch, each image keeping its own op's result
        (torch.where): shapes never depend on the draws, so a compiled graph has no break."""
        mag = magnitude.double()
        for name in _FAMILIES[1:]:
            mask = _FAMILY_OF.to(code.device)[code] == _FAMILIES.index(name)
            x = _where(mask, self._family(name, x, code, mag), x)
        return x

    def _family(
        self, name: str, x: torch.Tensor, code: torch.Tensor, mag: torch.Tensor
    ) -> torch.Tensor:
        """Family `name` applied to every image of x with its own op code and magnitude; an
        image whose code is another family's is returned as is only by the blends and the warp
        (callers keep the result only where the family matches)."""
        if name == "warp":
            return _warp(x, self._theta(code, mag, *x.shape[-2:]), self.mode, self.fill)
        if name == "blend":
            blend = torch.full_like(code, 3)
            for op_name, op in _BLEND.items():
                blend = torch.where(code == _OP[op_name], op, blend)
            factor = torch.where(blend < 3, 1.0 + mag, torch.ones_like(mag)).to(x.dtype)
            return _blend_by_code(x, factor, blend, refs=True)
        if name == "Sharpness":
            return _sharpen(x, (1.0 + mag).to(x.dtype))
        if name == "Posterize":
            return _posterize(x, (2.0 ** mag.trunc().clamp(0, 8)).to(x.dtype).view(-1, 1, 1, 1))
        if name == "Solarize":
            return torch.where(x >= mag.to(x.dtype).view(-1, 1, 1, 1), 1.0 - x, x)
        if name == "AutoContrast":
            return F.autocontrast_image(x)
        if name == "Equalize":
            return F.equalize_image(x)
        return 1.0 - x  # Invert

    @staticmethod
    def _theta(code: torch.Tensor, mag: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """torchvision's F.affine / F.rotate matrix per image for the five geometric ops
        (identity for the other codes)."""
        zero = torch.zeros_like(mag)
        is_ = {name: code == _OP[name] for name in _GEOMETRIC}
        shear_deg = torch.atan(mag).rad2deg()
        corner = is_["ShearX"] | is_["ShearY"]  # the shears turn about the top-left corner
        center = torch.stack((-0.5 * width + zero, -0.5 * height + zero), 1) * corner.view(-1, 1)
        shift = mag.trunc()  # int(magnitude)
        translate = torch.stack(
            (
                torch.where(is_["TranslateX"], shift, zero),
                torch.where(is_["TranslateY"], shift, zero),
            ),
            1,
        )
        shear = torch.stack(
            (
                torch.where(is_["ShearX"], shear_deg, zero),
                torch.where(is_["ShearY"], shear_deg, zero),
            ),
            1,
        )
        angle = torch.where(is_["Rotate"], -mag, zero)  # rotate's angle runs the other way
        return _inverse_affine(center, angle, translate, zero + 1.0, shear)

    def torchvision_params(self, params: Params, i: int) -> dict[str, Any]:
        """The ops image i ran, in order, as torchvision names them."""
        codes = params["transform_id"][i].tolist()
        mags = params["magnitude"][i].tolist()
        keep = params.get("op_applied", torch.ones_like(params["transform_id"], dtype=torch.bool))
        ran = [k for k, a in enumerate(keep[i].tolist()) if a]
        return {
            "transform_id": [OPS[codes[k]] for k in ran],
            "magnitude": [mags[k] for k in ran],
        }


class TrivialAugmentWide(Policy):
    """One op per image, its magnitude a uniform bin (signed half of the time if the op is)."""

    def __init__(self, t: v2.TrivialAugmentWide) -> None:
        super().__init__(t)
        self.bins = int(t.num_magnitude_bins)

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        table, signed = self._tables(self.bins, height, width)
        code = self._random_ops((n, 1), gen)
        bins = _randint_below(torch.full((n, 1), self.bins, device=gen.device), gen)
        magnitude = table.to(gen.device)[code, bins]
        return {"transform_id": code, "magnitude": self._signed(code, magnitude, signed, gen)}


class RandAugment(Policy):
    """num_ops ops per image, each uniform over the space, all at the one magnitude bin."""

    def __init__(self, t: v2.RandAugment) -> None:
        super().__init__(t)
        self.bins, self.magnitude = int(t.num_magnitude_bins), int(t.magnitude)
        self.num_ops = int(t.num_ops)

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        table, signed = self._tables(self.bins, height, width)
        code = self._random_ops((n, self.num_ops), gen)
        magnitude = table.to(gen.device)[code, self.magnitude]
        return {"transform_id": code, "magnitude": self._signed(code, magnitude, signed, gen)}


class AutoAugment(Policy):
    """A learned sub-policy per image: two (op, probability, magnitude bin) steps, each run
    where rand <= its probability (reported as "op_applied")."""

    BINS = 10

    def __init__(self, t: v2.AutoAugment) -> None:
        super().__init__(t)
        steps = [
            [(_OP[name], p, m if m is not None else 0) for name, p, m in s] for s in t._policies
        ]
        self.ops = torch.tensor([[s[0] for s in sub] for sub in steps])
        self.probs = torch.tensor([[s[1] for s in sub] for sub in steps], dtype=torch.float64)
        self.bin = torch.tensor([[s[2] for s in sub] for sub in steps])

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        table, signed = self._tables(self.BINS, height, width)
        dev = gen.device
        policy = _randint_below(torch.full((n,), len(self.ops), device=dev), gen)
        code, bins = self.ops.to(dev)[policy], self.bin.to(dev)[policy]
        u = torch.rand(code.shape, generator=gen, device=dev, dtype=torch.float64)
        applied = u <= self.probs.to(dev)[policy]
        magnitude = table.to(dev)[code, bins]
        return {
            "transform_id": code,
            "magnitude": self._signed(code, magnitude, signed, gen),
            "op_applied": applied,
        }


class Sometimes(Kernel):
    """A step with a probability of its own (v2.RandomApply): the kernel where rand < p.

    Only for kernels that keep the size: a batch cannot hold cropped and uncropped images.
    """

    def __init__(self, kernel: Kernel, p: float) -> None:
        self.kernel, self.p = kernel, p
        self.grouped = kernel.grouped

    def draw(self, n: int, height: int, width: int, gen: torch.Generator) -> Params:
        params = dict(self.kernel.draw(n, height, width, gen))
        params["step_applied"] = torch.rand(n, generator=gen, device=gen.device) < self.p
        return params

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        inner = {k: v for k, v in params.items() if k != "step_applied"}
        applied = params["step_applied"]
        if isinstance(self.kernel, Policy) and not torch.compiler.is_compiling():
            # grouped: an image the step skips runs Identity in every slot, at no cost
            slots = applied.view(-1, 1).expand_as(inner["transform_id"])
            inner["op_applied"] = inner["op_applied"] & slots if "op_applied" in inner else slots
            return self.kernel.apply(x, inner)
        return _where(applied, self.kernel.apply(x, inner), x)

    def torchvision_params(self, params: Params, i: int) -> dict[str, Any]:
        inner = {k: v for k, v in params.items() if k != "step_applied"}
        out = self.kernel.torchvision_params(inner, i)
        return {**out, "step_applied": bool(params["step_applied"][i])}


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
    "RandomAffine": Affine,
    "RandomRotation": Rotation,
    "RandomPerspective": Perspective,
    "TrivialAugmentWide": TrivialAugmentWide,
    "RandAugment": RandAugment,
    "AutoAugment": AutoAugment,
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
