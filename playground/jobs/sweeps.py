"""Sweeps from the app: start `python -m playground.training.sweep` as a detached background
process (its own session, lower priority, output in the sweep folder's log.txt, launch.json
written first, as `process._spawn` does for runs), stop it (SIGTERM: the sweep stops its
trials, which save checkpoints) and resume it (`--resume`). One training at a time: a sweep
does not start while a run trains, and a run does not start while a sweep does
(`process._refuse_if_busy`). On a Space one sweep is bounded (`sweep_limits`).

What a sweep decides lives in its folder (sweep.json, written by the sweep process); `read`
resolves its state against its process, as `runs.read_run` does for a run.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.catalogue import PRESETS
from pipelines.spec import PipelineSpec, preset
from playground import budget, owners, runs
from playground.jobs import checks
from playground.jobs.control import _escalate
from playground.jobs.errors import JobError
from playground.jobs.limits import _within_limits, _within_memory, server_limits
from playground.jobs.process import Settings, _refuse_if_busy, _root_lock, _spawn, flags
from playground.jobs.start import validated
from playground.training import settings as run_settings
from playground.training.sweep.__main__ import PER_TRIAL  # the flags it sets per trial
from playground.training.sweep.candidates import CandidateError, make_candidates

SWEEP_MODULE = "playground.training.sweep"
CURRENT = "the current pipeline"  # the candidate that is the Augment tab's pipeline
CURRENT_FILE = "current-pipeline.json"  # where it is written, in the sweep folder
STOP_GRACE_S = 60.0  # the sweep stops its trial, which saves a checkpoint first
LIVE = ("starting", "running")
ENDED = ("finished", "stopped", "failed")


@dataclass(frozen=True)
class SweepLimits:
    """What one sweep may ask for on this server: its budget and its candidates (no
    augmentation not counted). On a Space bounded by default; elsewhere only if set."""

    max_minutes: float | None
    max_candidates: int | None

    ENV = {
        "max_minutes": "PLAYGROUND_MAX_SWEEP_MINUTES",
        "max_candidates": "PLAYGROUND_MAX_SWEEP_CANDIDATES",
    }
    SPACE_DEFAULTS = {"max_minutes": 60.0, "max_candidates": 6}


def sweep_limits() -> SweepLimits:
    """PLAYGROUND_MAX_SWEEP_* (0 = none), else a Space's defaults, else none."""
    values: dict[str, Any] = {}
    for key, env in SweepLimits.ENV.items():
        raw = os.environ.get(env, "").strip()
        try:
            value = (
                float(raw) if raw else (SweepLimits.SPACE_DEFAULTS[key] if budget.on_space() else 0)
            )
        except ValueError:
            raise JobError(f"{env}={raw!r} is not a number (the server's settings)") from None
        values[key] = (value if key == "max_minutes" else int(value)) if value > 0 else None
    return SweepLimits(**values)


def limits_text() -> str:
    """The server's bounds on a sweep in words ("" where there are none)."""
    limits = sweep_limits()
    parts = []
    if limits.max_minutes:
        parts.append(f"at most {limits.max_minutes:,.0f} minutes")
    if limits.max_candidates:
        parts.append(f"at most {limits.max_candidates} candidates besides no augmentation")
    return f"This server allows one sweep {' and '.join(parts)}." if parts else ""


# ---- reading a sweep folder ---------------------------------------------------------------


def sweep_folder(name: Any, root: Path | None = None) -> Path | None:
    """The sweep folder called `name` under the root (a bare folder name only)."""
    if not isinstance(name, str) or not runs._bare(name):
        return None
    root = runs.checkpoints_root() if root is None else root
    path = root / name
    return path if runs.is_sweep_folder(path) else None


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def read(folder: Path) -> dict[str, Any]:
    """{name, path, state, message, owner, live, data (sweep.json or None)}; the state from
    sweep.json and whether its process still runs: a dead process with a live state was
    interrupted (resume continues it)."""
    folder = Path(folder)
    data = runs.read_json(folder / runs.SWEEP_JSON)
    launch = runs.read_json(folder / "launch.json") or {}
    live = runs.sweep_live(folder)
    said = str((data or {}).get("state") or "")
    message = str((data or {}).get("message") or "")
    # what a live process said since it started (a resumed one still reads "stopped" at first)
    now_said = said in ENDED and _number((data or {}).get("updated")) >= _number(
        launch.get("started")
    )
    if live and now_said:  # its process is ending
        state = said
    elif live and (folder / "stop.json").exists():
        state, message = "stopping", "stopping: its trial writes a checkpoint first"
    elif live:
        state = said if said in LIVE else "starting"
        if launch.get("pid") is None or said not in LIVE:
            message = message or f"{launch.get('action') or 'start'}: starting the sweep process"
    elif said in ENDED:
        state = said
    elif data is not None:
        state = runs.INTERRUPTED
        if (folder / "stop.json").exists():
            state, message = "stopped", "stopped before it could save its state; resume it"
        else:
            message = runs.error_line(folder) or (
                "the sweep process ended without finishing (killed, or the app's machine "
                "restarted); resume continues where it was"
            )
    else:
        state = "failed"
        message = runs.error_line(folder) or "the sweep process exited before it started"
    return {
        "name": folder.name,
        "path": folder,
        "state": state,
        "message": runs.shown(message),
        "owner": launch.get("owner"),
        "live": live,
        "data": data,
    }


