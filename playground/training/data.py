"""The three data sources, each loaded whole into memory as uint8 NCHW tensors.

- `cifar10`: torchvision downloads and checksum-verifies it into the data folder.
- `folder:PATH`: `PATH/train/<class>/*` and `PATH/test/<class>/*` (or `val`), resized to the
  training size once at load time.
- `synthetic`: ten classes of generated shapes and textures, deterministic, learnable.
- `upload:NAME`: an uploaded .zip data set (playground.training.datasets, under the
  checkpoints folder's `datasets/`), read from its uint8 store at the run's (resize, crop),
  which is decoded from the kept archive once if that size is not stored yet.

`scan` answers what a source holds (sizes, classes, readiness) without decoding pixels, so
`--check` and argument validation stay fast; `load` returns the pixels.
"""

from __future__ import annotations

import math
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from playground.training import folders
from playground.training.settings import FOLDER_KIND, NAMED_KINDS, UPLOAD_KIND, by_name

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SYNTHETIC_CLASSES = (
    "disk",
    "ring",
    "square",
    "cross",
    "triangle",
    "h-stripes",
    "v-stripes",
    "diagonal",
    "checker",
    "dots",
)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class DataError(Exception):
    """A data source that is missing, empty or unreadable; the message says what to do."""


@dataclass
class Dataset:
    train_x: torch.Tensor  # uint8 (N, 3, S, S)
    train_y: torch.Tensor  # int64 (N,)
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    # with --validation: test_x/test_y are the held-out training images the run evaluates on,
    # and these the real test set, scored once at the end
    final_x: torch.Tensor | None = None
    final_y: torch.Tensor | None = None

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the training images in [0, 1], for normalisation."""
        x = self.train_x[:10000].float().div_(255)
        return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).tolist()


# ---- synthetic -----------------------------------------------------------------------------


def _masks(u: torch.Tensor, v: torch.Tensor, freq: torch.Tensor, phase: torch.Tensor) -> list:
    """One boolean mask per class; u, v are coordinates centred on the shape, in its radii."""
    r = torch.sqrt(u * u + v * v)
    a, b = u.abs(), v.abs()
    su, sv = torch.sin(freq * u + phase), torch.sin(freq * v + phase)
    return [
        r < 1.0,
        (r - 0.75).abs() < 0.22,
        torch.maximum(a, b) < 0.8,
        ((a < 0.25) & (b < 0.9)) | ((b < 0.25) & (a < 0.9)),
        (v < 0.7) & (v > 2.0 * a - 1.0),
        sv > 0,
        su > 0,
        torch.sin(freq * (u + v) * 0.7071 + phase) > 0,
        su * sv > 0,
        (torch.cos(2.0 * freq * u) * torch.cos(2.0 * freq * v) > 0.5) & (r < 1.3),
    ]


def make_synthetic(n: int, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` images of the ten SYNTHETIC_CLASSES: position, scale, stripe frequency, colours and
    noise vary; the class is the shape or texture, so colour jitter and flips keep it."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randperm(n, generator=gen) % len(SYNTHETIC_CLASSES)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    images = []
    for chunk in labels.split(2048):
        m = len(chunk)

        def rand(*shape: int, low: float = 0.0, high: float = 1.0, m: int = m) -> torch.Tensor:
            return torch.rand(m, *shape, generator=gen) * (high - low) + low

        cx, cy, radius = (
            rand(1, 1, low=-0.3, high=0.3),
            rand(1, 1, low=-0.3, high=0.3),
            rand(1, 1, low=0.45, high=0.75),
        )
        freq, phase = rand(1, 1, low=5.0, high=9.0), rand(1, 1, high=2 * math.pi)
        masks = torch.stack(_masks((xx - cx) / radius, (yy - cy) / radius, freq * radius, phase), 1)
        mask = masks[torch.arange(m), chunk].unsqueeze(1).float()
        dark, light = rand(3, 1, 1, high=0.5), rand(3, 1, 1, low=0.5, high=1.0)
        swap = (rand(1, 1, 1) < 0.5).float()
        fg, bg = swap * dark + (1 - swap) * light, swap * light + (1 - swap) * dark
        noise = torch.randn(m, 3, size, size, generator=gen) * 0.12
        pixels = (mask * fg + (1 - mask) * bg + noise).clamp_(0, 1)
        images.append(pixels.mul_(255).round_().to(torch.uint8))
    return torch.cat(images), labels


# ---- folders -------------------------------------------------------------------------------


def _image_files(split_dir: Path) -> dict[str, list[Path]]:
    """{class name: sorted image paths} for the class folders of one split."""
    found = {}
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        files = sorted(
            p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        if files:
            found[class_dir.name] = files
    return found


def _folder_splits(given: str) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    try:
        root = folders.data_folder(given)  # the app's check too
    except folders.FolderError as err:
        raise DataError(str(err)) from None
    train_dir = root / "train"
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise DataError(
            f"folder {str(root)!r} must hold train/<class>/ and test/<class>/ (or val/<class>/)"
        )
    train, test = _image_files(train_dir), _image_files(test_dir)
    for name, split, where in (("training", train, train_dir), ("test", test, test_dir)):
        if not split:
            raise DataError(
                f"no {name} images found under {str(where)!r} (expected <class>/*.jpg|png|...)"
            )
    extra = sorted(set(test) - set(train))
    if extra:
        raise DataError(f"test class {extra[0]!r} has no training images in {str(train_dir)!r}")
    return train, test


def pil_to_uint8(image: Image.Image, size: int) -> torch.Tensor:
    """An image as the model sees it before normalisation: RGB, size x size, uint8 CHW.

    Used for folder data and for prediction, so both resize the same way (Pillow's bilinear
    filter, antialiased when shrinking).
    """
    image = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()


def _read(path: Path, size: int) -> torch.Tensor:
    try:
        with Image.open(path) as image:
            return pil_to_uint8(image, size)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"cannot read image {str(path)!r}: {err}") from None


def _load_split(
    files: dict[str, list[Path]], classes: list[str], size: int, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode a split, classes interleaved in a fixed shuffled order so the first `limit`
    images (--subset) are a mix of classes, not the first class alone."""
    paths = [(p, classes.index(c)) for c in files for p in files[c]]
    random.Random(0).shuffle(paths)
    paths = paths[:limit] if limit else paths
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        images = list(pool.map(lambda item: _read(item[0], size), paths))
    return torch.stack(images), torch.tensor([label for _, label in paths])


