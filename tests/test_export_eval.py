"""The Export tab's `eval_transform`: for a chosen model, the validation and test images'
preprocessing beside the augmentation `transform` (the pair a fine-tuning script needs). The
generated statement, run, does what torchvision's `weights.transforms()` does (no weights are
downloaded: transforms() needs none); without a model the exported file is as it always was."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image
from torchvision.transforms import v2

from pipelines import export
from pipelines.spec import default_spec, make, preset
from playground import runs
from playground.images import ASSETS
from playground.model_input import eval_for
from playground.training import models
from playground.training.settings import MODEL_NAMES
from playground.ui import build_app
from playground.ui.export import export_files

CAT = ASSETS / "chelsea.png"
MIXING = [("RandomResizedCrop", {"size": 64}), ("ColorJitter", {}, 0.5), ("CutMix", {})]
# torchvision's own names for the weights, written here rather than read from models.py
WEIGHTS = {
    "resnet50": "ResNet50_Weights.DEFAULT",
    "mobilenet_v3_small": "MobileNet_V3_Small_Weights.DEFAULT",
    "efficientnet_b0": "EfficientNet_B0_Weights.DEFAULT",  # bicubic, 256 -> 224
    "convnext_tiny": "ConvNeXt_Tiny_Weights.DEFAULT",  # 236 -> 224
}
PRELUDE = "import torch\nfrom torchvision.transforms import v2\n"  # the exported file's imports


def _eval_transform(source: str, folder: Path) -> v2.Compose:
    """The statement run as a module of its own (a fresh namespace), as the exported file
    runs it."""
    path = folder / f"eval_{len(list(folder.iterdir()))}.py"
    path.write_text(PRELUDE + source)
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.eval_transform


def _photo() -> Image.Image:
    return Image.open(CAT).convert("RGB")  # 451 x 300: resize and crop both change it


@pytest.mark.parametrize("name", list(WEIGHTS))
def test_eval_transform_does_what_the_weights_transforms_do(name, tmp_path):
    reference = torchvision.models.get_weight(WEIGHTS[name]).transforms()
    ours = _eval_transform(export.eval_transform_source(**eval_for(name)), tmp_path)
    photo = _photo()
    expected, got = reference(photo), ours(photo)
    assert got.dtype == expected.dtype == torch.float32
    assert got.shape == expected.shape == (3, 224, 224)
    assert torch.allclose(got, expected, atol=1e-6)
    # a uint8 tensor too (torchvision's tensor resize kernels differ by rounding: a grey level)
    tensor = v2.functional.pil_to_tensor(photo)
    assert torch.allclose(ours(tensor), reference(tensor), atol=2 / 255 / 0.225)


def test_every_imagenet_model_matches_its_weights(tmp_path):
    """All the declared torchvision models, not only the ones named above."""
    photo = _photo()
    for name, entry in models.MODELS.items():
        if not entry.builder:
            continue
        reference = torchvision.models.get_model_weights(entry.builder).DEFAULT.transforms()
        ours = _eval_transform(export.eval_transform_source(**eval_for(name)), tmp_path)
        assert torch.allclose(ours(photo), reference(photo), atol=1e-6), name


def test_the_cifar_network_is_told_to_use_its_data_statistics(tmp_path):
    source = export.eval_transform_source(**eval_for("resnet18"))
    assert "Normalize(" not in source.split("eval_transform =")[1]
    assert "Resize" not in source and "CenterCrop" not in source
    assert "own per-channel mean and std" in source and "training command" in source
    assert "32 x 32" in source
    image = _photo().resize((32, 32))
    out = _eval_transform(source, tmp_path)(image)
    assert out.dtype == torch.float32 and out.shape == (3, 32, 32)
    assert torch.allclose(out, v2.functional.pil_to_tensor(image).float() / 255, atol=1e-6)


def test_the_dropdown_callback_writes_the_models_numbers():
    spec = preset("d2l-combined")
    code, py_path, _ = export_files(spec, "efficientnet_b0")
    assert Path(py_path).read_text() == code
    assert "v2.Resize(256, interpolation=v2.InterpolationMode.BICUBIC, antialias=True)" in code
    assert "v2.CenterCrop(224)" in code
    assert "v2.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))" in code
    assert "the input efficientnet_b0 expects" in code
    resnet50 = export_files(spec, "resnet50")[0]
    assert "v2.Resize(232, interpolation=v2.InterpolationMode.BILINEAR" in resnet50
    assert "own per-channel mean and std" in export_files(spec, "resnet18")[0]
    compile(code, "augmentation_pipeline.py", "exec")


def test_without_a_model_the_export_is_unchanged():
    for spec in (default_spec(), preset("d2l-combined"), make(MIXING)):
        plain = export.to_python(spec)
        assert export.to_python(spec, None) == plain == export_files(spec)[0]
        assert "eval_transform" not in plain
        with_eval = export.to_python(spec, eval_for("resnet50"))
        # the same file with the note in the docstring and the statement after `transform`
        note = export._EVAL_NOTE.format(model="resnet50")
        block = "\n\n" + export.eval_transform_source(**eval_for("resnet50"))
        assert with_eval.replace(note, "", 1).replace(block, "", 1) == plain


@pytest.mark.parametrize(
    "bad",
    [
        {"model": "x\nimport os"},
        {"model": ""},
        {"resize": 0},
        {"crop": 2.5},
        {"mean": None},
        {"interpolation": "sideways"},
    ],
)
def test_eval_transform_source_takes_only_plain_values(bad):
    values = {**eval_for("resnet50"), **bad}
    with pytest.raises(ValueError):
        export.eval_transform_source(**values)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # a checkpoints folder of its own
        mp.setenv(runs.ROOT_ENV, str(tmp_path_factory.mktemp("checkpoints")))
        yield build_app()


def test_the_export_tab_has_the_dropdown_wired_to_the_code(app):
    ids = {b._id: getattr(b, "elem_id", None) for b in app.blocks.values()}
    dropdown = next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == "export-model")
    assert dropdown.label == "Model (for eval_transform)" and dropdown.value == "resnet18"
    assert [c[0] for c in dropdown.choices] == list(MODEL_NAMES)
    wired = []
    for dep, fn in zip(app.config["dependencies"], app.fns.values(), strict=True):
        if getattr(fn.fn, "__name__", "") == "export_files":
            assert [ids[i] for i in dep["inputs"]][-1] == "export-model"
            assert [ids[o] for o in dep["outputs"]][:2] == ["export-code", "download-code"]
            wired += [ids.get(block) or event for block, event in dep["targets"]]
    # the tab's select, the dropdown's change, and after a pipeline file is loaded
    assert "export-model" in wired and "export-tab" in wired and len(wired) == 3


@pytest.mark.slow
def test_the_file_with_eval_transform_still_draws_the_grid(tmp_path):
    """The exported file with an eval_transform: importable for training (both transforms),
    and its script writes the same samples as the file without one, pixel for pixel (which
    tests/test_export.py checks against the UI)."""
    spec = make(MIXING)
    outs = []
    for name, eval_part in (("plain", None), ("with_eval", eval_for("efficientnet_b0"))):
        folder = tmp_path / name
        folder.mkdir()
        script = folder / "augmentation_pipeline.py"
        script.write_text(export.to_python(spec, eval_part))
        cmd = [sys.executable, str(script), str(CAT), "--seed", "3", "--out", str(folder / "o")]
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        outs.append([Image.open(folder / "o" / f"sample_{i}.png").tobytes() for i in range(8)])
    assert outs[0] == outs[1]
    code = (
        "from PIL import Image\n"
        "from augmentation_pipeline import transform, eval_transform\n"
        f"print(tuple(eval_transform(Image.open({str(CAT)!r}).convert('RGB')).shape))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path / "with_eval",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "(3, 224, 224)" in result.stdout