def list_sweeps(root: Path | None = None) -> list[dict[str, Any]]:
    return [read(p) for p in runs.sweep_folders(root)]


def log_tail(folder: Path, lines: int = 20) -> str:
    return runs.log_tail(folder, lines)


# ---- start, stop, resume ------------------------------------------------------------------


def _new_folder(root: Path) -> Path:
    base = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-sweep"
    path, n = root / base, 1
    while path.exists():
        n += 1
        path = root / f"{base}-{n}"
    path.mkdir(parents=True)
    return path


def trial_settings(settings: Settings) -> Settings:
    """The form's settings less what the sweep sets per trial (epochs, the seeds)."""
    return replace(settings, **{n: run_settings.by_name(n).default for n in PER_TRIAL})


def candidate_sources(chosen: list[str], current: Path | None) -> list[str]:
    """The sweep command's --candidates: presets by name, the current pipeline by its file."""
    out = []
    for choice in chosen:
        if choice == CURRENT:
            if current is None:
                raise JobError("no current pipeline to sweep")
            out.append(str(current))
        elif choice in PRESETS:
            out.append(choice)
        else:
            raise JobError(f"{choice!r} is not a candidate: pick presets or {CURRENT!r}")
    return out


def sweep_command(
    folder: Path,
    settings: Settings,
    sources: list[str],
    ladder: str,
    base: Path | None,
    budget_minutes: float,
    seeds: int,
) -> list[str]:
    cmd = [sys.executable, "-m", SWEEP_MODULE]
    if sources:
        cmd += ["--candidates", *sources]
    if ladder:
        cmd += ["--ladder", ladder, "--ladder-base", str(base)]
    cmd += ["--budget-minutes", f"{budget_minutes:g}", run_settings.SEEDS.flag, str(seeds)]
    if settings.seed:  # the form's seed: the sweep's first
        cmd += ["--first-seed", str(settings.seed)]
    cmd += [*flags(trial_settings(settings)), "--out", str(folder)]
    return cmd


def count_candidates(sources: list[str], ladder: str, base: Path | None) -> int:
    """Candidates besides no augmentation (a CandidateError says what is wrong with them)."""
    ladders = [ladder] if ladder else []
    return len(make_candidates(sources, ladders, str(base) if base else None)) - 1


def _checked_request(chosen: Any, ladder: Any, budget_minutes: Any, seeds: Any) -> tuple:
    chosen = [c for c in (chosen or []) if c]
    ladder = str(ladder or "").strip()
    if not chosen and not ladder:
        raise JobError("pick at least one candidate (or write a strength ladder)")
    try:
        minutes = float(budget_minutes)
    except (TypeError, ValueError):
        raise JobError(f"the budget must be a number of minutes, got {budget_minutes!r}") from None
    if not minutes > 0:
        raise JobError("the budget must be more than 0 minutes")
    low, high = int(run_settings.SEEDS.low), int(run_settings.SEEDS.high)
    if not isinstance(seeds, (int, float)) or seeds != int(seeds) or not low <= seeds <= high:
        raise JobError(f"seeds must be a whole number from {low} to {high}, got {seeds!r}")
    limits = sweep_limits()
    if limits.max_minutes and minutes > limits.max_minutes:
        raise JobError(
            f"this server allows one sweep at most {limits.max_minutes:,.0f} minutes; "
            f"set the budget to {limits.max_minutes:,.0f} or less"
        )
    return chosen, ladder, minutes, int(seeds)


