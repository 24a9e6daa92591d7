"""The catalogue's promise, entry by entry: adding a transform touches only the catalogue.

For every catalogue entry (and one composed pipeline with duplicates, step probabilities,
noise, a policy and mixing) the exported code runs in a fresh Python process that imports
nothing from this project; there it builds a transform equal to `build()` (class and
arguments, compared attribute by attribute) and writes the preview's samples pixel for pixel,
for two images and two seeds. The JSON form round-trips.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import warnings
from enum import Enum
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from pipelines import export, readme
from pipelines.build import build, build_batch, build_parts
from pipelines.catalogue import CATALOGUE, IN_FORWARD_OPS, IN_MAKE_PARAMS
from pipelines.images import load_image
from pipelines.samples import render_samples
from pipelines.spec import from_json, make

ROOT = Path(__file__).resolve().parents[1]
CAT = ROOT / "assets" / "chelsea.png"
README = ROOT / "README.md"
SEEDS = (0, 3)

COMPOSED = [
    ("RandomHorizontalFlip", {}),
    ("RandomResizedCrop", {"size": 96}),
    ("ColorJitter", {"hue": 0.1}, 0.5),
    ("GaussianNoise", {"sigma": 0.05}, 0.5),
    ("ColorJitter", {"brightness": 0.2}),
    ("TrivialAugmentWide", {}),
    ("RandomErasing", {}),
    ("CutMix", {}),
    ("MixUp", {"alpha": 0.4}, 0.5),
]
SPECS = {t.name: make([(t.name, {})]) for t in CATALOGUE} | {"composed": make(COMPOSED)}

# Runs in the fresh process: imports each exported file and writes what it builds and draws.
DRIVER = textwrap.dedent(
    """
    import importlib.util, pickle, sys, traceback
    from pathlib import Path

    folder, images, seeds = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3].split(",")
    for script in sorted(folder.glob("*.py")):
        out = folder / script.stem
        out.mkdir()
        try:
            spec = importlib.util.spec_from_file_location(script.stem, script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            built = (module.transform, getattr(module, "batch_transform", None))
            (out / "built.pkl").write_bytes(pickle.dumps(built))
            for i, path in enumerate(images):
                image = module.load_trusted_image(path)
                for seed in seeds:
                    for k, sample in enumerate(module.render_samples(image, int(seed))):
                        sample.save(out / f"{i}-{seed}-{k}.png")
        except Exception:
            (out / "error.txt").write_text(traceback.format_exc())
    """
)


def _small_cat(path: Path) -> Path:
    Image.open(CAT).resize((226, 150)).save(path)  # the photo at half size: the suite stays quick
    return path


def _rgba_photo(path: Path) -> Path:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (48, 64, 4), dtype=np.uint8), "RGBA").save(path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One fresh interpreter runs every exported file (one process: the suite stays fast)."""
    folder = tmp_path_factory.mktemp("exported")
    images = [_small_cat(folder.parent / "cat.png"), _rgba_photo(folder.parent / "rgba.png")]
    for name, spec in SPECS.items():
        (folder / f"{name}.py").write_text(export.to_python(spec))
    paths, seeds = ",".join(map(str, images)), ",".join(map(str, SEEDS))
    # no PYTHONPATH: the exported files must not need this project
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder)}
    cmd = [sys.executable, "-c", DRIVER, str(folder), paths, seeds]
    subprocess.run(cmd, check=True, cwd=folder, timeout=900, env=env)
    return folder, images


def _plain_object(value) -> bool:
    """An instance compared by its attributes (torch distributions, say), not by identity."""
    return (
        hasattr(value, "__dict__") and not isinstance(value, (type, Enum)) and not callable(value)
    )


