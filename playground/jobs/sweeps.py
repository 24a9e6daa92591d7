"""Sweeps from the app: start `python -m playground.training.sweep` as a detached background
process (its own session, lower priority, output in the sweep folder's log.txt, launch.json
written first, as `process._spawn` does for runs), stop it (SIGTERM: the sweep stops its
trials, which save checkpoints) and resume it (`--resume`). One training at a time: a sweep
does not start while a run trains, and a run does not start while a sweep does
(`process._refuse_if_busy`). On a Space one sweep is bounded (`sweep_limits`: checked here at
start and resume, enforced on live sweeps by the queue worker).

What a sweep decides lives in its folder (sweep.json, written by the sweep process); `read`
resolves its state against its process, as `runs.read_run` does for a run.
"""

from __future__ import annotations

import os
import re
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
from pipelines.spec import PipelineSpec, SpecError, load, preset
from playground import owners, runs
from playground.jobs import checks
from playground.jobs.control import _escalate
from playground.jobs.errors import JobError
from playground.jobs.limits import _within_limits, _within_memory, server_limits
from playground.jobs.process import Settings, _refuse_if_busy, _root_lock, _spawn, flags
from playground.jobs.start import validated
from playground.jobs.sweep_limits import _number, sweep_limits, used_s
from playground.training import settings as run_settings
from playground.training.sweep.__main__ import PER_TRIAL  # the flags it sets per trial
from playground.training.sweep.candidates import CandidateError, make_candidates

SWEEP_MODULE = "playground.training.sweep"
CURRENT = "the current pipeline"  # the candidate that is the Augment tab's pipeline
CURRENT_FILE = "current-pipeline.json"  # where it is written, in the sweep folder
GIVEN = "given"  # the saved pipeline files given as candidates, copied into the sweep folder
MAX_FIRST_EPOCHS = 100  # a fixed schedule's first rung
STOP_GRACE_S = 60.0  # the sweep stops its trial, which saves a checkpoint first
LIVE = ("starting", "running")
ENDED = ("finished", "stopped", "failed")


# ---- reading a sweep folder ---------------------------------------------------------------


def sweep_folder(name: Any, root: Path | None = None) -> Path | None:
    """The sweep folder called `name` under the root (a bare folder name only)."""
    if not isinstance(name, str) or not runs._bare(name):
        return None
    root = runs.checkpoints_root() if root is None else root
    path = root / name
    return path if runs.is_sweep_folder(path) else None


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
        reason = (runs.read_json(folder / "stop.json") or {}).get("reason")
        state, message = "stopping", str(reason or "stopping: its trial writes a checkpoint first")
    elif live:
        state = said if said in LIVE else "starting"
        if launch.get("pid") is None or said not in LIVE:
            message = message or f"{launch.get('action') or 'start'}: starting the sweep process"
    elif said in ENDED:
        state = said
        reason = (runs.read_json(folder / "stop.json") or {}).get("reason")
        if said == "stopped" and reason:  # stopped by the server, not by its owner
            message = str(reason)
    elif data is not None:
        state = runs.INTERRUPTED
        if (folder / "stop.json").exists():
            reason = (runs.read_json(folder / "stop.json") or {}).get("reason")
            state = "stopped"
            message = str(reason or "stopped before it could save its state; resume it")
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
    """A new, empty sweep folder (made atomically: two starts at once get two folders)."""
    base = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-sweep"
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise JobError("could not name a new sweep folder: too many this second")


def trial_settings(settings: Settings) -> Settings:
    """The form's settings less what the sweep sets per trial (epochs, the seeds)."""
    return replace(settings, **{n: run_settings.by_name(n).default for n in PER_TRIAL})


def candidate_sources(chosen: list[str], current: Path | None, given: list[Path] = ()) -> list:
    """The sweep command's --candidates: presets by name, the current pipeline and the saved
    pipeline files (copied into the sweep folder) by their files."""
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
    return out + [str(p) for p in given]


def copy_files(files: list[str], folder: Path) -> list[Path]:
    """Saved pipeline files (uploads) as checked copies in folder/given/, named after the file
    (the candidate's label); a file that is not a valid pipeline is refused, by its name."""
    out: list[Path] = []
    for source in files:
        name = Path(source).name
        try:
            spec = load(source)
        except SpecError as err:
            raise JobError(f"the pipeline file {name}: {err}") from None
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(source).stem).strip("-.")[:40] or "pipeline"
        path, n = folder / GIVEN / f"{stem}.json", 1
        while path in out:
            n += 1
            path = folder / GIVEN / f"{stem}-{n}.json"
        path.parent.mkdir(exist_ok=True)
        runs.write_text(path, spec.to_json())
        out.append(path)
    return out


