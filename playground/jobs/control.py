"""Controlling a run once started: stop (SIGTERM, then SIGKILL after a grace period), resume
from last.pt, delete, and the operator's stop of anyone's runs. Who started a run is recorded in
launch.json; only that owner may control it unless the app runs locally for a single user."""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from playground import owners, runs
from playground.jobs import process
from playground.jobs.errors import JobError
from playground.jobs.limits import _time_left_s
from playground.jobs.process import _refuse_if_busy, _root_lock, _spawn, job_runs
from playground.runs import Run

STOP_GRACE_S = 20.0


def may_control(run: Run, owner: str | None) -> bool:
    return owners.may_control(run.owner, owner)


def _run_to_control(name: str, owner: str | None, root: Path | None, action: str) -> Run:
    """The named run, if this owner may control it; otherwise a message saying why not."""
    run = runs.find_run(name, root)
    if run is None:
        raise JobError(f"no run called {name!r}")
    if run.sweep:  # its sweep decides when it trains, and reads its files at the end
        raise JobError(
            f"{run.name} is a trial of the sweep {run.sweep}: stop, resume or delete the sweep "
            "in the Sweep panel instead"
        )
    if not may_control(run, owner):
        raise JobError(
            f"{run.name} was started by another session; only that session can {action}."
        )
    return run


def delete(name: str, owner: str | None, root: Path | None = None) -> str:
    """Delete a run folder (its checkpoints too) for good; never a run that is training."""
    run = _run_to_control(name, owner, root, "delete it")
    try:
        with _root_lock(runs.checkpoints_root() if root is None else root):
            run = runs.find_run(name, root) or run
            if run.live:
                raise JobError(f"{run.name} is {run.state}: stop it before deleting it")
            runs.remove_run(run)
    except OSError as err:  # a read-only checkpoints folder
        raise JobError(f"could not delete {run.name} ({err.strerror or err})") from None
    return f"Deleted {run.name}."


def stop(
    name: str, owner: str | None, root: Path | None = None, grace_s: float = STOP_GRACE_S
) -> str:
    """SIGTERM the run (and its baseline): the training process checkpoints and exits."""
    run = _run_to_control(name, owner, root, "stop it (everyone can watch it)")
    job = job_runs(run, root)
    targets = [r for r in job if r.live]
    waiting = [r for r in job if r.state == runs.QUEUED]
    if not targets and not waiting:
        raise JobError(f"{run.name} is not running ({run.state})")
    for target in targets + waiting:  # the queued pairs of the experiment stop too
        runs.write_json(target.path / "stop.json", {"requested": time.time()})
    for target in targets:
        _terminate(target, grace_s)
    names = ", ".join(t.name for t in targets) or run.name
    later = f" ({len(waiting)} queued runs will not start)" if waiting else ""
    return f"Stopping {names}: it writes a checkpoint and stops within a few seconds{later}."


def _terminate(run: Run, grace_s: float, wait: bool = False) -> None:
    """SIGTERM; SIGKILL after the grace period if the run is still there (in a thread, or
    here if `wait`)."""
    pid = run.pid
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    pgid = run.launch.get("pid")
    grace_s = max(grace_s, 3 * _step_seconds(run))
    if wait:
        _escalate(pid, pgid, grace_s)
        return
    threading.Thread(
        target=_escalate, args=(pid, pgid, grace_s), daemon=True, name=f"stop-{pid}"
    ).start()


def operator_stop(
    names: list[str] | None, root: Path | None = None, wait: bool = False
) -> list[str]:
    """Stop live runs whoever started them (`names` None: all of them): the operator's way to
    free the server's training slot. Returns the names of the runs stopped."""
    every = runs.list_runs(root)
    live = [r for r in every if r.live]
    if names is not None:
        unknown = set(names) - {r.name for r in live}
        if unknown:
            raise JobError(f"not training: {', '.join(sorted(unknown))}")
        live = [r for r in live if r.name in names]
    jobs_stopped = {r.job for r in live}
    # the queued pairs of those experiments stop too (all of them with `names` None), or the
    # queue would start the next pair within seconds
    waiting = [
        r for r in every if r.state == runs.QUEUED and (names is None or r.job in jobs_stopped)
    ]
    for run in live + waiting:
        runs.write_json(run.path / "stop.json", {"requested": time.time(), "by": "operator"})
    threads = [threading.Thread(target=_terminate, args=(run, STOP_GRACE_S, wait)) for run in live]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r.name for r in live]


def _step_seconds(run: Run) -> float:
    """How long one training step takes (the run stops after its current step): a full-size
    batch on a CPU can take longer than the usual grace period."""
    rate, batch = run.status.get("images_per_s"), run.config.get("batch_size")
    if isinstance(rate, (int, float)) and rate > 0 and isinstance(batch, int):
        return batch / rate
    return 0.0


def _escalate(pid: int, pgid: Any, grace_s: float) -> None:
    """SIGKILL the whole process group only if SIGTERM did not end the run in time."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not runs.pid_alive(pid):
            return
        time.sleep(0.2)
    for kill in (
        lambda: os.killpg(pgid, signal.SIGKILL) if isinstance(pgid, int) else None,
        lambda: os.kill(pid, signal.SIGKILL),
    ):
        with suppress(ProcessLookupError, PermissionError):
            kill()


def resume(name: str, owner: str | None, root: Path | None = None) -> list[Path]:
    """Continue a stopped (or interrupted) run and its stopped baseline from last.pt."""
    root = runs.checkpoints_root() if root is None else root
    run = _run_to_control(name, owner, root, "resume it")
    if run.state == "finished":
        raise JobError(f"{run.name} has finished; start a new run to train more")
    if run.state == runs.DIVERGED:  # the same weights, data order and schedule diverge again
        raise JobError(f"{run.name} diverged ({run.message}); start a new run instead")
    _refuse_if_resumed(run)
    if not run.resumable:
        raise JobError(f"{run.name} cannot be resumed: it is {run.state} and has no last.pt yet")
    left_s = _time_left_s(run)
    with _root_lock(root):
        _refuse_if_resumed(runs.find_run(run.name, root) or run)  # as it is now, in the lock
        _refuse_if_busy(root)
        job = job_runs(run, root)
        for waiting in job:  # queued pairs stopped before their turn: back in the queue
            if waiting.launch.get("queued") and not waiting.resumable:
                (waiting.path / "stop.json").unlink(missing_ok=True)
        targets = [r for r in job if r.resumable]
        for target in targets:
            (target.path / "stop.json").unlink(missing_ok=True)
            _spawn(
                target.path,
                process.train_command("--resume", str(target.path)),
                run.owner or owners.owner_id(owner or ""),
                run.job,
                "resume",
                left_s,
            )
    return [t.path for t in targets]


def _refuse_if_resumed(run: Run) -> None:
    """Another request (a double click, a second tab) resumed the run first: say so, rather
    than that it cannot be resumed."""
    if run.live:
        doing = "being resumed already" if run.launch.get("action") == "resume" else run.state
        raise JobError(f"{run.name} is {doing}: watch it in the Runs list")