def _same(a, b, where: str = "transform") -> None:
    """Equal class and arguments, all the way down (modules, tensors, distributions)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert type(a) is type(b) and set(a) == set(b), where
        for key in a:
            _same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, torch.nn.Module) or _plain_object(a):
        assert type(a) is type(b), where
        _same(vars(a), vars(b), f"{where}.")
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize("name", list(SPECS))
def test_exported_code_builds_and_previews_exactly_like_the_app(name, exported):
    folder, images = exported
    spec = SPECS[name]
    out = folder / name
    assert not (out / "error.txt").exists(), (out / "error.txt").read_text()

    assert from_json(spec.to_json()) == spec
    transform, batch_transform = pickle.loads((out / "built.pkl").read_bytes())
    _same(transform, build(spec))
    _same(batch_transform, build_batch(spec), "batch_transform")

    for i, path in enumerate(images):
        image = load_image(path)
        for seed in SEEDS:
            for k, sample in enumerate(render_samples(spec, image, seed)):
                written = Image.open(out / f"{i}-{seed}-{k}.png")
                assert written.mode == sample.image.mode == "RGB"
                assert np.array_equal(np.asarray(written), np.asarray(sample.image)), (path, seed)


def test_every_entry_names_its_torchvision_v2_class_once():
    """An entry's name is the v2 class `build` makes (the JSON value, the exported code's class,
    and how the kernel tests find an entry from a transform), and names and keys are unique."""
    assert len({t.name for t in CATALOGUE}) == len({t.key for t in CATALOGUE}) == len(CATALOGUE)
    for tdef in CATALOGUE:
        parts, _ = build_parts(make([(tdef.name, {})]).steps[0])
        assert type(parts[-1]) is getattr(v2, tdef.name), tdef.name


def test_the_readme_lists_are_the_catalogues():
    text = README.read_text(encoding="utf-8")
    assert readme.render(text) == text, "README.md is stale: run python -m pipelines readme"
    # a list that misses an entry is caught (the check can fail)
    stale = text.replace("RandomEqualize, GaussianBlur", "GaussianBlur", 1)
    assert stale != text and readme.render(stale) == text


def _accepts(t: v2.Transform, *inputs) -> bool:
    """Whether torchvision's `t` takes these inputs, without an error or a warning (RandomErasing
    warns that it passes boxes and masks through while it erases the pixels under them; a
    deprecation warning, JPEG's about torchvision.io, is not about the inputs)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(0)
        try:
            for _ in range(8):  # a transform with a coin acts on some of the calls
                t(*inputs)
        except (TypeError, ValueError):
            return False
    return not [w for w in caught if not issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize("tdef", CATALOGUE, ids=lambda t: t.name)
def test_declared_targets_are_what_torchvision_accepts(tdef):
    t = build_parts(make([(tdef.name, {})]).steps[0])[0][-1]
    boxes = tv_tensors.BoundingBoxes([[2, 2, 20, 20]], format="XYXY", canvas_size=(32, 32))
    mask = tv_tensors.Mask(torch.zeros(32, 32, dtype=torch.uint8))
    if tdef.batch:
        images, labels = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
        found = {"image": _accepts(t, images, labels), "labels": _accepts(t, images, labels)}
        found |= {"boxes": _accepts(t, images, labels, boxes)}
    else:
        image = tv_tensors.Image(torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8))
        found = {"image": _accepts(t, image)}
        found |= {"boxes": _accepts(t, image, boxes), "mask": _accepts(t, image, mask)}
    assert {k for k, ok in found.items() if ok} == set(tdef.targets)


def _outputs(t: v2.Transform, image, params, seeds=(0, 1)) -> list[torch.Tensor]:
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(t.transform(image, params))
    return out


@pytest.mark.parametrize("tdef", [t for t in CATALOGUE if not t.batch], ids=lambda t: t.name)
def test_each_entry_draws_where_it_declares(tdef):
    """The preview records the draws, and the kernel tests catch torchvision's, where `draws`
    says: make_params (transform() then repeats itself given them), the policies' ops
    (_apply_image_or_video_transform), or transform() itself."""
    t = build_parts(make([(tdef.name, {})]).steps[0])[0][-1]
    image = tv_tensors.Image(torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8))
    if tdef.needs_tensor:
        image = tv_tensors.Image(image.float() / 255)
    if tdef.draws == IN_FORWARD_OPS:
        calls = []
        apply = t._apply_image_or_video_transform
        t._apply_image_or_video_transform = lambda *a, **k: calls.append(a[1]) or apply(*a, **k)
        torch.manual_seed(0)
        for _ in range(10):
            t(image)
        assert calls
        return
    torch.manual_seed(0)
    params = t.make_params([image])
    a, b = _outputs(t, image, params)
    assert torch.equal(a, b) == (tdef.draws == IN_MAKE_PARAMS)


def test_pipelines_import_nothing_from_the_app():
    """The library never imports the app (nor Gradio), the command line included."""
    import ast

    for path in (ROOT / "pipelines").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("playground", "gradio")), (path.name, name)


def test_slider_tracks_lie_inside_their_ranges():
    tracked = [p for t in CATALOGUE for p in t.params if p.track is not None]
    assert tracked  # the aspect ratios
    for p in tracked:
        low, high = p.track
        assert p.low <= low < high <= p.high and low <= p.default <= high, p.name


def test_the_readme_command_rewrites_a_stale_list(tmp_path, capsys):
    from pipelines.__main__ import main

    path = tmp_path / "README.md"
    text = README.read_text(encoding="utf-8")
    path.write_text(text.replace("RandomEqualize, GaussianBlur", "GaussianBlur", 1), "utf-8")
    assert main(["readme", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == text
    assert main(["readme", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("already up to date")
    path.write_text("no generated blocks here", "utf-8")
    assert main(["readme", str(path)]) == 2
    assert "no generated block 'transforms'" in capsys.readouterr().err
