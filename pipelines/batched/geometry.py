"""Geometry kernels: flips, RandomResizedCrop, RandomCrop and the warps (RandomAffine,
RandomRotation, RandomPerspective: one sampling grid for the batch, a matrix per image)."""

from __future__ import annotations

import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2._utils import _get_fill

from pipelines.batched.base import Coin, Kernel, Params, _randint_below, _uniform, _where


class Flip(Coin):
    """RandomHorizontalFlip / RandomVerticalFlip."""

    def __init__(self, t: v2.Transform, dim: int) -> None:
        super().__init__(t)
        self.dim = dim

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(self.dim)


class HorizontalFlip(Flip):
    """RandomHorizontalFlip."""

    def __init__(self, t: v2.RandomHorizontalFlip) -> None:
        super().__init__(t, -1)


class VerticalFlip(Flip):
    """RandomVerticalFlip."""

    def __init__(self, t: v2.RandomVerticalFlip) -> None:
        super().__init__(t, -2)


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
