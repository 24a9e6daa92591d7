"""The runs list: one row per run, the run pickers' choices, and what Delete asks."""

from __future__ import annotations

import html
import time

import pandas as pd

from playground import runs
from playground.runs import Run
from playground.train_view.labels import (
    augment_label,
    data_label,
    display_name,
    fmt_time,
    is_baseline,
)
from playground.train_view.report import effect_label
from playground.train_view.status import run_message

# "run" is the folder's name, what a row click selects; "name" what a person called it
RUN_COLUMNS = [
    "name",
    "state",
    "data",
    "augment",
    "epochs",
    "final test acc",
    "best test acc",
    "effect of augmentation",
    "duration",
    "started",
    "note",
    "run",
]


def delete_question(run: Run, all_runs: list[Run]) -> str:
    """What Delete asks: which run goes, with what, and, for one half of a run and its
    baseline, that the pair's comparison (the effect of augmentation) goes with it."""
    name = display_name(run)
    shown = html.escape(name)  # a person's text, never HTML
    which = f"**{shown}**" + (f" ({html.escape(run.name)})" if name != run.name else "")
    text = f"Delete {which} with its curves, log and checkpoints? It cannot be undone."
    pair = [r for r in all_runs if r.job == run.job and r.name != run.name]
    if pair and is_baseline(run) != all(is_baseline(r) for r in pair):
        other = ", ".join(
            f"**{html.escape(display_name(r))}**"
            for r in pair
            if is_baseline(r) != is_baseline(run)
        )
        role = "It is the baseline of" if is_baseline(run) else "Its baseline is"
        text += (
            f" {role} {other}: the comparison of the two (the effect of augmentation) goes with it."
        )
    return text


def runs_table(all_runs: list[Run]) -> pd.DataFrame:
    """One row per run: its name, what it trained on and with, how far, how well, how long."""
    rows = []
    jobs_of: dict[str, list[Run]] = {}
    for run in all_runs:
        jobs_of.setdefault(run.job, []).append(run)
    for run in all_runs:
        records = runs.read_metrics(run.path)
        best, final = runs.best_test_acc(records), runs.final_test_acc(records)
        epoch, epochs = (
            run.status.get("epoch"),
            run.status.get("epochs") or run.config.get("epochs"),
        )
        progress = (
            f"{epoch:.2f} / {epochs}" if isinstance(epoch, (int, float)) else f"0 / {epochs or '?'}"
        )
        if run.state == "finished" and isinstance(epoch, (int, float)):
            progress = f"{epoch:.0f} / {epochs}"
        notes = runs.read_notes(run.path)
        note = notes["note"]
        if run.state in ("failed", "diverged", runs.INTERRUPTED):
            note = "\n".join(t for t in (note, run_message(run)) if t)
        rows.append(
            [
                display_name(run),  # the name given, else the folder's (also in "run")
                run.state,
                data_label(run),
                augment_label(run, all_runs),
                progress,
                f"{final:.1%}" if final is not None else "-",
                f"{best:.1%}" if best is not None else "-",
                effect_label(jobs_of[run.job]),
                fmt_time(run.status.get("elapsed_s")),
                time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)),
                note,
                run.name,
            ]
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def run_choices(all_runs: list[Run]) -> list[tuple[str, str]]:
    """(label, folder name) for the run pickers: the name a person gave, and the folder's."""
    choices = []
    for run in all_runs:
        name = runs.read_notes(run.path)["name"]
        choices.append((f"{name} ({run.name})" if name else run.name, run.name))
    return choices
