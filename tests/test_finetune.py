"""Fine-tuning a torchvision model on your own data, through the training command: --model,
--weights, --finetune and --dataset upload:NAME wired into a run.

Fast: 32 px images, a few steps, no network (weights files are saved here from randomly
initialised models; the ImageNet weights come from a temporary torch hub cache).
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from pipelines.spec import preset
from playground import runs
from playground.training import archive, augment, cli, compare, datasets, dist, models, recipes
from playground.training import settings as run_settings
from playground.training.checkpoints import load_checkpoint
from playground.training.data import pil_to_uint8
from playground.training.model import resnet18
from playground.training.predict import as_tested, load_model, predict
from tests.test_archive import BLUE, RED, make_zip, png

TINY = ["--pipeline", "d2l-flip", "--image-size", "32", "--batch-size", "4", "--epochs", "1"]
SYNTHETIC = ["--dataset", "synthetic", "--synthetic-size", "40"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A checkpoints folder of its own, holding an uploaded data set `rb` (red and blue
    pictures, 12 each: 20 training and 4 test images after the 20% split)."""
    monkeypatch.setenv("PLAYGROUND_CHECKPOINTS", str(tmp_path / "checkpoints"))
    files = {f"red/{i:02d}.png": png(RED, (40, 30)) for i in range(12)}
    files |= {f"blue/{i:02d}.png": png(BLUE, (30, 40)) for i in range(12)}
    upload = make_zip(tmp_path / "rb.zip", files)
    datasets.import_archive(upload, datasets.default_root(), "rb", 64, 48)
    return tmp_path


def _weights_file(folder, name: str, classes: int = 5) -> str:
    """A state dict of a randomly initialised `name` (its head of another size: replaced)."""
    torch.manual_seed(1)
    built = models.build(name, classes, "none")
    gen = torch.Generator().manual_seed(2)
    for m in built.model.modules():  # statistics of their own, as pretrained weights have:
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):  # a reset would show
            m.running_mean.normal_(0, 0.05, generator=gen)
            m.running_var.uniform_(0.9, 1.1, generator=gen)
            m.num_batches_tracked.fill_(1000)
    path = folder / f"{name}.pt"
    torch.save(built.model.state_dict(), path)
    return str(path)


def _train(args: list[str], out) -> dict:
    assert cli.main([*args, "--out", str(out)]) == 0
    return json.loads((out / "config.json").read_text())


# ---- the settings ----------------------------------------------------------------------------


def test_the_settings_offer_the_models_table_and_the_form_shows_them():
    assert tuple(models.MODELS) == run_settings.MODEL_NAMES
    assert run_settings.by_name("model").choices == run_settings.MODEL_NAMES
    assert run_settings.by_name("finetune").choices == models.FINETUNE_CHOICES
    defaults = run_settings.defaults()
    assert (defaults["model"], defaults["weights"], defaults["finetune"]) == (
        "resnet18",
        "none",
        "all",
    )
    form = {d.name for d in run_settings.form_fields()}
    assert {"model", "weights", "finetune"} <= form  # the Train tab offers them too


def test_the_default_network_starts_from_the_weights_it_always_did():
    for seed, classes, width in ((0, 10, 8), (3, 2, 16)):
        torch.manual_seed(seed)
        old = resnet18(classes, width).state_dict()
        torch.manual_seed(seed)
        new = models.build("resnet18", classes, width=width).model.state_dict()
        assert list(old) == list(new)
        assert all(torch.equal(old[k], new[k]) for k in old)


def test_the_default_run_keeps_its_optimizer_and_records_the_model(tmp_path):
    out = tmp_path / "run"
    cfg = _train([*TINY, *SYNTHETIC], out)
    assert (cfg["model"], cfg["weights"], cfg["finetune"]) == ("resnet18", "none", "all")
    assert cfg["model_summary"]["params_frozen"] == 0
    # the CIFAR network: the data's own statistics, at the training size
    assert cfg["eval_transform"]["crop"] == cfg["eval_transform"]["resize"] == 32
    assert cfg["eval_transform"]["mean"] == cfg["normalize"]["mean"]
    groups = load_checkpoint(out / "last.pt")["optimizer"]["param_groups"]
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0] and "name" not in groups[0]
    assert "model resnet18 (10 classes" in (out / "train.log").read_text()


