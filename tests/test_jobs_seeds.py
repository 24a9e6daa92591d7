"""Several seeds: a paired experiment, one pair at a time from a queue, and its report (the fake training command and the run folders: tests/fake_runs.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipelines.spec import preset
from playground import jobs, owners, runs, train_view
from playground.training import compare
from playground.ui import train_control
from tests.fake_runs import SETTINGS, _run_folder, _wait

# --- several seeds: a paired experiment, one pair at a time --------------------------------


def test_several_seeds_train_one_pair_at_a_time_from_a_queue(root, fake_engine, monkeypatch):
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    spec = preset("cifar-standard")
    with pytest.raises(jobs.JobError, match="seeds per arm must be between 1 and 10"):
        jobs.start(SETTINGS, spec, "me", baseline=True, seeds=0)
    folders = jobs.start(replace(SETTINGS, seed=5), spec, "me", baseline=True, seeds=2)
    names = [f.name for f in folders]
    assert [n.split("-", 2)[2] for n in names] == ["synthetic-s5", "synthetic-s5-noaug",
                                                   "synthetic-s6", "synthetic-s6-noaug"]  # fmt: skip
    for folder, seed in zip(folders, (5, 5, 6, 6), strict=True):
        launch = json.loads((folder / "launch.json").read_text())
        assert launch["command"][launch["command"].index("--seed") + 1] == str(seed)
    assert [runs.find_run(n).state for n in names[2:]] == [runs.QUEUED] * 2
    assert jobs.advance() == []  # the first pair is still training
    _wait(lambda: all(runs.find_run(n).state == "finished" for n in names[:2]))
    assert sorted(jobs.advance()) == sorted(folders[2:])  # the next pair, both arms at once
    assert jobs.advance() == []
    _wait(lambda: all(runs.find_run(n).state == "finished" for n in names))
    assert len({runs.find_run(n).job for n in names}) == 1


def test_stopping_an_experiment_stops_its_queue_and_resume_requeues_it(
    root, fake_engine, monkeypatch
):
    spec = preset("cifar-standard")
    first, base, *later = jobs.start(SETTINGS, spec, "me", baseline=True, seeds=2)
    # both have a checkpoint (on a busy machine the baseline may start seconds after the run)
    _wait(lambda: all((p / "last.pt").exists() for p in (first, base)))
    assert "2 queued runs will not start" in jobs.stop(first.name, "me")
    _wait(lambda: all(runs.find_run(p.name).state == "stopped" for p in (first, base)))
    assert [runs.find_run(p.name).state for p in later] == ["stopped", "stopped"]
    assert jobs.advance() == []  # stopped means stopped: nothing starts by itself
    assert set(jobs.resume(first.name, "me")) == {first, base}
    assert [runs.find_run(p.name).state for p in later] == [runs.QUEUED, runs.QUEUED]
    jobs.stop(first.name, "me")
    _wait(lambda: all(runs.find_run(p.name).state == "stopped" for p in (first, base)))


def test_the_operators_stop_stops_an_experiments_queue_too(root, fake_engine, monkeypatch):
    # stopped the live pair only: within seconds the queue started the next pair
    monkeypatch.setenv(owners.OPERATOR_ENV, "op-token-123")
    first, base, *later = jobs.start(SETTINGS, preset("cifar-standard"), "alice", True, seeds=3)
    _wait(lambda: all((p / "last.pt").exists() for p in (first, base)))
    assert train_control.operator_stop("op-token-123", "all").startswith("Stopping")  # the endpoint
    _wait(lambda: all(runs.find_run(p.name).state == "stopped" for p in (first, base)))
    assert [runs.find_run(p.name).state for p in later] == ["stopped"] * 4
    assert jobs.advance() == []
    # the owner resumes it, then the operator stops it from the server's shell
    jobs.resume(first.name, "alice")
    assert [runs.find_run(p.name).state for p in later] == [runs.QUEUED] * 4
    _wait(lambda: all(runs.find_run(p.name).live for p in (first, base)))
    assert jobs.main(["stop", "--all"]) == 0
    assert [runs.find_run(p.name).state for p in later] == ["stopped"] * 4
    assert jobs.advance() == []


def _finished_arm(root: Path, name: str, seed: int, no_aug: bool, right: np.ndarray, job: str):
    """A finished run folder as the training command leaves it, with per-image predictions."""
    label = np.arange(len(right)) % 2
    pred = np.where(right, label, 1 - label)
    path = _run_folder(root, name, {"state": "finished", "pid": 1})
    config = {"seed": seed, "no_augment": no_aug, "classes": ["cat", "dog"],
              "total_steps": 100, "batch_size": 32}  # fmt: skip
    (path / "config.json").write_text(json.dumps(config))
    (path / "launch.json").write_text(json.dumps({"pid": 1, "job": job, "started": 1.0}))
    acc = float(right.mean())
    evals = {"type": "eval", "epoch": 1.0, "test_acc": acc, "train_eval_acc": min(1.0, acc + 0.1),
             "test_acc_per_class": [float(right[label == k].mean()) for k in (0, 1)]}  # fmt: skip
    (path / "metrics.jsonl").write_text(json.dumps(evals) + "\n")
    np.savez(path / "predictions.npz", pred=pred, label=label)
    return path


def test_a_finished_pair_reads_as_this_seeds_effect_not_a_verdict(root):
    rng = np.random.default_rng(0)
    base_right = rng.random(2000) < 0.6
    aug_right = base_right | (rng.random(2000) < 0.25)  # right on more images
    _finished_arm(root, "j", 0, False, aug_right, "j")
    job = [runs.find_run("j")]
    assert train_view.experiment_report(job) == ""  # no baseline: nothing to compare
    _finished_arm(root, "j-noaug", 0, True, base_right, "j")
    report = train_view.experiment_report(jobs.job_runs(runs.find_run("j")))
    assert "**This seed only: +" in report and "not a verdict" in report
    assert "helped" not in report and "hurt" not in report
    assert "interval over the test images (McNemar), this seed only; 1 of 1 pairs" in report
    assert "it covers this seed's test images only, not training noise" in report
    assert "McNemar's exact test p = " in report
    assert "| with augmentation |" in report and "over-fitting gap" in report
    assert "| cat |" in report and "Confusion matrix, with augmentation" in report
    table = train_view.runs_table(runs.list_runs())  # both runs of the pair show the effect
    effects = set(table["effect of augmentation"])
    assert len(effects) == 1 and effects.pop().endswith(", this seed only")

    # the same runs with equal predictions: a difference of 0, still this seed only
    np.savez(root / "j" / "predictions.npz", **dict(np.load(root / "j-noaug" / "predictions.npz")))
    report = train_view.experiment_report(jobs.job_runs(runs.find_run("j")))
    assert "**This seed only: +0.0 points" in report


def test_the_comparison_is_computed_once_and_read_afterwards(root, monkeypatch):
    """Stored in the job's run folder when a pair has finished; redraws of the runs table (more
    jobs than any cache held) read it rather than recompute it."""
    rng = np.random.default_rng(1)
    for j in range(10):
        right = rng.random(500) < 0.5
        _finished_arm(root, f"r{j}", 0, False, right, f"r{j}")
        _finished_arm(root, f"r{j}-noaug", 0, True, right ^ (rng.random(500) < 0.1), f"r{j}")
    calls = []
    summarize = compare.summarize
    monkeypatch.setattr(compare, "summarize", lambda *a: calls.append(a) or summarize(*a))
    first = train_view.runs_table(runs.list_runs())
    assert len(calls) == 10 and all(
        (root / f"r{j}" / "experiment.json").exists() for j in range(10)
    )
    for _ in range(3):
        assert train_view.runs_table(runs.list_runs()).equals(first)
    assert len(calls) == 10
    # a pair trained again (new predictions): computed again, once
    np.savez(
        root / "r3" / "predictions.npz", **dict(np.load(root / "r3-noaug" / "predictions.npz"))
    )
    train_view.runs_table(runs.list_runs())
    train_view.runs_table(runs.list_runs())
    assert len(calls) == 11


def test_the_report_waits_for_a_finished_pair(root):
    _run_folder(root, "k", {"state": "running", "pid": 1}, launch_json='{"job": "k"}')
    _run_folder(root, "k-noaug", {"state": "running", "pid": 1},
                launch_json='{"job": "k"}', settings_json='{"no_augment": true}')  # fmt: skip
    report = train_view.experiment_report(jobs.job_runs(runs.find_run("k")))
    assert "appears here when a pair" in report and "0 of 1 so far" in report
