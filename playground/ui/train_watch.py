"""The Train tab's Watch and Runs sections: what they show, read from the run folders on each
tick of the timer (sent only when it changed), two runs compared, a row of the runs list picked."""

from __future__ import annotations

import os
from typing import Any

import gradio as gr
import pandas as pd

from playground import jobs, owners, runs, train_view
from playground.runs import Run

SMOOTHING = 0.6  # the training loss's default smoothing (an exponential moving average)


def view(
    watched: str | None,
    overlay: list[str] | None,
    owner: str,
    all_runs: list[Run] | None = None,
    smoothing: float | None = SMOOTHING,
    asked_watch: Any = "",
) -> list[Any]:
    """Everything the Watch and Runs sections show, read from the run folders. `asked_watch`:
    the watched run the page asked for, when the caller already resolved `watched` (poll)."""
    all_runs = runs.list_runs() if all_runs is None else all_runs
    names = [r.name for r in all_runs]
    choices = train_view.run_choices(all_runs)
    asked_watch = watched if asked_watch == "" else asked_watch
    asked_overlay = list(overlay or [])
    if watched not in names:
        watched = train_view.default_watch(all_runs)
    overlay = [n for n in asked_overlay if n in names and n != watched]
    run = next((r for r in all_runs if r.name == watched), None)
    records = runs.read_metrics(run.path) if run else []
    points = sum(1 for r in records if r.get("type") == "train")
    loss, acc = train_view.curves(([watched] if watched else []) + overlay, smoothing or 0.0)
    busy = any(r.live for r in all_runs)
    mine = run is not None and not run.sweep and jobs.may_control(run, owner)  # a trial: its sweep
    job = [r for r in all_runs if run is not None and r.job == run.job]
    notes = runs.read_notes(run.path) if run else {"name": "", "note": ""}
    csv = runs.metrics_csv(run) if run else None
    best = runs.download_copy(run, "best.pt") if run else None
    pipeline = runs.download_copy(run, "pipeline.json") if run else None
    log = runs.log_tail(run.path) if run else ""
    return [
        train_view.status_html(run, points, job),
        loss,
        acc,
        train_view.runs_table(all_runs),
        _picker(choices, watched, asked_watch),
        _picker(choices, overlay, asked_overlay),
        log,
        gr.update(interactive=bool(run and run.live and mine)),
        gr.update(interactive=bool(run and run.resumable and mine and not busy)),
        gr.update(interactive=bool(run and not run.live and mine)),
        gr.update(value=notes["name"], interactive=mine),
        gr.update(value=notes["note"], interactive=mine),
        gr.update(choices=choices),
        gr.update(choices=choices),
        train_view.experiment_report(job),
        gr.update(value=csv, interactive=csv is not None),
        gr.update(value=best, interactive=best is not None),
        gr.update(value=pipeline, interactive=pipeline is not None),
    ]


def _picker(choices: list, value: Any, asked: Any) -> Any:
    """A run picker's update: its choices, and its value only where the runs changed it (a run
    gone, the watched one no longer overlaid). A tick's answer can arrive after a newer one
    (Start's, a click's) that set the picker: sending back the value the tick was asked with
    would undo it (seen under load: Start's overlaid baseline vanished)."""
    if value == asked:
        return gr.update(choices=choices)
    return gr.update(choices=choices, value=value)


# status, 2 plots, runs table, watched, overlay, log, stop, resume, delete, name, note,
# 2 compare pickers, the paired experiment's report, 3 downloads (the last three:
# metrics.csv, best.pt, pipeline.json)
VIEW_OUTPUTS = 18
NOTES = slice(10, 12)  # the name and note boxes: sent when the watched run changes only
DOWNLOADS = 3


REDRAWS = 2  # colour-only redraws after the set of curves changes (see poll)


def _recolour(series: list[str], redrawn: int, roles: dict[str, bool] | None) -> dict[str, str]:
    """train_view.color_map of `series`, told apart from the previous redraw's map by a key no
    series has: gr.LinePlot redraws only when its color_map changes."""
    colors = train_view.color_map(series, roles)
    return colors | {"": "#000000"} if redrawn % 2 else colors


