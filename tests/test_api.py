"""The Augment and Export tabs through gradio_client, against a launched app (and the Train
tab's data set uploads)."""

import json

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from pipelines.spec import from_json, preset
from playground import runs
from playground.images import MAX_UPLOAD_BYTES
from playground.ui import CSS, build_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture(scope="module")
def client(checkpoints):
    with pytest.MonkeyPatch.context() as mp:  # a checkpoints folder of its own, not the repo's
        mp.setenv(runs.ROOT_ENV, str(checkpoints))
        demo = build_app()
        _, url, _ = demo.launch(
            prevent_thread_lock=True, max_file_size=MAX_UPLOAD_BYTES, css=CSS, quiet=True
        )
        yield Client(url, verbose=False)
        demo.close()


def _images_in(grid):
    return grid.count('<img alt="sample')


def test_preview_endpoint_renders_8_samples_for_a_seed(client):
    seed, grid, summary = client.predict(api_name="/new_samples")
    assert _images_in(grid) == 8
    assert f'data-seed="{seed}"' in grid
    assert "output 200 x 200" in summary


def test_upload_then_bad_upload_then_good_upload(client, tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (320, 240), (10, 200, 30)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    _, grid, summary = client.predict(handle_file(str(good)), api_name="/upload")
    assert _images_in(grid) == 8 and "Input 320 x 240" in summary
    _, _, summary = client.predict(handle_file(str(bad)), api_name="/upload")
    assert summary.startswith("⚠️") and "previous image is kept" in summary
    Image.new("RGB", (64, 48), (200, 0, 0)).save(good)
    _, grid, summary = client.predict(handle_file(str(good)), api_name="/upload")
    assert _images_in(grid) == 8 and "Input 64 x 48" in summary


def test_pipeline_file_restores_and_exports(client, tmp_path):
    path = tmp_path / "pipeline.json"
    path.write_text(preset("cifar-standard").to_json())
    grid, summary, _, status = client.predict(handle_file(str(path)), api_name="/load_pipeline")
    assert "output 32 x 32" in summary and status.startswith("Loaded")
    code, py_file, json_file = client.predict(api_name="/export")
    assert "v2.RandomCrop(size=(32, 32), padding=4" in code
    with open(json_file) as fh:
        assert from_json(fh.read()).active == preset("cifar-standard").active


def test_malformed_pipeline_file_is_explained(client, tmp_path):
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps({"format": "augmentation-pipeline", "version": 1, "steps": "x"}))
    _, summary, _, status = client.predict(handle_file(str(path)), api_name="/load_pipeline")
    assert status.startswith("⚠️ Pipeline not loaded") and "'steps' must be a list" in status
    assert "⚠️" not in str(summary)  # the Augment tab's summary is not the Export tab's


def test_presets_endpoint(client):
    out = client.predict("d2l-shape", api_name="/preset")
    assert "Order: RandomResizedCrop." in out[-1]


def test_predict_images_go_through_the_apps_loader(client, checkpoints, tmp_path):
    # The Predict box was a gr.Image: Gradio decoded uploads with Pillow's bomb check off (a
    # 126 KB greyscale PNG of 11,400 x 11,400 took 633 MB for 2.5 s) and answered bad files
    # with its generic error. Now the app's loader answers, as in the Augment tab.
    run = checkpoints / "run1"
    run.mkdir()
    (run / "status.json").write_text('{"state": "finished", "pid": 1}')
    (run / "best.pt").write_bytes(b"not a checkpoint")
    huge = tmp_path / "huge.png"
    Image.new("L", (11_400, 11_400)).save(huge, optimize=True)
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    for path, words in ((huge, "the limit is"), (text, "")):
        top, seen, note = client.predict("run1", handle_file(str(path)), api_name="/train_predict")
        assert not top and seen is None and note.startswith("⚠️ "), note
        assert words in note
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(good)
    top, seen, note = client.predict("run1", handle_file(str(good)), api_name="/train_predict")
    assert seen is not None and note.startswith("⚠️ Could not predict with run1")


def test_a_data_set_is_uploaded_refused_and_deleted_through_the_api(client, checkpoints, tmp_path):
    from tests.test_dataset_upload import _png, _zip, tiny_zip

    message, listed, kind, emptied = client.predict(
        handle_file(str(tiny_zip(tmp_path / "pets.zip"))), api_name="/train_dataset_upload"
    )
    assert message.startswith("Kept **pets**: 2 classes") and listed["value"] == "pets"
    assert listed["choices"] == [["pets (2 classes, 8 + 2 images)", "pets"]]
    assert kind == "upload" and emptied is None
    assert (checkpoints / "datasets" / "pets" / "manifest.json").is_file()
    evil = _zip(tmp_path / "evil.zip", {"a/x.png": _png((1, 1, 1)), "../y.png": b"1"})
    message, *_ = client.predict(handle_file(str(evil)), api_name="/train_dataset_upload")
    assert message.startswith("Refused evil.zip: ") and "'../y.png'" in message
    message, listed = client.predict("pets", api_name="/train_dataset_delete")
    assert message == "Deleted **pets**." and listed["choices"] == [] and listed["value"] is None
    assert not (checkpoints / "datasets" / "pets").exists()
