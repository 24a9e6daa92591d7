"""The defaults learn real images: photo patches from assets/ (always there), and the real
CIFAR-10 subset shared beside the repository (skipped cleanly where it is absent)."""

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from playground.training import cli
from playground.training.metrics import MetricsLog

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
SHARED_NPZ = ROOT.parent / "shared" / "data" / "cifar10-train-subset.npz"


def patch_folder(root: Path, train: int = 80, test: int = 20, seed: int = 0) -> Path:
    """root/{train,test}/<photo>/*.png: square patches (a sixth to a third of the shorter side)
    cut at random places from each bundled photo; the class is the photo a patch comes from.
    Test patches are other random cuts (they overlap training patches, as photos of one scene
    do: cuts from a quarter of the photo never seen in training test a distribution shift,
    not the recipe)."""
    rng = random.Random(seed)
    for name in PHOTOS:
        with Image.open(ROOT / "assets" / name) as image:
            photo = image.convert("RGB")
        w, h = photo.size
        for part, count in (("train", train), ("test", test)):
            folder = root / part / Path(name).stem
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                side = rng.randint(min(w, h) // 6, min(w, h) // 3)
                left, top = rng.randint(0, w - side), rng.randint(0, h - side)
                patch = photo.crop((left, top, left + side, top + side)).resize((32, 32))
                patch.save(folder / f"{i:03d}.png")
    return root


def test_defaults_learn_photo_patches_well_above_chance(tmp_path):
    root = patch_folder(tmp_path / "photos")
    out = tmp_path / "run"
    args = ["--pipeline", "cifar-standard", "--dataset", f"folder:{root}", "--device", "cpu"]
    assert cli.main([*args, "--width", "8", "--epochs", "3", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["auto"] == {"batch_size": True, "lr": True} and config["train_size"] == 320
    summary = MetricsLog(out / "metrics.jsonl").records()[-1]
    assert summary["type"] == "summary" and summary["final_test_acc"] >= 0.6  # chance: 0.25


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_NPZ.is_file(), reason="the shared CIFAR-10 subset is not here")
def test_defaults_learn_real_cifar10_images(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    from real_data_recipe import write_folder

    root = write_folder(SHARED_NPZ, tmp_path / "cifar", test_per_class=30)
    out = tmp_path / "run"
    args = ["--pipeline", "d2l-flip", "--dataset", f"folder:{root}", "--device", "cpu"]
    assert (
        cli.main([*args, "--subset", "1000", "--width", "8", "--epochs", "2", "--out", str(out)])
        == 0
    )
    summary = MetricsLog(out / "metrics.jsonl").records()[-1]
    assert summary["type"] == "summary" and summary["final_test_acc"] > 0.2  # chance: 0.1
    assert np.load(out / "predictions.npz")["label"].shape == (300,)