def test_groups_at_one_rate_are_the_recipes_default_groups():
    model = resnet18(3, 4)
    for recipe in recipes.RECIPES:
        plain, _, _ = recipes.make(recipe, model, 0.1, 10, 2)
        built = models.Built(model, "9", {"backbone_lr_ratio": 0.1})
        grouped, sched, _ = recipes.make(recipe, model, 0.1, 10, 2, models.param_groups(built))
        ids = [[id(p) for p in g["params"]] for g in plain.param_groups]
        assert sorted(sum(ids, [])) == sorted(
            id(p) for g in grouped.param_groups for p in g["params"]
        )
        lrs = {g["name"]: g["lr"] for g in grouped.param_groups}
        assert lrs["head"] == pytest.approx(10 * lrs["backbone"])
        for _ in range(3):
            grouped.step()
            sched.step()
        lrs = {g["name"]: g["lr"] for g in grouped.param_groups}
        assert lrs["head"] == pytest.approx(10 * lrs["backbone"])  # the schedule keeps the ratio


# ---- fine-tuning a torchvision model -----------------------------------------------------------


@pytest.mark.parametrize("finetune", ["head", "all"])
def test_an_upload_fine_tunes_from_a_weights_file(root, finetune):
    path = _weights_file(root, "mobilenet_v3_small")
    out = root / f"run-{finetune}"
    args = [*TINY, "--dataset", "upload:rb", "--model", "mobilenet_v3_small"]
    cfg = _train([*args, "--weights", path, "--finetune", finetune], out)
    assert cfg["classes"] == ["blue", "red"] and cfg["train_size"] == 20
    # stored at the run's size: the weights' 256 -> 224 proportion at a 32 px crop
    assert cfg["eval_transform"]["resize"] == 37 and cfg["eval_transform"]["crop"] == 32
    assert "store-37-32" in datasets.read_manifest(datasets.default_root(), "rb")["stores"]
    imagenet = models.preprocess("mobilenet_v3_small")
    assert cfg["normalize"]["mean"] == list(imagenet.mean) == cfg["eval_transform"]["mean"]
    summary = cfg["model_summary"]
    assert summary["weights"] == path and summary["finetune"] == finetune
    assert summary["head"] == "classifier.3"

    saved = torch.load(path, weights_only=True)
    trained = load_checkpoint(out / "last.pt")["model"]
    assert trained["classifier.3.weight"].shape == (2, 1024)
    moved = {
        k
        for k in saved
        if not k.startswith("classifier.3.") and not torch.equal(saved[k], trained[k])
    }
    if finetune == "head":
        # nothing of the backbone moved: no weight, no BatchNorm statistic
        assert moved == set()
        assert summary["params_trainable"] == 2 * 1024 + 2 and summary["params_frozen"] > 0
    else:
        assert any(k.endswith(".weight") and "bn" not in k for k in moved)
        assert summary["params_frozen"] == 0 and summary["backbone_lr_ratio"] == 0.1
    log = (out / "train.log").read_text()
    assert f"model mobilenet_v3_small (2 classes, new head classifier.3), weights {path}" in log
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "finished"
    model, config = load_model(out)  # the Train tab's Predict: the run's architecture
    top = predict(model, config, Image.new("RGB", (50, 30), RED), topk=2)
    assert {name for name, _ in top} == {"blue", "red"}


def test_a_picture_is_predicted_as_an_uploads_test_images_were_made():
    gradient = np.add.outer(np.arange(30), np.arange(50)).astype(np.uint8)  # 30 high, 50 wide
    picture = Image.fromarray(np.stack([gradient, gradient * 2, 255 - gradient], -1))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    config = {"dataset": "upload:x", "image_size": 24, "eval_transform": {"resize": 27}}
    stored = archive.decode(buffer.getvalue(), 27, 24, 10**6)
    assert torch.equal(as_tested(picture, config), torch.from_numpy(stored.copy()))
    square = {"dataset": "folder:x", "image_size": 24}
    assert torch.equal(as_tested(picture, square), pil_to_uint8(picture, 24))


