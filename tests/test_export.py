"""The exported code: importable (`transform`), and as a script pixel-identical to the UI."""

import base64
import importlib.util
import inspect
import io
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import AutoAugmentPolicy, InterpolationMode

from pipelines import export, images
from pipelines.catalogue import PRESETS
from pipelines.spec import default_spec, from_json, make, preset
from playground.images import ASSETS, load_image
from playground.preview import encode_jpeg, render

CAT = ASSETS / "chelsea.png"


def _write_script(tmp_path, spec, name="augmentation_pipeline.py"):
    path = tmp_path / name
    path.write_text(export.to_python(spec))
    return path


def _run_script(script, image, seed, out):
    cmd = [sys.executable, str(script), str(image), "--seed", str(seed), "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return [Image.open(out / f"sample_{i}.png") for i in range(8)]


def _grid_images(grid_html):
    srcs = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', grid_html)
    return [base64.b64decode(s) for s in srcs]


def _rgba_photo(path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (120, 160, 4), dtype=np.uint8)
    Image.fromarray(pixels, "RGBA").save(path)
    return path


def _rotated_jpeg(path):
    image = Image.open(CAT).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(path, exif=exif.tobytes(), quality=92)
    return path


def _large_photo(path):
    Image.open(CAT).convert("RGB").resize((2400, 1600)).save(path)
    return path


def _sixteen_bit_png(path):
    """A 16-bit grey photo using a narrow range (stretched by the app, white if converted naively)."""
    grey = np.asarray(Image.open(CAT).convert("L"), dtype=np.uint16) * 4 + 1000
    Image.fromarray(grey).save(path)
    assert Image.open(path).mode == "I;16"
    return path


def _float_tiff(path):
    values = np.asarray(Image.open(CAT).convert("L"), dtype=np.float32) / 7 - 3
    values[0, :5] = np.nan
    Image.fromarray(values, "F").save(path)
    return path


def _palette_with_transparency(path):
    image = Image.open(CAT).convert("RGB").quantize(64)
    image.info["transparency"] = 0
    image.save(path, transparency=0)
    return path


SUFFIX = {_rotated_jpeg: ".jpg", _float_tiff: ".tif"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "maker",
    [
        None,
        _rgba_photo,
        _rotated_jpeg,
        _large_photo,
        _sixteen_bit_png,
        _float_tiff,
        _palette_with_transparency,
    ],
)
def test_exported_script_writes_exactly_what_the_ui_shows(tmp_path, maker):
    """Run the exported file in a fresh Python; its PNGs equal the UI's samples, pixel for pixel."""
    image_path = CAT if maker is None else maker(tmp_path / f"input{SUFFIX.get(maker, '.png')}")
    spec = default_spec().with_params("ColorJitter", hue=0.2)
    seed = 41
    written = _run_script(_write_script(tmp_path, spec), image_path, seed, tmp_path / "out")
    grid, _ = render(spec, load_image(image_path), seed)
    shown = _grid_images(grid)
    assert len(shown) == len(written) == 8
    for ours, theirs in zip(shown, written, strict=True):
        assert theirs.mode == "RGB"
        # The UI shows JPEGs of its samples: the script's sample, encoded the same way, is the
        # same file byte for byte, so the samples themselves are the same pixels.
        assert base64.b64decode(encode_jpeg(theirs)) == ours


@pytest.mark.slow
def test_exported_module_gives_transform_for_training(tmp_path):
    script = _write_script(tmp_path, preset("d2l-combined"))
    code = (
        "import torch; from torchvision.transforms import v2\n"
        "from augmentation_pipeline import transform\n"
        "x = torch.randint(0, 256, (3, 64, 80), dtype=torch.uint8)\n"
        "print([type(t).__name__ for t in transform.transforms], tuple(transform(x).shape))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=script.parent, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert (
        "['RandomHorizontalFlip', 'ColorJitter', 'RandomResizedCrop'] (3, 200, 200)"
        in result.stdout
    )


@pytest.mark.parametrize("name", list(PRESETS))
def test_exported_code_names_each_active_step_with_its_arguments(name):
    spec = preset(name)
    code = export.to_python(spec)
    compile(code, "augmentation_pipeline.py", "exec")  # valid Python; never executed here
    for step in spec.active:
        assert f"v2.{step.transform}(" in code
    assert "STEP_KEYS = " + repr(spec.step_keys()) in code


def test_disabled_steps_are_not_exported():
    spec = from_json(default_spec().to_json())
    code = export.to_python(spec)
    assert "RandomHorizontalFlip(p=0.5)" in code
    assert "GaussianBlur" not in code and "RandomRotation" not in code


def test_export_writes_exact_numbers():
    spec = make(
        [("ColorJitter", {"brightness": 0.1, "contrast": 0.35, "saturation": 0.0, "hue": 0.05})]
    )
    assert (
        "v2.ColorJitter(brightness=0.1, contrast=0.35, saturation=0.0, hue=0.05)"
        in export.to_python(spec)
    )
    assert from_json(export.to_json(spec)) == spec


def test_jpeg_encoding_is_deterministic():
    image = Image.open(CAT).convert("RGB")
    assert encode_jpeg(image) == encode_jpeg(image.copy())
    assert Image.open(io.BytesIO(base64.b64decode(encode_jpeg(image)))).size == image.size


def _import_script(tmp_path, spec, name="augmentation_pipeline"):
    path = _write_script(tmp_path, spec, f"{name}.py")
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_exported_loader_is_generated_from_the_apps_loader():
    code = export.to_python(default_spec())
    for function in images.PIXEL_FUNCTIONS:
        assert inspect.getsource(function).strip() in code


@pytest.mark.parametrize("mode", ["La", "LA", "RGBa", "PA", "I;16", "F", "CMYK", "1", "P"])
def test_exported_loader_gives_the_apps_pixels_for_every_mode(tmp_path, mode):
    """'La' and friends cannot be written to a file; compare the loaders on the image itself."""
    rng = np.random.default_rng(3)
    base = Image.fromarray(rng.integers(0, 256, (30, 40, 4), dtype=np.uint8), "RGBA")
    image = base.convert("LA").convert("La") if mode == "La" else base.convert(mode)
    script = _import_script(tmp_path, default_spec())
    theirs = script.to_preview(script.upright_first_frame(image.copy()))
    ours = load_image(image.copy())
    assert theirs.mode == ours.mode == "RGB"
    assert np.array_equal(np.asarray(theirs), np.asarray(ours))


@pytest.mark.parametrize(
    ("value", "source"),
    [
        (InterpolationMode.BILINEAR, "v2.InterpolationMode.BILINEAR"),
        (AutoAugmentPolicy.CIFAR10, "v2.AutoAugmentPolicy.CIFAR10"),
        (None, "None"),
        (True, "True"),
        (3, "3"),
        (0.1, "0.1"),
        (-0.05, "-0.05"),
        ((0.5, 2.0), "(0.5, 2.0)"),
        ((7,), "(7,)"),
        ([1, (2, None)], "[1, (2, None)]"),
        ("reflect", "'reflect'"),
        ({"a": 1}, "{'a': 1}"),
    ],
)
def test_python_literal_writes_valid_python_for_every_type(value, source):
    assert export.python_literal(value) == source
    namespace = {"v2": v2}
    assert eval(source, namespace) == value  # noqa: S307 -- our own generated literal


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {1, 2}])
def test_python_literal_refuses_what_it_cannot_write(value):
    with pytest.raises((TypeError, ValueError)):
        export.python_literal(value)


