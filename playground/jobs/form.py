"""The Train tab's raw values as checked run settings: each against its declaration and this
server's limits, the data set's kind and folder."""

from __future__ import annotations

import re
from typing import Any

from playground.jobs.checks import _check_folder
from playground.jobs.errors import JobError
from playground.jobs.limits import setting_highs
from playground.jobs.process import Settings
from playground.training import datasets
from playground.training import settings as run_settings
from playground.training.archive import ArchiveError

DATASETS = tuple(run_settings.DATASET_KINDS)  # folder and upload: with a path or name


def _who(declared: run_settings.Declared) -> str:
    """A setting as the form names it, for messages: "batch size", not "--batch-size"."""
    return re.sub(r"\s*\(.*\)$", "", declared.label or declared.name).lower()


def _check_upload(name: str) -> str:
    """The name of a kept upload (playground.training.datasets), or a JobError saying why not."""
    if not name:
        raise JobError("choose an uploaded data set (or upload a .zip)")
    try:
        datasets.read_manifest(datasets.default_root(), name)
    except ArchiveError as err:
        raise JobError(str(err)) from None
    return name


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    """A whole number from a form box, or a JobError naming the box."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise JobError(f"{name} must be a whole number, got {value!r}") from None
    if number != number or number != int(number):
        raise JobError(f"{name} must be a whole number, got {value!r}")
    if not low <= number <= high:
        raise JobError(f"{name} must be between {low} and {high}, got {int(number)}")
    return int(number)


def make_settings(values: dict[str, Any]) -> Settings:
    """Settings from the Train tab's raw values, by name (the form's fields, `folder` for the
    folder data set, `upload` for an uploaded one's name), checked against their declarations
    and this server's limits. A 0 or an empty box in a setting the training command resolves
    by itself means "auto"."""
    values = dict(values)
    default = run_settings.by_name("dataset").default
    dataset = str(values.pop("dataset", default) or default)
    folder = str(values.pop("folder", "") or "").strip()
    upload = str(values.pop("upload", "") or "").strip()
    if dataset.lower().startswith(f"{run_settings.UPLOAD_KIND}:"):  # as the command says it
        dataset, upload = dataset.split(":", 1)
    dataset = dataset.lower()
    words = {word.lower(): kind for kind, word in run_settings.DATASET_KINDS.items()}
    dataset = words.get(dataset, dataset)  # the form's word for it ("CIFAR-10") will do
    if dataset not in DATASETS:
        choose = ", ".join(run_settings.DATASET_KINDS.values())
        raise JobError(f"unknown data set {dataset!r} (choose {choose})")
    if dataset == run_settings.FOLDER_KIND:
        if not folder:
            raise JobError("give the path of the image folder (it must hold train/ and test/)")
        # absolute: the trainer runs elsewhere
        dataset = f"{run_settings.FOLDER_KIND}:{_check_folder(folder)}"
    if dataset == run_settings.UPLOAD_KIND:
        dataset = f"{run_settings.UPLOAD_KIND}:{_check_upload(upload)}"
    checked: dict[str, Any] = {"dataset": dataset}
    limits = setting_highs()
    for name, value in values.items():
        try:
            declared = run_settings.by_name(name)
        except StopIteration:
            raise JobError(f"unknown setting {name!r}") from None
        if declared.default is None and value in (0, "", None):
            continue  # auto
        try:
            checked[name] = run_settings.check_form_value(
                declared, value, _who(declared), limits.get(name)
            )
        except run_settings.SettingError as err:
            raise JobError(str(err)) from None
    if checked.get("device") == "cpu":
        checked.pop("nproc", None)  # one process on a CPU unless asked on the command line
    return Settings(**checked)