def test_imagenet_weights_from_the_cache_and_a_resume_without_the_file(root, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(root / "hub"))
    folder, file, _ = models.weights_file("resnet18-imagenet")
    folder.mkdir(parents=True)
    torch.manual_seed(5)
    imagenet_like = torchvision.models.resnet18()
    torch.save(imagenet_like.state_dict(), folder / file)

    out = root / "run"
    args = [*TINY, *SYNTHETIC, "--model", "resnet18-imagenet", "--weights", "imagenet"]
    cfg = _train(args, out)
    summary = cfg["model_summary"]
    assert summary["weights_enum"] == "ResNet18_Weights.IMAGENET1K_V1"
    assert cfg["normalize"] == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    assert cfg["image_size"] == 32 and cfg["eval_transform"]["how"] == "resized to 32 x 32"
    ckpt = load_checkpoint(out / "last.pt")
    lrs = {g["name"]: g["lr"] for g in ckpt["optimizer"]["param_groups"]}
    assert set(lrs) == {"backbone", "backbone (no decay)", "head", "head (no decay)"}
    assert lrs["backbone"] == pytest.approx(0.1 * lrs["head"])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last_train = [r for r in records if r["type"] == "train"][-1]
    assert last_train["lr"] > lrs["backbone"]  # the log shows the head's (the schedule's) rate

    (folder / file).unlink()  # resuming needs no weights: the checkpoint has them
    assert cli.main(["--resume", str(out)]) == 0