def sweep_command(
    folder: Path, settings: Settings, sources: list[str], base: Path | None, request: Request
) -> list[str]:
    cmd = [sys.executable, "-m", SWEEP_MODULE]
    if sources:
        cmd += ["--candidates", *sources]
    if request.ladder:
        cmd += ["--ladder", request.ladder, "--ladder-base", str(base)]
    if request.first_epochs:
        cmd += ["--first-epochs", str(request.first_epochs)]
    else:
        cmd += ["--budget-minutes", f"{request.minutes:g}"]
    cmd += [run_settings.SEEDS.flag, str(request.seeds)]
    if settings.seed:  # the form's seed: the sweep's first
        cmd += ["--first-seed", str(settings.seed)]
    cmd += [*flags(trial_settings(settings)), "--out", str(folder)]
    return cmd


def count_candidates(sources: list[str], ladder: str, base: Path | None) -> int:
    """Candidates besides no augmentation (a CandidateError says what is wrong with them)."""
    ladders = [ladder] if ladder else []
    return len(make_candidates(sources, ladders, str(base) if base else None)) - 1


@dataclass(frozen=True)
class Request:
    """What the panel asks for, checked: candidates (CURRENT and presets by name, saved files
    by path, a ladder of the current pipeline), seeds, and a budget in minutes or a fixed
    schedule (`first_epochs` on the first rung, doubled on each next; no budget fit)."""

    chosen: list[str]
    ladder: str
    files: list[str]
    minutes: float | None
    seeds: int
    first_epochs: int | None = None

    @property
    def needs_current(self) -> bool:
        return CURRENT in self.chosen or bool(self.ladder)


def _file_paths(files: Any) -> list[str]:
    out = []
    for f in files or []:
        path = getattr(f, "name", f)  # a Gradio upload (a path, or an object with .name)
        if path:
            out.append(str(path))
    return out


def checked_request(
    chosen: Any,
    ladder: Any,
    budget_minutes: Any,
    seeds: Any,
    files: Any = None,
    first_epochs: Any = None,
) -> Request:
    chosen = [c for c in (chosen or []) if c]
    ladder = str(ladder or "").strip()
    files = _file_paths(files)
    if not chosen and not ladder and not files:
        raise JobError("pick at least one candidate (or a saved pipeline file, or a ladder)")
    low, high = int(run_settings.SEEDS.low), int(run_settings.SEEDS.high)
    if not isinstance(seeds, (int, float)) or seeds != int(seeds) or not low <= seeds <= high:
        raise JobError(f"seeds must be a whole number from {low} to {high}, got {seeds!r}")
    limits = sweep_limits()
    if first_epochs not in (None, "", 0):
        if not isinstance(first_epochs, (int, float)) or first_epochs != int(first_epochs):
            raise JobError(f"the fixed schedule's first epochs must be a whole number, got "
                           f"{first_epochs!r}")  # fmt: skip
        if not 1 <= first_epochs <= MAX_FIRST_EPOCHS:
            raise JobError(f"the fixed schedule's first epochs must be 1 to {MAX_FIRST_EPOCHS}")
        if limits.max_minutes:
            raise JobError(
                f"this server fits every sweep to a budget of at most "
                f"{limits.max_minutes:,.0f} minutes: leave the fixed schedule empty"
            )
        return Request(chosen, ladder, files, None, int(seeds), int(first_epochs))
    try:
        minutes = float(budget_minutes)
    except (TypeError, ValueError):
        raise JobError(f"the budget must be a number of minutes, got {budget_minutes!r}") from None
    if not minutes > 0:
        raise JobError("the budget must be more than 0 minutes")
    if limits.max_minutes and minutes > limits.max_minutes:
        raise JobError(
            f"this server allows one sweep at most {limits.max_minutes:,.0f} minutes; "
            f"set the budget to {limits.max_minutes:,.0f} or less"
        )
    return Request(chosen, ladder, files, minutes, int(seeds))


