"""Where a sweep's trials train. A trial is an ordinary training run (its own folder, config,
metrics and checkpoints); an executor starts the trials it is given, as many at a time as it
has slots, and returns their exit statuses. A finished trial is kept, an unfinished one with a
checkpoint resumed: running a rung again (a sweep resumed after a stop or a restart) trains
only what is missing.

- `LocalExecutor`: this machine; one trial at a time on the CPU, or one per GPU (each trial
  sees its own GPU through CUDA_VISIBLE_DEVICES); with `per_device` K, K trials at a time on
  each GPU (or K on the CPU), each with its CPU threads limited to its share of the cores
  (`THREAD_VARS`), so that K processes do not oversubscribe them. On one GPU, K > 1 hides
  each trial's start (importing torch, CUDA, loading the data: seconds) behind the others'
  training.
- `playground.training.sweep.ray_executor.RayExecutor`: a Ray cluster (optional install).

`run(trials, on_done)` calls `on_done()` as each trial ends (the sweep saves its elapsed time
then); with the local executor from the thread that ran the trial.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

TRAIN_LOG = "train.out"  # the trial's output, beside what the training command writes itself
STOPPED = -signal.SIGTERM  # the status run() gives a trial that a stop ended
# what torch (and the BLAS under it) read for their CPU threads, set when trials share a device
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class Trial:
    rung: int
    key: str  # the candidate's
    seed: int
    out: Path
    args: list[str]  # the training command's flags, without --out
    wall_s: float = 0.0  # this session's seconds, start to exit
    env: dict[str, str] = field(default_factory=dict)  # extra environment

    @property
    def name(self) -> str:
        return self.out.name


def run_state(out: Path) -> str | None:
    try:
        return json.loads((out / "status.json").read_text()).get("state")
    except (OSError, ValueError, AttributeError):
        return None


def trial_command(trial: Trial) -> list[str] | None:
    """The command that brings the trial to its end: None if it finished already; a resume if
    it has a checkpoint (and did not diverge); else a fresh start (a folder that never
    checkpointed starts again)."""
    out = trial.out
    state = run_state(out)
    if state == "finished":
        return None
    if (out / "config.json").exists() and (out / "last.pt").exists() and state != "diverged":
        return [sys.executable, "-m", "playground.train", "--resume", str(out)]
    if (out / "config.json").exists():
        (out / "config.json").unlink()
    return [sys.executable, "-m", "playground.train", *trial.args, "--out", str(out)]


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class LocalExecutor:
    """Trials as child processes of this one, `slots` at a time: `per_device` on each GPU in
    `gpus`, or `per_device` on the CPU without GPUs. With more than one trial per device each
    trial's CPU threads are limited to `threads` (the cores shared over the slots, at least 1).
    `command` gives a trial's command line (None: nothing left to train)."""

    name = "local"

    def __init__(
        self, gpus: list[int] | None = None, per_device: int = 1, command=trial_command
    ) -> None:
        if per_device < 1:
            raise ValueError("trials per device must be at least 1")
        self.gpus = list(gpus or [])
        self.per_device = int(per_device)
        self.slots = max(1, len(self.gpus)) * self.per_device
        self.threads = max(1, cpu_cores() // self.slots) if self.per_device > 1 else None
        self.command = command
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def _one(self, trial: Trial, free: queue.Queue, on_done: Callable[[], None] | None) -> int:
        code = self._train(trial, free)
        if on_done is not None:
            on_done()
        return code

    def _train(self, trial: Trial, free: queue.Queue) -> int:
        cmd = self.command(trial)
        if cmd is None:
            return 0
        if self._stopping.is_set():
            return STOPPED
        gpu = free.get()
        try:
            threads = {v: str(self.threads) for v in THREAD_VARS} if self.threads else {}
            env = {**os.environ, **threads, **trial.env, "PYTHONUNBUFFERED": "1"}
            if gpu is not None:
                env["CUDA_VISIBLE_DEVICES"] = str(gpu)
            trial.out.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            with open(trial.out / TRAIN_LOG, "ab") as log:
                log.write(f"$ {' '.join(cmd)}\n".encode())
                log.flush()
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
                with self._lock:
                    self._procs.add(proc)
                try:
                    code = proc.wait()
                finally:
                    with self._lock:
                        self._procs.discard(proc)
            trial.wall_s += time.perf_counter() - started
            # a stopped trial exits 0 (it checkpointed): unfinished all the same
            if self._stopping.is_set() and run_state(trial.out) != "finished":
                return STOPPED
            return code
        finally:
            free.put(gpu)

    def run(self, trials: list[Trial], on_done: Callable[[], None] | None = None) -> list[int]:
        free: queue.Queue = queue.Queue()
        for _ in range(self.per_device):  # the GPUs in turn: trials spread before they share
            for gpu in self.gpus or [None]:
                free.put(gpu)
        with ThreadPoolExecutor(max_workers=self.slots) as pool:
            return list(pool.map(lambda t: self._one(t, free, on_done), trials))

    def stop(self) -> None:
        """No new trial starts; the running ones are asked to stop (SIGTERM: each saves a
        checkpoint and says "stopped", so a resume continues it)."""
        self._stopping.set()
        with self._lock:
            for proc in self._procs:
                with contextlib.suppress(OSError):
                    proc.send_signal(signal.SIGTERM)


def visible_gpus(device: str) -> list[int]:
    """The GPUs a local sweep spreads its trials over: none for --device cpu."""
    if device == "cpu":
        return []
    try:
        import torch

        return list(range(torch.cuda.device_count()))
    except ImportError:
        return []
