"""Training that tells the truth: divergence stops a run, evaluation after a short run is sane."""

import html
import json
import math
import re

import numpy as np
import pytest
import torch

from pipelines.spec import PipelineSpec, make, preset
from playground import runs, train_view
from playground.training import aa_check, cli, compare, data, dist, recipes
from playground.training.augment import TrainBatches
from playground.training.checkpoints import load_checkpoint
from playground.training.loop import Run, eval_splits
from playground.training.metrics import MetricsLog
from playground.training.stop import StopFlag

TINY = ["--dataset", "synthetic", "--synthetic-size", "320", "--width", "4", "--batch-size", "32"]


def _status(run):
    return json.loads((run / "status.json").read_text())


def test_a_huge_learning_rate_stops_the_run_as_diverged(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--pipeline", "d2l-flip", *TINY, "--epochs", "3", "--lr", "1e4", "--out", str(out)]
    assert cli.main(args) == cli.EXIT_DIVERGED
    status = _status(out)
    assert status["state"] == "diverged" and status["step"] < status["total_steps"]
    message = status["message"]
    assert message.startswith(f"diverged at step {status['step']}: training loss ")
    assert " at lr " in message and "--lr 2.5e+03" in message and "\n" not in message
    records = MetricsLog(out / "metrics.jsonl").records()
    assert all(r["type"] != "summary" for r in records)  # never reported as finished
    assert message in capsys.readouterr().out
    run = runs.read_run(out)
    assert run.state == "diverged" and not run.live and not run.resumable
    shown = train_view.status_html(run)  # the Train tab says so, with the reason
    assert "<b>Diverged:</b> " + html.escape(message) in shown
    assert message in train_view.runs_table([run]).iloc[0]["note"]
    assert cli.main(["--resume", str(out)]) == 2
    assert "diverged" in capsys.readouterr().err


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """A loss that turns NaN in epoch 2: the run stops there, last.pt is epoch 1's."""
    make = recipes.make

    def poisoned(*args, **kwargs):
        opt, sched, criterion = make(*args, **kwargs)
        calls = []

        def loss(out, y):
            calls.append(1)
            value = criterion(out, y)
            return value * math.nan if len(calls) > 13 else value

        return opt, sched, loss

    monkeypatch.setattr(recipes, "make", poisoned)
    out = tmp_path / "run"
    assert cli.main(["--pipeline", "d2l-flip", *TINY, "--epochs", "3", "--out", str(out)]) == 3
    status = _status(out)
    assert status["state"] == "diverged" and "training loss nan" in status["message"]
    assert load_checkpoint(out / "last.pt")["step"] == 10  # the end of epoch 1, before the NaN
    assert (out / "best.pt").exists()
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert all("NaN" not in line for line in lines)  # metrics.jsonl stays JSON


def _short_run(tmp_path, lr):
    """A Run after 3 steps at a high learning rate (the report's 2,000 images at batch 512)."""
    argv = ["--pipeline", "d2l-flip", *TINY, "--lr", str(lr), "--out", str(tmp_path / "r")]
    cfg = cli.resolve(cli.parser().parse_args(argv))
    dataset = data.load(cfg)
    mean, std = dataset.channel_stats()
    cfg.update(normalize={"mean": mean, "std": std}, device_name="cpu", warmup_steps=1)
    (tmp_path / "r").mkdir()
    run = Run(
        cfg, dataset, tmp_path / "r", dist.Ranks(), torch.device("cpu"), StopFlag(), [].append
    )
    for i, (x, y) in enumerate(run.batches.epoch(0)):
        if i == 3:
            break
        run.train_step(x, y, y)
    return run


def test_evaluation_after_a_short_run_uses_batchnorm_statistics_of_the_current_weights(
    tmp_path, monkeypatch
):
    """Three steps at a high lr: the running statistics (an average that still gives the
    initial mean 0 / variance 1 most of the weight) made the test loss absurd; recomputed for
    the current weights it is what the model does with the test images' own statistics."""
    torch.manual_seed(0)
    run = _short_run(tmp_path, lr=0.5)
    with monkeypatch.context() as m:
        m.setattr(Run, "refresh_bn_stats", lambda self: None)  # the evaluation as it was
        stale_loss = run.evaluate()["test_loss"]
    test_loss = run.evaluate()["test_loss"]
    with torch.no_grad():  # train mode: each layer normalised by this batch's own statistics
        logits = run.model(run._normalized(run.test_x))
    batch_stats_loss = float(torch.nn.functional.cross_entropy(logits, run.test_y))
    assert stale_loss > 30 * batch_stats_loss  # 184 against 3.2
    assert test_loss < 1.5 * batch_stats_loss


def test_the_overfitting_gap_is_measured_on_other_un_augmented_images(tmp_path, monkeypatch):
    """Not the images BatchNorm's statistics were just recomputed on; the raw training images,
    as the test images are fed (no pipeline)."""
    for n in (10, 320, 2_000, 2_048, 50_000):
        bn, gap = eval_splits(n)
        assert bn.stop <= gap.start and gap.stop == n and bn.stop - bn.start > 0
        assert gap.stop - gap.start == min(1024, n // 2) and bn.stop - bn.start <= 1024
    run = _short_run(tmp_path, lr=0.05)
    seen = {}
    monkeypatch.setattr(Run, "refresh_bn_stats", lambda self: seen.setdefault("bn", self.bn_x))
    predict = Run._predict

    def recording(self, images, labels):
        seen.setdefault("predicted", []).append(images)
        return predict(self, images, labels)

    monkeypatch.setattr(Run, "_predict", recording)
    run.evaluate()
    raw = run.batches.images  # the training set as loaded, before any pipeline
    bn, gap = eval_splits(len(raw))
    assert torch.equal(seen["bn"], raw[bn])
    assert torch.equal(seen["predicted"][1], raw[gap])  # after the test images
    assert seen["predicted"][1].dtype == torch.uint8  # pixels as stored: not augmented
    assert not set(range(len(raw))[bn]) & set(range(len(raw))[gap])


def test_the_augmentation_seed_changes_only_the_draws():
    """An A/A pair: the same seed (weights, data order), another augmentation seed: the same
    images in the same order, other pixels; without --aug-seed, the draws follow --seed."""
    x, y = data.make_synthetic(256, 32, seed=0)
    dataset = data.Dataset(x, y, x[:8], y[:8], [str(i) for i in range(10)])
    spec = preset("cifar-standard")
    kwargs = {"batch": 32, "seed": 7, "device": torch.device("cpu")}
    a = list(TrainBatches(dataset, spec, **kwargs).epoch(0))
    same = list(TrainBatches(dataset, spec, **kwargs, aug_seed=7).epoch(0))
    b = list(TrainBatches(dataset, spec, **kwargs, aug_seed=1_000_007).epoch(0))
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, same, strict=True))
    assert all(torch.equal(p[1], q[1]) for p, q in zip(a, b, strict=True))  # same labels, order
    assert not torch.equal(a[0][0], b[0][0])


