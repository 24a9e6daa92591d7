"""The Train tab's data set uploads without a browser: a tiny .zip made here (8x8 PNGs in two
class folders) is kept and described, listed, chosen by the form, deleted; hostile or
unusable uploads are refused with their reason and leave nothing behind."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from playground import dataset_upload, jobs, runs, train_form
from playground.train_view import prefs
from playground.training import datasets


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, "PNG")
    return buf.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def tiny_zip(path: Path) -> Path:
    """Two classes of five 8x8 PNGs, a README, and one .png that is not an image."""
    members = {f"cats/{i}.png": _png((200, 20 * i, 0)) for i in range(5)}
    members |= {f"dogs/{i}.png": _png((0, 20 * i, 200)) for i in range(5)}
    members |= {"README.txt": b"two classes", "dogs/broken.png": b"not a png at all"}
    return _zip(path, members)


@pytest.fixture
def root(tmp_path, monkeypatch):
    """The checkpoints folder (runs and, under datasets/, the uploads) in tmp_path."""
    monkeypatch.setenv(runs.ROOT_ENV, str(tmp_path / "checkpoints"))
    return datasets.default_root()


def test_an_upload_is_kept_and_described(root, tmp_path):
    message, name = dataset_upload.upload(tiny_zip(tmp_path / "My pets (2).zip"))
    assert name == "My-pets-2"
    assert "Kept **My-pets-2**: 2 classes, 8 training and 2 test images" in message
    assert "cats 4 + 1, dogs 4 + 1" in message  # the broken dog is not counted
    assert "a test set of 20% of each class was drawn (seed 0)" in message
    assert "Skipped 1 file that is not an image." in message
    assert "1 image could not be read and was left out (dogs/broken.png: " in message
    assert (root / name / datasets.MANIFEST).is_file()
    assert dataset_upload.names() == [name]
    assert dataset_upload.choices() == [(f"{name} (2 classes, 8 + 2 images)", name)]


def test_a_hostile_zip_is_refused_with_its_reason_and_nothing_is_kept(root, tmp_path):
    members = {"cats/a.png": _png((1, 2, 3)), "dogs/b.png": _png((3, 2, 1))}
    path = _zip(tmp_path / "evil.zip", members | {"../outside.png": _png((9, 9, 9))})
    message, name = dataset_upload.upload(path)
    assert name is None
    assert message.startswith("Refused evil.zip: ") and "'../outside.png'" in message
    assert dataset_upload.names() == []
    assert not (tmp_path / "outside.png").exists()
    assert not root.exists() or not [p for p in root.iterdir() if not p.name.startswith(".")]


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"cats/a.png": b"x"}, "only one class folder found ('cats')"),
        ({"notes.txt": b"x"}, "no images in class folders found"),
    ],
)
def test_an_unusable_zip_is_refused_with_its_reason(root, tmp_path, members, reason):
    message, name = dataset_upload.upload(_zip(tmp_path / "data.zip", members))
    assert name is None and message.startswith("Refused data.zip: ") and reason in message


def test_not_a_zip_too_big_or_nothing_is_refused_before_reading(root, tmp_path, monkeypatch):
    assert dataset_upload.upload(None) == ("Choose a .zip file of class folders to upload.", None)
    text = tmp_path / "data.tar"
    text.write_bytes(b"x")
    assert "is uploaded as a .zip archive" in dataset_upload.upload(text)[0]
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"not a zip")
    assert "not a readable .zip archive" in dataset_upload.upload(fake)[0]
    monkeypatch.setattr(dataset_upload, "MAX_ZIP_BYTES", 100)
    message, name = dataset_upload.upload(tiny_zip(tmp_path / "big.zip"))
    assert name is None and "this server takes uploads of at most 0 MB" in message


def test_the_same_name_twice_is_refused_and_the_first_kept(root, tmp_path):
    tiny_zip(tmp_path / "pets.zip")
    assert dataset_upload.upload(tmp_path / "pets.zip")[1] == "pets"
    message, name = dataset_upload.upload(tmp_path / "pets.zip")
    assert name is None and "a data set named 'pets' exists" in message
    assert dataset_upload.names() == ["pets"]


def test_the_form_trains_on_a_chosen_upload_and_delete_removes_it(root, tmp_path):
    _, name = dataset_upload.upload(tiny_zip(tmp_path / "pets.zip"))
    values = train_form.form_values(train_form.form_defaults(dataset="upload", upload=name))
    assert jobs.make_settings(values).dataset == f"upload:{name}"
    assert jobs.make_settings(values | {"dataset": f"upload:{name}"}).dataset == f"upload:{name}"
    assert prefs.valid("upload", name) and not prefs.valid("upload", "gone")
    with pytest.raises(jobs.JobError, match="choose an uploaded data set"):
        jobs.make_settings(values | {"upload": ""})
    assert dataset_upload.delete(name) == f"Deleted **{name}**."
    assert dataset_upload.names() == [] and not prefs.valid("upload", name)
    with pytest.raises(jobs.JobError, match=f"no data set named '{name}'"):
        jobs.make_settings(values)
    assert dataset_upload.delete(name) == f"Nothing deleted: no data set named '{name}'."
    assert dataset_upload.delete(None) == "Choose the uploaded data set to delete."