def test_an_image_size_is_the_weights_crop_unless_given(root, capsys):
    args = ["--pipeline", "d2l-flip", "--dataset", "upload:rb", "--model", "mobilenet_v3_small"]
    assert cli.main([*args, "--check"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["image_size"] == 224 and cfg["eval_transform"]["resize"] == 256
    assert cfg["eval_transform"]["how"] == "shorter side to 256 (bicubic), centre crop 224"
    # --check decodes nothing: the store at that size is made when the run starts
    assert "store-256-224" not in datasets.read_manifest(datasets.default_root(), "rb")["stores"]


# ---- the paired experiment ------------------------------------------------------------------


def test_the_paired_experiment_fine_tunes_both_arms_from_the_same_start(root, capsys):
    path = _weights_file(root, "mobilenet_v3_small")
    exp = root / "exp"
    flags = [*TINY[2:], "--dataset", "upload:rb", "--model", "mobilenet_v3_small"]
    flags += ["--weights", path, "--device", "cpu"]
    assert compare.run_experiment(exp, "d2l-flip", 1, flags) == 0
    arms = [exp / "seed0-aug", exp / "seed0-noaug"]
    configs = [json.loads((arm / "config.json").read_text()) for arm in arms]
    assert [c["no_augment"] for c in configs] == [False, True]
    for key in ("model", "weights", "seed", "batch_size", "total_steps", "classes"):
        assert configs[0][key] == configs[1][key], key
    # both started from the weights file (and the same new head, drawn from the seed) and
    # take the images in the same order
    torch.manual_seed(0)
    expected = models.build("mobilenet_v3_small", 2, path).model
    order = augment.epoch_order(20, 0, 0, 5, 4).numpy().astype("<i8")  # 20 images, batch 4
    expected = (
        f"initial weights {dist.weight_digest(expected)[:16]}, "
        f"data order of epoch 1 {hashlib.sha256(order.tobytes()).hexdigest()[:16]}"
    )
    assert [compare.start_of(arm) for arm in arms] == [expected, expected]
    summary = json.loads((exp / compare.SUMMARY_JSON).read_text())
    assert summary["problems"] == [] and summary["classes"] == ["blue", "red"]
    assert summary["verdict"].startswith("this seed only")
    assert "verdict: this seed only" in capsys.readouterr().out

    # arms that did not start alike are said to be unpaired
    log = arms[1] / "train.log"
    log.write_text(log.read_text().replace("initial weights ", "initial weights 0"))
    problems = compare.summarize([arms[0]], [arms[1]])["problems"]
    assert len(problems) == 1 and "did not start alike" in problems[0]


# ---- ImageNet weights this server does not have -------------------------------------------------


def test_imagenet_weights_offline_and_not_cached_are_said_in_the_pages_words(root, monkeypatch):
    from playground import jobs, train_form, train_view
    from playground.train_view import preflight
    from playground.ui import train_start

    # an empty torch hub cache, for the check's process too; the download host unreachable
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    monkeypatch.setattr(jobs.checks, "url_reachable", lambda url: False)
    monkeypatch.setattr(preflight, "_PREVIEWS", {})
    folder = str(root / "torch" / "hub" / "checkpoints")
    file = "mobilenet_v3_small-047dcff4.pth"
    values = train_form.form_defaults(
        dataset="upload", upload="rb", model="mobilenet_v3_small", weights="imagenet",
        finetune="head", epochs=1, device="cpu",
    )  # fmt: skip
    spec = preset("d2l-flip")
    gallery, _, message, *_ = train_start.on_preview(spec, False, *values)
    assert gallery is None
    assert message.startswith(
        f"⚠️ The ImageNet weights of mobilenet_v3_small are not on this server (it looks in "
        f"{folder}) and this server cannot download them (no connection to download.pytorch.org)"
    )
    assert f"put {file} into {folder}" in message
    assert 'Choose "none" under Start from (weights)' in message and "--weights" not in message
    message, *_ = train_start.on_start(
        spec, False, 1, preflight.AGAINST_NONE, None, "me", None, *values
    )
    assert message.startswith("⚠️ The ImageNet weights of mobilenet_v3_small are not on this")
    assert not list(runs.list_runs())  # nothing started, no folder left behind
    assert not (root / "torch" / "hub").exists()  # the check downloaded nothing

    # reachable: the preview says the run downloads them (and times no probe that would)
    monkeypatch.setattr(jobs.checks, "url_reachable", lambda url: True)
    monkeypatch.setattr(train_view, "describe_estimate", lambda *a: ("**Estimate:** -", True))
    gallery, _, message, *_ = train_start.on_preview(spec, False, *values)
    # the first batch, decoded at the model's size (the upload's store is made for it)
    assert gallery and all(image.size == (224, 224) for image, _ in gallery)
    assert message == (
        f"Settings are valid. The ImageNet weights of mobilenet_v3_small are not in {folder} "
        f"yet: the run downloads {file} (10 MB) when it starts."
    )


def test_the_estimate_times_its_probe_without_downloading_weights(monkeypatch, tmp_path):
    from playground import estimate, jobs

    commands = []

    def run_quietly(cmd, timeout):
        commands.append(cmd)
        return 1, "", "error: stopped here"

    monkeypatch.setattr(estimate, "run_quietly", run_quietly)
    settings = jobs.Settings(model="mobilenet_v3_small", weights="imagenet", finetune="head")
    cfg = {"device": "cpu", "batch_size": 32, "world_size": 1}
    with pytest.raises(jobs.JobError, match="stopped here"):
        estimate.measure_images_per_s(settings, tmp_path / "pipeline.json", cfg)
    probe = " ".join(commands[0])
    assert "--model mobilenet_v3_small" in probe and "--finetune head" in probe
    assert "--weights" not in probe  # none, the default: the speed does not depend on them


def test_a_failed_download_at_the_start_of_a_run_is_said_in_the_pages_words(root, monkeypatch):
    from playground import train_view
    from tests.test_models import _offline

    _offline(monkeypatch, root)
    with pytest.raises(models.WeightsError) as err:
        models.build("mobilenet_v3_small", 2, "imagenet")
    run = root / "checkpoints" / "offline"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "failed", "pid": 1, "message": ""}))
    (run / "log.txt").write_text(f"$ python -m playground.train\nerror: {err.value}\n")
    text = train_view.run_message(runs.find_run("offline"))
    folder = str(root / "hub" / "checkpoints")
    assert text.startswith(
        f"The ImageNet weights of mobilenet_v3_small are not on this server (it looks in {folder})"
        " and could not be downloaded ([Errno -3] Temporary failure in name resolution)."
    )
    assert "put mobilenet_v3_small-047dcff4.pth into" in text and "--weights" not in text


# ---- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (lambda t: ["--model", "mobilenet_v3_small", "--weights", _weights_file(t, "resnet18-imagenet")],
         ["does not fit this model", "missing classifier.0.bias", "extra bn1.bias"]),
        (lambda t: ["--weights", str(t / "absent.pt")], ["--weights: no file at"]),
        (lambda t: ["--weights", "imagenet"], ["has no ImageNet weights", "resnet18-imagenet"]),
        (lambda t: ["--model", "vgg16"], ["--model", "invalid choice"]),
        (lambda t: ["--finetune", "some"], ["--finetune", "invalid choice"]),
        (lambda t: ["--dataset", "upload:nothing"], ["no data set named 'nothing'"]),
    ],
)  # fmt: skip
def test_bad_models_and_weights_are_one_error_line(root, capsys, args, words):
    out = root / "run"
    argv = [*TINY, *SYNTHETIC, *args(root), "--out", str(out)]  # a later --dataset wins
    assert cli.main([*argv, "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert all(w in err for w in words), err
    assert not out.exists()
