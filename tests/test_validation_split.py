"""--validation N: held-out training images the run evaluates on; the test set scored once."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from playground.training import data


def test_the_split_is_stratified_seeded_and_reproducible():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    picked = data.validation_split(labels, 10, seed=3)
    assert len(picked) == len(set(picked.tolist())) == 10
    assert torch.bincount(labels[picked], minlength=3).tolist() == [5, 3, 2]
    assert torch.equal(picked, data.validation_split(labels, 10, seed=3))
    assert not torch.equal(picked, data.validation_split(labels, 10, seed=4))


def test_held_out_images_leave_the_training_set_and_the_test_set_is_kept_apart():
    x = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 3, 2, 2).clone()
    y = torch.arange(40) % 4
    test = data.Dataset(x, y, x[:8], y[:8], list("abcd"))
    split = data.held_out(test, {"validation": 8, "split_seed": 1})
    train_ids = set(split.train_x[:, 0, 0, 0].tolist())
    val_ids = set(split.test_x[:, 0, 0, 0].tolist())
    assert len(train_ids) == 32 and len(val_ids) == 8 and not train_ids & val_ids
    assert split.final_x is test.test_x and split.final_y is test.test_y
    assert data.held_out(test, {"validation": None}) is test
    with pytest.raises(data.DataError, match="hold out fewer"):
        data.validation_split(y, 40, 0)


def test_a_run_with_validation_scores_the_test_set_once_at_the_end(tmp_path):
    out = tmp_path / "run"
    args = ["--pipeline", "cifar-standard", "--dataset", "synthetic", "--synthetic-size", "200"]
    args += ["--validation", "30", "--epochs", "1", "--width", "4", "--device", "cpu"]
    done = subprocess.run(
        [sys.executable, "-m", "playground.train", *args, "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads((out / "config.json").read_text())
    assert (config["train_size"], config["test_size"], config["final_test_size"]) == (170, 30, 40)
    with np.load(out / "predictions.npz") as val, np.load(out / "test-predictions.npz") as test:
        assert len(val["label"]) == 30 and len(test["label"]) == 40
    assert "validation accuracy" in done.stdout and "the test set, scored once" in done.stdout
    summary = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    assert 0 <= summary["test_set_acc"] <= 1


def test_holding_out_the_whole_training_set_is_one_error_line(tmp_path):
    args = ["--pipeline", "cifar-standard", "--dataset", "synthetic", "--synthetic-size", "50"]
    done = subprocess.run(
        [sys.executable, "-m", "playground.train", *args, "--validation", "50", "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: --validation 50: the training set has 50")
