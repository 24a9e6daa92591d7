"""Fine-tuning from the page in real Chromium: a .zip of your own classes is uploaded and chosen,
a torchvision model (mobilenet_v3_small, from scratch: no network here), fine-tune head, one
epoch, with its baseline; Start draws the curves, and the finished pair's report names the
classes (per-class accuracy, confusion matrices).

Kept fast: 15 tiny PNGs (12 train, 3 test), 3 steps of 4 images per arm at the model's 224 px."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from playground import runs
from tests.browser_app import DRAWN_JS, STATUS_JS, TIMEOUT, fill, open_train_tab, pick, running

pytestmark = pytest.mark.slow

CLASSES = {"apple": (200, 30, 30), "boat": (30, 30, 200), "cat": (30, 180, 30)}
PER_CLASS = 5  # 4 train + 1 test after the 20% split
MODEL = "mobilenet_v3_small"


def _classes_zip(path: Path) -> Path:
    """Three class folders of tiny PNGs, each class its own colour (shades of it)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, colour in CLASSES.items():
            for i in range(PER_CLASS):
                buf = io.BytesIO()
                shade = tuple(min(255, c + 10 * i) for c in colour)
                Image.new("RGB", (12, 10), shade).save(buf, "PNG")
                zf.writestr(f"{name}/{i}.png", buf.getvalue())
    return path


@pytest.fixture(scope="module")
def finetune_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    with running(root, tmp_path_factory.mktemp("app") / "app.log") as app:
        yield app


REPORT_JS = "() => document.querySelector('#train-experiment')?.innerText || ''"


def test_upload_a_zip_fine_tune_a_torchvision_model_see_curves_and_classes(
    browser, finetune_app, tmp_path
):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_train_tab(page, finetune_app.url)
        page.locator("#train-dataset").get_by_text("Uploaded .zip").click()
        page.locator("#train-upload-box").wait_for(state="visible", timeout=TIMEOUT)
        page.locator("#train-upload-zip input[type=file]").set_input_files(
            str(_classes_zip(tmp_path / "things.zip"))
        )
        page.wait_for_function(
            "() => document.querySelector('#train-upload-message')?.innerText"
            ".includes('Kept things: 3 classes, 12 training and 3 test images')",
            timeout=TIMEOUT,
        )
        assert page.locator("#train-dataset input[value=upload]").is_checked()
        if not page.locator("#train-model").is_visible():  # "More settings" is shut on a GPU
            page.get_by_text("More settings").click()
        pick(page, "train-model", MODEL)
        pick(page, "train-weights", "none")  # ImageNet weights cannot be downloaded here
        pick(page, "train-finetune", "head")
        pick(page, "train-device", "cpu")
        for elem_id, value in (("train-epochs", 1), ("train-batch", 4)):
            fill(page, elem_id, value)
        page.locator("#train-baseline input").check()
        page.click("#train-start")
        page.wait_for_function(
            "() => document.querySelector('#train-message')?.innerText.includes('Started')",
            timeout=TIMEOUT,
        )
        run = next(r for r in runs.list_runs(finetune_app.root) if r.name == r.job)
        command = " ".join(run.launch["command"])
        for flags in (f"--model {MODEL}", "--finetune head", "--dataset upload:things"):
            assert flags in command, command

        # the curves: points drawn on the accuracy plot
        page.wait_for_function(f"() => ({DRAWN_JS})() >= 1", timeout=TIMEOUT)
        # the pair finishes; its report names the upload's classes
        page.wait_for_function(
            f"() => ({REPORT_JS})().includes('Confusion matrix')", timeout=2 * TIMEOUT
        )
        report = page.evaluate(REPORT_JS)
        assert all(name in report for name in CLASSES), report
        assert page.evaluate(STATUS_JS)["state"] == "finished"
        assert page.evaluate(DRAWN_JS) >= 2  # the training points and the test point
        for r in runs.list_runs(finetune_app.root):  # the run and its baseline
            assert r.state == "finished" and r.config["classes"] == list(CLASSES)
            assert r.config["image_size"] == 224  # the weights' crop, from tiny PNGs
    finally:
        page.close()
