"""An uploaded data set's store feeds the training data path unchanged (data.Dataset, then the
batched pipeline), in the folder loader's shuffled order."""

from __future__ import annotations

import random

import pytest
import torch

from pipelines.spec import load
from playground.training import datasets
from playground.training.augment import TrainBatches
from playground.training.data import DataError
from playground.training.stored import load_stored, scan_stored
from tests.test_archive import BLUE, RED, make_zip, png


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stored")
    files = {f"red/{i:02d}.png": png(RED) for i in range(10)}
    files |= {f"blue/{i:02d}.png": png(BLUE) for i in range(10)}
    datasets.import_archive(make_zip(folder / "rb.zip", files), folder / "data", "rb", 16, 12)
    return folder / "data"


def test_the_store_is_a_dataset_in_the_folder_loaders_order(root):
    data = load_stored(root, "rb", 16, 12)
    assert data.classes == ["blue", "red"]
    assert data.train_x.dtype == torch.uint8 and data.train_x.shape == (16, 3, 12, 12)
    assert data.train_y.dtype == torch.int64 and data.test_x.shape == (4, 3, 12, 12)
    stored, _ = datasets.load_store(root, "rb", 16, 12)
    order = list(range(16))
    random.Random(0).shuffle(order)
    assert data.train_y.tolist() == stored["train_y"][order].tolist()
    assert torch.equal(data.train_x, torch.from_numpy(stored["train_x"][order]))
    # every image keeps its label: blue ones are blue, red ones red
    assert (data.train_x[data.train_y == 0][:, 2] == 255).all()
    assert (data.train_x[data.train_y == 1][:, 0] == 255).all()
    subset = load_stored(root, "rb", 16, 12, subset=6)
    assert torch.equal(subset.train_y, data.train_y[:6]) and len(set(subset.train_y.tolist())) == 2
    assert scan_stored(root, "rb", 16, 12) == {
        "train_size": 16,
        "test_size": 4,
        "classes": ["blue", "red"],
        "ready": True,
    }
    assert scan_stored(root, "rb", 8, 8)["ready"] is False


def test_the_batched_pipeline_takes_the_stored_images(root):
    data = load_stored(root, "rb", 16, 12)
    spec = load("d2l-combined").with_output_size(12)  # flips, resized crops, colour
    batches = TrainBatches(data, spec, batch=4, seed=0, device=torch.device("cpu"), log=str)
    assert batches.batched
    x, y = next(batches.epoch(0))
    assert x.shape == (4, 3, 12, 12) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1


def test_a_missing_store_or_data_set_is_a_data_error(root):
    with pytest.raises(DataError, match="no store at 8/8"):
        load_stored(root, "rb", 8, 8)
    with pytest.raises(DataError, match="no data set named 'nope'"):
        scan_stored(root, "nope", 16, 12)
