"""The curves: loss and accuracy per run as long-form tables for a line plot, the legend's
labels, a series of one point made visible, and one colour pair per run (baselines apart)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from playground import runs
from playground.train_view.labels import is_baseline

PLOT_COLUMNS = ["epoch", "value", "series"]


def curves(names: list[str], smoothing: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loss, accuracy) long-form tables for gr.LinePlot: one series per run and metric.

    `smoothing` (0 to 0.99) is an exponential moving average over the training loss, which is
    logged per interval and noisy; the test points (one per epoch) are drawn as they are."""
    loss_rows, acc_rows = [], []
    labels = short_labels(names)
    smoothing = min(max(float(smoothing or 0.0), 0.0), 0.99)
    for name in names:
        run = runs.find_run(name)
        if run is None:
            continue
        prefix = f"{labels[name]} · " if len(names) > 1 else ""
        average = None
        for r in runs.read_metrics(run.path):
            kind, epoch = r.get("type"), r.get("epoch")
            if not isinstance(epoch, (int, float)):
                continue
            if kind == "train":
                loss = r.get("train_loss")
                if isinstance(loss, (int, float)) and math.isfinite(loss):
                    average = (
                        loss if average is None else smoothing * average + (1 - smoothing) * loss
                    )
                    loss = average
                loss_rows.append([epoch, loss, f"{prefix}train loss"])
                acc_rows.append([epoch, r.get("train_acc"), f"{prefix}train acc"])
            elif kind == "eval":
                loss_rows.append([epoch, r.get("test_loss"), f"{prefix}test loss"])
                acc_rows.append([epoch, r.get("test_acc"), f"{prefix}test acc"])
    return plot_frame(loss_rows), plot_frame(acc_rows)


LEGEND_CHARS = 20  # a run's label in a legend: four curves must fit beside a half-width plot


def short_labels(names: list[str]) -> dict[str, str]:
    """A run's label in the legend: the name a person gave it, else its folder's name without
    the date ("20261122-"), cut to LEGEND_CHARS, unless that is ambiguous among those shown."""
    full = {}
    for n in names:
        run = runs.find_run(n)
        given = runs.read_notes(run.path)["name"] if run else ""
        full[n] = given or (n[9:] if len(n) > 9 and n[:8].isdigit() and n[8] == "-" else n)
    for cut in (LEGEND_CHARS, None):
        short = {n: _cut(label, cut) for n, label in full.items()}
        if len(set(short.values())) == len(short):
            return short
    return {n: n for n in names}


def _cut(text: str, most: int | None) -> str:
    """Cut in the middle: the end ("-noaug", "v2") tells runs apart as often as the start."""
    if most is None or len(text) <= most:
        return text
    return text[: most - 7] + "…" + text[-6:]


def plot_frame(rows: list[list[Any]]) -> pd.DataFrame:
    """Numeric x and y, even when empty: the plot's axes take their type from the first value."""
    frame = pd.DataFrame(rows, columns=PLOT_COLUMNS)
    frame["epoch"] = pd.to_numeric(frame["epoch"], errors="coerce").astype(float)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["series"] = frame["series"].astype(str)
    return _mark_lone_points(frame.dropna().reset_index(drop=True))


LONE_POINT_WIDTH = 0.04  # of the x range: the dash that draws a series' only point


def _mark_lone_points(frame: pd.DataFrame) -> pd.DataFrame:
    """A line plot draws nothing for a series of one point (the first evaluation, the only one
    of a 1-epoch run): such a point becomes a short level dash centred on it, so it is seen."""
    counts = frame["series"].value_counts()
    lone = frame["series"].isin(counts[counts == 1].index)
    if not lone.any():
        return frame
    span = max(float(frame["epoch"].max() - min(frame["epoch"].min(), 0.0)), 1.0)
    half = LONE_POINT_WIDTH * span / 2
    left, right = frame[lone].copy(), frame[lone].copy()
    left["epoch"] -= half
    right["epoch"] += half
    return pd.concat([frame[~lone], left, right], ignore_index=True)


# (train, test) shades of one hue per run, so the two curves of a run read as a pair. Runs
# trained with augmentation take PALETTE's hues, baselines (without) BASELINE_PALETTE's: the
# with/without colours are the same in Watch and in Compare, in whatever order runs are picked.
PALETTE = [
    ("#93c5fd", "#1d4ed8"),
    ("#86efac", "#15803d"),
    ("#c4b5fd", "#6d28d9"),
    ("#f9a8d4", "#be185d"),
    ("#d6d3d1", "#57534e"),
]


BASELINE_PALETTE = [("#fdba74", "#c2410c"), ("#fca5a5", "#b91c1c")]


def curve_roles(names: list[str]) -> dict[str, bool]:
    """Each run's label in the curves' series (see curves: none when one run is drawn) ->
    whether it is a baseline, in the order of `names`."""
    labels = short_labels(names)
    roles = {}
    for name in names:
        run = runs.find_run(name)
        if run is not None:
            roles[labels[name] if len(names) > 1 else ""] = is_baseline(run)
    return roles


def color_map(series: list[str], roles: dict[str, bool] | None = None) -> dict[str, str]:
    """A colour per series: one hue per run, light for train and dark for test; a baseline's
    hue from BASELINE_PALETTE (`roles`: a run's label -> baseline, see curve_roles), others
    from PALETTE, each in the order of `roles`, then of the labels."""
    roles = roles or {}
    labels = list(roles) + sorted({s.rpartition(" · ")[0] for s in series} - set(roles))
    hues = {}
    for baseline, palette in ((False, PALETTE), (True, BASELINE_PALETTE)):
        own = [label for label in labels if bool(roles.get(label)) == baseline]
        hues |= {label: palette[i % len(palette)] for i, label in enumerate(own)}
    colors = {}
    for name in series:
        run, _, metric = name.rpartition(" · ")
        train_shade, test_shade = hues[run]
        colors[name] = train_shade if metric.startswith("train") else test_shade
    return colors
