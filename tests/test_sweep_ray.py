"""The sweep's Ray executor (requirements-ray.txt), on a local 2-CPU Ray: a tiny sweep (a fixed
one-epoch schedule and one seed: a budget would be filled with epochs, and its probe, plan and
paired seeds are the executor's business no more than any other trial; tests/test_sweep.py
checks them) finishes
and reports, its trials ordinary run folders that Ray Tune ran; a stop reaches a running
trial, which saves a checkpoint to resume from."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

ray = pytest.importorskip("ray")

from playground.runs import read_run  # noqa: E402
from playground.training.sweep.__main__ import main  # noqa: E402
from playground.training.sweep.executors import (  # noqa: E402
    STOPPED,
    TRAIN_LOG,
    Trial,
    run_state,
    trial_command,
)
from playground.training.sweep.ray_executor import RAY_FOLDER, RayExecutor, worker_env  # noqa: E402

TINY = ["--dataset", "synthetic", "--synthetic-size", "160", "--width", "4", "--device", "cpu"]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs and no GPU (as CI's machine), shut down after this file."""
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
             runtime_env=worker_env())  # fmt: skip
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in handlers.items():  # the sweep's command sets its own
        signal.signal(sig, handler)
    ray.shutdown()


def test_a_tiny_sweep_runs_on_ray(local_ray, tmp_path):
    assert RayExecutor(None, gpus_per_trial=1, cpus_per_trial=1).slots == 2  # no GPU: CPUs only
    assert RayExecutor(None, gpus_per_trial=0, cpus_per_trial=2).slots == 1
    out = tmp_path / "sweep"
    code = main(["--executor", "ray", "--cpus-per-trial", "1", "--candidates", "d2l-flip",
                 "--seeds", "1", "--first-epochs", "1", "--out", str(out), *TINY])  # fmt: skip
    state = json.loads((out / "sweep.json").read_text())
    assert code == 0, state["message"]
    assert state["state"] == "finished" and state["executor"] == "ray"
    assert state["plan"]["slots"] == 2 and state["plan"]["epochs"] == [1]
    report = state["report"]
    assert set(report["test_acc_points"]) == {c["key"] for c in state["candidates"]}
    (effect,) = report["vs_none"]
    assert effect["low"] <= effect["points"] <= effect["high"] and report["tied"]
    assert (out / "summary.txt").read_text().startswith("sweep of 2 candidates")
    trials = state["rungs"][-1]["trials"]
    assert len(trials) == 2  # 2 candidates x 1 seed: both at once on the 2 CPUs
    for name in trials:  # ordinary runs: the runs table reads them as any other
        run = read_run(out / name)
        assert run.state == "finished", name
        assert (out / name / "config.json").exists() and (out / name / "last.pt").exists()
        assert (out / name / TRAIN_LOG).read_text().startswith("$ ")
    # Ray Tune ran them: one Tune trial per sweep trial, in the sweep folder's hidden .ray/
    ran = {p.name for p in (out / RAY_FOLDER).glob("*/*") if p.is_dir()}
    assert set(trials) == ran


def test_a_stop_reaches_a_running_trial_which_saves_a_checkpoint(local_ray, tmp_path):
    out = tmp_path / "sweep" / "r0-c00-none-s0"
    trial = Trial(
        0, "c00-none", 0, out, ["--pipeline", "d2l-flip", *TINY, "--no-augment", "--epochs", "100"]
    )
    executor = RayExecutor(None, gpus_per_trial=0, cpus_per_trial=1)
    codes: list[int] = []
    ended: list[int] = []  # on_done: the sweep saves its elapsed time as each trial ends
    worker = threading.Thread(
        target=lambda: codes.extend(executor.run([trial], on_done=lambda: ended.append(1)))
    )
    worker.start()
    # upper bounds for a busy machine: with both cores taken by other work a Ray worker and
    # the trial's start took over 120 s (CI under load, 2026-12-07)
    end = time.time() + 600
    while run_state(out) != "running" and time.time() < end and worker.is_alive():
        time.sleep(0.2)
    assert run_state(out) == "running"
    executor.stop()
    worker.join(timeout=600)
    assert codes == [STOPPED] and ended == [1]
    assert run_state(out) == "stopped" and (out / "last.pt").exists()  # it saved a checkpoint
    assert executor.run([trial]) == [STOPPED]  # a stopped executor starts nothing

    # the trial is left to resume: the next command for it continues its checkpoint
    assert trial_command(trial)[-2:] == ["--resume", str(out)]
