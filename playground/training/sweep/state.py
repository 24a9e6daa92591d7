"""The sweep folder: its state (`sweep.json`, written atomically after every step, read by the
app from the folder alone) and its trials (each trial's training flags and run folder, and what
it left there: predictions, metrics, the log's last line).

Folder layout: `sweep.json`, `summary.txt` (the report in words), `candidates/<key>.json` (the
pipelines as entered), `probe/` (a one-epoch run that measured the cost; `probe-2/` when the
plan from it was over the budget and it measured again), and one ordinary run folder per
trial, `r<rung>-<candidate key>-s<seed>`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from playground.runs import read_json
from playground.training import settings
from playground.training.checkpoints import atomic_write_json
from playground.training.sweep.candidates import Candidate
from playground.training.sweep.executors import TRAIN_LOG
from playground.training.sweep.plan import FINALISTS

SWEEP_JSON, SUMMARY_TXT = "sweep.json", "summary.txt"
PROBE = "probe"
PROBE_AGAIN = "probe-2"  # the probe measured again, for a plan over the budget
VALIDATION_SHARE, VALIDATION_MAX = 0.2, 5000  # held out when --validation is not given
AUG_SEED_STRIDE = 1_000_000  # candidate i draws with aug seed = seed + i x this


class SweepError(ValueError):
    """The sweep cannot start or go on; the message says why."""


def load_state(folder: Path) -> dict[str, Any] | None:
    return read_json(Path(folder) / SWEEP_JSON)


def save_state(folder: Path, state: dict[str, Any]) -> None:
    state["updated"] = time.time()
    atomic_write_json(Path(folder) / SWEEP_JSON, state)


def earlier_s(state: dict[str, Any]) -> float:
    """The seconds a sweep took before this session: what its clean end (stopped, failed)
    wrote, else (killed outright: no clean end) the elapsed time of its last save."""
    before = float(state.get("elapsed_before_s") or 0.0)
    if state.get("state") in ("stopped", "failed", "finished"):
        return before
    return max(before, float(state.get("elapsed_s") or 0.0))


def new_state(
    candidates: list[Candidate],
    train_args: list[str],
    seeds: int,
    budget_s: float,
    executor: str,
    finalists: int = FINALISTS,
    first_seed: int = 0,
    first_epochs: int | None = None,
    trials_per_device: int = 1,
) -> dict[str, Any]:
    return {
        "version": 1,
        "created": time.time(),
        "state": "starting",
        "message": "",
        "candidates": [c.to_dict() for c in candidates],
        "train_args": list(train_args),
        "seeds": seeds,
        "first_seed": first_seed,  # seeds first_seed ... first_seed + seeds - 1
        "budget_s": budget_s,  # None with first_epochs: a fixed schedule
        "first_epochs": first_epochs,
        "executor": executor,
        "trials_per_device": trials_per_device,  # local: trials at a time per device (resume)
        "finalists": finalists,
        "elapsed_before_s": 0.0,
        "plan": None,
        "cost": None,
        "rungs": [],
        "report": None,
    }


# ---- what the trials are -------------------------------------------------------------------


def flag(name: str) -> str:
    return settings.by_name(name).flag


def data_facts(train_args: list[str], pipeline: Path) -> dict[str, Any]:
    """The training command's resolved config for these flags (sizes, classes), in-process."""
    from playground.training import cli

    try:
        args = cli.parser().parse_args([*train_args, "--pipeline", str(pipeline)])
        cfg = cli.resolve(args)
    except cli.UsageError as err:
        raise SweepError(f"the training flags: {err}") from None
    return cfg


def validation_size(train_size: int, classes: int) -> int:
    return max(classes, min(VALIDATION_MAX, round(VALIDATION_SHARE * train_size)))


def trial_args(state: dict[str, Any], key: str, seed: int, epochs: int, pipelines: dict) -> list:
    """The training flags of one trial: the sweep's flags, its validation split, the rung's
    epochs, the seed (the same initial weights and data order for every candidate of a seed)
    and the candidate's own augmentation draws."""
    index = [c["key"] for c in state["candidates"]].index(key)
    args = ["--pipeline", str(pipelines[key]), *state["train_args"]]
    args += [flag("validation"), str(state["validation"])]
    args += [flag("split_seed"), str(state["split_seed"])]
    args += [flag("epochs"), str(epochs), flag("seed"), str(seed)]
    if index == 0:
        args.append(flag("no_augment"))
    else:
        args += [flag("aug_seed"), str(seed + index * AUG_SEED_STRIDE)]
    return args


def trial_folder(folder: Path, rung: int, key: str, seed: int) -> Path:
    return folder / f"r{rung}-{key}-s{seed}"


def _right(run: Path, name: str = "predictions.npz") -> tuple[np.ndarray, np.ndarray]:
    with np.load(run / name) as saved:
        return saved["pred"] == saved["label"], saved["label"].astype(np.int64)


def _summary(run: Path) -> dict[str, Any]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if '"summary"' in line]
    return records[-1] if records else {}


def _log_tail(run: Path) -> str:
    try:
        lines = (run / TRAIN_LOG).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    errors = [line for line in lines if line.startswith("error")]
    return (errors or lines or ["no output"])[-1][:300]


def _without(args: list[str], name: str) -> list[str]:
    """`args` without the flag `name` and its value (either spelling)."""
    spelt, out, skip = flag(name), [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == spelt:
            skip = True
            continue
        if a.startswith(spelt + "="):
            continue
        out.append(a)
    return out