def prepared(
    folder: Path, settings: Settings, spec: PipelineSpec | None, request: Request
) -> tuple[list[str], Path | None, dict[str, Any], int]:
    """Write the candidates' files into `folder` and check them, the settings and the data:
    (the --candidates sources, the current pipeline's file, the resolved config, the number of
    candidates besides no augmentation). A JobError says what is wrong."""
    current = None
    if request.needs_current:
        current = folder / CURRENT_FILE
        runs.write_text(current, validated(spec).to_json())
    given = copy_files(request.files, folder)
    sources = candidate_sources(request.chosen, current, given)
    try:
        n = count_candidates(sources, request.ladder, current)
    except CandidateError as err:
        raise JobError(str(err)) from None
    limits = sweep_limits()
    if limits.max_candidates and n > limits.max_candidates:
        raise JobError(
            f"this server allows one sweep at most {limits.max_candidates} candidates "
            f"besides no augmentation, and these are {n}: pick fewer"
        )
    # the settings are checked with the first pipeline given (the current one, else a file,
    # else the first preset)
    probe = current or (given[0] if given else folder / "check-pipeline.json")
    if probe.name == "check-pipeline.json":
        runs.write_text(probe, preset(request.chosen[0]).to_json())
    try:
        cfg = checks.check(trial_settings(settings), probe)
    finally:
        if probe.name == "check-pipeline.json":
            probe.unlink(missing_ok=True)
    _within_limits(cfg, server_limits())
    _within_memory(cfg, 1)
    problem = checks.data_problem(cfg) or checks.weights_problem(cfg)
    if problem:
        raise JobError(problem)
    return sources, current, cfg, n


def start(
    settings: Settings,
    spec: PipelineSpec | None,
    owner: str,
    chosen: list[str],
    ladder: str,
    budget_minutes: float | None,
    seeds: int,
    root: Path | None = None,
    files: Any = None,
    first_epochs: int | None = None,
) -> Path:
    """Start a sweep of the chosen candidates (presets, CURRENT), saved pipeline files and a
    strength ladder of the current pipeline, with the form's settings; its folder. Refused,
    with the reason, while anything trains, over this server's limits, or when the settings,
    the files or the data do not check.

    The checks (a `--check` subprocess, the data) run before the start lock is taken, in a
    folder nobody lists yet (no launch.json, no sweep.json): the lock is held only to see that
    nothing trains and to spawn, so no visitor waits on another's checks."""
    root = runs.checkpoints_root() if root is None else root
    request = checked_request(chosen, ladder, budget_minutes, seeds, files, first_epochs)
    _refuse_if_busy(root)  # early, without the lock; again under it below
    try:
        folder = _new_folder(root)
    except OSError as err:
        raise JobError(f"could not write the sweep's folder ({err.strerror or err})") from None
    try:
        sources, current, _, _ = prepared(folder, settings, spec, request)
        cmd = sweep_command(folder, settings, sources, current, request)
        with _root_lock(root):
            _refuse_if_busy(root)
            _spawn(folder, cmd, owners.owner_id(owner), folder.name, "start", None, kind="sweep")
    except (JobError, OSError) as err:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(err, OSError):
            raise JobError(f"could not write the sweep's folder ({err.strerror or err})") from None
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


def _send_stop(sweep: dict[str, Any], grace_s: float, reason: str = "") -> None:
    folder = sweep["path"]
    runs.write_json(folder / "stop.json", {"requested": time.time(), "reason": reason})
    launch = runs.read_json(folder / "launch.json") or {}
    pid = launch.get("pid")
    if isinstance(pid, int):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        threading.Thread(
            target=_escalate, args=(pid, pid, grace_s), daemon=True, name=f"stop-sweep-{pid}"
        ).start()


def stop(
    name: Any, owner: str | None, root: Path | None = None, grace_s: float = STOP_GRACE_S
) -> str:
    """SIGTERM the sweep process: it stops its running trial (which saves a checkpoint) and
    records "stopped"; the whole process group is killed only if it has not ended in time."""
    sweep = _to_control(name, owner, root, "stop it (everyone can watch it)")
    if not sweep["live"]:
        raise JobError(f"{sweep['name']} is not running ({sweep['state']})")
    _send_stop(sweep, grace_s)
    return (
        f"Stopping the sweep {sweep['name']}: its trial writes a checkpoint and it stops within "
        "a few seconds; Resume continues where it was."
    )


def resume(name: Any, owner: str | None, root: Path | None = None) -> Path:
    """Continue a stopped, interrupted or failed sweep where it was (`--resume`); refused once
    it has used this server's minutes per sweep."""
    root = runs.checkpoints_root() if root is None else root
    sweep = _to_control(name, owner, root, "resume it")
    if sweep["live"]:
        raise JobError(f"{sweep['name']} is {sweep['state']} already")
    if sweep["state"] == "finished":
        raise JobError(f"{sweep['name']} has finished; start a new sweep")
    if sweep["data"] is None:
        raise JobError(f"{sweep['name']} never started (no sweep.json): start a new sweep")
    limits = sweep_limits()
    by_limit = bool((runs.read_json(sweep["path"] / "stop.json") or {}).get("reason"))
    if limits.max_minutes and (by_limit or used_s(sweep) >= limits.max_minutes * 60):
        raise JobError(
            f"{sweep['name']} has used this server's {limits.max_minutes:,.0f} minutes per "
            "sweep; start a smaller one"
        )
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