def poll(
    watched: str | None,
    overlay: list[str] | None,
    smoothing: float | None,
    seen: dict[str, Any] | None,
    owner: str | None,
    request: gr.Request | None = None,
) -> list[Any]:
    """The timer's tick: read the run folders; send nothing when nothing changed.

    `seen` (per page) remembers what was sent. gr.LinePlot builds its colour scale and legend
    only when a setting such as color_map changes, and then from the data it already holds
    (a color_map sent with new data is applied before that data): so a series that appears
    later (test accuracy after the first epoch, an overlaid run) is drawn by a tick that sends
    only a color_map, after the tick that sent the data. That redraw is sent REDRAWS times,
    each after a data update and each with a map the plot has not seen (`_recolour`), so a
    redraw lost or overtaken in a busy browser is made good by the next. The name and note
    boxes are filled when the watched run changes, never under a person typing.
    """
    seen = dict(seen or {})
    me = owners.requester(owner, request)
    smoothing = SMOOTHING if smoothing is None else smoothing
    all_runs = runs.list_runs()
    asked = watched
    if watched not in {r.name for r in all_runs}:
        watched = train_view.default_watch(all_runs)
    sig = train_view.view_signature(all_runs, watched, overlay or [], me) + f"|{smoothing}"
    if seen.get("redraws") and seen.get("data_sent"):
        seen["redraws"] -= 1
        seen["redrawn"] = redrawn = seen.get("redrawn", 0) + 1
        seen["data_sent"], seen["sig"] = False, None  # the data again next tick
        roles = seen.get("roles")
        plots = [gr.update(color_map=_recolour(s, redrawn, roles)) for s in seen["series"]]
        return [gr.skip(), *plots, *[gr.skip()] * (VIEW_OUTPUTS - 3), seen]
    if sig == seen.get("sig"):
        return [gr.skip()] * VIEW_OUTPUTS + [seen]
    out = view(watched, overlay, me, all_runs, smoothing, asked_watch=asked)
    series = [sorted(set(frame["series"])) for frame in out[1:3]]
    if series != seen.get("series") and any(series):
        seen["redraws"] = REDRAWS
    seen["series"], seen["data_sent"], seen["sig"] = series, True, sig
    shown = ([watched] if watched else []) + [
        n for n in overlay or [] if n != watched and n in {r.name for r in all_runs}
    ]
    seen["roles"] = train_view.curve_roles(shown)
    if seen.get("notes_for") == (watched, me):
        out[NOTES] = [gr.skip(), gr.skip()]
    seen["notes_for"] = (watched, me)
    # Gradio copies a file it is given into its cache (hashing it): only when it changed
    files = repr([_file_key(update.get("value")) for update in out[-DOWNLOADS:]])
    if files == seen.get("files"):
        out[-DOWNLOADS:] = [gr.skip()] * DOWNLOADS
    seen["files"] = files
    return [*out, seen]


def _file_key(path: str | None) -> tuple[str, float] | None:
    try:
        return (path, os.stat(path).st_mtime) if path else None
    except OSError:
        return None


def on_compare(
    a: str | None, b: str | None, smoothing: float | None = SMOOTHING
) -> tuple[Any, ...]:
    """Two runs side by side: their settings (differences marked) and their curves on the
    same axes."""
    run_a, run_b, loss, acc = _compared(a, b, smoothing)
    return train_view.compare_html(run_a, run_b), loss, acc


def _compared(a: str | None, b: str | None, smoothing: float | None) -> tuple[Any, ...]:
    """The two runs (None where there is none) and their curves on the same axes."""
    pair = [runs.find_run(n) if n else None for n in (a, b)]
    names = [r.name for r in pair if r is not None]
    return (*pair, *train_view.curves(names, SMOOTHING if smoothing is None else smoothing))


def compare_colours(
    a: str | None, b: str | None, smoothing: float | None = SMOOTHING
) -> tuple[Any, Any]:
    """Compare's second step: the curves' colours, sent after their data. gr.LinePlot builds
    its legend from the data it already holds when its color_map changes, and applies a
    color_map sent with new data before that data (see poll)."""
    run_a, run_b, loss, acc = _compared(a, b, smoothing)
    roles = train_view.curve_roles([r.name for r in (run_a, run_b) if r is not None])
    return tuple(
        gr.update(color_map=train_view.color_map(sorted(set(f["series"])), roles))
        for f in (loss, acc)
    )


def on_select_row(table: pd.DataFrame, evt: gr.SelectData) -> Any:
    """Clicking a row of the runs list watches that run."""
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    try:
        return table.iloc[int(row)]["run"]
    except (IndexError, KeyError, ValueError, TypeError):
        return gr.skip()
