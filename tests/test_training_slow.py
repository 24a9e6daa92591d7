"""Slow training tests (CPU, still run in CI): learning, kill/resume, clean stops, DDP, benchmark."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from playground.training.checkpoints import load_checkpoint
from playground.training.dist import weight_digest
from playground.training.metrics import MetricsLog
from playground.training.model import resnet18

pytestmark = pytest.mark.slow

SMALL = ["--dataset", "synthetic", "--synthetic-size", "640", "--width", "8", "--batch-size", "32"]
TIMING = {"images_per_s", "elapsed_s"}
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def _cmd(*args):
    return [sys.executable, "-m", "playground.train", "--device", "cpu", *args]


def _run(*args, timeout=900):  # an upper bound: busy machines train slowly
    done = subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=timeout, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _records(run):
    return [
        {k: v for k, v in r.items() if k not in TIMING}
        for r in MetricsLog(run / "metrics.jsonl").records()
    ]


def _wait_for(predicate, proc, seconds=120):
    deadline = time.time() + seconds
    while not predicate():
        assert proc.poll() is None, "the run ended before the test could interrupt it"
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def _status(run):
    try:
        return json.loads((run / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def test_synthetic_set_is_learned_far_above_chance(tmp_path):
    out = tmp_path / "learn"
    _run(
        "--pipeline",
        "cifar-standard",
        *SMALL,
        "--synthetic-size",
        "1500",
        "--epochs",
        "3",
        "--out",
        str(out),
    )
    summary = MetricsLog(out / "metrics.jsonl").records()[-1]
    assert summary["type"] == "summary" and summary["final_test_acc"] > 0.6  # chance: 0.1


def test_resume_after_sigkill_ends_with_the_same_weights(tmp_path):
    args = ["--pipeline", "d2l-combined", *SMALL, "--epochs", "3"]
    _run(*args, "--out", str(tmp_path / "straight"))

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(*args, "--out", str(killed)), env=ENV, stdout=subprocess.DEVNULL)
    # kill it in the middle of epoch 2, after epoch 1's checkpoint and a few more lines
    _wait_for(
        lambda: (
            (killed / "last.pt").exists()
            and len(MetricsLog(killed / "metrics.jsonl").records()) >= 8
        ),
        proc,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(killed / "last.pt")["step"] in (20, 40)
    _run("--resume", str(killed))

    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(killed / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _records(killed) == _records(tmp_path / "straight")  # no line lost or doubled


def test_sigterm_checkpoints_and_exits_zero(tmp_path):
    out = tmp_path / "stopped"
    proc = subprocess.Popen(
        _cmd("--pipeline", "cifar-standard", *SMALL, "--epochs", "20", "--out", str(out)),
        env=ENV,
        stdout=subprocess.DEVNULL,
    )
    _wait_for(lambda: _status(out).get("step", 0) >= 3, proc)
    os.kill(_status(out)["pid"], signal.SIGTERM)
    assert proc.wait(timeout=300) == 0
    status = _status(out)
    assert status["state"] == "stopped" and status["message"] == "stopped by SIGTERM"
    assert load_checkpoint(out / "last.pt")["step"] == status["step"] < status["total_steps"]


def test_two_processes_with_gloo_train_the_same_model(tmp_path):
    out = tmp_path / "ddp"
    _run("--pipeline", "d2l-combined", *SMALL, "--epochs", "1", "--nproc", "2", "--out", str(out))
    config = json.loads((out / "config.json").read_text())
    summary = MetricsLog(out / "metrics.jsonl").records()[-1]
    model = resnet18(10, 8)
    model.load_state_dict(load_checkpoint(out / "last.pt")["model"])
    assert config["world_size"] == 2 and config["device_name"] == "cpu x2"
    assert summary["rank_weight_digests"] == [weight_digest(model)] * 2  # both ranks, bit for bit
    train = [r for r in MetricsLog(out / "metrics.jsonl").records() if r["type"] == "train"]
    assert train[-1]["train_loss"] < train[0]["train_loss"]


def test_three_processes_split_the_schedule_of_one(tmp_path):
    """The fitted batch of 16 is split 6 + 5 + 5 over 3 processes: the same schedule (batch,
    steps, lr, warm-up) as one process, and the ranks still end with the same weights."""
    tiny = ["--dataset", "synthetic", "--synthetic-size", "320", "--width", "4", "--epochs", "1"]
    out = tmp_path / "three"
    _run("--pipeline", "d2l-flip", *tiny, "--nproc", "3", "--out", str(out))
    one = json.loads(
        subprocess.run(
            _cmd("--pipeline", "d2l-flip", *tiny, "--check"), capture_output=True, text=True,
            env=ENV, check=True,
        ).stdout
    )  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    keys = ("batch_size", "lr", "warmup_steps", "steps_per_epoch", "total_steps")
    assert [config[k] for k in keys] == [one[k] for k in keys] and config["batch_size"] == 16
    assert config["world_size"] == 3 and "6 or 5 per process" in config["recipe_reason"]
    summary = MetricsLog(out / "metrics.jsonl").records()[-1]
    assert len(set(summary["rank_weight_digests"])) == 1


def test_benchmark_smoke_on_cpu():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from train_throughput import main

    results = main(
        [
            "--device",
            "cpu",
            "--size",
            "256",
            "--width",
            "4",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--d2l-workers",
            "0",
            "--batch-size",
            "64",
        ]
    )
    arms = ("d2l", "ours", "ours_per_image", "ours_no_augmentation", "augmentation_only")
    assert all(results[k] > 0 for k in (*arms, "per_image_augmentation_only"))


def test_sigterm_stops_two_processes_cleanly(tmp_path):
    """Stop as the Train tab does (SIGTERM to the pid in status.json): under torchrun too, every
    rank checkpoints, the command exits 0, and the log holds no traceback."""
    out = tmp_path / "ddp-stopped"
    args = ("--pipeline", "cifar-standard", *SMALL, "--epochs", "20", "--nproc", "2")
    proc = subprocess.Popen(
        _cmd(*args, "--out", str(out)),
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_for(lambda: _status(out).get("step", 0) >= 3, proc)
    os.kill(_status(out)["pid"], signal.SIGTERM)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output and "SignalException" not in output, output[-3000:]
    status = _status(out)
    assert status["state"] == "stopped", status
    assert load_checkpoint(out / "last.pt")["step"] == status["step"] < status["total_steps"]