def test_the_aa_check_pairs_the_pipeline_with_itself(tmp_path, capsys):
    """`--aa`: pairs whose arms share the seed and differ in --aug-seed; the last line counts
    the verdicts that claimed an effect."""
    exp = tmp_path / "aa"
    tiny = ["--dataset", "synthetic", "--synthetic-size", "160", "--width", "4", "--epochs", "1"]
    args = ["--aa", "--pipeline", "d2l-flip", "--repeats", "2", "--out", str(exp), *tiny]
    assert compare.main([*args, "--device", "cpu"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"A/A: [0-2] of 2 claimed an effect", out[-1])
    for k in range(2):
        a, b = (json.loads((exp / f"aa0{k}-{arm}" / "config.json").read_text()) for arm in "ab")
        assert a["seed"] == b["seed"] == k and a["aug_seed"] != b["aug_seed"]
        assert a["pipeline"] == b["pipeline"] and not a["no_augment"] and not b["no_augment"]
        assert (a["batch_size"], a["total_steps"]) == (b["batch_size"], b["total_steps"])
    report = json.loads((exp / aa_check.AA_JSON).read_text())
    assert report["repeats"] == 2 and report["claimed"] == int(out[-1].split()[1])
    assert (exp / aa_check.AA_TXT).read_text().strip().splitlines()[-1] == out[-1]
    assert compare.main(["--aa", "--summarize", str(exp)]) == 0  # the report again, no training
    assert capsys.readouterr().out.strip().splitlines()[-1] == out[-1]


def test_evaluations_record_per_class_accuracy_and_the_end_saves_predictions(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["--pipeline", "d2l-flip", *TINY, "--epochs", "2", "--out", str(out)]) == 0
    evals = [r for r in MetricsLog(out / "metrics.jsonl").records() if r["type"] == "eval"]
    assert len(evals) == 2
    for record in evals:
        per_class = record["test_acc_per_class"]
        assert len(per_class) == 10 and all(0 <= a <= 1 for a in per_class)
        assert 0 <= record["train_eval_acc"] <= 1
    saved = np.load(out / "predictions.npz")
    assert saved["pred"].shape == saved["label"].shape == (64,)  # the test set, in its order
    assert (saved["pred"] == saved["label"]).mean() == pytest.approx(evals[-1]["test_acc"])
    labels = saved["label"]
    per_class = [(saved["pred"][labels == k] == k).mean() for k in range(10)]
    assert per_class == pytest.approx(evals[-1]["test_acc_per_class"], abs=1e-6)


def test_the_baseline_sees_the_same_images_in_the_same_order():
    """Paired arms: the pipeline changes the pixels of a batch, never which images are in it."""
    x, y = data.make_synthetic(256, 32, seed=0)
    dataset = data.Dataset(x, y, x[:8], y[:8], [str(i) for i in range(10)])
    kwargs = {"batch": 32, "seed": 7, "device": torch.device("cpu")}
    fallback = make([("RandomHorizontalFlip", {}), ("ElasticTransform", {})])
    arms = [preset("cifar-standard"), PipelineSpec(), fallback]
    for epoch in (0, 3):
        labels = [
            [b[1] for b in TrainBatches(dataset, spec, **kwargs).epoch(epoch)] for spec in arms
        ]
        assert all(torch.equal(a, b) for a, b in zip(labels[0], labels[1], strict=True))
        assert all(torch.equal(a, b) for a, b in zip(labels[0], labels[2], strict=True))
    plain = TrainBatches(dataset, PipelineSpec(), **kwargs)
    assert torch.equal(next(plain.epoch(0))[0], x[plain._order(0)[0]].float() / 255)


def test_one_command_runs_the_paired_experiment(tmp_path, capsys):
    exp = tmp_path / "exp"
    tiny = ["--dataset", "synthetic", "--synthetic-size", "320", "--width", "4"]
    args = ["--pipeline", "d2l-flip", "--out", str(exp), *tiny, "--epochs", "1", "--device", "cpu"]
    assert compare.main(args) == 0
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["seeds"] == [0] and summary["problems"] == []
    arms = summary["arms"]
    assert arms["augmented"]["runs"] == ["seed0-aug"] and arms["baseline"]["runs"] == [
        "seed0-noaug"
    ]
    assert arms["augmented"]["total_steps"] == arms["baseline"]["total_steps"] == 20
    aug, base = (
        json.loads((exp / f"seed0-{a}" / "config.json").read_text()) for a in ("aug", "noaug")
    )
    assert (aug["no_augment"], base["no_augment"]) == (False, True)
    assert aug["seed"] == base["seed"] and aug["batch_size"] == base["batch_size"]
    assert "verdict: " in (exp / "summary.txt").read_text()
    assert "verdict: " in capsys.readouterr().out


def test_the_app_refuses_to_resume_a_diverged_run(tmp_path, monkeypatch):
    from playground import jobs

    monkeypatch.setenv("PLAYGROUND_SINGLE_USER", "1")
    run = tmp_path / "20261123-120000-synthetic"
    run.mkdir()
    (run / "last.pt").write_bytes(b"")
    reason = "diverged at step 3: training loss nan at lr 0.2; try a lower peak lr"
    (run / "status.json").write_text(json.dumps({"state": "diverged", "message": reason}))
    with pytest.raises(jobs.JobError, match="diverged .*start a new run instead"):
        jobs.resume(run.name, "someone", root=tmp_path)
