"""The Train tab's settings form as plain values: its fields in order, their defaults (what an
API client passes to train_start / train_check), the quick CPU run, the device choices."""

from __future__ import annotations

import json
from typing import Any

from playground import jobs
from playground.training import settings as run_settings

DATASET_CHOICES = [(word, kind) for kind, word in run_settings.DATASET_KINDS.items()]
# A quick CPU run: a subset, a narrow ResNet-18 and five epochs finish in a few minutes; the
# batch size and learning rate are fitted to the data by the training command (0 = auto).
QUICK_CPU = {"subset": 10000, "epochs": 5, "width": 16, "batch_size": 0, "device": "cpu"}
# The form: the declared settings that have a label (playground.training.settings), then the
# folder path and the uploaded data set's name, which belong to the data set choice. Callbacks
# take the values in this order.
FORM = run_settings.form_fields()
FORM_KEYS = [d.name for d in FORM] + ["folder", "upload"]
# under "More settings": the model is chosen there too (ResNet-18 at CIFAR-10's size unless
# asked; a torchvision model trains at its weights' size, 224, which a CPU feels)
MORE_SETTINGS = ("subset", "lr", "width", "model", "weights", "finetune", "seed")


def form_defaults(**changes: Any) -> list[Any]:
    """The form's initial values in FORM_KEYS order (0 for "auto"), with `changes` applied:
    what an API client passes to train_start / train_check."""
    values = {d.name: 0 if d.default is None else d.default for d in FORM}
    values |= {"folder": "", "upload": ""}
    values["nproc"] = run_settings.by_name("nproc").low  # one process: the declared least
    unknown = set(changes) - set(values)
    if unknown:
        raise KeyError(f"not settings of the form: {sorted(unknown)}")
    return list((values | changes).values())


def form_values(values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(FORM_KEYS, values, strict=True))


def settings_from(values: tuple[Any, ...]) -> jobs.Settings:
    return jobs.make_settings(form_values(values))


def settings_key(*values: Any) -> str:
    return json.dumps([str(v) for v in values])


def device_choices(info: dict[str, Any]) -> list[str]:
    """On ZeroGPU a GPU exists only inside a call: runs use the CPU."""
    gpu = info["gpus"] and not info["zero_gpu"]
    return ["cpu"] if info["zero_gpu"] else ["auto", "cpu"] + (["cuda"] if gpu else [])
