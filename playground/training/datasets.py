"""Uploaded data sets kept on the server: one folder each under a root (`default_root()`: the
checkpoints folder's `datasets/`), named, listed, deleted, written atomically (a temporary
folder, then a rename), so a run and its Resume see the same files.

A data set folder `root/<name>/` holds `manifest.json` (what the archive held, the split, what
was skipped or unreadable, how long decoding took), `source.zip` (so that a store at another
size can be decoded later: `add_store`) and one uint8 store per size (playground.training.
archive). No torch here: the app can list and check uploads without the training code.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import uuid
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from playground.runs import checkpoints_root, write_json
from playground.training.archive import (
    DEFAULT_LIMITS,
    TEST_FRACTION,
    ArchiveError,
    Limits,
    plan,
    store_name,
    write_store,
)

FORMAT = "playground-dataset"
VERSION = 1
MANIFEST = "manifest.json"
SOURCE = "source.zip"
STORE_LOCK = ".store.lock"  # held while a process decodes a new store size (add_store)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
FOLDER = "datasets"  # in the checkpoints folder


def default_root() -> Path:
    """Where the uploaded data sets are kept: the checkpoints folder's `datasets/` (a run's
    `--dataset upload:NAME` names one of them)."""
    return checkpoints_root() / FOLDER


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name or ""):
        raise ArchiveError(
            f"the data set name {name!r} must be 1 to 64 letters, digits, dots, dashes or "
            "underscores, starting with a letter or digit"
        )
    return name


def name_from_file(filename: str) -> str:
    """A data set name made from an upload's file name (`My photos (2).zip` -> `My-photos-2`)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(filename).stem).strip("-._")
    return stem[:64] or "dataset"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ArchiveError(f"the upload is not a readable .zip archive ({err})") from None


def import_archive(
    zip_path: str | os.PathLike[str],
    root: str | os.PathLike[str],
    name: str,
    resize: int,
    crop: int,
    *,
    test_fraction: float = TEST_FRACTION,
    seed: int = 0,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Check `zip_path`, decode it into a store at (resize, crop) and keep it as `root/name`;
    returns the manifest. ArchiveError (nothing written) if the archive is refused."""
    check_name(name)
    root, zip_path = Path(root), Path(zip_path)
    if (root / name).exists():
        raise ArchiveError(f"a data set named {name!r} exists; delete it or choose another name")
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        with _open_zip(zip_path) as zf:
            p = plan(zf, limits, test_fraction, seed)
            store = write_store(zf, p, tmp / store_name(resize, crop), resize, crop, limits)
        shutil.copyfile(zip_path, tmp / SOURCE)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "name": name,
            "source": zip_path.name,
            "source_sha256": _sha256(tmp / SOURCE),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "layout": p.layout,
            "classes": p.classes,
            "files": {"train": len(p.train), "test": len(p.test)},
            "split": p.split,
            "skipped": p.skipped,
            "limits": asdict(limits),
            "stores": {store["folder"]: store},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        os.rename(tmp, root / name)  # fails if the name was taken meanwhile: nothing is lost
    except OSError as err:
        raise ArchiveError(f"the data set could not be written ({err})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def read_manifest(root: str | os.PathLike[str], name: str) -> dict[str, Any]:
    path = Path(root) / check_name(name) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ArchiveError(f"no data set named {name!r}") from None
    if manifest.get("format") != FORMAT:
        raise ArchiveError(f"{name!r} is not a data set of this program")
    return manifest


def add_store(
    root: str | os.PathLike[str], name: str, resize: int, crop: int, limits: Limits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """Decode the kept archive once more at another size (another model); the same split.

    Several processes may ask at once (a run and its baseline start together on the same new
    size): the data set's lock file makes one decode while the others wait, then find the store
    in the manifest. A store folder the manifest does not list (a process killed between the
    two) is decoded again."""
    manifest = read_manifest(root, name)
    folder = Path(root) / name
    key = store_name(resize, crop)
    if key in manifest["stores"]:
        return manifest
    with open(folder / STORE_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        manifest = read_manifest(root, name)  # another process may have made it meanwhile
        if key in manifest["stores"]:
            return manifest
        tmp = folder / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with _open_zip(folder / SOURCE) as zf:
                p = plan(zf, limits, manifest["split"].get("fraction", TEST_FRACTION),
                         manifest["split"].get("seed", 0))  # fmt: skip
                store = write_store(zf, p, tmp, resize, crop, limits)
            shutil.rmtree(folder / key, ignore_errors=True)  # unlisted: an interrupted one
            os.rename(tmp, folder / key)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        manifest["stores"][key] = {**store, "folder": key}
        write_json(folder / MANIFEST, manifest)
        return manifest


def load_store(
    root: str | os.PathLike[str], name: str, resize: int, crop: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """({train_x, train_y, test_x, test_y}, manifest) of a stored size (memory-mapped x)."""
    manifest = read_manifest(root, name)
    key = store_name(resize, crop)
    if key not in manifest["stores"]:
        sizes = ", ".join(manifest["stores"]) or "none"
        raise ArchiveError(f"data set {name!r} has no store at {resize}/{crop} (it has {sizes})")
    folder = Path(root) / name / key
    arrays = {
        f"{s}_{k}": np.load(
            folder / f"{s}_{k}.npy", mmap_mode="r" if k == "x" else None, allow_pickle=False
        )  # fmt: skip
        for s in ("train", "test")
        for k in ("x", "y")
    }
    return arrays, manifest


def list_datasets(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The kept data sets, by name: classes, image counts, stores."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not NAME_PATTERN.fullmatch(folder.name):
            continue
        try:
            m = read_manifest(root, folder.name)
        except ArchiveError:
            continue
        stores = m["stores"].values()
        out.append(
            {
                "name": m["name"],
                "classes": m["classes"],
                "train": max((s["train"] for s in stores), default=0),
                "test": max((s["test"] for s in stores), default=0),
                "stores": sorted(m["stores"]),
                "created": m["created"],
            }
        )
    return out


def delete_dataset(root: str | os.PathLike[str], name: str) -> None:
    """Remove a kept data set: renamed away first, so it is never listed half-deleted."""
    read_manifest(root, name)
    folder = Path(root) / name
    gone = Path(root) / f".{name}.{uuid.uuid4().hex[:8]}.deleting"
    os.rename(folder, gone)
    shutil.rmtree(gone)
