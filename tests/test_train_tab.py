"""The Train tab through gradio_client against a launched app and the real training command.

A tiny synthetic run (400 images, a ResNet-18 of width 8) trains in the background while the
tests watch it arrive, stop it, resume it, see a second session refused, and predict with it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from playground import runs
from playground.images import MAX_UPLOAD_BYTES
from playground.train_form import form_defaults
from playground.training.data import SYNTHETIC_CLASSES
from playground.ui import CSS, build_app

pytestmark = pytest.mark.slow

# the form's values, in its order (playground.train_form.FORM_KEYS)
TINY_SETTINGS = {"dataset": "synthetic", "epochs": 2, "batch_size": 40, "amp": "off"}
TINY_SETTINGS |= {"device": "cpu", "subset": 400, "width": 8}
TINY = form_defaults(**TINY_SETTINGS)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(runs.ROOT_ENV, str(root))
        mp.setenv("PLAYGROUND_SINGLE_USER", "0")  # as on a Space: only the owner may stop
        demo = build_app()
        _, url, _ = demo.launch(
            prevent_thread_lock=True, max_file_size=MAX_UPLOAD_BYTES, css=CSS, quiet=True
        )
        yield url, root
        demo.close()
        for run in runs.list_runs(root):  # never leave a training process behind
            if run.live and run.pid:
                import os
                import signal

                os.kill(run.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def alice(app):
    return Client(app[0], verbose=False)


@pytest.fixture(scope="module")
def bob(app):
    return Client(app[0], verbose=False)


def _status(client: Client) -> dict:
    return client.predict(None, api_name="/train_status")


# Upper bounds only: a machine kept busy by other work (CI's, say) trains the tiny run slowly.
def _wait(client: Client, predicate, timeout: float = 600.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(client)
        if predicate(status):
            return status
        time.sleep(0.5)
    raise AssertionError(f"timed out; last status: {status}")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"epochs": 0}, "epochs must be between 1"),
        ({"batch_size": 500}, "batch size 500 is larger than the training set (400 images)"),
        ({"dataset": "folder", "folder": "/no/such/folder"}, "does not exist"),
        ({"dataset": "folder", "folder": "NO_IMAGES"}, "no training images found under"),
    ],
)
def test_impossible_settings_are_refused_before_anything_starts(
    alice, app, tmp_path, change, expected
):
    for split in ("train", "test"):  # a folder laid out right, but with no images in it
        (tmp_path / split / "cat").mkdir(parents=True)
        (tmp_path / split / "cat" / "notes.txt").write_text("not an image")
    change = {k: str(tmp_path) if v == "NO_IMAGES" else v for k, v in change.items()}
    settings = form_defaults(**(TINY_SETTINGS | change))
    message, _, _ = alice.predict(False, 1, "none", None, *settings, api_name="/train_start")
    assert message.startswith("⚠️") and expected in message.replace("--batch-size", "batch size")
    assert runs.list_runs(app[1]) == []


def test_preview_shows_32_images_and_an_estimate(alice):
    zero = form_defaults(**(TINY_SETTINGS | {"epochs": 0}))
    _, _, message, _, _ = alice.predict(False, *zero, api_name="/train_check")
    assert message.startswith("⚠️") and "epochs must be between 1" in message
    gallery, estimate, message, batch, lr = alice.predict(False, *TINY, api_name="/train_check")
    assert len(gallery) == 32, message
    assert {item["caption"] for item in gallery} <= set(SYNTHETIC_CLASSES)  # each with its class
    assert "per epoch" in estimate and "images/s" in estimate and "Settings are valid" in message
    assert batch["info"].startswith("given: 40 (10 steps per epoch)")  # 400 images / 40
    assert lr["info"].startswith("auto: ")  # the learning rate was left at 0: fitted
    auto = form_defaults(**(TINY_SETTINGS | {"batch_size": 0}))
    _, estimate, _, batch, _ = alice.predict(False, *auto, api_name="/train_check")
    assert batch["info"].startswith("auto: ") and "Recipe:" in estimate


def test_start_watch_refuse_stop_resume_predict(alice, bob, app, tmp_path):
    message, watched, _ = alice.predict(False, 1, "none", None, *TINY, api_name="/train_start")
    assert message.startswith("Started"), message
    name = watched["value"]

    status = _wait(alice, lambda s: s["points"] >= 2)
    assert status["run"] == name and status["state"] == "running"
    plots = alice.predict(name, [], 0, api_name="/train_poll")  # watched, overlay, smoothing
    assert f'data-run="{name}"' in plots[0] and len(plots[2]["data"]) >= 2

    message, _, _ = bob.predict(False, 1, "none", None, *TINY, api_name="/train_start")
    assert message.startswith("⚠️ A run is already training") and name in message
    assert "only that session can stop it" in bob.predict(name, api_name="/train_stop")

    assert alice.predict(name, api_name="/train_stop").startswith("Stopping")
    stopped = _wait(alice, lambda s: s["state"] == "stopped")
    assert stopped["has_last"] and stopped["status"]["step"] < stopped["status"]["total_steps"]

    assert "only that session" in bob.predict(name, api_name="/train_resume")
    assert alice.predict(name, api_name="/train_resume").startswith("Resuming")
    finished = _wait(alice, lambda s: s["state"] == "finished")
    assert finished["evals"] == 2 and finished["points"] >= 10

    photo = tmp_path / "photo.png"
    Image.new("RGB", (48, 40), (200, 30, 30)).save(photo)
    top5, _, note = alice.predict(name, handle_file(str(photo)), api_name="/train_predict")
    assert len(top5["confidences"]) == 5 and note.startswith(f"Top-5 from {name}")
    assert "Trained on the synthetic set" in note and "expected" in note
    assert abs(sum(c["confidence"] for c in top5["confidences"])) <= 1.0 + 1e-6


def test_name_compare_download_and_delete_runs(alice, bob, app):
    (run,) = runs.list_runs(app[1])  # the run the test above trained
    _wait(alice, lambda s: s["run"] == run.name and s["state"] == "finished", timeout=300)
    name = run.name
    assert alice.predict(name, "tiny", "two epochs", api_name="/train_notes").startswith("Saved")
    assert "only that session can name it" in bob.predict(name, "x", "", api_name="/train_notes")
    out = bob.predict(name, [], 0, api_name="/train_poll")  # a first tick sends everything
    table = out[3]
    row = dict(zip(table["headers"], table["data"][0], strict=True))
    assert (row["name"], row["note"], row["run"]) == ("tiny", "two epochs", name)
    assert row["best test acc"].endswith("%") and row["augment"] != "pipeline"
    csv = out[-3]["value"]  # the downloads: metrics.csv, best.pt, pipeline.json
    assert Path(csv).name == f"{name}-metrics.csv"
    assert Path(csv).read_text().startswith("type,epoch,step,")

    html, _, acc = alice.predict(name, name, 0, api_name="/train_compare")
    assert "data-differ='0'" in html and "tiny" in html
    assert len(acc.get("value", acc)["data"]) > 0  # the curves (an update with its colours)

    # (the API answers with the message; the confirmation row is the page's)
    assert "only that session can delete it" in bob.predict(name, api_name="/train_delete")
    assert alice.predict(name, api_name="/train_delete") == f"Deleted {name}."
    assert runs.find_run(name, app[1]) is None