def test_enums_are_exported_as_code_not_their_repr():
    spec = make([("RandomRotation", {"interpolation": "bilinear"}), ("AutoAugment", {})])
    code = export.to_python(spec)
    assert "interpolation=v2.InterpolationMode.BILINEAR" in code
    assert "policy=v2.AutoAugmentPolicy.IMAGENET" in code
    assert "<" not in export.transform_source(spec)


def test_step_probability_and_mixing_are_exported():
    spec = make(
        [("ColorJitter", {}, 0.25), ("GaussianNoise", {}), ("CutMix", {"num_classes": 100})]
    )
    code = export.transform_source(spec)
    assert "v2.RandomApply([v2.ColorJitter(" in code and "], p=0.25)" in code
    assert "v2.Compose([v2.ToImage(), v2.GaussianNoise(" in code
    assert "batch_transform = v2.Compose([\n    v2.CutMix(alpha=1.0, num_classes=100),\n])" in code
    assert "images, labels = batch_transform(images, labels)" in code
    assert "batch_transform" not in export.transform_source(preset("cifar-standard"))


def test_an_empty_pipeline_exports_an_identity(tmp_path):
    off = from_json(default_spec().to_json().replace('"enabled": true', '"enabled": false'))
    script = _import_script(tmp_path, off, "empty_pipeline")
    image = Image.new("RGB", (5, 4), (1, 2, 3))
    assert [s.tobytes() for s in script.render_samples(image, 0)] == [image.tobytes()] * 8
