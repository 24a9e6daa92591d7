"""Every refusal in words, nothing half-made: malformed pipelines (a fuzz over the loader's
structure), hostile text in the form's boxes and the API's run names, a corrupt image among good
ones, and a checkpoints folder that is full or read-only."""

from __future__ import annotations

import base64
import copy
import errno
import json
import shutil
import zlib
from pathlib import Path

import pytest
from PIL import Image

from pipelines.__main__ import main as pipelines_cli
from pipelines.catalogue import CATALOGUE
from pipelines.spec import FORMAT, VERSION, PipelineSpec, SpecError, from_dict, preset
from playground import jobs, runs, share, train_view
from playground.ui import train_control

# every JSON type, and values of the right type but out of every range
WRONG = [None, True, False, 0, -1, 1.5, 1e308, "", "x", [], {}, [1, 2], {"a": 1}, "\0", "9" * 400]


def _documents():
    """One valid single-step document per catalogue entry, and a path to every value in it."""
    for tdef in CATALOGUE:
        doc = {"format": FORMAT, "version": VERSION, "steps": [
            {"transform": tdef.name, "enabled": True, "p": 1.0, "params": tdef.defaults()}
        ]}  # fmt: skip
        paths = [("format",), ("version",), ("steps",), ("steps", 0)]
        paths += [("steps", 0, key) for key in ("transform", "enabled", "p", "params")]
        paths += [("steps", 0, "params", p.name) for p in tdef.params]
        yield tdef.name, doc, paths


def _set(doc, path, value):
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(("name", "doc", "paths"), list(_documents()), ids=lambda v: str(v)[:20])
def test_every_wrong_json_type_at_every_key_is_refused_in_words(name, doc, paths):
    assert isinstance(from_dict(doc), PipelineSpec)
    for path in paths:
        for value in WRONG:
            try:
                from_dict(_set(doc, path, value))  # a value that happens to be valid is fine
            except SpecError as err:
                assert str(err), (path, value)  # a message, never a bare error
            except Exception as err:  # the point of the test: nothing else may come out
                message = f"{name} {path} = {value!r}: {type(err).__name__} {err}"
                raise AssertionError(message) from err


@pytest.mark.parametrize("transform", [[], {}])
def test_an_unhashable_transform_is_refused_by_file_link_and_command_line(
    transform, tmp_path, capsys
):
    doc = json.loads(preset("d2l-flip").to_json())
    doc["steps"][0]["transform"] = transform
    with pytest.raises(SpecError, match="step 1: unknown transform"):
        from_dict(doc)
    token = base64.urlsafe_b64encode(zlib.compress(json.dumps(doc).encode())).decode()
    with pytest.raises(share.ShareError, match="does not validate: step 1: unknown transform"):
        share.decode({share.PIPELINE: token.rstrip("=")})
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(doc))
    assert pipelines_cli(["validate", str(path)]) == 2  # the README's promise: one line, exit 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown transform" in err and "Traceback" not in err


# --- the form's text boxes and the API's run names --------------------------------------------

HOSTILE = ["a\0b", "x" * 5000, "../../etc", "~/../../etc", "/etc/passwd", ".", "", " "]


@pytest.fixture
def root(root, monkeypatch):
    """conftest's checkpoints root, outside a Space and without a server data root."""
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv(jobs.DATA_ROOT_ENV, raising=False)
    return root


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name != ".start.lock")


def test_hostile_folder_paths_and_numbers_are_refused_in_words(root):
    from playground.training import data

    form = {"dataset": "folder", "epochs": 1, "device": "cpu"}
    for text in HOSTILE:
        try:
            settings = jobs.make_settings({**form, "folder": text})
        except jobs.JobError as err:
            assert str(err), text
            continue
        # locally any existing folder may be asked for ("~/../../etc" is /etc): the trainer's
        # check, which --check runs before a Start, then says what it lacks
        folder = settings.dataset.removeprefix("folder:")
        assert Path(folder).is_absolute() and Path(folder).is_dir(), text
        with pytest.raises(data.DataError, match="must hold train/<class>/"):
            data.scan(settings.dataset, "./data", 0)
    for name in ("epochs", "batch_size", "width", "seed", "lr", "subset"):
        for text in HOSTILE[:3] + ["1e999", "nan"]:
            with pytest.raises(jobs.JobError, match="must be"):
                jobs.make_settings({"dataset": "synthetic", name: text})
    assert _tree(root) == []


