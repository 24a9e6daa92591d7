"""Image data sets uploaded as a .zip: checked against hostile archives, decoded once into a
uint8 store, kept in a folder of their own (named, listed, deleted).

An archive holds class folders (`cats/*.jpg`, `dogs/*.jpg`), or `train/` and `test/` (or
`val/`) with class folders inside; one wrapping folder (`mydata/...`) is looked through.
Without a test split, a stratified, seeded split (`TEST_FRACTION` of each class) is made and
recorded in the manifest with the files it put in the test set.

Uploads are untrusted. Before any byte is decompressed the archive's directory is checked:
file count, total uncompressed size, names that climb out (`../`), absolute names, links. While
reading, each member must give exactly the size it declares (zipfile stops at the declared
size; a member that hides more fails its CRC): a zip bomb is refused, not decoded. Images are
decoded by `pipelines.images.load_image` (EXIF orientation, any mode to RGB, its own limits)
after a header check against `Limits.max_pixels`; non-images are skipped and counted, images
that do not decode are skipped and listed by name with the reason.

A store (`write_store`; kept in a data set folder by playground.training.datasets) is a folder
`store-<resize>-<crop>/{train,test}_{x,y}.npy`:
x uint8 (N, 3, crop, crop), y int64 (N,), every image resized so its shorter side is `resize`
and centre-cropped to `crop` x `crop`.

No torch here: the app can check an upload without importing the training code.
"""

from __future__ import annotations

import io
import os
import random
import re
import stat
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from pipelines import images

TEST_FRACTION = 0.2
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
TEST_SPLITS = ("test", "val")
# images read from the archive before a decoding round: at most this many, and no more bytes
# than CHUNK_BYTES (beyond a first image), so a run of 20 MB files is not held all at once
CHUNK, CHUNK_BYTES = 32, 64 << 20


@dataclass(frozen=True)
class Limits:
    """What an upload may hold; each refusal names the limit it broke."""

    max_files: int = 50_000  # entries in the archive, folders included
    max_total_bytes: int = 4 << 30  # uncompressed, as declared and as read
    max_pixels: int = 40_000_000  # per image, from its header (a 40-megapixel photo)
    max_store_bytes: int = 4 << 30  # the decoded store: images x 3 x crop x crop


DEFAULT_LIMITS = Limits()


class ArchiveError(ValueError):
    """An upload that cannot become a data set; the message says why in plain words."""


@dataclass
class Plan:
    """What the archive's directory says, before any image is decoded."""

    layout: str  # "class folders", "train/test", "train/val" or "train only"
    classes: list[str]
    train: list[tuple[str, int]]  # (member name, class index), sorted by name
    test: list[tuple[str, int]]
    split: dict[str, Any]  # how the test set came to be
    skipped: dict[str, Any] = field(default_factory=dict)


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""


