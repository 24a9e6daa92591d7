"""The Train tab's data set uploads as plain values: a .zip kept as a named data set
(playground.training.datasets, under the checkpoints folder's `datasets/`), the list the form
offers, and deleting one, each answered in a sentence for the page.

An upload is decoded once at CIFAR-10's size (`settings.DEFAULT_IMAGE_SIZE`, what the default
ResNet-18 trains at); a run at another size (a torchvision model at 224) decodes its own store
from the kept archive when it starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from playground import runs
from playground.images import MAX_UPLOAD_BYTES
from playground.training import datasets
from playground.training import settings as run_settings
from playground.training.archive import ArchiveError

# Gradio's launch(max_file_size=MAX_UPLOAD_BYTES) bounds every upload of this app, a .zip too;
# the same bound is checked here, so a call that skips the page is answered alike.
MAX_ZIP_BYTES = MAX_UPLOAD_BYTES
SIZE = run_settings.DEFAULT_IMAGE_SIZE  # the store made at upload (resize and crop)
EXAMPLES = 3  # unreadable files named in the message


def _root(root: str | os.PathLike[str] | None) -> Path:
    return datasets.default_root() if root is None else Path(root)


def choices(root: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """The kept data sets as (words, name) for a dropdown: "flowers (5 classes, 800 + 200)"."""
    return [
        (f"{d['name']} ({len(d['classes'])} classes, {d['train']} + {d['test']} images)", d["name"])
        for d in datasets.list_datasets(_root(root))
    ]


def names(root: str | os.PathLike[str] | None = None) -> list[str]:
    return [name for _, name in choices(root)]


def upload(
    path: str | os.PathLike[str] | None, root: str | os.PathLike[str] | None = None
) -> tuple[str, str | None]:
    """Keep the .zip at `path` as a data set named after its file: (the message, the new
    data set's name), or (why it was refused, None); nothing is kept when it is refused."""
    if not path:
        return "Choose a .zip file of class folders to upload.", None
    path = Path(path)
    if path.suffix.lower() != ".zip":
        return f"Refused {path.name}: a data set is uploaded as a .zip archive.", None
    try:
        size = path.stat().st_size
    except OSError as err:
        return f"Refused {path.name}: it could not be read ({err.strerror}).", None
    if size > MAX_ZIP_BYTES:
        return (
            f"Refused {path.name}: it is {size / 2**20:,.1f} MB; this server takes uploads of "
            f"at most {MAX_ZIP_BYTES / 2**20:,.0f} MB.",
            None,
        )
    name = datasets.name_from_file(path.name)
    root = _root(root)
    try:
        manifest = datasets.import_archive(path, root, name, SIZE, SIZE)
        arrays, _ = datasets.load_store(root, name, SIZE, SIZE)
    except ArchiveError as err:
        return f"Refused {path.name}: {str(err).rstrip('.')}.", None
    return describe(manifest, arrays["train_y"], arrays["test_y"]), name


def describe(manifest: dict[str, Any], train_y: np.ndarray, test_y: np.ndarray) -> str:
    """What an upload became, in words: its classes with their image counts, the split, what was
    skipped and what could not be read."""
    classes = manifest["classes"]
    train = np.bincount(train_y, minlength=len(classes))
    test = np.bincount(test_y, minlength=len(classes))
    per_class = ", ".join(
        f"{c} {a} + {b}" for c, a, b in zip(classes, train.tolist(), test.tolist(), strict=True)
    )
    split = manifest["split"]
    if split.get("made"):
        how = (
            f"a test set of {split['fraction']:.0%} of each class was drawn (seed {split['seed']})"
        )
    else:
        how = f"the test set is the archive's {split['from']}"
    lines = [
        f"Kept **{manifest['name']}**: {len(classes)} classes, {int(train.sum())} training and "
        f"{int(test.sum())} test images ({per_class}); {how}."
    ]
    skipped = manifest.get("skipped", {})
    counts = {
        "hidden": ("hidden file", "hidden files"),
        "non_images": ("file that is not an image", "files that are not images"),
        "outside_class_folders": ("image outside class folders", "images outside class folders"),
    }
    parts = [
        f"{skipped[k]} {words[skipped[k] != 1]}" for k, words in counts.items() if skipped.get(k)
    ]
    if parts:
        lines.append("Skipped " + ", ".join(parts) + ".")
    unreadable = [u for store in manifest["stores"].values() for u in store.get("unreadable", [])]
    if unreadable:
        named = "; ".join(f"{u['file']}: {u['reason'].rstrip('.')}" for u in unreadable[:EXAMPLES])
        more = f" and {len(unreadable) - EXAMPLES} more" if len(unreadable) > EXAMPLES else ""
        n = len(unreadable)
        were = "image could not be read and was" if n == 1 else "images could not be read and were"
        lines.append(f"{n} {were} left out ({named}{more}).")
    return "\n\n".join(lines)


def in_use(name: str, root: str | os.PathLike[str] | None = None) -> list[str]:
    """The training runs that read the data set now (a live run's store is open)."""
    dataset = f"{run_settings.UPLOAD_KIND}:{name}"
    return [r.name for r in runs.list_runs(root) if r.live and r.config.get("dataset") == dataset]


def delete(
    name: str | None,
    root: str | os.PathLike[str] | None = None,
    runs_root: str | os.PathLike[str] | None = None,
) -> str:
    """Delete a kept data set; the message says what happened, or why not."""
    if not name:
        return "Choose the uploaded data set to delete."
    using = in_use(name, runs_root)
    if using:
        return f"**{name}** is not deleted: {', '.join(using)} trains on it now."
    try:
        datasets.delete_dataset(_root(root), name)
    except ArchiveError as err:
        return f"Nothing deleted: {str(err).rstrip('.')}."
    except OSError as err:
        return f"**{name}** could not be deleted ({err.strerror})."
    return f"Deleted **{name}**."
