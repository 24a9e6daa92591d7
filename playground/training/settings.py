"""The run settings, declared once: type, default, choices or range, help and label per field.

The training command's flags, its defaults, the range checks and a form's description
(`form_fields`) all follow from `RunSettings`, as the transforms follow from the catalogue, so a
new setting is one field here. A default of None means "resolved at start": the recipe fits
the batch and lr to the data (recipes.fit), nproc is every visible GPU, and so on; `--check`
and config.json show the resolved values.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

from playground.training.recipes import RECIPES


def setting(
    default: Any,
    help: str,
    label: str,
    kind: type = str,
    choices: tuple[str, ...] | None = None,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
) -> Any:
    """A field of RunSettings: `low`/`high` are inclusive bounds, `above` an exclusive one."""
    meta = {"help": help, "label": label, "kind": kind, "choices": choices}
    meta.update(low=low, high=high, above=above)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunSettings:
    dataset: str = setting(
        "cifar10",
        "cifar10 (default), synthetic, or folder:PATH (PATH/train/<class>/*, PATH/test|val/<class>/*)",
        "Data set",
    )
    data_dir: str = setting(
        "./data", "where CIFAR-10 is downloaded (default ./data)", "CIFAR-10 folder"
    )
    image_size: int | None = setting(
        None,
        "training resolution for folder/synthetic data (default 32; CIFAR-10 is 32)",
        "Image size",
        int,
        low=8,
        high=512,
    )
    synthetic_size: int = setting(
        5000,
        "synthetic training images (default 5000; test = a fifth)",
        "Synthetic images",
        int,
        low=1,
    )
    subset: int | None = setting(
        None, "train on the first N training images only", "Subset", int, low=1
    )
    epochs: int = setting(10, "default 10", "Epochs", int, low=1)
    batch_size: int | None = setting(
        None,
        "global batch, split over processes (default: fast: fitted to the data, at least "
        "32 steps per epoch, at most 512; d2l 256)",
        "Batch size",
        int,
        low=1,
    )
    recipe: str = setting(
        "fast",
        "fast (default): SGD+Nesterov, one-cycle, label smoothing; d2l: Adam 0.001",
        "Recipe",
        choices=RECIPES,
    )
    lr: float | None = setting(
        None,
        "peak learning rate (default: fast 0.2 x batch/512, d2l 0.001)",
        "Peak learning rate",
        float,
        above=0,
    )
    amp: str = setting(
        "auto",
        "auto: bf16 on GPUs that support it, else fp16; off on CPU",
        "AMP",
        choices=("auto", "bf16", "fp16", "off"),
    )
    device: str = setting(
        "auto", "default: cuda if available", "Device", choices=("auto", "cpu", "cuda")
    )
    nproc: int | None = setting(
        None,
        "processes (DDP via torchrun); default: all visible GPUs, 1 on CPU",
        "Processes",
        int,
        low=1,
    )
    dist_backend: str = setting(
        "auto",
        "auto: nccl on GPUs, gloo on CPU",
        "DDP backend",
        choices=("auto", "nccl", "gloo"),
    )
    compile: bool = setting(
        False,
        "torch.compile the model (on CUDA as CUDA graphs: mode reduce-overhead)",
        "Compile",
        bool,
    )
    workers: int | None = setting(
        None,
        "DataLoader workers for the per-image fallback (default: min(8, CPUs))",
        "Workers",
        int,
        low=0,
    )
    width: int = setting(
        64,
        "channels of ResNet-18's first stage (default 64; small = fast tests)",
        "Width",
        int,
        low=1,
    )
    seed: int = setting(0, "default 0", "Seed", int, low=0)
    out: str | None = setting(
        None, "run folder (default checkpoints/<timestamp>-<pipeline name>)", "Run folder"
    )
    no_augment: bool = setting(
        False, "train without the pipeline, for comparison", "Without augmentation", bool
    )


FIELDS = dataclasses.fields(RunSettings)
DEFAULTS: dict[str, Any] = {f.name: f.default for f in FIELDS}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field; every flag defaults to None so that "not given" can be told apart."""
    for f in FIELDS:
        m = f.metadata
        if m["kind"] is bool:
            parser.add_argument(flag(f.name), action="store_true", default=None, help=m["help"])
        else:
            kind = None if m["kind"] is str else m["kind"]
            parser.add_argument(flag(f.name), type=kind, choices=m["choices"], help=m["help"])


def out_of_range(name: str, value: Any) -> str | None:
    """Why `value` is not allowed for the field `name`, as the command line says it, or None."""
    m = RunSettings.__dataclass_fields__[name].metadata
    if value is None or m["kind"] not in (int, float):
        return None
    low, high, above = m["low"], m["high"], m["above"]
    if low is not None and high is not None and not low <= value <= high:
        return f"{flag(name)} must be between {low} and {high}, got {value}"
    if low is not None and value < low:
        bound = "at least 1" if low == 1 else f"{low} or more"
        return f"{flag(name)} must be {bound}, got {value}"
    if above is not None and not value > above:
        return f"{flag(name)} must be {'positive' if above == 0 else f'above {above}'}, got {value}"
    return None


def form_fields() -> list[dict[str, Any]]:
    """The settings as a form needs them: name, label, type, default, choices, range, help."""
    return [
        {
            "name": f.name,
            "flag": flag(f.name),
            "label": f.metadata["label"],
            "type": f.metadata["kind"].__name__,
            "default": f.default,
            "choices": list(f.metadata["choices"]) if f.metadata["choices"] else None,
            "low": f.metadata["low"],
            "high": f.metadata["high"],
            "help": f.metadata["help"],
        }
        for f in FIELDS
    ]
