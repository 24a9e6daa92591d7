"""Every augmentation the product knows, declared once.

The UI controls, validation, JSON form, code export and batched training path are all derived
from these declarations. Adding a transform means adding one `TransformDef` to `CATALOGUE`
(and, if it should run batched on the GPU, a kernel in `pipelines.batched`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


@dataclass(frozen=True)
class Param:
    """One user-tunable parameter: a slider, a checkbox or a dropdown in the UI."""

    name: str
    kind: str  # "float" | "int" | "bool" | "choice"
    default: Any
    label: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    odd: bool = False  # int parameters that must be odd (blur kernel sizes)
    is_size: bool = False  # the transform's output side; training swaps in its resolution
    info: str = ""


@dataclass(frozen=True)
class TransformDef:
    """A torchvision v2 transform and how its flat parameters map onto its constructor."""

    name: str  # the torchvision.transforms.v2 class name, also the JSON "transform" value
    key: str  # short id for element ids: f"{key}-{param name with dashes}"
    label: str
    group: str  # "geometry" | "colour"
    params: tuple[Param, ...]
    to_kwargs: Callable[[Mapping[str, Any]], dict[str, Any]]
    describe: Callable[[Mapping[str, Any]], str]  # drawn params -> caption text
    ordered_pairs: tuple[tuple[str, str], ...] = ()  # (low name, high name): low <= high
    default_enabled: bool = False

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def elem_id(self, param_name: str) -> str:
        return f"{self.key}-{param_name.replace('_', '-')}"


def _flag(applied: bool, word: str) -> str:
    return word if applied else f"no {word}"


def _describe_flip(word: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda d: _flag(d["applied"], word)


def _describe_rrc(d: Mapping[str, Any]) -> str:
    top, left, h, w = d["top"], d["left"], d["height"], d["width"]
    area = h * w / max(1, d["in_height"] * d["in_width"])
    return f"crop {w}x{h} at ({left},{top}), area {area:.2f}, ratio {w / h:.2f}"


def _describe_jitter(d: Mapping[str, Any]) -> str:
    names = ("brightness", "contrast", "saturation", "hue")
    parts = []
    for i in d["fn_idx"]:
        value = d[f"{names[i]}_factor"]
        if value is not None:
            parts.append(
                f"{names[i][:3]} {value:+.2f}" if i == 3 else f"{names[i][:3]} {value:.2f}"
            )
    return ", ".join(parts) if parts else "no colour change"


def _describe_crop(d: Mapping[str, Any]) -> str:
    if not d["needs_crop"]:
        return "no crop"
    top, left, h, w = d["top"], d["left"], d["height"], d["width"]
    return f"crop {w}x{h} at ({left},{top})"


def _rrc_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "size": (p["size"], p["size"]),
        "scale": (p["scale_min"], p["scale_max"]),
        "ratio": (p["ratio_min"], p["ratio_max"]),
        "antialias": True,
    }


def _jitter_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in ("brightness", "contrast", "saturation", "hue")}


def _crop_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "size": (p["size"], p["size"]),
        "padding": p["padding"],
        "pad_if_needed": True,
        "padding_mode": p["padding_mode"],
    }


def _p(default: float = 0.5, label: str = "Probability") -> Param:
    return Param("p", "float", default, label, 0.0, 1.0, 0.05)


CATALOGUE: tuple[TransformDef, ...] = (
    TransformDef(
        name="RandomHorizontalFlip",
        key="hflip",
        label="Horizontal flip",
        group="geometry",
        params=(_p(label="Flip probability"),),
        to_kwargs=lambda p: {"p": p["p"]},
        describe=_describe_flip("h-flip"),
        default_enabled=True,
    ),
    TransformDef(
        name="RandomVerticalFlip",
        key="vflip",
        label="Vertical flip",
        group="geometry",
        params=(_p(label="Flip probability"),),
        to_kwargs=lambda p: {"p": p["p"]},
        describe=_describe_flip("v-flip"),
    ),
    TransformDef(
        name="RandomRotation",
        key="rotate",
        label="Rotation",
        group="geometry",
        params=(
            Param("degrees", "float", 15.0, "Max angle (degrees, either way)", 0.0, 180.0, 1.0),
        ),
        to_kwargs=lambda p: {"degrees": p["degrees"]},
        describe=lambda d: f"rotate {d['angle']:+.1f}°",
    ),
    TransformDef(
        name="RandomResizedCrop",
        key="rrc",
        label="Random resized crop",
        group="geometry",
        params=(
            Param("size", "int", 200, "Output size (px)", 8, 512, 1, is_size=True),
            Param("scale_min", "float", 0.1, "Area fraction, min", 0.01, 1.0, 0.01),
            Param("scale_max", "float", 1.0, "Area fraction, max", 0.01, 1.0, 0.01),
            Param("ratio_min", "float", 0.5, "Aspect ratio (w/h), min", 0.1, 10.0, 0.05),
            Param("ratio_max", "float", 2.0, "Aspect ratio (w/h), max", 0.1, 10.0, 0.05),
        ),
        to_kwargs=_rrc_kwargs,
        describe=_describe_rrc,
        ordered_pairs=(("scale_min", "scale_max"), ("ratio_min", "ratio_max")),
        default_enabled=True,
    ),
    TransformDef(
        name="RandomCrop",
        key="crop",
        label="Random crop with padding",
        group="geometry",
        params=(
            Param("size", "int", 32, "Output size (px)", 8, 512, 1, is_size=True),
            Param("padding", "int", 4, "Padding (px)", 0, 64, 1),
            Param("padding_mode", "choice", "constant", "Padding mode", choices=PADDING_MODES),
        ),
        to_kwargs=_crop_kwargs,
        describe=_describe_crop,
    ),
    TransformDef(
        name="ColorJitter",
        key="jitter",
        label="Colour jitter",
        group="colour",
        params=(
            Param("brightness", "float", 0.5, "Brightness", 0.0, 1.0, 0.05),
            Param("contrast", "float", 0.5, "Contrast", 0.0, 1.0, 0.05),
            Param("saturation", "float", 0.5, "Saturation", 0.0, 1.0, 0.05),
            Param("hue", "float", 0.5, "Hue", 0.0, 0.5, 0.01),
        ),
        to_kwargs=_jitter_kwargs,
        describe=_describe_jitter,
        default_enabled=True,
    ),
    TransformDef(
        name="RandomGrayscale",
        key="gray",
        label="Random grayscale",
        group="colour",
        params=(_p(0.1, "Grayscale probability"),),
        to_kwargs=lambda p: {"p": p["p"]},
        describe=_describe_flip("grayscale"),
    ),
    TransformDef(
        name="GaussianBlur",
        key="blur",
        label="Gaussian blur",
        group="colour",
        params=(
            Param("kernel_size", "int", 5, "Kernel size (odd, px)", 1, 31, 2, odd=True),
            Param("sigma_min", "float", 0.1, "Sigma, min", 0.01, 10.0, 0.01),
            Param("sigma_max", "float", 2.0, "Sigma, max", 0.01, 10.0, 0.01),
        ),
        to_kwargs=lambda p: {
            "kernel_size": p["kernel_size"],
            "sigma": (p["sigma_min"], p["sigma_max"]),
        },
        describe=lambda d: f"blur sigma {d['sigma'][0]:.2f}",
        ordered_pairs=(("sigma_min", "sigma_max"),),
    ),
)

BY_NAME: dict[str, TransformDef] = {t.name: t for t in CATALOGUE}


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    steps: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)


# d2l.ai 14.1's three examples; its combined one chains them in the chapter's order.
_D2L_FLIP = ("RandomHorizontalFlip", {"p": 0.5})
_D2L_SHAPE = (
    "RandomResizedCrop",
    {"size": 200, "scale_min": 0.1, "scale_max": 1.0, "ratio_min": 0.5, "ratio_max": 2.0},
)
_D2L_COLOR = ("ColorJitter", {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.5})

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("d2l-flip", "d2l.ai 14.1: RandomHorizontalFlip()", (_D2L_FLIP,)),
        Preset(
            "d2l-shape",
            "d2l.ai 14.1: RandomResizedCrop((200, 200), scale=(0.1, 1), ratio=(0.5, 2))",
            (_D2L_SHAPE,),
        ),
        Preset(
            "d2l-color",
            "d2l.ai 14.1: ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5)",
            (_D2L_COLOR,),
        ),
        Preset(
            "d2l-combined",
            "d2l.ai 14.1: flip, colour, shape, in the chapter's order",
            (_D2L_FLIP, _D2L_COLOR, _D2L_SHAPE),
        ),
        Preset(
            "cifar-standard",
            "The usual CIFAR recipe: RandomCrop(32, padding=4) + RandomHorizontalFlip()",
            (
                ("RandomCrop", {"size": 32, "padding": 4, "padding_mode": "constant"}),
                ("RandomHorizontalFlip", {"p": 0.5}),
            ),
        ),
    )
}
