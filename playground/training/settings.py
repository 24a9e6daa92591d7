"""The run settings, declared once: type, default, range or choices, help text and label.

Everything else follows from `RunSettings`: the training command's flags (`add_arguments`),
the defaults of its config (`defaults`, so `--check` and config.json carry every field), the
checks (`check_value`, used by the command line and by the app before it starts anything), the
flags the app passes to the command (`to_flags`) and the Train tab's form (`form_fields`: the
fields with a `label`, in this order). A setting whose default is None is resolved by the
training command (batch size and learning rate from the data, the number of processes from the
GPUs): the form writes it as 0 ("auto").

No Gradio and no torch here: the app imports this without importing the training code.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from typing import Any, get_type_hints


def setting(
    default: Any,
    help: str,
    label: str = "",
    *,
    choices: tuple[str, ...] = (),
    low: float | None = None,
    high: float | None = None,
    resume: bool = False,
    elem: str = "",
    space_high: float | None = None,
    space_high_large: float | None = None,
    compared: bool = True,
    offered: tuple[str, ...] = (),
) -> Any:
    """One declared setting. `label`: shown in the Train tab's form (no label: command line
    only); `resume`: may change when a run is resumed (where and how fast, not what it
    computes); `elem`: the form control's elem_id suffix when it is not the name;
    `space_high`: the upper bound on a public Space, where anyone may start a run
    (playground.budget; the number of processes is bounded by the hardware there);
    `space_high_large`: the narrower bound on a Space of a run that trains above image_size's
    `space_high`, i.e. a torchvision model at its weights' crop (224 px: 49 times a 32 px
    image's pixels), checked on the run's resolved config before it starts;
    `compared`: shown when two runs are compared (False: not what a run computes, or shown
    in another way); `offered`: the values the form offers for a setting without `choices`
    (the command line takes others too, say a file's path, which a page must not name)."""
    meta = {"help": help, "label": label, "choices": choices, "low": low, "high": high}
    meta |= {"resume": resume, "elem": elem, "space_high": space_high, "compared": compared}
    meta |= {"offered": offered, "space_high_large": space_high_large}
    return field(default=default, metadata=meta)


# The kinds of data set `dataset` names (a folder as folder:PATH, an uploaded .zip as
# upload:NAME), with the form's word for each.
DATASET_KINDS = {
    "cifar10": "CIFAR-10",
    "folder": "Folder path",
    "upload": "Uploaded .zip",
    "synthetic": "Synthetic",
}
FOLDER_KIND, UPLOAD_KIND = "folder", "upload"
NAMED_KINDS = ", ".join(kind for kind in DATASET_KINDS if kind not in (FOLDER_KIND, UPLOAD_KIND))
# The networks `model` offers, in playground.training.models' order (its table is built with
# torch, which this module must not import; models asserts the two agree).
MODEL_NAMES = (
    "resnet18",
    "resnet18-imagenet",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "convnext_tiny",
    "regnet_y_400mf",
)


@dataclass(frozen=True)
class RunSettings:
    dataset: str = setting(
        "cifar10",
        f"{NAMED_KINDS}, {FOLDER_KIND}:PATH (PATH/train/<class>/*, PATH/test|val/<class>/*), or "
        f"{UPLOAD_KIND}:NAME (an uploaded .zip data set, kept under the checkpoints folder's "
        "datasets/)",
        "Data set",
    )
    # where the data lives, not what a run computes
    data_dir: str = setting("./data", "where CIFAR-10 is downloaded", compared=False)
    image_size: int | None = setting(
        None, "training resolution (default: 32, CIFAR-10's; a torchvision --model: its weights' "
        "crop, 224)", low=8, high=512,
        space_high=64,
    )  # fmt: skip
    synthetic_size: int = setting(
        5000, "synthetic training images (test = a fifth)", low=1, space_high=50_000
    )
    # A Space's run at a model's 224 px: at most 5,000 images x 10 epochs, about the pixels of
    # its largest 32 px run (50,000 x 50), with 1.5 GB of training images in memory, not 15
    subset: int | None = setting(
        None, "train on the first N training images only", "Subset (0 = all)", low=1,
        space_high=50_000, space_high_large=5_000,
    )  # fmt: skip
    validation: int | None = setting(
        None, "hold out N training images (stratified by class, seeded by --split-seed) as a "
        "validation set: the run evaluates on it each epoch instead of the test set and scores "
        "the test set once, at the end (test-predictions.npz); a sweep promotes on it",
        low=1,
    )  # fmt: skip
    split_seed: int = setting(
        0, "seed of the --validation split (the same seed: the same held-out images)", low=0,
        high=2**31 - 1,
    )  # fmt: skip
    epochs: int = setting(
        10, "passes over the training set", "Epochs", low=1, high=10_000, space_high=50,
        space_high_large=10,
    )  # fmt: skip
    batch_size: int | None = setting(
        None,
        "global batch, split over processes (fast: fitted to the data, at least 32 steps per "
        "epoch, at most 512; d2l 256)",
        "Batch size (0 = auto)",
        low=1,
        high=65_536,
        elem="batch",
        space_high=1024,
    )
    recipe: str = setting(
        "fast",
        "fast: SGD+Nesterov, one-cycle, label smoothing; d2l: Adam 0.001 (d2l.ai's chapter)",
        "Recipe",
        choices=("fast", "d2l"),
    )
    lr: float | None = setting(
        None,
        "peak learning rate (fast: 0.2 x batch/512; d2l 0.001)",
        "Peak learning rate (0 = auto)",
        low=1e-6,  # no upper bound: a divergent rate is caught by the run and reported as such
    )
    amp: str = setting(
        "auto",
        "mixed precision; auto: bf16 on GPUs that support it, else fp16; off on CPU",
        "AMP",
        choices=("auto", "bf16", "fp16", "off"),
    )
    device: str = setting(
        "auto", "cuda if available", "Device", choices=("auto", "cpu", "cuda"), resume=True
    )
    nproc: int | None = setting(
        None,
        "processes (DDP via torchrun); default: all visible GPUs, 1 on CPU",
        "GPUs (torchrun when > 1)",
        low=1,
        high=64,
        resume=True,
    )
    dist_backend: str = setting(
        "auto", "auto: nccl on GPUs, gloo on CPU", choices=("auto", "nccl", "gloo"), resume=True
    )
    compile: bool = setting(
        False, "torch.compile the model (on CUDA as CUDA graphs: mode reduce-overhead)", resume=True
    )
    workers: int | None = setting(
        None, "DataLoader workers for the per-image fallback (default: min(8, CPUs))", low=0,
        resume=True,
    )  # fmt: skip
    width: int = setting(
        64, "channels of ResNet-18's first stage (small = fast)", "Width (ResNet channels)",
        low=1, high=512, space_high=64,
    )  # fmt: skip
    model: str = setting(
        "resnet18",
        "the network (playground.training.models): resnet18 is d2l's CIFAR-style ResNet-18; the "
        "others are torchvision's, fine-tuned from --weights",
        "Model",
        choices=MODEL_NAMES,
    )
    weights: str = setting(
        "none",
        "what the network starts from: none (from scratch; the default, as no download is "
        "needed), imagenet (torchvision's weights, downloaded once into the torch hub cache), or "
        "the path of a state dict file",
        "Start from (weights)",
        offered=("none", "imagenet"),  # a file's path is the command line's: a server path
    )
    finetune: str = setting(
        "all",
        "all: train everything, a pretrained backbone at a tenth of the head's lr; head: train "
        "the new classification head only (the rest frozen, in eval mode)",
        "Fine-tune",
        choices=("all", "head"),
    )
    seed: int = setting(0, "seed of the weights, the data order and the augmentation", "Seed",
                        low=0, high=2**31 - 1)  # fmt: skip
    # Compare's "augmentation" row says it
    no_augment: bool = setting(False, "train without the pipeline, for comparison", compared=False)
    aug_seed: int | None = setting(
        None,
        "seed of the augmentation draws alone (default: --seed); the A/A check trains two runs "
        "that differ only in it",
        low=0,
        high=2**31 - 1,
    )


@dataclass(frozen=True)
class Declared:
    """One field of RunSettings with its declaration, ready for a parser, a check or a form."""

    name: str
    type: type  # int, float, str or bool (None-able fields: the type when given)
    default: Any
    help: str
    label: str
    choices: tuple[str, ...]
    low: float | None
    high: float | None
    resume: bool
    elem: str
    space_high: float | None
    compared: bool = True
    offered: tuple[str, ...] = ()
    space_high_large: float | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def elem_id(self) -> str:
        return "train-" + (self.elem or self.name.replace("_", "-"))

    @property
    def auto(self) -> bool:
        """Resolved by the training command when not given."""
        return self.default is None


# The training resolution when `image_size` is not given (CIFAR-10's).
DEFAULT_IMAGE_SIZE = 32
# Paired seeds per arm of one Start (seed, seed+1, ...): a Start's setting, not one run's.
SEEDS = Declared(
    name="seeds", type=int, default=None, help="paired seeds per arm (seed, seed+1, ...)",
    label="Seeds per arm", choices=(), low=1, high=10, resume=False, elem="", space_high=None,
)  # fmt: skip
# The seeds rule: 1 per arm on a CPU (minutes per run), 3 on a GPU (seconds to minutes).
SEEDS_ON_CPU, SEEDS_ON_GPU = 1, 3


def default_seeds(device: str) -> int:
    """Paired seeds per arm when not given: `device` is "cpu", "cuda", "cuda:N" or "auto"
    (auto asks torch whether a GPU is there)."""
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return SEEDS_ON_CPU if device == "cpu" else SEEDS_ON_GPU


@cache
def declared() -> tuple[Declared, ...]:
    hints = get_type_hints(RunSettings)
    out = []
    for f in fields(RunSettings):
        options = getattr(hints[f.name], "__args__", (hints[f.name],))
        kind = next(t for t in options if t is not type(None))
        default = None if f.default is MISSING else f.default
        out.append(Declared(f.name, kind, default, **f.metadata))
    return tuple(out)


def by_name(name: str) -> Declared:
    return next(d for d in declared() if d.name == name)


def defaults() -> dict[str, Any]:
    return {d.name: d.default for d in declared()}


def form_fields() -> tuple[Declared, ...]:
    """The settings the Train tab shows, in declaration order."""
    return tuple(d for d in declared() if d.label)


def resume_overrides() -> set[str]:
    return {d.name for d in declared() if d.resume}


class SettingError(ValueError):
    """A value outside its declaration; the message names the setting as the caller asked."""


def _bound_text(d: Declared) -> str:
    if d.low is not None and d.high is not None:
        return f"between {d.low:g} and {d.high:g}"
    return f"at least {d.low:g}" if d.low is not None else f"at most {d.high:g}"


def check_value(d: Declared, value: Any, who: str, high: float | None = None) -> Any:
    """`value` converted to the declared type and checked against the range or choices (and
    the lower `high` a server may set); SettingError(message naming `who`) if it is not."""
    if value is None:
        return None
    if d.choices:
        if value not in d.choices:
            raise SettingError(f"{who} must be one of {', '.join(d.choices)}, got {value!r}")
        return value
    if d.type is bool:
        if not isinstance(value, bool):
            raise SettingError(f"{who} must be true or false, got {value!r}")
        return value
    if d.type is str:
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        kind = "a whole number" if d.type is int else "a number"
        raise SettingError(f"{who} must be {kind}, got {value!r}") from None
    if not math.isfinite(number) or (d.type is int and number != int(number)):
        kind = "a whole number" if d.type is int else "a finite number"
        raise SettingError(f"{who} must be {kind}, got {value!r}")
    number = int(number) if d.type is int else number
    if high is not None and number > high and (d.high is None or high < d.high):
        raise SettingError(f"{who} must be at most {high:g} on this server, got {number:g}")
    highs = [x for x in (d.high, high) if x is not None]
    bounded = Declared(**{**d.__dict__, "high": min(highs) if highs else None})
    if (bounded.low is not None and number < bounded.low) or (
        bounded.high is not None and number > bounded.high
    ):
        raise SettingError(f"{who} must be {_bound_text(bounded)}, got {number:g}")
    return number


def check_form_value(d: Declared, value: Any, who: str, high: float | None = None) -> Any:
    """check_value for a value from the page (or the HTTP API): a setting with `offered`
    values takes only those there."""
    if d.offered and value not in d.offered:
        raise SettingError(f"{who} must be one of {', '.join(d.offered)}, got {value!r}")
    return check_value(d, value, who, high)


def to_flags(settings: RunSettings) -> list[str]:
    """The training command's flags for every setting that differs from its default."""
    flags: list[str] = []
    for d in declared():
        value = getattr(settings, d.name)
        if value == d.default or value is None:
            continue
        if d.type is bool:
            flags.append(d.flag)
        else:
            flags += [d.flag, str(value)]
    return flags


def flags_parser() -> argparse.ArgumentParser:
    """The declared flags alone, spelt out in full as the training command reads them (no
    abbreviations): for a command that passes training flags on and must read some of them."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    add_arguments(parser)
    return parser


def add_arguments(parser: Any) -> None:
    """One argparse flag per setting (default None: the command knows what was given)."""
    for d in declared():
        text = d.help + ("" if d.auto or d.type is bool else f" (default {d.default})")
        if d.type is bool:
            parser.add_argument(d.flag, action="store_true", default=None, help=text)
        elif d.choices:
            parser.add_argument(d.flag, choices=d.choices, help=text)
        else:
            parser.add_argument(d.flag, type=d.type, help=text)
