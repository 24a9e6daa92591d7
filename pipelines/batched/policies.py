"""The automatic policies (TrivialAugmentWide, RandAugment, AutoAugment: each image draws
its own ops and magnitudes) and `Sometimes`, a step's own probability around a kernel."""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from pipelines.batched.base import Kernel, Params, _by_group, _randint_below, _where
from pipelines.batched.colour import _blend_by_code, _posterize, _sharpen
from pipelines.batched.geometry import _grid_mode, _inverse_affine, _scalar_fill, _warp

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
