"""Every augmentation the product knows, declared once.

The UI controls, validation, JSON form, code export, preview captions and batched training
path are all derived from these declarations. Adding a transform means adding one
`TransformDef` to `CATALOGUE` (and, if it should run batched on the GPU, a kernel in a module
of `pipelines.batched`, named by its `Batched` declaration); one test runs every entry through
export, build and preview, another every kernel against torchvision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torchvision.transforms.v2 import AutoAugmentPolicy, InterpolationMode

PADDING_MODES = ("constant", "edge", "reflect", "symmetric")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")  # the modes both PIL and tensors support

# Picker groups, in the order the editor shows them.
GROUPS: dict[str, str] = {
    "geometry": "Geometry",
    "colour": "Colour and light",
    "quality": "Blur, noise and quality",
    "erasing": "Erasing",
    "policy": "Automatic policies",
    "mixing": "Mixing",
}


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
    since: int = 1  # the pipeline file version that introduced it; older files get the default
    # The slider's ends, where the useful values are a small part of what is valid: (low, high)
    # is what a pipeline file may hold and what typed numbers are clamped to; the slider spans
    # `track` (widened to a value outside it, e.g. one loaded from a file).
    track: tuple[float, float] | None = None

    @property
    def slider_range(self) -> tuple[float, float]:
        return self.track if self.track is not None else (self.low, self.high)


@dataclass(frozen=True)
class Order:
    """A check between two parameters: low <= high, or low < high when `strict`."""

    low: str
    high: str
    strict: bool = False

    def holds(self, values: Mapping[str, Any]) -> bool:
        a, b = values[self.low], values[self.high]
        return a < b if self.strict else a <= b


Describe = Callable[[Mapping[str, Any], Mapping[str, Any]], str]

# Where a transform draws its randomness when torchvision v2 runs it: the preview records the
# draws there, and the kernel tests catch torchvision's draws there to compare them.
IN_MAKE_PARAMS = "make_params"  # make_params(); transform() is deterministic given them
IN_FORWARD_OPS = "forward ops"  # forward() picks ops and magnitudes and applies them one by one
# through _apply_image_or_video_transform (the automatic policies)
IN_TRANSFORM = "transform"  # transform() itself draws (GaussianNoise's noise)
DRAWS = (IN_MAKE_PARAMS, IN_FORWARD_OPS, IN_TRANSFORM)

# What torchvision's transform accepts besides the image and moves or keeps consistently with
# it (a test runs every entry on an image with boxes and a mask): "boxes" and "mask" are
# tv_tensors.BoundingBoxes and tv_tensors.Mask, "labels" the class labels of a mixing step.
# RandomErasing passes boxes and masks through unchanged, with a warning, while it erases the
# pixels under them; the policies, AugMix, CutMix and MixUp refuse them.
ALL_TARGETS = ("image", "boxes", "mask")
IMAGE_ONLY = ("image",)
IMAGE_AND_LABELS = ("image", "labels")

# The package whose modules hold the batched kernels (a `Batched.kernel` is "module:Name" there).
KERNEL_PACKAGE = "pipelines.batched"


@dataclass(frozen=True)
class Batched:
    """How training's batched path (pipelines.batched) runs a transform: a kernel, or the
    reason there is none (a pipeline with such a step then runs per image through torchvision,
    and the training log gives the reason).

    `kernel` is "module:Name" in KERNEL_PACKAGE: a Kernel class (or factory) called with the v2
    transform `build_parts` makes. It is a name, not the class, because the kernels import
    `pipelines.build`, which imports this catalogue; `pipelines.batched` resolves every name
    when it is imported (a typo fails there, and a test), never silently falling back.
    Kernels transform the images only (no boxes or masks).
    """

    kernel: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        if bool(self.kernel) == bool(self.reason):
            raise ValueError("a Batched declaration names a kernel or gives a reason, not both")
        if self.kernel and self.kernel.count(":") != 1:
            raise ValueError(f"kernel {self.kernel!r} is not 'module:Name'")


def _kernel(name: str) -> Batched:
    return Batched(kernel=name)


def _per_image(reason: str) -> Batched:
    return Batched(reason=reason)


@dataclass(frozen=True)
class TransformDef:
    """A torchvision v2 transform and how its flat parameters map onto its constructor."""

    name: str  # the torchvision.transforms.v2 class name, also the JSON "transform" value
    key: str  # short id for element ids: f"{key}-{param name with dashes}"
    label: str
    group: str  # a key of GROUPS
    params: tuple[Param, ...]
    to_kwargs: Callable[[Mapping[str, Any]], dict[str, Any]]
    # (what one sample drew, the step's parameters) -> caption text. The drawn values are
    # torchvision's make_params output, or what samples.py recorded for a transform that draws
    # inside forward, plus in_/out_ width and height.
    describe: Describe
    batched: Batched  # its kernel in the batched training path, or why it has none
    ordered_pairs: tuple[Order, ...] = ()
    default_enabled: bool = False
    # where it draws (DRAWS): outside make_params, the preview runs the whole forward under the
    # step's seed and records the draws instead of calling make_params
    draws: str = IN_MAKE_PARAMS
    targets: tuple[str, ...] = ALL_TARGETS  # what torchvision's transform accepts (see above)
    needs_tensor: bool = False  # no PIL kernel: build puts v2.ToImage() before it
    batch: bool = (
        False  # mixes a batch of images and labels (CutMix, MixUp): runs after per-image steps
    )

    def __post_init__(self) -> None:
        if self.draws not in DRAWS:
            raise ValueError(f"{self.name}: draws {self.draws!r} is not one of {DRAWS}")

    @property
    def draws_in_forward(self) -> bool:
        """Whether forward, not make_params, draws (the policies; noise drawn in transform)."""
        return self.draws != IN_MAKE_PARAMS

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def elem_id(self, param_name: str) -> str:
        return f"{self.key}-{param_name.replace('_', '-')}"

    @property
    def own_p(self) -> bool:
        """Whether the transform has a probability of its own (then no RandomApply around it)."""
        return any(p.name == "p" for p in self.params)


# -- parameter helpers ---------------------------------------------------------------------

# The chance a step runs at all (v2.RandomApply around it), for transforms without a `p` of their
# own: not a constructor argument, but declared like one so the editor and the checks share it.
STEP_P = Param("p", "float", 1.0, "Step probability (RandomApply)", 0.0, 1.0, 0.05)

# Aspect ratios: torchvision takes any positive range, and files may hold 0.1 to 10, but the
# useful 0.5 to 2 would fill 15% of a linear 0.1-10 track. Gradio's Slider has no log scale, so
# the slider spans 1/4 to 4 (0.5-2 is 40% of it, 1 near its middle); files with wider ratios
# still load (the slider then widens to show them) and typed values up to 10 are accepted.
RATIO_TRACK = (0.25, 4.0)


def _ratio(name: str, default: float, label: str) -> Param:
    """An aspect-ratio bound: files may hold 0.1 to 10, the slider spans RATIO_TRACK."""
    return Param(name, "float", default, label, 0.1, 10.0, 0.01, track=RATIO_TRACK)


def _p(default: float = 0.5, label: str = "Probability") -> Param:
    return Param("p", "float", default, label, 0.0, 1.0, 0.05)


def _interpolation(default: str, since: int = 1) -> Param:
    return Param(
        "interpolation", "choice", default, "Interpolation", choices=INTERPOLATIONS, since=since
    )


def _bins(default: int = 31) -> Param:
    return Param("num_magnitude_bins", "int", default, "Magnitude bins", 2, 51, 1)


def _alpha(label: str) -> Param:
    return Param("alpha", "float", 1.0, label, 0.1, 5.0, 0.1)


def _classes() -> Param:
    return Param(
        "num_classes",
        "int",
        10,
        "Number of classes",
        2,
        1000,
        1,
        info="labels become soft (N, classes) targets",
    )


def _same(*names: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    return lambda p: {n: p[n] for n in names}


def _mode(p: Mapping[str, Any]) -> InterpolationMode:
    return InterpolationMode(p["interpolation"])


def _pair(p: Mapping[str, Any], low: str, high: str) -> tuple[Any, Any]:
    return (p[low], p[high])


# -- caption helpers -----------------------------------------------------------------------


def _flag(word: str) -> Describe:
    return lambda d, p: word


def _size_change(verb: str) -> Describe:
    return lambda d, p: (
        f"{verb} {d['in_width']}x{d['in_height']} -> {d['out_width']}x{d['out_height']}"
    )


def _describe_rrc(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    top, left, h, w = d["top"], d["left"], d["height"], d["width"]
    area = h * w / max(1, d["in_height"] * d["in_width"])
    return f"crop {w}x{h} at ({left},{top}), area {area:.2f}, ratio {w / h:.2f}"


_JITTER_NAMES = ("brightness", "contrast", "saturation", "hue")


def _factor_text(name: str, value: float) -> str:
    value = round(value, 2) + 0.0  # a hue of -0.001 reads "+0.00", not "-0.00"
    return f"{name} {value:+.2f}" if name == "hue" else f"{name} {value:.2f}"


def _describe_jitter(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    # Always in the parameters' order, not in the random order `fn_idx` applies them: eight
    # captions that list the same factors in eight orders are hard to compare at a glance.
    parts = [
        _factor_text(name, d[f"{name}_factor"])
        for name in _JITTER_NAMES
        if d[f"{name}_factor"] is not None
    ]
    return ", ".join(parts) if parts else "no colour change"


def _describe_photometric(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    parts = [
        _factor_text(name, d[f"{name}_factor"])
        for name in _JITTER_NAMES
        if d[f"{name}_factor"] is not None
    ]
    if d["channel_permutation"] is not None:
        parts.append("channels " + "".join("RGB"[i] for i in d["channel_permutation"]))
    return ", ".join(parts) if parts else "no photometric change"


def _describe_crop(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    if not d["needs_crop"]:
        return "no crop"
    top, left, h, w = d["top"], d["left"], d["height"], d["width"]
    return f"crop {w}x{h} at ({left},{top})"


def _describe_affine(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    (tx, ty), (sx, sy) = d["translate"], d["shear"]
    text = f"rotate {d['angle']:+.1f}°, shift ({tx},{ty}), scale {d['scale']:.2f}"
    return text + (f", shear {sx:+.1f}°/{sy:+.1f}°" if sx or sy else "")


def _describe_perspective(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    a, b, c, e, f, g, h, i = d["coefficients"]
    w, ht = d["in_width"] - 1, d["in_height"] - 1
    moved = 0.0
    for x, y in ((0, 0), (w, 0), (w, ht), (0, ht)):  # where each output corner samples from
        den = h * x + i * y + 1
        moved = max(moved, math.hypot((a * x + b * y + c) / den - x, (e * x + f * y + g) / den - y))
    return f"perspective, corners moved up to {moved:.0f} px"


def _describe_elastic(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    shift = d["displacement"]["max_abs"] * max(d["in_width"], d["in_height"]) / 2
    return f"elastic warp, up to {shift:.1f} px"


def _describe_zoom_out(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    left, top, _, _ = d["padding"]
    return f"zoom out to {d['out_width']}x{d['out_height']}, image at ({left},{top})"


def _describe_erase(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    if d["v"] is None:
        return "nothing erased (no box fitted)"
    return f"erased {d['w']}x{d['h']} at ({d['j']},{d['i']})"


def _op_text(op: str, magnitude: float) -> str:
    if op in ("Identity", "AutoContrast", "Equalize", "Invert"):
        return op
    if op == "Posterize":
        return f"Posterize {int(magnitude)} bits"
    if op == "Rotate":
        return f"Rotate {magnitude:+.1f}°"
    if op in ("TranslateX", "TranslateY"):
        return f"{op} {int(magnitude):+d} px"
    if op == "Solarize":
        return f"Solarize above {magnitude:.2f}"
    return f"{op} {magnitude:+.2f}"


def _ops_text(ops: list) -> str:
    return ", ".join(_op_text(op, m) for op, m in ops) or "no op"


def _describe_autoaugment(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    applied = [op for op, _ in d["ops"]]
    skipped = []
    for op in d["policy_ops"]:  # a sub-policy may hold the same op twice
        if op in applied:
            applied.remove(op)
        else:
            skipped.append(op)
    text = f"sub-policy {d['policy'] + 1}/{d['policies']}: {_ops_text(d['ops'])}"
    return text + (f" ({', '.join(skipped)} skipped)" if skipped else "")


def _describe_augmix(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    chains = " | ".join(_ops_text(chain) for chain in d["chains"])
    weights = "/".join(f"{w:.0%}" for w in d["chain_weights"])
    return f"AugMix {chains}; original {d['original_weight']:.0%}, chains {weights}"


def _describe_cutmix(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    x1, y1, x2, y2 = d["box"]
    share = 1 - d["lam_adjusted"]
    return f"CutMix: {x2 - x1}x{y2 - y1} box from sample {d['partner'] + 1} ({share:.0%})"


def _describe_mixup(d: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    return f"MixUp: {d['lam']:.0%} own, {1 - d['lam']:.0%} sample {d['partner'] + 1}"


# -- constructor arguments -----------------------------------------------------------------


def _rrc_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "size": (p["size"], p["size"]),
        "scale": _pair(p, "scale_min", "scale_max"),
        "ratio": _pair(p, "ratio_min", "ratio_max"),
        "interpolation": _mode(p),
        "antialias": True,
    }


def _crop_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "size": (p["size"], p["size"]),
        "padding": p["padding"],
        "pad_if_needed": True,
        "padding_mode": p["padding_mode"],
    }


def _affine_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    # torchvision's "none" for translate and shear is None, not zero
    return {
        "degrees": p["degrees"],
        "translate": (p["translate"], p["translate"]) if p["translate"] > 0 else None,
        "scale": _pair(p, "scale_min", "scale_max"),
        "shear": p["shear"] if p["shear"] > 0 else None,
        "interpolation": _mode(p),
    }


def _photometric_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "brightness": (1 - p["brightness"], 1 + p["brightness"]),
        "contrast": (1 - p["contrast"], 1 + p["contrast"]),
        "saturation": (1 - p["saturation"], 1 + p["saturation"]),
        "hue": (-p["hue"], p["hue"]),
        "p": p["p"],
    }


def _with_mode(*names: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    return lambda p: {**{n: p[n] for n in names}, "interpolation": _mode(p)}


_G, _C, _Q, _E, _A, _M = "geometry", "colour", "quality", "erasing", "policy", "mixing"

_MIXES = "mixes whole batches: the trainer applies build_batch(spec) after the image pipeline"

CATALOGUE: tuple[TransformDef, ...] = (
    # -- geometry --------------------------------------------------------------------------
    TransformDef(
        name="RandomHorizontalFlip",
        key="hflip",
        label="Horizontal flip",
        group=_G,
        params=(_p(label="Flip probability"),),
        to_kwargs=_same("p"),
        describe=_flag("flipped horizontally"),
        batched=_kernel("geometry:HorizontalFlip"),
        default_enabled=True,
    ),
    TransformDef(
        name="RandomVerticalFlip",
        key="vflip",
        label="Vertical flip",
        group=_G,
        params=(_p(label="Flip probability"),),
        to_kwargs=_same("p"),
        describe=_flag("flipped vertically"),
        batched=_kernel("geometry:VerticalFlip"),
    ),
    TransformDef(
        name="RandomRotation",
        key="rotate",
        label="Rotation",
        group=_G,
        params=(
            Param("degrees", "float", 15.0, "Max angle (degrees, either way)", 0.0, 180.0, 1.0),
            _interpolation("nearest", since=2),
            Param("expand", "bool", False, "Grow the canvas to fit", since=2),
        ),
        to_kwargs=_with_mode("degrees", "expand"),
        describe=lambda d, p: f"rotate {d['angle']:+.1f}°",
        batched=_kernel("geometry:Rotation"),
    ),
    TransformDef(
        name="RandomAffine",
        key="affine",
        label="Affine warp",
        group=_G,
        params=(
            Param("degrees", "float", 10.0, "Max angle (degrees, either way)", 0.0, 180.0, 1.0),
            Param("translate", "float", 0.1, "Max shift (fraction of the side)", 0.0, 0.5, 0.01),
            Param("scale_min", "float", 0.9, "Scale, min", 0.1, 3.0, 0.05),
            Param("scale_max", "float", 1.1, "Scale, max", 0.1, 3.0, 0.05),
            Param("shear", "float", 0.0, "Max shear (degrees, either way)", 0.0, 45.0, 1.0),
            _interpolation("nearest"),
        ),
        to_kwargs=_affine_kwargs,
        describe=_describe_affine,
        batched=_kernel("geometry:Affine"),
        ordered_pairs=(Order("scale_min", "scale_max"),),
    ),
    TransformDef(
        name="RandomPerspective",
        key="perspective",
        label="Perspective",
        group=_G,
        params=(
            Param("distortion_scale", "float", 0.5, "Distortion", 0.0, 1.0, 0.05),
            _p(),
            _interpolation("bilinear"),
        ),
        to_kwargs=_with_mode("distortion_scale", "p"),
        describe=_describe_perspective,
        batched=_kernel("geometry:Perspective"),
    ),
    TransformDef(
        name="ElasticTransform",
        key="elastic",
        label="Elastic warp",
        group=_G,
        params=(
            Param("alpha", "float", 50.0, "Strength (alpha)", 0.0, 250.0, 1.0),
            Param("sigma", "float", 5.0, "Smoothness (sigma)", 0.1, 20.0, 0.1),
            _interpolation("bilinear"),
        ),
        to_kwargs=_with_mode("alpha", "sigma"),
        describe=_describe_elastic,
        batched=_per_image(
            "not written: each image's displacement is two random fields blurred with a kernel "
            "of up to 161 px, a batched blur of that size per image"
        ),
    ),
    TransformDef(
        name="RandomResizedCrop",
        key="rrc",
        label="Random resized crop",
        group=_G,
        params=(
            Param("size", "int", 200, "Output size (px)", 8, 512, 1, is_size=True),
            Param("scale_min", "float", 0.1, "Area fraction, min", 0.01, 1.0, 0.01),
            Param("scale_max", "float", 1.0, "Area fraction, max", 0.01, 1.0, 0.01),
            _ratio("ratio_min", 0.5, "Aspect ratio (w/h), min"),
            _ratio("ratio_max", 2.0, "Aspect ratio (w/h), max"),
            _interpolation("bilinear", since=2),
        ),
        to_kwargs=_rrc_kwargs,
        describe=_describe_rrc,
        batched=_kernel("geometry:ResizedCrop"),
        ordered_pairs=(Order("scale_min", "scale_max"), Order("ratio_min", "ratio_max")),
        default_enabled=True,
    ),
    TransformDef(
        name="RandomCrop",
        key="crop",
        label="Random crop with padding",
        group=_G,
        params=(
            Param("size", "int", 32, "Output size (px)", 8, 512, 1, is_size=True),
            Param("padding", "int", 4, "Padding (px)", 0, 64, 1),
            Param("padding_mode", "choice", "constant", "Padding mode", choices=PADDING_MODES),
        ),
        to_kwargs=_crop_kwargs,
        describe=_describe_crop,
        batched=_kernel("geometry:Crop"),
    ),
    TransformDef(
        name="CenterCrop",
        key="center",
        label="Centre crop",
        group=_G,
        params=(Param("size", "int", 200, "Output size (px)", 8, 512, 1, is_size=True),),
        to_kwargs=lambda p: {"size": (p["size"], p["size"])},
        describe=_size_change("centre crop"),
        batched=_per_image("not written: it draws nothing, one crop of the whole batch would do"),
    ),
    TransformDef(
        name="Resize",
        key="resize",
        label="Resize",
        group=_G,
        params=(
            Param("size", "int", 224, "Output size (px, square)", 8, 512, 1, is_size=True),
            _interpolation("bilinear"),
        ),
        to_kwargs=lambda p: {"size": (p["size"], p["size"]), "interpolation": _mode(p)},
        describe=_size_change("resize"),
        batched=_per_image("not written: it draws nothing, one resize of the whole batch would do"),
    ),
    TransformDef(
        name="RandomResize",
        key="randresize",
        label="Random resize",
        group=_G,
        params=(
            Param("min_size", "int", 160, "Shorter side, min (px)", 8, 512, 1),
            Param("max_size", "int", 320, "Shorter side, max (px, excluded)", 9, 513, 1),
            _interpolation("bilinear"),
        ),
        to_kwargs=_with_mode("min_size", "max_size"),
        describe=_size_change("random resize"),
        # each image its own size: a batch of them cannot be one tensor; RandomResizedCrop is
        # the batched way to vary the scale at a fixed output size
        batched=_per_image("each image draws its own output size: the outputs do not stack"),
        ordered_pairs=(Order("min_size", "max_size", strict=True),),
    ),
    TransformDef(
        name="Pad",
        key="pad",
        label="Pad",
        group=_G,
        params=(
            Param("padding", "int", 4, "Padding (px)", 0, 128, 1),
            Param("fill", "int", 0, "Fill grey level (constant mode)", 0, 255, 1),
            Param("padding_mode", "choice", "constant", "Padding mode", choices=PADDING_MODES),
        ),
        to_kwargs=_same("padding", "fill", "padding_mode"),
        describe=_size_change("pad"),
        batched=_per_image("not written: it draws nothing, one pad of the whole batch would do"),
    ),
    TransformDef(
        name="RandomZoomOut",
        key="zoomout",
        label="Zoom out",
        group=_G,
        params=(
            Param("side_min", "float", 1.0, "Canvas side (x image), min", 1.0, 4.0, 0.05),
            Param("side_max", "float", 2.0, "Canvas side (x image), max", 1.0, 4.0, 0.05),
            Param("fill", "int", 0, "Fill grey level", 0, 255, 1),
            _p(),
        ),
        to_kwargs=lambda p: {
            "fill": p["fill"],
            "side_range": _pair(p, "side_min", "side_max"),
            "p": p["p"],
        },
        describe=_describe_zoom_out,
        batched=_per_image("each image draws its own canvas size: the outputs do not stack"),
        ordered_pairs=(Order("side_min", "side_max"),),
    ),
    # -- colour and light ------------------------------------------------------------------
    TransformDef(
        name="ColorJitter",
        key="jitter",
        label="Colour jitter",
        group=_C,
        params=(
            Param("brightness", "float", 0.5, "Brightness", 0.0, 1.0, 0.05),
            Param("contrast", "float", 0.5, "Contrast", 0.0, 1.0, 0.05),
            Param("saturation", "float", 0.5, "Saturation", 0.0, 1.0, 0.05),
            # 0.1, not d2l's 0.5 (its preset keeps that): at the maximum a cat comes out green
            # or purple, not a first screen's plausible augmentation
            Param("hue", "float", 0.1, "Hue", 0.0, 0.5, 0.01),
        ),
        to_kwargs=_same(*_JITTER_NAMES),
        describe=_describe_jitter,
        batched=_kernel("colour:ColorJitter"),
        default_enabled=True,
    ),
    TransformDef(
        name="RandomPhotometricDistort",
        key="photometric",
        label="Photometric distortion (SSD)",
        group=_C,
        params=(
            Param("brightness", "float", 0.125, "Brightness (1 ± this)", 0.0, 1.0, 0.005),
            Param("contrast", "float", 0.5, "Contrast (1 ± this)", 0.0, 1.0, 0.05),
            Param("saturation", "float", 0.5, "Saturation (1 ± this)", 0.0, 1.0, 0.05),
            Param("hue", "float", 0.05, "Hue (± this)", 0.0, 0.5, 0.01),
            _p(label="Probability of each change"),
        ),
        to_kwargs=_photometric_kwargs,
        describe=_describe_photometric,
        batched=_per_image(
            "not written: ColorJitter's blends and a channel permutation, each behind a coin"
        ),
    ),
    TransformDef(
        name="RandomGrayscale",
        key="gray",
        label="Random grayscale",
        group=_C,
        params=(_p(0.1, "Grayscale probability"),),
        to_kwargs=_same("p"),
        describe=_flag("grayscale"),
        batched=_kernel("colour:Grayscale"),
    ),
    TransformDef(
        name="RandomChannelPermutation",
        key="channels",
        label="Channel shuffle",
        group=_C,
        params=(),
        to_kwargs=lambda p: {},
        describe=lambda d, p: "channels " + "".join("RGB"[i] for i in d["permutation"]),
        batched=_kernel("colour:ChannelPermutation"),
    ),
    TransformDef(
        name="RandomInvert",
        key="invert",
        label="Invert",
        group=_C,
        params=(_p(),),
        to_kwargs=_same("p"),
        describe=_flag("inverted"),
        batched=_kernel("colour:Invert"),
    ),
    TransformDef(
        name="RandomPosterize",
        key="posterize",
        label="Posterize",
        group=_C,
        params=(Param("bits", "int", 4, "Bits kept per channel", 1, 8, 1), _p()),
        to_kwargs=_same("bits", "p"),
        describe=lambda d, p: f"posterized to {p['bits']} bits",
        batched=_kernel("colour:Posterize"),
    ),
    TransformDef(
        name="RandomSolarize",
        key="solarize",
        label="Solarize",
        group=_C,
        params=(Param("threshold", "float", 128.0, "Threshold (0-255)", 0.0, 255.0, 1.0), _p()),
        to_kwargs=_same("threshold", "p"),
        describe=lambda d, p: f"solarized above {p['threshold']:g}",
        batched=_kernel("colour:Solarize"),
    ),
    TransformDef(
        name="RandomAdjustSharpness",
        key="sharpness",
        label="Sharpness",
        group=_C,
        params=(
            Param("sharpness_factor", "float", 2.0, "Sharpness factor (1 = none)", 0.0, 5.0, 0.1),
            _p(),
        ),
        to_kwargs=_same("sharpness_factor", "p"),
        describe=lambda d, p: f"sharpness x{p['sharpness_factor']:g}",
        batched=_kernel("colour:Sharpness"),
    ),
    TransformDef(
        name="RandomAutocontrast",
        key="autocontrast",
        label="Autocontrast",
        group=_C,
        params=(_p(),),
        to_kwargs=_same("p"),
        describe=_flag("autocontrast"),
        batched=_kernel("colour:Autocontrast"),
    ),
    TransformDef(
        name="RandomEqualize",
        key="equalize",
        label="Equalize",
        group=_C,
        params=(_p(),),
        to_kwargs=_same("p"),
        describe=_flag("equalized"),
        batched=_kernel("colour:Equalize"),
    ),
    # -- blur, noise and quality -----------------------------------------------------------
    TransformDef(
        name="GaussianBlur",
        key="blur",
        label="Gaussian blur",
        group=_Q,
        params=(
            Param("kernel_size", "int", 5, "Kernel size (odd, px)", 1, 31, 2, odd=True),
            Param("sigma_min", "float", 0.1, "Sigma, min", 0.01, 10.0, 0.01),
            Param("sigma_max", "float", 2.0, "Sigma, max", 0.01, 10.0, 0.01),
        ),
        to_kwargs=lambda p: {
            "kernel_size": p["kernel_size"],
            "sigma": _pair(p, "sigma_min", "sigma_max"),
        },
        describe=lambda d, p: f"blur sigma {d['sigma'][0]:.2f}",
        batched=_kernel("quality:GaussianBlur"),
        ordered_pairs=(Order("sigma_min", "sigma_max"),),
    ),
    TransformDef(
        name="GaussianNoise",
        key="noise",
        label="Gaussian noise",
        group=_Q,
        params=(
            Param("mean", "float", 0.0, "Mean (fraction of full scale)", -0.5, 0.5, 0.01),
            Param("sigma", "float", 0.1, "Sigma (fraction of full scale)", 0.0, 1.0, 0.01),
        ),
        to_kwargs=lambda p: {"mean": p["mean"], "sigma": p["sigma"], "clip": True},
        describe=lambda d, p: f"noise drawn per pixel, sigma {p['sigma']:g}",
        batched=_kernel("quality:GaussianNoise"),
        draws=IN_TRANSFORM,
        needs_tensor=True,
    ),
    TransformDef(
        name="JPEG",
        key="jpeg",
        label="JPEG compression",
        group=_Q,
        params=(
            Param("quality_min", "int", 50, "Quality, min", 1, 100, 1),
            Param("quality_max", "int", 95, "Quality, max", 1, 100, 1),
        ),
        to_kwargs=lambda p: {"quality": _pair(p, "quality_min", "quality_max")},
        describe=lambda d, p: f"JPEG quality {d['quality']}",
        batched=_per_image(
            "JPEG encoding and decoding run on the CPU, image by image: no batched codec"
        ),
        ordered_pairs=(Order("quality_min", "quality_max"),),
    ),
    # -- erasing ---------------------------------------------------------------------------
    TransformDef(
        name="RandomErasing",
        key="erase",
        label="Random erasing",
        group=_E,
        params=(
            _p(),
            Param("scale_min", "float", 0.02, "Area fraction, min", 0.0, 1.0, 0.01),
            Param("scale_max", "float", 0.33, "Area fraction, max", 0.0, 1.0, 0.01),
            _ratio("ratio_min", 0.3, "Aspect ratio (h/w), min"),
            _ratio("ratio_max", 3.3, "Aspect ratio (h/w), max"),
        ),
        to_kwargs=lambda p: {
            "p": p["p"],
            "scale": _pair(p, "scale_min", "scale_max"),
            "ratio": _pair(p, "ratio_min", "ratio_max"),
            "value": 0,
        },
        describe=_describe_erase,
        batched=_kernel("erasing:Erasing"),
        targets=IMAGE_ONLY,
        ordered_pairs=(Order("scale_min", "scale_max"), Order("ratio_min", "ratio_max")),
    ),
    # -- automatic policies ----------------------------------------------------------------
    TransformDef(
        name="AutoAugment",
        key="autoaugment",
        label="AutoAugment",
        group=_A,
        params=(
            Param(
                "policy",
                "choice",
                "imagenet",
                "Learned policy",
                choices=tuple(p.value for p in AutoAugmentPolicy),
            ),
            _interpolation("nearest"),
        ),
        to_kwargs=lambda p: {
            "policy": AutoAugmentPolicy(p["policy"]),
            "interpolation": _mode(p),
        },
        describe=_describe_autoaugment,
        batched=_kernel("policies:AutoAugment"),
        targets=IMAGE_ONLY,
        draws=IN_FORWARD_OPS,
    ),
    TransformDef(
        name="RandAugment",
        key="randaugment",
        label="RandAugment",
        group=_A,
        params=(
            Param("num_ops", "int", 2, "Ops per image", 0, 10, 1),
            Param("magnitude", "int", 9, "Magnitude (bin)", 0, 50, 1),
            _bins(),
            _interpolation("nearest"),
        ),
        to_kwargs=_with_mode("num_ops", "magnitude", "num_magnitude_bins"),
        describe=lambda d, p: _ops_text(d["ops"]),
        batched=_kernel("policies:RandAugment"),
        targets=IMAGE_ONLY,
        # magnitude indexes the bins: bins[magnitude] must exist
        ordered_pairs=(Order("magnitude", "num_magnitude_bins", strict=True),),
        draws=IN_FORWARD_OPS,
    ),
    TransformDef(
        name="TrivialAugmentWide",
        key="trivialaugment",
        label="TrivialAugment (wide)",
        group=_A,
        params=(_bins(), _interpolation("nearest")),
        to_kwargs=_with_mode("num_magnitude_bins"),
        describe=lambda d, p: _ops_text(d["ops"]),
        batched=_kernel("policies:TrivialAugmentWide"),
        targets=IMAGE_ONLY,
        draws=IN_FORWARD_OPS,
    ),
    TransformDef(
        name="AugMix",
        key="augmix",
        label="AugMix",
        group=_A,
        params=(
            Param("severity", "int", 3, "Severity", 1, 10, 1),
            Param("mixture_width", "int", 3, "Chains", 1, 5, 1),
            Param(
                "chain_depth",
                "int",
                -1,
                "Ops per chain",
                -1,
                3,
                1,
                info="-1 or 0: a random 1 to 3 per chain",
            ),
            _alpha("Mixing concentration (alpha)"),
            Param("all_ops", "bool", True, "Include colour ops"),
            _interpolation("bilinear"),
        ),
        to_kwargs=_with_mode("severity", "mixture_width", "chain_depth", "alpha", "all_ops"),
        describe=_describe_augmix,
        batched=_per_image("not written: chains of ops per image, mixed with Dirichlet weights"),
        targets=IMAGE_ONLY,
        draws=IN_FORWARD_OPS,
    ),
    # -- mixing (whole batches) ------------------------------------------------------------
    TransformDef(
        name="CutMix",
        key="cutmix",
        label="CutMix",
        group=_M,
        params=(_alpha("Beta concentration (alpha)"), _classes()),
        to_kwargs=_same("alpha", "num_classes"),
        describe=_describe_cutmix,
        batched=_per_image(_MIXES),
        targets=IMAGE_AND_LABELS,
        batch=True,
    ),
    TransformDef(
        name="MixUp",
        key="mixup",
        label="MixUp",
        group=_M,
        params=(_alpha("Beta concentration (alpha)"), _classes()),
        to_kwargs=_same("alpha", "num_classes"),
        describe=_describe_mixup,
        batched=_per_image(_MIXES),
        targets=IMAGE_AND_LABELS,
        batch=True,
    ),
)

BY_NAME: dict[str, TransformDef] = {t.name: t for t in CATALOGUE}


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    steps: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)
    image_side: int | None = None  # the images it was made for (CIFAR's 32 x 32), if it says


# d2l.ai 14.1's three examples; its combined one chains them in the chapter's order.
_D2L_FLIP = ("RandomHorizontalFlip", {"p": 0.5})
_D2L_SHAPE = (
    "RandomResizedCrop",
    {"size": 200, "scale_min": 0.1, "scale_max": 1.0, "ratio_min": 0.5, "ratio_max": 2.0},
)
_D2L_COLOR = ("ColorJitter", {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.5})
_CIFAR_CROP = ("RandomCrop", {"size": 32, "padding": 4, "padding_mode": "constant"})
_CIFAR_FLIP = ("RandomHorizontalFlip", {"p": 0.5})

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
            "The usual CIFAR recipe, for 32 x 32 images: RandomCrop(32, padding=4) + "
            "RandomHorizontalFlip()",
            (_CIFAR_CROP, _CIFAR_FLIP),
            image_side=32,
        ),
        Preset(
            "trivialaugment-cifar",
            "TrivialAugment for CIFAR (32 x 32 images): RandomCrop(32, padding=4) + "
            "RandomHorizontalFlip() + TrivialAugmentWide() + RandomErasing()",
            (_CIFAR_CROP, _CIFAR_FLIP, ("TrivialAugmentWide", {}), ("RandomErasing", {})),
            image_side=32,
        ),
        Preset(
            "autoaugment-cifar10",
            "AutoAugment's learned CIFAR-10 policy (32 x 32 images) after the CIFAR crop and "
            "flip: RandomCrop(32, padding=4) + RandomHorizontalFlip() + AutoAugment(CIFAR10)",
            (_CIFAR_CROP, _CIFAR_FLIP, ("AutoAugment", {"policy": "cifar10"})),
            image_side=32,
        ),
        Preset(
            "randaugment",
            "RandAugment(num_ops=2, magnitude=9): two random ops per image at magnitude 9 of 31",
            (("RandAugment", {"num_ops": 2, "magnitude": 9, "num_magnitude_bins": 31}),),
        ),
    )
}