def start(
    settings: Settings,
    spec: PipelineSpec | None,
    owner: str,
    chosen: list[str],
    ladder: str,
    budget_minutes: float,
    seeds: int,
    root: Path | None = None,
) -> Path:
    """Start a sweep of the chosen candidates (presets, CURRENT) and a strength ladder of the
    current pipeline, with the form's settings; its folder. Refused, with the reason, while
    anything trains, over this server's limits, or when the settings or data do not check."""
    root = runs.checkpoints_root() if root is None else root
    chosen, ladder, minutes, seeds = _checked_request(chosen, ladder, budget_minutes, seeds)
    needs_current = CURRENT in chosen or bool(ladder)
    current_spec = validated(spec) if needs_current else None
    limits = sweep_limits()
    with _root_lock(root):
        _refuse_if_busy(root)
        folder = _new_folder(root)
        try:
            current = None
            if current_spec is not None:
                current = folder / CURRENT_FILE
                runs.write_text(current, current_spec.to_json())
            sources = candidate_sources(chosen, current)
            try:
                n = count_candidates(sources, ladder, current)
            except CandidateError as err:
                raise JobError(str(err)) from None
            if limits.max_candidates and n > limits.max_candidates:
                raise JobError(
                    f"this server allows one sweep at most {limits.max_candidates} candidates "
                    f"besides no augmentation, and these are {n}: pick fewer"
                )
            probe = current or folder / "check-pipeline.json"
            if current is None:  # the settings are checked with the first preset chosen
                runs.write_text(probe, preset(chosen[0]).to_json())
            cfg = checks.check(trial_settings(settings), probe)
            if current is None:
                probe.unlink()
            _within_limits(cfg, server_limits())
            _within_memory(cfg, 1)
            problem = checks.data_problem(cfg)
            if problem:
                raise JobError(problem)
            cmd = sweep_command(folder, settings, sources, ladder, current, minutes, seeds)
            _spawn(folder, cmd, owners.owner_id(owner), folder.name, "start", None, kind="sweep")
        except (JobError, OSError) as err:
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(err, OSError):
                raise JobError(
                    f"could not write the sweep's folder ({err.strerror or err})"
                ) from None
            raise
    return folder


def _to_control(name: Any, owner: str | None, root: Path | None, action: str) -> dict[str, Any]:
    folder = sweep_folder(name, root)
    if folder is None:
        raise JobError(f"no sweep called {name!r}")
    sweep = read(folder)
    if not owners.may_control(sweep["owner"], owner):
        raise JobError(
            f"{folder.name} was started by another session; only that session can {action}."
        )
    return sweep


def stop(
    name: Any, owner: str | None, root: Path | None = None, grace_s: float = STOP_GRACE_S
) -> str:
    """SIGTERM the sweep process: it stops its running trial (which saves a checkpoint) and
    records "stopped"; the whole process group is killed only if it has not ended in time."""
    sweep = _to_control(name, owner, root, "stop it (everyone can watch it)")
    if not sweep["live"]:
        raise JobError(f"{sweep['name']} is not running ({sweep['state']})")
    folder = sweep["path"]
    runs.write_json(folder / "stop.json", {"requested": time.time()})
    launch = runs.read_json(folder / "launch.json") or {}
    pid = launch.get("pid")
    if isinstance(pid, int):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        threading.Thread(
            target=_escalate, args=(pid, pid, grace_s), daemon=True, name=f"stop-sweep-{pid}"
        ).start()
    return (
        f"Stopping the sweep {sweep['name']}: its trial writes a checkpoint and it stops within "
        "a few seconds; Resume continues where it was."
    )


def resume(name: Any, owner: str | None, root: Path | None = None) -> Path:
    """Continue a stopped, interrupted or failed sweep where it was (`--resume`)."""
    root = runs.checkpoints_root() if root is None else root
    sweep = _to_control(name, owner, root, "resume it")
    if sweep["live"]:
        raise JobError(f"{sweep['name']} is {sweep['state']} already")
    if sweep["state"] == "finished":
        raise JobError(f"{sweep['name']} has finished; start a new sweep")
    if sweep["data"] is None:
        raise JobError(f"{sweep['name']} never started (no sweep.json): start a new sweep")
    folder = sweep["path"]
    with _root_lock(root):
        if runs.sweep_live(folder):
            raise JobError(f"{sweep['name']} is being resumed already")
        _refuse_if_busy(root)
        (folder / "stop.json").unlink(missing_ok=True)
        cmd = [sys.executable, "-m", SWEEP_MODULE, "--resume", str(folder)]
        owner_id = sweep["owner"] or owners.owner_id(owner or "")
        _spawn(folder, cmd, owner_id, folder.name, "resume", None, kind="sweep")
    return folder
