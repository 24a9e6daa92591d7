"""What the Train tab remembers in a browser (its localStorage): the form's values and the
view's, by name, and which of them are still valid on this server."""

from __future__ import annotations

from typing import Any

from playground import train_view
from playground.train_form import DATASET_CHOICES, FORM_KEYS, device_choices
from playground.training import datasets
from playground.training import settings as run_settings

PREFS_KEY = "augplay-train-settings"
PREFS_VERSION = 1
VIEW_PREFS = ("baseline", "watched", "overlay", "smoothing")  # after the form's fields
MISSING = object()  # a remembered value that is missing or no longer valid here


def save(*values: Any) -> dict[str, Any]:
    """The form's values (FORM_KEYS), the baseline box, the watched and overlaid runs and the
    smoothing, by name."""
    return {"version": PREFS_VERSION, **dict(zip([*FORM_KEYS, *VIEW_PREFS], values, strict=True))}


def restore(prefs: dict[str, Any] | None) -> list[Any]:
    """The remembered values, in save's order; MISSING for what is missing or no longer valid
    here (a choice this server does not offer, a setting out of its range)."""
    prefs = prefs if isinstance(prefs, dict) and prefs.get("version") == PREFS_VERSION else {}
    out: list[Any] = []
    for key in FORM_KEYS:
        value = prefs.get(key)
        out.append(value if key in prefs and valid(key, value) else MISSING)
    kinds = {"baseline": bool, "watched": str, "overlay": list, "smoothing": (int, float)}
    for key in VIEW_PREFS:
        value = prefs.get(key)
        out.append(value if isinstance(value, kinds[key]) else MISSING)
    return out


def valid(key: str, value: Any) -> bool:
    if key == "folder":
        return isinstance(value, str)
    if key == "upload":  # a data set deleted since is not offered any more
        kept = {d["name"] for d in datasets.list_datasets(datasets.default_root())}
        return value == "" or value in kept
    if key == "dataset":
        return value in [v for _, v in DATASET_CHOICES]
    declared = run_settings.by_name(key)
    if key == "device":
        info = train_view.detect_devices()
        return value in device_choices(info)
    if declared.auto and value in (0, None):
        return True
    try:
        run_settings.check_form_value(declared, value, key)
    except run_settings.SettingError:
        return False
    return True
