"""CutMix and MixUp in training: per batch, soft targets for the loss, accuracy on true labels."""

import json

import pytest
import torch

from pipelines.build import build_batch
from pipelines.spec import make
from playground import train_view
from playground.training import cli, data, dist
from playground.training.augment import TrainBatches
from playground.training.data import Dataset, make_synthetic
from playground.training.loop import Run
from playground.training.stop import StopFlag

CPU = torch.device("cpu")
FLIP = ("RandomHorizontalFlip", {"p": 0.5})


def _dataset(n=96, classes=10):
    x, y = make_synthetic(n, 32, seed=0)
    y = y % classes
    return Dataset(x, y, x[:8], y[:8], [f"c{i}" for i in range(classes)])


def _batches(spec, dataset=None, **kwargs):
    kwargs = {"batch": 16, "seed": 5, "device": CPU, "log": [].append, **kwargs}
    return TrainBatches(dataset or _dataset(), spec, **kwargs)


@pytest.mark.parametrize("mixer", ["CutMix", "MixUp"])
def test_training_batches_are_mixed_with_soft_targets_and_keep_true_labels(mixer):
    spec = make([FLIP, (mixer, {"alpha": 1.0, "num_classes": 10})])
    batches = _batches(spec)
    (x, y), (mx, target, labels) = next(batches.epoch(0)), next(batches.training(0))
    assert torch.equal(labels, y)  # the true labels, for accuracy
    assert target.shape == (16, 10) and target.dtype == torch.float32
    assert torch.allclose(target.sum(dim=1), torch.ones(16))
    # each row mixes the image's own class with its partner's (the batch rolled by one)
    partner = y.roll(1, 0)
    own = target[torch.arange(16), y]
    other = target[torch.arange(16), partner]
    assert torch.allclose(own + other * (partner != y), torch.ones(16), atol=1e-6)
    assert own.min() > 0 and own.max() <= 1
    assert not torch.equal(mx, x)  # the pixels were mixed too
    if mixer == "MixUp":
        lam = float(own[(partner != y)][0])  # one ratio for the whole batch
        assert torch.allclose(mx, x * lam + x.roll(1, 0) * (1 - lam), atol=1e-6)


def test_mixing_is_a_function_of_seed_epoch_and_step_and_resumes_exactly():
    spec = make([FLIP, ("CutMix", {"alpha": 1.0, "num_classes": 10})])
    whole = list(_batches(spec).training(1))
    again = list(_batches(spec).training(1))
    resumed = list(_batches(spec).training(1, start=2))
    assert len(whole) == 6 and len(resumed) == 4
    for a, b in zip(whole, again, strict=True):
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    for a, b in zip(whole[2:], resumed, strict=True):
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    other_seed = next(_batches(spec, seed=6).training(1))
    assert not torch.equal(other_seed[1], whole[0][1])
    # the draws leave the global generator, which the rest of the run uses, where it was
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    next(_batches(spec).training(0))
    assert torch.equal(torch.rand(3), expected)


def test_a_sometimes_mixing_step_still_gives_soft_targets_every_step():
    """CutMix at p = 0.5: unmixed batches get one-hot rows, so the loss sees one shape."""
    spec = make([("CutMix", {"alpha": 1.0, "num_classes": 10}, 0.5)])
    rows = [t for _, t, _ in _batches(spec).training(0)]
    assert all(t.shape == (16, 10) for t in rows)
    one_hot = [bool(((t == 0) | (t == 1)).all()) for t in rows]
    assert any(one_hot) and not all(one_hot)


def test_mixing_is_fitted_to_the_data_sets_classes():
    """A pipeline saved for CIFAR-10 (10 classes) trains on a 3-class folder set."""
    spec = make([("MixUp", {"alpha": 0.4, "num_classes": 10})])
    log = []
    batches = _batches(spec, dataset=_dataset(classes=3), log=log.append)
    _, target, _ = next(batches.training(0))
    assert target.shape == (16, 3)
    assert any("mixing: MixUp per batch" in line and "3 classes" in line for line in log)
    assert build_batch(spec.with_num_classes(3)).transforms[0].num_classes == 3


def test_without_mixing_steps_the_targets_are_the_labels():
    batches = _batches(make([FLIP]))
    x, target, y = next(batches.training(0))
    assert target is y and batches.mix is None


def test_the_loss_learns_the_soft_target_and_accuracy_counts_the_true_labels(tmp_path):
    argv = ["--pipeline", "d2l-flip", "--dataset", "synthetic", "--synthetic-size", "320"]
    argv += ["--width", "4", "--batch-size", "32", "--out", str(tmp_path / "r")]
    cfg = cli.resolve(cli.parser().parse_args(argv))
    dataset = data.load(cfg)
    mean, std = dataset.channel_stats()
    cfg.update(normalize={"mean": mean, "std": std}, device_name="cpu", lr=0.0)
    (tmp_path / "r").mkdir()
    run = Run(cfg, dataset, tmp_path / "r", dist.Ranks(), CPU, StopFlag(), [].append)
    outputs = []
    run.model.register_forward_hook(lambda module, args, out: outputs.append(out.detach()))
    losses = []
    run.criterion = lambda out, target: (
        losses.append(target) or torch.nn.functional.cross_entropy(out, target)
    )
    x, y = next(run.batches.epoch(0))
    wrong = (y + 1) % 10
    soft = torch.nn.functional.one_hot(wrong, 10).float()
    run.train_step(x, soft, y)
    assert losses[0] is soft
    assert run.interval[1] == (outputs[0].argmax(dim=1) == y).sum()
    assert run.interval[2] == 32


def test_a_cli_run_with_cutmix_trains_and_says_so(tmp_path):
    pipeline = tmp_path / "cutmix.json"
    spec = make([FLIP, ("CutMix", {"alpha": 1.0, "num_classes": 10})])
    pipeline.write_text(spec.to_json())
    out = tmp_path / "run"
    argv = ["--pipeline", str(pipeline), "--dataset", "synthetic", "--synthetic-size", "320"]
    argv += ["--width", "4", "--batch-size", "32", "--epochs", "1", "--out", str(out)]
    assert cli.main(argv) == 0
    log = (out / "train.log").read_text()
    assert "mixing: CutMix per batch of 32" in log
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "finished"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if "train_acc" in r]
    assert train and all(0 <= r["train_acc"] <= 1 for r in train)
    # the Train tab's first-batch view shows the mixed images with their soft targets
    cfg = json.loads((out / "config.json").read_text())
    shown = train_view.first_batch(cfg, count=16)
    assert any(" + " in caption for _, caption in shown)
