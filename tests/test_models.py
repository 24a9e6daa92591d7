"""The curated models: each builds, loads a weights file, and fine-tunes in both modes.

No network: the weights files are saved here from randomly initialised models, and the ImageNet
download is stubbed to fail (offline) or finds its file already in a temporary hub cache.
"""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision

from playground.training import models

NUM_CLASSES = 3
SIZE = 32  # the smallest input every listed model accepts (ConvNeXt's minimum)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Initialising ResNet-50 and ConvNeXt is several times slower with threads that compete
    for two busy cores than with one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory):
    """name -> a state dict file of a randomly initialised model (the head with 3 classes,
    which `build` must ignore: it is replaced)."""
    folder = tmp_path_factory.mktemp("weights")
    cache = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(1)
            built = models.build(name, NUM_CLASSES, "none", width=8)
            _calibrate(built.model)
            cache[name] = folder / f"{name}.pt"
            torch.save(built.model.state_dict(), cache[name])
        return cache[name]

    return get


def _calibrate(model: torch.nn.Module) -> None:
    """BatchNorm statistics of the random weights measured on random images, as pretrained
    weights have theirs: with the initial ones (mean 0, variance 1) a deep random network in
    eval mode shrinks its features to ~1e-14 (EfficientNet) and the head cannot learn."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: one batch gives its own statistics
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2)))
    for m in norms:
        m.momentum = 0.1


def _steps(built: models.Built, n: int = 2) -> None:
    groups = models.param_groups(built)
    opt = torch.optim.SGD(
        [{"params": g["params"], "lr": 0.1 * g["lr_scale"]} for g in groups], lr=0.1, momentum=0.9
    )
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, SIZE, SIZE, generator=gen)
    y = torch.tensor([0, 1, 2, 0])
    built.model.train()
    for _ in range(n):
        loss = torch.nn.functional.cross_entropy(built.model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", list(models.MODELS))
def test_each_model_loads_a_weights_file_and_finetunes_in_both_modes(name, weights_files):
    path = weights_files(name)
    saved = torch.load(path, weights_only=True)

    head_only = models.build(name, NUM_CLASSES, str(path), "head", width=8)
    head = head_only.head + "."
    before = _snapshot(head_only.model)
    for k, v in before.items():  # the backbone is the file's; the head is new
        if not k.startswith(head):
            assert torch.equal(v, saved[k]), k
    assert head_only.model(torch.zeros(2, 3, SIZE, SIZE)).shape == (2, NUM_CLASSES)
    _steps(head_only)
    after = _snapshot(head_only.model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # only the head moved: no backbone weight, and no BatchNorm running statistic either
    assert changed and all(k.startswith(head) for k in changed), sorted(changed)[:5]
    assert {f"{head}weight", f"{head}bias"} <= changed
    summary = head_only.summary
    assert summary["params_trainable"] == NUM_CLASSES * (
        head_only.model.get_submodule(head_only.head).in_features + 1
    )
    assert summary["params_frozen"] > summary["params_trainable"] > 0
    assert [g["name"] for g in models.param_groups(head_only)] == ["head"]

    everything = models.build(name, NUM_CLASSES, str(path), "all", width=8)
    before = _snapshot(everything.model)
    _steps(everything)
    after = _snapshot(everything.model)
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(not k.startswith(head) for k in moved) and f"{head}weight" in moved
    groups = {g["name"]: g["lr_scale"] for g in models.param_groups(everything)}
    assert groups == {"backbone": models.BACKBONE_LR_RATIO, "head": 1.0}
    assert everything.summary["params_frozen"] == 0


def test_frozen_modules_stay_in_eval_mode_whatever_train_says(weights_files):
    built = models.build("mobilenet_v3_small", NUM_CLASSES, "none", "head")
    built.model.train()
    built.model(torch.zeros(2, 3, SIZE, SIZE))
    modes = {n: m.training for n, m in built.model.named_modules()}
    assert modes[built.head] is True
    assert modes["features"] is False and modes["features.0.1"] is False  # a BatchNorm
    assert modes["classifier.2"] is False  # the dropout before the head is frozen side too
    assert built.summary["frozen"] == ["features", "avgpool", "classifier.0", "classifier.1",
                                       "classifier.2"]  # fmt: skip
    assert built.summary["frozen_in_eval_mode"] is True


def test_from_scratch_trains_backbone_and_head_at_one_rate():
    built = models.build("resnet18", NUM_CLASSES, "none", "all", width=8)
    assert {g["name"]: g["lr_scale"] for g in models.param_groups(built)} == {
        "backbone": 1.0,
        "head": 1.0,
    }
    assert "finetune all" in models.describe(built.summary)


def test_a_file_of_another_architecture_names_what_is_missing_and_extra(weights_files):
    with pytest.raises(models.WeightsError) as err:
        models.build("regnet_y_400mf", NUM_CLASSES, str(weights_files("resnet18-imagenet")))
    text = str(err.value)
    assert "does not fit this model" in text
    assert "missing stem.0.weight" in text and "extra bn1.bias" in text
    assert "more" in text  # long lists are cut, with a count


def test_a_file_of_another_width_names_the_shape(weights_files):
    with pytest.raises(models.WeightsError, match=r"0\.weight has shape \(8, 3, 3, 3\), the model "
                       r"needs \(16, 3, 3, 3\)"):  # fmt: skip
        models.build("resnet18", NUM_CLASSES, str(weights_files("resnet18")), width=16)


def test_malformed_weights_files_are_refused_with_a_reason(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(models.WeightsError, match="not a weights file torch can load safely"):
        models.build("resnet18", NUM_CLASSES, str(junk), width=8)

    code = tmp_path / "code.pt"
    torch.save({"evil": models.ModelEntry("x", "y", "z")}, code)  # a class: needs unpickling
    with pytest.raises(models.WeightsError, match="load safely.*ModelEntry"):
        models.build("resnet18", NUM_CLASSES, str(code), width=8)

    numbers = tmp_path / "numbers.pt"
    torch.save({"a": 1}, numbers)
    with pytest.raises(models.WeightsError, match="does not hold a state dict"):
        models.build("resnet18", NUM_CLASSES, str(numbers), width=8)

    with pytest.raises(models.WeightsError, match="no file at"):
        models.build("resnet18", NUM_CLASSES, str(tmp_path / "absent.pt"), width=8)


def test_a_checkpoint_of_this_program_gives_its_model_weights(tmp_path, weights_files):
    from playground.training.checkpoints import write_checkpoint

    state = torch.load(weights_files("resnet18"), weights_only=True)
    write_checkpoint(tmp_path / "last.pt", {"model": state, "step": 3})
    built = models.build("resnet18", NUM_CLASSES, str(tmp_path / "last.pt"), width=8)
    assert torch.equal(built.model.state_dict()["0.weight"], state["0.weight"])


def _offline(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)


def test_imagenet_weights_offline_and_not_cached_say_where_to_put_the_file(monkeypatch, tmp_path):
    _offline(monkeypatch, tmp_path)
    assert not models.imagenet_cached("mobilenet_v3_small")
    with pytest.raises(models.WeightsError) as err:
        models.build("mobilenet_v3_small", NUM_CLASSES, "imagenet")
    text = str(err.value)
    assert str(tmp_path / "hub" / "checkpoints") in text
    assert "'mobilenet_v3_small-047dcff4.pth'" in text
    assert "https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth" in text
    assert "name resolution" in text


def test_imagenet_weights_in_the_cache_are_used_without_a_download(monkeypatch, tmp_path):
    _offline(monkeypatch, tmp_path)
    folder, file, _ = models.weights_file("mobilenet_v3_small")
    folder.mkdir(parents=True)
    torch.manual_seed(5)
    imagenet_like = torchvision.models.get_model("mobilenet_v3_small")  # 1000 classes
    torch.save(imagenet_like.state_dict(), folder / file)
    assert models.imagenet_cached("mobilenet_v3_small")
    built = models.build("mobilenet_v3_small", NUM_CLASSES, "imagenet", "head", progress=False)
    got = built.model.state_dict()
    assert torch.equal(
        got["features.0.0.weight"], imagenet_like.state_dict()["features.0.0.weight"]
    )
    assert got["classifier.3.weight"].shape == (NUM_CLASSES, 1024)
    assert built.summary["weights_source"] == "torchvision's ImageNet weights"
    assert built.summary["weights_enum"] == "MobileNet_V3_Small_Weights.IMAGENET1K_V1"

    (folder / file).write_bytes(b"truncated")
    with pytest.raises(
        models.WeightsError, match="damaged or failed torchvision.s hash check .*delete the file"
    ):
        models.build("mobilenet_v3_small", NUM_CLASSES, "imagenet", progress=False)


def test_the_cifar_network_has_no_imagenet_weights_and_unknown_names_are_refused():
    with pytest.raises(models.WeightsError, match="use resnet18-imagenet"):
        models.build("resnet18", NUM_CLASSES, "imagenet")
    with pytest.raises(models.ModelError, match="choose one of resnet18, resnet18-imagenet"):
        models.build("vgg16", NUM_CLASSES)
    with pytest.raises(models.ModelError, match="choose all or head"):
        models.build("resnet18", NUM_CLASSES, finetune="some")


def test_preprocess_is_the_weights_own_transforms():
    assert models.preprocess("resnet50") == models.Preprocess(
        232, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bilinear"
    )
    assert models.preprocess("efficientnet_b0").interpolation == "bicubic"
    assert models.preprocess("convnext_tiny").resize == 236
    # the CIFAR network: the data's size, normalised by the data's own statistics (as today)
    assert models.preprocess("resnet18", 32) == models.Preprocess(32, 32, None, None, "bilinear")
    every = {n: models.preprocess(n).crop for n in models.MODELS}
    assert every == {n: 32 if n == "resnet18" else 224 for n in models.MODELS}


def test_a_seeded_build_starts_from_the_same_head_and_the_log_line_says_what_trains(weights_files):
    path = str(weights_files("resnet18"))
    heads = []
    for _ in range(2):  # a paired with/without experiment: the same init from the weights
        torch.manual_seed(7)
        built = models.build("resnet18", NUM_CLASSES, path, "head", width=8)
        heads.append(built.model.get_submodule(built.head).weight.detach().clone())
    assert torch.equal(heads[0], heads[1])
    line = models.describe(built.summary)
    assert line.startswith(f"model resnet18 (3 classes, new head 9), weights {path}, finetune head")
    assert (
        f"{built.summary['params_trainable']:,} trainable" in line and "frozen and in eval" in line
    )


def test_the_table_lists_every_model_with_its_weights_input_and_reason():
    rows = {r["name"]: r for r in models.table()}
    assert list(rows) == list(models.MODELS)
    assert rows["resnet50"]["weights"] == "ResNet50_Weights.IMAGENET1K_V2"
    assert rows["resnet50"]["input"] == "232 -> 224" and rows["resnet50"]["params"] == 25_557_032
    assert rows["convnext_tiny"]["min_size"] == 32
    assert rows["resnet18"]["input"] == "data size" and rows["resnet18"]["params"] is None
    assert all(r["why"] for r in rows.values())
