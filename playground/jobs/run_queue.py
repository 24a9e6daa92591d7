"""The queue of a several-seed experiment: its pairs wait in their run folders (launch.json
"queued") and start one pair at a time when nothing is training."""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from pathlib import Path

from playground import runs
from playground.jobs.limits import _run_time_limit_s, server_limits
from playground.jobs.process import _root_lock, _spawn


def _queue(folder: Path, cmd: list[str], owner: str, job: str, order: int, seed: int) -> None:
    now = time.time()
    runs.write_json(
        folder / "launch.json",
        {"pid": None, "queued": True, "order": order, "seed": seed, "owner": owner,
         "job": job, "action": "start", "command": cmd, "started": now, "created": now},
    )  # fmt: skip


def advance(root: Path | None = None) -> list[Path]:
    """When nothing is training, start the next queued pair (the same job and seed) of a
    several-seed experiment. Returns the folders started. The app calls this every few seconds
    (`start_queue_worker`); a queue outlives app restarts, since it lives in the run folders."""
    root = runs.checkpoints_root() if root is None else root
    with _root_lock(root):
        all_runs = runs.list_runs(root)
        queued = [r for r in all_runs if r.state == runs.QUEUED]
        if not queued or any(r.live for r in all_runs) or runs.live_sweeps(root):
            return []
        first = min(queued, key=lambda r: (r.started, r.launch.get("order", 0)))
        pair = [
            r
            for r in queued
            if r.job == first.job and r.launch.get("seed") == first.launch.get("seed")
        ]
        job = [r for r in all_runs if r.job == first.job]
        limit_s = _run_time_limit_s(len(job), server_limits())
        for run in pair:
            cmd = [str(x) for x in run.launch.get("command") or []]
            _spawn(run.path, cmd, run.owner or "", run.job, "start", limit_s)
        return [r.path for r in pair]


_QUEUE_WORKER: list[threading.Thread] = []


def start_queue_worker(interval_s: float = 2.0) -> None:
    """One thread per app process that keeps several-seed experiments moving (and stops a
    sweep that has trained longer than this server allows one)."""
    if _QUEUE_WORKER:
        return

    def work() -> None:
        from playground.jobs import sweep_limits  # (it imports this package's modules)

        while True:
            with suppress(Exception):  # a bad folder must not stop the queue for everyone
                advance()
            with suppress(Exception):
                sweep_limits.enforce_limits()  # a sweep over this server's minutes is stopped
            time.sleep(interval_s)

    _QUEUE_WORKER.append(threading.Thread(target=work, daemon=True, name="run-queue"))
    _QUEUE_WORKER[0].start()
