"""The sweep's trials on a Ray cluster, through Ray Tune (an optional install:
`pip install -r requirements-ray.txt`).

Each call of `RayExecutor.run` is one `tune.Tuner` with one Tune trial per sweep trial (a grid
over the trials' indices), each holding `cpus_per_trial` CPUs and, where the cluster has GPUs,
`gpus_per_trial` GPUs (a fraction puts several small trials on one GPU; Ray sets the trial's
CUDA_VISIBLE_DEVICES). A Tune trial runs the trial's ordinary training command as a child
process (its output appended to the run folder's train.out, as the local executor does) and
reports its exit status and final validation accuracy. Tune only places and runs the trials:
no Ray scheduler or searcher (ASHA, PBT, ...) promotes or stops anything, since those decide
on raw numbers; the sweep's own rungs and paired tests (`decide`) decide which candidates go on.

The run folders must be on a filesystem every node sees at the same path (NFS or the like),
and the project at the same path on every node: a trial's command reads and writes its folder
there, resumes from its checkpoint there, and Tune keeps its own records in the sweep folder's
`.ray/` (hidden from the runs table). `stop()` starts no more trials and sends SIGTERM to the
running ones (each saves a checkpoint, so a resumed sweep continues them); it reaches trials on
other nodes through a file in that shared folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import tune

from playground.training.sweep.executors import (
    STOPPED,
    TRAIN_LOG,
    Trial,
    run_state,
    trial_command,
)

ROOT = Path(__file__).resolve().parents[3]  # the project: on every node's PYTHONPATH
RAY_FOLDER = ".ray"  # Tune's records, inside the sweep folder
STOP_FILE = "stop"  # in an experiment's folder: written by stop(), read by its trials
POLL_S = 0.5  # how often a running trial looks for the stop file
FAILED = 1  # the status of a trial that Ray could not run (the reason is in its train.out)


def _final_val_acc(out: Path) -> float | None:
    """The run's final accuracy on the set it evaluates (the sweep's validation split), from
    the summary line of its metrics.jsonl."""
    try:
        lines = (out / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if '"summary"' in line:
            with contextlib.suppress(ValueError):
                value = json.loads(line).get("final_test_acc")
                return float(value) if value is not None else None
    return None


def _train(config: dict[str, Any], trials: list[Trial], cwd: str, stop_file: str) -> None:
    """One Tune trial, in a Ray worker: the sweep trial's training command as a child process
    (started in the sweep's working directory, so relative run folders mean the same there)."""
    trial = trials[config["index"]]
    out = Path(cwd, trial.out)
    cmd = trial_command(Trial(trial.rung, trial.key, trial.seed, out, trial.args, env=trial.env))
    if cmd is None:
        tune.report({"status": 0, "wall_s": 0.0, **_acc(out)})
        return
    if os.path.exists(stop_file):
        tune.report({"status": STOPPED, "wall_s": 0.0})
        return
    env = {**os.environ, **trial.env, "PYTHONUNBUFFERED": "1"}
    if "CUDA_VISIBLE_DEVICES" in os.environ:  # the GPUs Ray gave this trial
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    out.mkdir(parents=True, exist_ok=True)
    stopping = False
    started = time.perf_counter()
    with open(out / TRAIN_LOG, "ab") as log:
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            while True:
                try:
                    code = proc.wait(timeout=POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    if not stopping and os.path.exists(stop_file):
                        stopping = True
                        proc.send_signal(signal.SIGTERM)  # it saves a checkpoint and exits
        finally:
            if proc.poll() is None:  # this worker is being torn down: let the run save
                proc.send_signal(signal.SIGTERM)
    wall = time.perf_counter() - started
    status = STOPPED if stopping and run_state(out) != "finished" else code  # a stop exits 0
    tune.report({"status": status, "wall_s": wall, **_acc(out)})


def _acc(out: Path) -> dict[str, float]:
    acc = _final_val_acc(out)
    return {} if acc is None else {"val_acc": acc}


def worker_env() -> dict[str, Any]:
    """The Ray job's runtime environment: the project importable in every worker (the trials'
    function lives in this module)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {"env_vars": {"PYTHONPATH": path}}


class RayExecutor:
    """Trials as Ray Tune trials on a cluster (`address`) or on a local Ray limited to this
    machine; `slots` trials at a time, as many as the cluster's CPUs and GPUs hold."""

    name = "ray"

    def __init__(
        self, address: str | None = None, gpus_per_trial: float = 1.0, cpus_per_trial: float = 1.0
    ) -> None:
        # here, not at the top: a Ray worker imports this module for `_train`, and the sweep's
        # state module imports torch (seconds per worker start) that `_train` never uses
        from playground.training.sweep.state import SweepError

        if not cpus_per_trial > 0:
            raise SweepError("--cpus-per-trial must be positive")
        if gpus_per_trial < 0 or (gpus_per_trial > 1 and gpus_per_trial != int(gpus_per_trial)):
            raise SweepError("--gpus-per-trial must be a fraction of one GPU or a whole number")
        # Tune's own Ctrl-C handler would end the trials' workers without letting the runs
        # save; the sweep's handler calls stop() instead. Tune's progress tables stay quiet
        # (the sweep logs its own progress).
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "logging_level": logging.WARNING,
                "log_to_driver": False,
                "runtime_env": worker_env(),
            }
            if address:
                options["address"] = address
            else:
                options["num_cpus"] = os.cpu_count() or 1
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise SweepError(f"Ray did not start ({address or 'local'}): {err}") from None
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        self.cpus_per_trial = float(cpus_per_trial)
        self.gpus_per_trial = float(gpus_per_trial) if gpus > 0 else 0.0
        fits = [math.floor(cpus / self.cpus_per_trial + 1e-9)]
        if self.gpus_per_trial > 0:
            fits.append(math.floor(gpus / self.gpus_per_trial + 1e-9))
        if min(fits) < 1:
            raise SweepError(
                f"one trial needs {self.cpus_per_trial:g} CPUs and {self.gpus_per_trial:g} GPUs; "
                f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs"
            )
        self.slots = min(fits)
        self._stopped = False
        self._stop_file: Path | None = None

    def resources(self) -> dict[str, float]:
        return {"cpu": self.cpus_per_trial, "gpu": self.gpus_per_trial}

    def run(self, trials: list[Trial], on_done: Callable[[], None] | None = None) -> list[int]:
        codes: list[int | None] = [0 if trial_command(t) is None else None for t in trials]
        todo = [i for i, c in enumerate(codes) if c is None]
        if self._stopped:
            return [STOPPED if c is None else c for c in codes]
        if not todo:
            return [0 for _ in trials]
        cwd = os.getcwd()
        sweep = Path(cwd, os.path.commonpath([str(Path(cwd, t.out).parent) for t in trials]))
        storage = sweep / RAY_FOLDER
        experiment = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        (storage / experiment).mkdir(parents=True, exist_ok=True)
        self._stop_file = storage / experiment / STOP_FILE
        chosen = [trials[i] for i in todo]
        names = [t.name for t in chosen]
        trainable = tune.with_parameters(
            _train, trials=chosen, cwd=cwd, stop_file=str(self._stop_file)
        )
        tuner = tune.Tuner(
            tune.with_resources(trainable, self.resources()),
            param_space={"index": tune.grid_search(list(range(len(chosen))))},
            tune_config=tune.TuneConfig(
                num_samples=1,
                reuse_actors=True,  # a worker runs one trial after another: no start-up each
                trial_name_creator=lambda t: names[t.config["index"]],
                trial_dirname_creator=lambda t: names[t.config["index"]],
            ),
            run_config=tune.RunConfig(
                name=experiment,
                storage_path=str(storage),
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0),
                callbacks=[_Ended(on_done)] if on_done else None,
            ),
        )
        if self._stopped:  # a stop between the check above and the stop file's name
            self._stop_file.touch()
        results = tuner.fit()
        for result in results:
            index = result.config["index"]
            trial = chosen[index]
            metrics = result.metrics or {}
            if "status" in metrics:
                trial.wall_s += float(metrics.get("wall_s") or 0.0)
                codes[todo[index]] = int(metrics["status"])
            else:
                codes[todo[index]] = STOPPED if self._stopped else FAILED
                if not self._stopped:
                    _note(Path(cwd, trial.out), f"error: Ray did not run the trial: {result.error}")
        return [STOPPED if c is None else c for c in codes]

    def stop(self) -> None:
        """No new trial starts; the running ones get SIGTERM (each saves a checkpoint and says
        "stopped", so a resume continues it)."""
        self._stopped = True
        if self._stop_file is not None:
            with contextlib.suppress(OSError):
                self._stop_file.touch()


class _Ended(tune.Callback):
    """Calls `on_done()` on the driver as each Tune trial reports (once, at its end). Tune
    pickles its run config into its records (tuner.pkl); the copy there calls nothing."""

    def __init__(self, on_done: Callable[[], None] | None) -> None:
        self.on_done = on_done

    def __getstate__(self) -> dict[str, Any]:
        return {"on_done": None}

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if self.on_done is not None:
            self.on_done()


def _note(out: Path, line: str) -> None:
    with contextlib.suppress(OSError):
        out.mkdir(parents=True, exist_ok=True)
        with open(out / TRAIN_LOG, "a") as log:
            log.write(line.replace("\n", " ") + "\n")