# ---- CIFAR-10 ------------------------------------------------------------------------------


def cifar10_ready(data_dir: str) -> bool:
    base = Path(data_dir) / "cifar-10-batches-py"
    return all((base / f).is_file() for f in (*CIFAR10_FILES, "test_batch"))


def _load_cifar10(data_dir: str) -> tuple[torch.Tensor, ...]:
    from torchvision.datasets import CIFAR10

    try:
        parts = [CIFAR10(data_dir, train=t, download=True) for t in (True, False)]
    except (OSError, RuntimeError) as err:  # URLError is an OSError; bad checksums RuntimeError
        raise DataError(
            f"CIFAR-10 is not in {data_dir!r} and could not be downloaded ({err}). Download "
            f"{CIFAR10_URL} elsewhere and put the file in {data_dir!r} (it is checksum-verified "
            f"and extracted on the next start), or pass {by_name('dataset').flag} synthetic to "
            "try things offline"
        ) from None

    def tensors(d: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(d.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(d.targets)

    return (*tensors(parts[0]), *tensors(parts[1]))


def ensure_downloaded(cfg: dict[str, Any]) -> None:
    """Fetch CIFAR-10 once (or decode an upload's store at the run's size once), before several
    processes would each try to (DataError if it can't)."""
    if cfg["dataset"] == "cifar10" and not cifar10_ready(cfg["data_dir"]):
        _load_cifar10(cfg["data_dir"])
    if cfg["dataset"].startswith(UPLOAD):
        _upload_store(cfg)


# ---- uploaded data sets --------------------------------------------------------------------

UPLOAD = f"{UPLOAD_KIND}:"


def store_size(cfg: dict[str, Any]) -> tuple[int, int]:
    """(resize, crop) of an upload's store for the run: the shorter side resized to `resize`,
    centre-cropped to the training size."""
    size = cfg["image_size"]
    return int((cfg.get("eval_transform") or {}).get("resize") or size), size


def _upload_store(cfg: dict[str, Any]) -> tuple[str, int, int]:
    """(name, resize, crop) of the run's upload, its store at that size decoded if missing."""
    from playground.training import datasets
    from playground.training.archive import ArchiveError

    name, (resize, crop) = cfg["dataset"][len(UPLOAD) :], store_size(cfg)
    try:
        datasets.add_store(datasets.default_root(), name, resize, crop)
    except (ArchiveError, OSError) as err:
        raise DataError(f"{by_name('dataset').flag} {cfg['dataset']!r}: {err}") from None
    return name, resize, crop


# ---- the common interface ------------------------------------------------------------------


def scan(
    dataset: str, data_dir: str, synthetic_size: int, store: tuple[int, int] = (32, 32)
) -> dict[str, Any]:
    """What a source holds, without decoding pixels: sizes, classes, and whether it is ready
    (an upload: whether it has a store at `store`, (resize, crop))."""
    if dataset == "cifar10":
        ready = cifar10_ready(data_dir)
        return {
            "train_size": 50000,
            "test_size": 10000,
            "classes": list(CIFAR10_CLASSES),
            "ready": ready,
        }
    if dataset == "synthetic":
        return {
            "train_size": synthetic_size,
            "test_size": max(synthetic_size // 5, 10),
            "classes": list(SYNTHETIC_CLASSES),
            "ready": True,
        }
    if dataset.startswith("folder:"):
        train, test = _folder_splits(dataset[len("folder:") :])
        return {
            "train_size": sum(map(len, train.values())),
            "test_size": sum(map(len, test.values())),
            "classes": sorted(train),
            "ready": True,
        }
    if dataset.startswith(UPLOAD):
        from playground.training import datasets, stored  # stored imports this module

        return stored.scan_stored(datasets.default_root(), dataset[len(UPLOAD) :], *store)
    raise DataError(
        f"unknown dataset {dataset!r} (use {NAMED_KINDS}, {FOLDER_KIND}:PATH or {UPLOAD}NAME)"
    )


def load(cfg: dict[str, Any]) -> Dataset:
    """The run's data: `cfg` needs dataset, data_dir, image_size, synthetic_size, subset."""
    name, size = cfg["dataset"], cfg["image_size"]
    if name == "cifar10":
        tx, ty, vx, vy = _load_cifar10(cfg["data_dir"])
        classes = list(CIFAR10_CLASSES)
    elif name == "synthetic":
        info = scan(name, cfg["data_dir"], cfg["synthetic_size"])
        tx, ty = make_synthetic(info["train_size"], size, seed=1)
        vx, vy = make_synthetic(info["test_size"], size, seed=2)
        classes = info["classes"]
    elif name.startswith(UPLOAD):
        from playground.training import datasets, stored

        upload, resize, crop = _upload_store(cfg)
        root = datasets.default_root()
        return held_out(stored.load_stored(root, upload, resize, crop, cfg.get("subset")), cfg)
    else:
        train, test = _folder_splits(name[len("folder:") :])
        classes = sorted(train)
        tx, ty = _load_split(train, classes, size, cfg.get("subset"))
        vx, vy = _load_split(test, classes, size)
    if tx.shape[-1] != size:  # CIFAR-10 at another --image-size
        tx, vx = (F.resize(t, [size, size], antialias=True) for t in (tx, vx))
    subset = cfg.get("subset")
    if subset:
        tx, ty = tx[:subset], ty[:subset]
    return held_out(Dataset(tx, ty, vx, vy, classes), cfg)


def validation_split(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of `n` of the images, stratified: each class gives its share of `n` (rounded by
    largest remainder), drawn with `seed`. The same labels, `n` and seed give the same images."""
    labels = torch.as_tensor(labels)
    total = len(labels)
    if not 0 < n < total:
        flag = by_name("validation").flag
        raise DataError(f"{flag} {n}: the training set has {total} images; hold out fewer")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(total, generator=generator)
    counts = torch.bincount(labels, minlength=int(labels.max()) + 1).tolist()
    exact = [n * c / total for c in counts]
    share = [int(e) for e in exact]
    by_remainder = sorted(range(len(counts)), key=lambda k: exact[k] - share[k], reverse=True)
    for k in by_remainder[: n - sum(share)]:
        share[k] += 1
    shuffled = labels[order]
    picked = [order[shuffled == k][: share[k]] for k in range(len(counts))]
    return torch.cat(picked).sort().values


def held_out(data: Dataset, cfg: dict[str, Any]) -> Dataset:
    """With cfg["validation"] = N: N training images (stratified, cfg["split_seed"]) become the
    set the run evaluates on; the test set is kept apart and scored once, at the end."""
    n = cfg.get("validation")
    if not n:
        return data
    seed = cfg.get("split_seed", by_name("split_seed").default)
    val = validation_split(data.train_y, n, int(seed))
    keep = torch.ones(len(data.train_y), dtype=torch.bool)
    keep[val] = False
    return Dataset(
        data.train_x[keep],
        data.train_y[keep],
        data.train_x[val],
        data.train_y[val],
        data.classes,
        final_x=data.test_x,
        final_y=data.test_y,
    )
