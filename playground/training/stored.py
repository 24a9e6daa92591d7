"""An uploaded data set's uint8 store (playground.training.datasets) as the training code's
`data.Dataset`: the same tensors a folder or CIFAR-10 gives, so the batched pipeline, the loop
and the metrics take it unchanged.

The store keeps its images in file-name order; the training images are put in the same fixed
shuffled order as a folder's (`data._load_split`: `random.Random(0)`), so that `--subset N`
takes a mix of classes rather than the first class alone.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from playground.training import datasets
from playground.training.archive import ArchiveError, store_name
from playground.training.data import DataError, Dataset


def scan_stored(root: str | os.PathLike[str], name: str, resize: int, crop: int) -> dict[str, Any]:
    """What the data set holds, without reading pixels (as `data.scan`); `ready`: whether a
    store at (resize, crop) exists (else `datasets.add_store` decodes one)."""
    try:
        manifest = datasets.read_manifest(root, name)
    except ArchiveError as err:
        raise DataError(str(err)) from None
    stores = manifest["stores"]
    some = stores.get(store_name(resize, crop)) or next(iter(stores.values()))
    return {
        "train_size": some["train"],
        "test_size": some["test"],
        "classes": list(manifest["classes"]),
        "ready": store_name(resize, crop) in stores,
    }


def load_stored(
    root: str | os.PathLike[str], name: str, resize: int, crop: int, subset: int | None = None
) -> Dataset:
    """The data set's store at (resize, crop) as uint8 NCHW tensors: training images in the
    folder loader's shuffled order (the first `subset` of them when given), test images all."""
    try:
        arrays, manifest = datasets.load_store(root, name, resize, crop)
    except ArchiveError as err:
        raise DataError(str(err)) from None
    order = list(range(len(arrays["train_y"])))
    random.Random(0).shuffle(order)
    order = order[:subset] if subset else order
    train_x = torch.from_numpy(np.array(arrays["train_x"][order]))  # a copy in memory
    train_y = torch.from_numpy(arrays["train_y"][order].astype(np.int64))
    test_x = torch.from_numpy(np.array(arrays["test_x"]))
    test_y = torch.from_numpy(arrays["test_y"].astype(np.int64))
    return Dataset(train_x, train_y, test_x, test_y, list(manifest["classes"]))