# ---- the archive's directory ---------------------------------------------------------------


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.filename
    if "\0" in name:
        raise ArchiveError(f"the archive holds a file name with a NUL character ({name!r})")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise ArchiveError(f"the archive holds an absolute file name ({name!r}); it is refused")
    if ".." in re.split(r"[/\\]", name):
        raise ArchiveError(
            f"the archive holds a name that climbs out of its folder ({name!r}); it is refused"
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveError(f"the archive holds a symbolic link ({name!r}); links are refused")
    if info.flag_bits & 0x1:
        raise ArchiveError(f"{name!r} in the archive is encrypted; upload it without a password")


def _strip_wrapper(paths: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Look through one folder that wraps everything (`mydata/cats/1.jpg`), as long as the
    images stay inside class folders."""
    while paths and len({p[0] for p in paths}) == 1 and all(len(p) >= 3 for p in paths):
        if paths[0][0] in ("train", *TEST_SPLITS):
            break
        paths = [p[1:] for p in paths]
    return paths


def _stratified(
    members: list[tuple[str, int]], fraction: float, seed: int
) -> tuple[list, list, list[str]]:
    """(train, test, test names): `fraction` of each class, at least one test and one training
    image per class of two or more images, chosen by `seed`."""
    rng = random.Random(seed)
    by_class: dict[int, list[tuple[str, int]]] = {}
    for m in members:
        by_class.setdefault(m[1], []).append(m)
    train, test = [], []
    for label in sorted(by_class):
        items = sorted(by_class[label])
        rng.shuffle(items)
        n = len(items)
        k = 0 if n < 2 else min(max(round(n * fraction), 1), n - 1)
        test += items[:k]
        train += items[k:]
    return sorted(train), sorted(test), sorted(name for name, _ in test)


def plan(
    zf: zipfile.ZipFile,
    limits: Limits = DEFAULT_LIMITS,
    test_fraction: float = TEST_FRACTION,
    seed: int = 0,
) -> Plan:
    """Check the archive's directory and lay out the data set it holds; ArchiveError if not."""
    if not 0 < test_fraction < 1:
        raise ArchiveError(f"the test fraction must be between 0 and 1, got {test_fraction}")
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        raise ArchiveError(
            f"the archive holds {len(infos):,} files; the limit is {limits.max_files:,}"
        )
    total, names, skipped = 0, {}, Counter()
    examples: list[str] = []
    for info in infos:
        _check_entry(info)
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ArchiveError(
                f"the archive unpacks to more than {_size(limits.max_total_bytes)} (the limit)"
            )
        parts = tuple(p for p in re.split(r"[/\\]", info.filename) if p not in ("", "."))
        if info.is_dir() or not parts:
            continue
        if "__MACOSX" in parts or any(p.startswith(".") for p in parts):
            skipped["hidden"] += 1  # macOS resource forks (._x.jpg), .DS_Store, dot folders
        elif PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_EXTENSIONS:
            skipped["non_images"] += 1
            examples += [info.filename][: 10 - len(examples)]
        elif parts in names:
            raise ArchiveError(f"the archive holds {info.filename!r} twice")
        else:
            names[parts] = info.filename
    paths = _strip_wrapper(sorted(names))
    original = dict(zip(paths, (names[p] for p in sorted(names)), strict=True))
    tops = {p[0] for p in paths if len(p) > 1}
    if "train" in tops:
        test_dir = next((t for t in TEST_SPLITS if t in tops), None)
        depth, layout = 3, f"train/{test_dir}" if test_dir else "train only"
        split_of = {"train": "train", test_dir: "test"} if test_dir else {"train": "train"}
    else:
        test_dir, depth, layout, split_of = None, 2, "class folders", {}
    found: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for p in paths:
        split = split_of.get(p[0]) if depth == 3 else "train"
        if split is None or len(p) < depth:
            skipped["outside_class_folders"] += 1
            continue
        found[split].append((original[p], p[depth - 2]))
    classes = sorted({c for _, c in found["train"]})
    if not classes:
        raise ArchiveError(
            "no images in class folders found: the archive must hold <class>/<image> or "
            "train/<class>/<image> (and test/ or val/); images are "
            + ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
        )
    if len(classes) < 2:
        raise ArchiveError(
            f"only one class folder found ({classes[0]!r}): a classifier needs at least two"
        )
    extra = sorted({c for _, c in found["test"]} - set(classes))
    if extra:
        raise ArchiveError(f"test class {extra[0]!r} has no training images in the archive")
    index = {c: i for i, c in enumerate(classes)}
    train = sorted((n, index[c]) for n, c in found["train"])
    test = sorted((n, index[c]) for n, c in found["test"])
    if test_dir:
        split = {"made": False, "from": f"{test_dir}/"}
    else:
        train, test, test_names = _stratified(train, test_fraction, seed)
        split = {"made": True, "fraction": test_fraction, "seed": seed, "test_files": test_names}
    skipped = dict(skipped) | {"non_image_examples": examples}
    return Plan(layout, classes, train, test, split, skipped)


# ---- reading and decoding ------------------------------------------------------------------


def read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, which must be exactly as many as the archive declares (zipfile reads
    at most that many; a member that hides more fails its CRC)."""
    info = zf.getinfo(name)
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ArchiveError(
            f"{name!r} in the archive does not hold what the archive declares ({err}): the "
            "archive is damaged, or a zip bomb"
        ) from None
    if len(data) != info.file_size:
        raise ArchiveError(
            f"{name!r} in the archive holds {len(data):,} bytes where the archive declares "
            f"{info.file_size:,}: the archive is damaged, or a zip bomb"
        )
    return data


def _read_image(zf: zipfile.ZipFile, name: str) -> bytes | str:
    """The member's bytes, or why it is refused unread (larger than an image upload may be:
    the loader would refuse it anyway, and reading it first would hold it all in memory)."""
    size = zf.getinfo(name).file_size
    if size > images.MAX_UPLOAD_BYTES:
        return images._too_big_message(size)
    return read_member(zf, name)


def decode(data: bytes, resize: int, crop: int, max_pixels: int) -> np.ndarray:
    """An image file's bytes as uint8 (3, crop, crop): upright RGB (pipelines.images), the
    shorter side resized to `resize` (Pillow's bicubic), centre-cropped; ImageLoadError
    (saying why, as the preview says it) if it cannot be."""
    try:
        with Image.open(io.BytesIO(data)) as header:  # reads the header only
            width, height = header.size
    except Exception as err:  # noqa: BLE001 hostile files make Pillow raise almost anything
        raise images.ImageLoadError(images._unreadable_message(data)) from err
    if width * height > max_pixels:
        raise images.ImageLoadError(
            f"The image is {width}x{height} pixels; the limit is {max_pixels / 1e6:g} megapixels."
        )
    return fit(data, (width, height), resize, crop)


def fit(source: bytes | Image.Image, size: tuple[int, int], resize: int, crop: int) -> np.ndarray:
    """An image (a file's bytes or a PIL image, `size` its width and height) as a store holds
    it: uint8 (3, crop, crop), upright RGB, the shorter side resized to `resize`, centre-
    cropped. Prediction makes a run's input from a picture the same way."""
    short, long = sorted(size)
    # the longer side the loader scales to, so that the shorter one becomes `resize`
    img = images.load_image(source, max_side=max(resize, round(long * resize / max(short, 1))))
    w, h = img.size
    if min(w, h) != resize:  # smaller than asked, or off by one in rounding
        scale = resize / min(w, h)
        size = (max(resize, round(w * scale)), max(resize, round(h * scale)))
        img = img.resize(size, Image.Resampling.BICUBIC, reducing_gap=None)
        w, h = img.size
    left, top = (w - crop) // 2, (h - crop) // 2
    img = img.crop((left, top, left + crop, top + crop))
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)


def _chunks(zf: zipfile.ZipFile, members: list[tuple[str, int]]) -> Iterator[list]:
    chunk, held = [], 0
    for member in members:
        size = zf.getinfo(member[0]).file_size
        if chunk and (len(chunk) == CHUNK or held + size > CHUNK_BYTES):
            yield chunk
            chunk, held = [], 0
        chunk.append(member)
        held += size
    if chunk:
        yield chunk


def _decode_split(
    zf: zipfile.ZipFile,
    members: list[tuple[str, int]],
    folder: Path,
    split: str,
    resize: int,
    crop: int,
    limits: Limits,
    unreadable: list[dict[str, str]],
) -> int:
    """Decode one split into `folder/{split}_x.npy` and `{split}_y.npy`; returns the count."""
    x = np.lib.format.open_memmap(
        folder / f"{split}_x.npy", mode="w+", dtype=np.uint8, shape=(len(members), 3, crop, crop)
    )
    labels, n = [], 0

    def one(item: tuple[str, bytes | str]) -> np.ndarray | str:
        if isinstance(item[1], str):  # refused before reading
            return item[1]
        try:
            return decode(item[1], resize, crop, limits.max_pixels)
        except images.ImageLoadError as err:
            return str(err)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for chunk in _chunks(zf, members):
            files = [(name, _read_image(zf, name)) for name, _ in chunk]
            for (name, label), result in zip(chunk, pool.map(one, files), strict=True):
                if isinstance(result, str):
                    unreadable.append({"file": name, "reason": result})
                    continue
                x[n], n = result, n + 1
                labels.append(label)
    x.flush()
    del x
    if n < len(members):  # rewrite without the unreadable images' empty rows
        full = np.load(folder / f"{split}_x.npy", mmap_mode="r")
        np.save(folder / f"{split}_x.tmp.npy", full[:n])
        del full
        os.replace(folder / f"{split}_x.tmp.npy", folder / f"{split}_x.npy")
    np.save(folder / f"{split}_y.npy", np.asarray(labels, dtype=np.int64))
    return n


def store_name(resize: int, crop: int) -> str:
    return f"store-{resize}-{crop}"


def write_store(
    zf: zipfile.ZipFile, p: Plan, folder: Path, resize: int, crop: int, limits: Limits
) -> dict[str, Any]:
    if not 1 <= crop <= resize:
        raise ArchiveError(f"the crop ({crop}) must be between 1 and the resize ({resize})")
    need = (len(p.train) + len(p.test)) * 3 * crop * crop
    if need > limits.max_store_bytes:
        raise ArchiveError(
            f"{len(p.train) + len(p.test):,} images at {crop}x{crop} need {_size(need)}; the "
            f"limit is {_size(limits.max_store_bytes)}"
        )
    folder.mkdir()
    unreadable: list[dict[str, str]] = []
    started = time.perf_counter()
    counts = {
        split: _decode_split(zf, members, folder, split, resize, crop, limits, unreadable)
        for split, members in (("train", p.train), ("test", p.test))
    }
    seconds = time.perf_counter() - started
    y = np.load(folder / "train_y.npy")
    empty = [c for i, c in enumerate(p.classes) if not (y == i).any()]
    if empty:
        raise ArchiveError(
            f"class {empty[0]!r} has no readable training images"
            + (f" (unreadable: {unreadable[0]['file']!r}: {unreadable[0]['reason']})" if unreadable else "")
        )  # fmt: skip
    if counts["test"] == 0:
        raise ArchiveError("the test split holds no readable images")
    return {
        "folder": folder.name,
        "resize": resize,
        "crop": crop,
        "resample": "bicubic (Pillow), shorter side to resize, then centre crop",
        "train": counts["train"],
        "test": counts["test"],
        "decode_seconds": round(seconds, 3),
        "unreadable": unreadable,
    }