def test_the_app_and_the_trainer_check_a_folder_alike(tmp_path, root):
    from playground.training import data

    a_file = tmp_path / "photo.jpg"
    a_file.write_bytes(b"not a folder")
    for text, words in ((str(a_file), "is a file, not a folder"),
                        ("~/../../etc/no-such", "does not exist"),
                        ("x" * 5000, "characters long; the limit is 4,096"),
                        ("a\0b", "NUL character")):  # fmt: skip
        with pytest.raises(jobs.JobError) as app:
            jobs.make_settings({"dataset": "folder", "folder": text})
        with pytest.raises(data.DataError) as trainer:
            data.scan(f"folder:{text}", "./data", 0)
        assert words in str(app.value) and str(app.value) == str(trainer.value)
    # "~" means the same to both: the app passes the trainer the resolved folder
    home = Path("~").expanduser()
    settings = jobs.make_settings({"dataset": "folder", "folder": "~/../" + home.name})
    assert settings.dataset == f"folder:{home.resolve()}"


def test_hostile_run_names_get_an_answer_not_an_error(root):
    for name in HOSTILE + ["r" * 300, "<img src=/x onerror=alert(1)>"]:
        assert runs.find_run(name) is None
        assert train_control.on_stop(name, "me").startswith("⚠️ no run called")
        assert train_control.on_resume(name, "me").startswith("⚠️ no run called")
        assert train_control.on_delete(name, "me")[0].startswith("⚠️ no run called")
        assert train_control.on_save_notes(name, "n", "", "me").startswith("⚠️ Select a run")
        assert train_control.on_delete_ask(name)[1] == ""


def test_a_persons_text_is_echoed_as_text_not_html(root, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_SINGLE_USER", "1")
    path = root / "run1"
    path.mkdir()
    (path / "status.json").write_text('{"state": "finished", "pid": 1}')
    evil = "<img src=/x onerror=alert(1)>"
    saved = train_control.on_save_notes("run1", evil, "", "me")
    assert saved.startswith("Saved the name") and "<img" not in saved and "&lt;img" in saved
    _, ask = train_control.on_delete_ask("run1")
    assert "<img" not in ask and "&lt;img" in ask


# --- a corrupt image among good ones ----------------------------------------------------------


def test_preview_on_a_folder_with_one_corrupt_image_says_which(tmp_path):
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (20, 20), (i * 40, 10, 10)).save(folder / f"{i}.png")
    (tmp_path / "train" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    cfg = {"dataset": f"folder:{tmp_path}", "data_dir": "./data", "image_size": 16,
           "synthetic_size": 0, "subset": None, "train_pipeline": PipelineSpec().to_dict(),
           "batch_size": 4, "seed": 0, "world_size": 1}  # fmt: skip
    with pytest.raises(jobs.JobError, match="cannot read image .*broken.png"):
        train_view.first_batch(cfg)


# --- a checkpoints folder that is full or read-only -------------------------------------------


def _full_disk(monkeypatch):
    """Writes make their file, write nothing into it and fail, as on a full disk."""
    real = Path.write_text

    def write_text(self, *args, **kwargs):
        real(self, "")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", write_text)


def test_a_full_disk_leaves_no_half_made_run_folder_or_empty_files(root, monkeypatch):
    _full_disk(monkeypatch)
    settings = jobs.Settings(dataset="synthetic", epochs=1, device="cpu")
    with pytest.raises(jobs.JobError, match=r"No space left on device\); nothing was started"):
        jobs.start(settings, preset("cifar-standard"), "me", baseline=True)
    assert _tree(root) == []


def test_a_read_only_checkpoints_folder_is_said_for_start_notes_and_delete(root, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_SINGLE_USER", "1")
    path = root / "run1"
    path.mkdir()
    (path / "status.json").write_text('{"state": "finished", "pid": 1}')

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", read_only)
    monkeypatch.setattr(Path, "write_text", read_only)
    monkeypatch.setattr(shutil, "rmtree", read_only)
    settings = jobs.Settings(dataset="synthetic", epochs=1, device="cpu")
    with pytest.raises(jobs.JobError, match="Read-only file system"):
        jobs.start(settings, preset("cifar-standard"), "me")
    saved = train_control.on_save_notes("run1", "a name", "", "me")
    assert saved == "⚠️ Could not save the name and note of run1 (Read-only file system)."
    message, _ = train_control.on_delete("run1", "me")
    assert message == "⚠️ could not delete run1 (Read-only file system)"
    assert _tree(root) == ["run1", "run1/status.json"]  # nothing added, nothing half-made
