"""Fast tests of the training engine: model, data, batches, checkpoints, metrics, CLI, a tiny run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.catalogue import CATALOGUE
from pipelines.spec import PipelineSpec, from_dict, make, preset
from playground.training import cli
from playground.training.augment import TrainBatches, epoch_order, rank_part
from playground.training.checkpoints import CheckpointError, load_checkpoint, write_checkpoint
from playground.training.data import DataError, Dataset, load, make_synthetic, scan
from playground.training.metrics import MetricsLog
from playground.training.model import resnet18
from playground.training.predict import load_model, predict
from playground.training.preview import first_batch_preview

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "synthetic", "--synthetic-size", "320", "--width", "4", "--batch-size", "32"]


# ---- model ---------------------------------------------------------------------------------


def test_model_is_d2l_resnet18_for_cifar():
    model = resnet18(10)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962  # d2l's 11.18M (BN shortcuts)
    stem = model[0]
    assert (stem.kernel_size, stem.stride) == ((3, 3), (1, 1))
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert model[:3](torch.zeros(1, 3, 32, 32)).shape[-1] == 32  # no downsampling in the stem


# ---- data ----------------------------------------------------------------------------------


def test_synthetic_set_is_deterministic_and_balanced():
    x, y = make_synthetic(200, 32, seed=3)
    x2, y2 = make_synthetic(200, 32, seed=3)
    assert x.dtype == torch.uint8 and x.shape == (200, 3, 32, 32)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert torch.bincount(y).tolist() == [20] * 10
    assert not torch.equal(x, make_synthetic(200, 32, seed=4)[0])


def _folder(root, split="test", sizes=((40, 30), (64, 64))):
    for s, cls in [("train", "happy"), ("train", "sad"), (split, "happy"), (split, "sad")]:
        (root / s / cls).mkdir(parents=True, exist_ok=True)
        for i, size in enumerate(sizes):
            colour = (200, 10, 10) if cls == "happy" else (10, 10, 200)
            Image.new("RGB", size, colour).save(root / s / cls / f"{i}.png")
    return root


@pytest.mark.parametrize("split", ["test", "val"])
def test_folder_dataset_is_resized_to_the_training_size(tmp_path, split):
    root = _folder(tmp_path, split)
    assert scan(f"folder:{root}", "", 0) == {
        "train_size": 4,
        "test_size": 4,
        "classes": ["happy", "sad"],
        "ready": True,
    }
    cfg = {
        "dataset": f"folder:{root}",
        "data_dir": "",
        "image_size": 24,
        "synthetic_size": 0,
        "subset": None,
    }
    data = load(cfg)
    assert data.train_x.shape == (4, 3, 24, 24) and data.test_x.shape == (4, 3, 24, 24)
    red = data.train_x[:, 0].float().mean((1, 2)) > 100
    assert torch.equal(red, data.train_y == 0)  # labels follow the class folders
    assert set(load({**cfg, "subset": 2}).train_y.tolist()) <= {0, 1}


@pytest.mark.parametrize(
    ("make_tree", "words"),
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: (root / "train").mkdir() or root, "must hold train"),
        (
            lambda root: [(root / d / "a").mkdir(parents=True) for d in ("train", "test")] and root,
            "no training images",
        ),
    ],
)
def test_folder_errors_say_what_is_wrong(tmp_path, make_tree, words):
    with pytest.raises(DataError, match=words):
        scan(f"folder:{make_tree(tmp_path)}", "", 0)


# ---- batches -------------------------------------------------------------------------------


def test_epoch_order_splits_global_batches_over_ranks():
    order = epoch_order(100, seed=1, epoch=2, steps=5, batch=16)
    assert order.shape == (5, 16) and len(set(order.flatten().tolist())) == 80
    assert not torch.equal(order, epoch_order(100, seed=1, epoch=3, steps=5, batch=16))
    for world in (1, 2, 3, 8):  # the ranks' parts make up each global batch, one image apart
        parts = [order[:, rank_part(16, world, r)] for r in range(world)]
        assert torch.equal(torch.cat(parts, dim=1), order)
        assert max(p.shape[1] for p in parts) - min(p.shape[1] for p in parts) <= 1


def test_each_rank_takes_its_part_of_the_same_global_batches():
    """3 processes split a batch of 16 as 6 + 5 + 5: together the images one process sees."""
    kwargs = {"batch": 16, "seed": 5, "device": torch.device("cpu")}
    spec = PipelineSpec()
    whole = [y for _, y in TrainBatches(_dataset(), spec, **kwargs).epoch(1)]
    ranks = [
        [y for _, y in TrainBatches(_dataset(), spec, **kwargs, rank=r, world=3).epoch(1)]
        for r in range(3)
    ]
    assert [len(r[0]) for r in ranks] == [5, 5, 6]
    for step, labels in enumerate(whole):
        assert torch.equal(torch.cat([r[step] for r in ranks]), labels)


def _dataset(n=64):
    x, y = make_synthetic(n, 32, seed=0)
    return Dataset(x, y, x[:8], y[:8], [str(i) for i in range(10)])


def test_batches_are_a_function_of_seed_epoch_and_step():
    kwargs = {"batch": 16, "seed": 5, "device": torch.device("cpu")}
    a = list(
        TrainBatches(_dataset(), preset("d2l-combined").with_output_size(32), **kwargs).epoch(1)
    )
    b = list(
        TrainBatches(_dataset(), preset("d2l-combined").with_output_size(32), **kwargs).epoch(
            1, start=2
        )
    )
    assert len(a) == 4 and all(torch.equal(x, y) for (x, _), (y, _) in zip(a[2:], b, strict=True))
    assert a[0][0].dtype == torch.float32 and a[0][0].shape == (16, 3, 32, 32)


def test_fallback_is_logged_and_independent_of_worker_count():
    spec = make([("RandomHorizontalFlip", {}), ("ElasticTransform", {}), ("JPEG", {})])
    messages = []
    batches = [
        list(
            TrainBatches(
                _dataset(),
                spec,
                batch=16,
                seed=0,
                device=torch.device("cpu"),
                workers=w,
                log=messages.append,
            ).epoch(0)
        )
        for w in (0, 2)
    ]
    reasons = {t.name: t.batched.reason for t in CATALOGUE}  # the catalogue declares why
    assert messages[0] == (
        "fallback: ElasticTransform, JPEG have no batched kernel "
        f"(ElasticTransform: {reasons['ElasticTransform']}; JPEG: {reasons['JPEG']}); "
        "using per-image torchvision in 0 workers for the whole pipeline; "
        "an image a step resized is resized back to 32 px"
    )
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(*batches, strict=True))


@pytest.mark.parametrize(
    "step",
    [
        ("RandomResize", {"min_size": 20, "max_size": 48}),
        ("RandomZoomOut", {}),
        ("Pad", {"padding": 4}),
        ("RandomRotation", {"degrees": 30.0, "expand": True}),
    ],
)
def test_a_step_that_changes_the_size_trains_at_the_training_size(step):
    """Each image's output of a size-changing step is resized back, so batches stack (it
    crashed in the collate step before)."""
    data = _dataset()
    batches = TrainBatches(
        data, make([step]), batch=16, seed=0, device=torch.device("cpu"), log=lambda _: None
    )
    x, _ = next(iter(batches.epoch(0)))
    assert x.shape == (16, 3, *data.train_x.shape[-2:])


# ---- checkpoints and metrics ---------------------------------------------------------------


def test_checkpoint_round_trip_and_atomic_replace(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    write_checkpoint(path, {"model": {"w": torch.ones(3)}, "step": 1})
    assert load_checkpoint(path)["step"] == 1

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_checkpoint(path, {"model": {"w": torch.zeros(3)}, "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1  # the old checkpoint survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # and no temporary file is left


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated"),
        (lambda p: p.write_bytes(b"not a checkpoint at all"), "truncated"),
        (lambda p: torch.save({"weights": torch.ones(1)}, p), "not a checkpoint of this program"),
        (
            lambda p: torch.save({"format": "playground-checkpoint", "x": np.dtype("float32")}, p),
            "not a checkpoint",
        ),
    ],
)
def test_damaged_or_foreign_checkpoints_are_refused(tmp_path, damage, words):
    path = tmp_path / "last.pt"
    write_checkpoint(path, {"model": {"w": torch.ones(1000)}})
    damage(path)
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(path)


def test_metrics_resume_drops_lines_after_the_checkpoint(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in (2, 4, 6, 8):
        log.append({"type": "train", "step": step})
    log.append({"type": "eval", "step": 8})
    log.append({"type": "train", "step": 10})
    with open(log.path, "a") as f:
        f.write('{"type": "train", "st')  # a line cut short by SIGKILL
    log.truncate_after(8)
    assert [(r["type"], r["step"]) for r in log.records()] == [
        ("train", s) for s in (2, 4, 6, 8)
    ] + [("eval", 8)]


def test_metrics_deleted_or_cut_mid_run_are_restored_not_restarted(tmp_path, capsys):
    # A metrics.jsonl deleted while the run trained made the curves start over from that step.
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in (1, 2, 3):
        log.append({"type": "train", "step": step, "train_loss": 1.0 / step})
    log.path.unlink()
    log.append({"type": "train", "step": 4})
    assert [r["step"] for r in log.records()] == [1, 2, 3, 4]
    data = log.path.read_bytes()
    log.path.write_bytes(data[: len(data) // 2])  # cut short
    log.append({"type": "eval", "step": 4})
    assert [(r["type"], r["step"]) for r in log.records()][-2:] == [("train", 4), ("eval", 4)]
    assert len(log.records()) == 5 and log.restored == 2
    assert "metrics.jsonl was deleted or changed during the run" in capsys.readouterr().out
    log.append({"type": "train", "step": 5})  # untouched since: a plain append
    assert log.restored == 2 and len(log.records()) == 6


# ---- command line --------------------------------------------------------------------------


def _bad_pipeline(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        '{"format": "augmentation-pipeline", "version": 1, "steps": [{"transform": "Nope"}]}'
    )
    return str(path)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (lambda t: ["--pipeline", "no-such-preset", *TINY], "cannot read"),
        (lambda t: ["--pipeline", _bad_pipeline(t), *TINY], "unknown transform"),
        (
            lambda t: ["--pipeline", "d2l-flip", "--dataset", f"folder:{t / 'nowhere'}"],
            "does not exist",
        ),
        (
            lambda t: [
                "--pipeline",
                "d2l-flip",
                "--dataset",
                f"folder:{(t / 'e' / 'train').mkdir(parents=True) or t / 'e'}",
            ],
            "must hold",
        ),
        (
            lambda t: ["--pipeline", "d2l-flip", *TINY, "--epochs", "0"],
            "--epochs must be between 1 and 10000, got 0",
        ),
        (
            lambda t: ["--pipeline", "d2l-flip", *TINY, "--lr", "-1"],
            "--lr must be at least 1e-06, got -1",
        ),
        (
            lambda t: ["--pipeline", "d2l-flip", *TINY, "--image-size", "4"],
            "--image-size must be between 8 and 512, got 4",
        ),
        (
            lambda t: ["--pipeline", "d2l-flip", *TINY, "--batch-size", "1000"],
            "larger than the training set",
        ),
        (lambda t: ["--resume", str(t / "no-run")], "no run there"),
        (lambda t: ["--pipeline", "d2l-flip", "--bogus"], "unrecognized arguments"),
        (lambda t: ["--pipeline", "d2l-flip", *TINY, "--amp", "fp8"], "invalid choice"),
    ],
)
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, capsys, args, words):
    out = tmp_path / "run"
    assert cli.main([*args(tmp_path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert (
        captured.err.count("\n") == 1
        and captured.err.startswith("error: ")
        and words in captured.err
    )
    assert not out.exists() and captured.out == ""


def test_check_prints_the_resolved_config(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["--pipeline", "d2l-combined", *TINY, "--out", str(out), "--check"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["image_size"] == 32 and cfg["pipeline_output_size"] == 200
    sizes = [s["params"]["size"] for s in cfg["train_pipeline"]["steps"] if "size" in s["params"]]
    assert sizes == [32] and cfg["batched"] and cfg["fallback"] == []
    assert (
        cfg["train_size"] == 320
        and cfg["world_size"] == 1
        and cfg["lr"] == pytest.approx(0.2 * 32 / 512)
    )
    assert not out.exists()


def test_training_never_imports_gradio():
    code = "import sys, playground.train, playground.training.predict, playground.training.preview; print('gradio' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": "."},
    )
    assert done.stdout.strip() == "False", done.stderr


def test_help_documents_the_flags(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for flag in (
        "--pipeline",
        "--dataset",
        "--epochs",
        "--batch-size",
        "--recipe",
        "--amp",
        "--device",
        "--nproc",
        "--subset",
        "--out",
        "--resume",
        "--no-augment",
        "--check",
        "--width",
        "--seed",
        "torchrun",
    ):
        assert flag in text


# ---- a tiny run end to end -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert (
        cli.main(
            [
                "--pipeline",
                "d2l-combined",
                *TINY,
                "--subset",
                "128",
                "--epochs",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_a_run_leaves_its_files(tiny_run):
    assert {p.name for p in tiny_run.iterdir()} >= {
        "config.json",
        "metrics.jsonl",
        "last.pt",
        "best.pt",
        "status.json",
    }
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["pipeline"] == preset("d2l-combined").to_dict() and config["image_size"] == 32
    assert {
        "versions",
        "device_name",
        "world_size",
        "classes",
        "normalize",
        "epochs",
        "seed",
    } <= set(config)
    records = MetricsLog(tiny_run / "metrics.jsonl").records()
    assert [r["type"] for r in records] == ["train"] * 4 + [
        "eval",
        "summary",
    ]  # 4 steps: 4 log points
    status = json.loads((tiny_run / "status.json").read_text())
    assert status["state"] == "finished" and status["step"] == status["total_steps"] == 4
    ckpt = load_checkpoint(tiny_run / "last.pt")
    assert ckpt["step"] == 4 and set(ckpt["model"]) == set(resnet18(10, 4).state_dict())


def test_a_runs_pipeline_json_is_what_it_applied_with_the_original_beside_it(tiny_run):
    """Issue 17: d2l-combined crops to 200 px; the run trains at 32, so its pipeline.json (the
    download) must say 32, and the pipeline as given is kept beside it."""
    applied = from_dict(json.loads((tiny_run / "pipeline.json").read_text()))
    config = json.loads((tiny_run / "config.json").read_text())
    assert applied == from_dict(config["train_pipeline"]) and applied.output_size() == 32
    original = from_dict(json.loads((tiny_run / "pipeline-original.json").read_text()))
    assert original == preset("d2l-combined") and original.output_size() == 200


def test_a_baselines_pipeline_json_is_empty(tmp_path):
    out = tmp_path / "base"
    args = ["--pipeline", "d2l-combined", *TINY, "--subset", "64", "--epochs", "1"]
    assert cli.main([*args, "--no-augment", "--out", str(out)]) == 0
    assert from_dict(json.loads((out / "pipeline.json").read_text())).steps == ()
    assert from_dict(json.loads((out / "pipeline-original.json").read_text())) == preset(
        "d2l-combined"
    )


def test_predict_uses_the_runs_model(tiny_run):
    model, config = load_model(tiny_run)
    top = predict(model, config, Image.new("RGB", (50, 40), (120, 30, 200)), topk=3)
    assert len(top) == 3 and all(name in config["classes"] for name, _ in top)
    assert top[0][1] >= top[1][1] >= top[2][1] and sum(p for _, p in top) <= 1.0 + 1e-6


def test_first_batch_preview_is_the_first_training_batch(tiny_run):
    config = json.loads((tiny_run / "config.json").read_text())
    images = first_batch_preview(config)
    assert len(images) == 32 and images[0].size == (32, 32) and images[0].mode == "RGB"
    spec = from_dict(config["train_pipeline"])
    batches = TrainBatches(load(config), spec, batch=32, seed=0, device=torch.device("cpu"))
    first, _ = next(batches.epoch(0))
    expected = first[5].mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(images[5]), expected)
