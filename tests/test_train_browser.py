"""The Train tab in real Chromium: start a tiny run from the page, watch the curve grow, stop it
after a page reload and an app restart (the run and who may stop it live in the run folder and
the browser's localStorage, not in the page or the server's memory)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from playground import runs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 240_000  # ms; an upper bound: a busy machine trains the tiny run slowly

STATUS_JS = """() => {
  const box = document.querySelector('#train-status .train-status');
  return box ? {state: box.dataset.state, run: box.dataset.run,
                points: Number(box.dataset.points || 0)} : null;
}"""
# Points drawn on the accuracy plot: the vertices of its coloured line marks.
DRAWN_JS = """() => [...document.querySelectorAll('#train-acc-plot path[aria-roledescription="line mark"]')]
  .filter((p) => p.getAttribute('stroke'))
  .map((p) => (p.getAttribute('d') || '').split(/[ML]/).filter(Boolean).length)
  .reduce((a, b) => a + b, 0)"""


class App:
    """`python app.py` on a fixed port with its own checkpoints folder; restartable."""

    def __init__(self, root: Path, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.root, self.log, self.proc = root, log, None
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            runs.ROOT_ENV: str(root),
            "PLAYGROUND_SINGLE_USER": "0",  # as on a Space: only the owner may stop a run
        }

    def start(self) -> None:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=fh, stderr=fh
            )
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"app.py did not come up:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=2):
                    return
            except OSError:
                time.sleep(0.25)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def train_app(tmp_path_factory):
    app = App(tmp_path_factory.mktemp("checkpoints"), tmp_path_factory.mktemp("app") / "app.log")
    app.start()
    try:
        yield app
    finally:
        app.stop()
        for run in runs.list_runs(app.root):  # never leave a training process behind
            if run.live and run.pid:
                os.kill(run.pid, signal.SIGKILL)


PLOT_STATE_JS = """() => ({
  legend: [...document.querySelectorAll('#train-acc-plot .role-legend-label text')]
    .map((t) => t.textContent),
  lines: [...document.querySelectorAll('#train-acc-plot path[aria-roledescription="line mark"]')]
    .map((p) => p.getAttribute('stroke')),
  overlay: document.querySelector('#train-overlay')?.innerText,
})"""


def _plot_state(page) -> dict:
    """The accuracy plot's legend, its lines' colours, the overlay picker, the status and the
    points drawn: what a failed wait on the plot reports."""
    return {
        **page.evaluate(PLOT_STATE_JS),
        "status": page.evaluate(STATUS_JS),
        "drawn": page.evaluate(DRAWN_JS),
    }


def _fill(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input")
    box.fill(str(value))
    box.press("Tab")


def _open_train_tab(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("tab", name="Train").click()


# Every legend label of the accuracy plot lies inside the plot (four curves: a run, its baseline).
LEGEND_JS = """() => {
  const plot = document.querySelector('#train-acc-plot')?.getBoundingClientRect();
  const labels = [...document.querySelectorAll('#train-acc-plot .role-legend-label text')];
  return plot ? {count: labels.length,
                 inside: labels.every((t) => t.getBoundingClientRect().right <= plot.right + 1)}
              : null;
}"""


def test_start_watch_the_curve_grow_then_stop_after_reload_and_restart(browser, train_app):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_train_tab(page, train_app.url)
        # on a CPU machine opening the tab starts no preview nobody asked for
        page.wait_for_function(
            "() => document.querySelector('#train-estimate')?.innerText"
            ".includes('Press Preview & estimate')",
            timeout=TIMEOUT,
        )
        page.locator("#train-dataset").get_by_text("Synthetic").click()
        for elem_id, value in (
            ("train-epochs", 500),  # never finishes by itself: the test stops it
            ("train-batch", 40),
            ("train-subset", 200),  # 5 steps per epoch: test points come soon
            ("train-width", 8),
        ):
            _fill(page, elem_id, value)
        page.locator("#train-baseline input").check()
        page.click("#train-start")
        page.wait_for_function(
            "() => document.querySelector('#train-message')?.innerText.includes('Started')",
            timeout=TIMEOUT,
        )
        run, baseline = sorted(runs.list_runs(train_app.root), key=lambda r: r.name)
        assert baseline.name == f"{run.name}-noaug"
        assert run.launch["command"][-2:] == ["--out", str(run.path)]

        page.wait_for_function(f"() => ({STATUS_JS})()?.points >= 1", timeout=TIMEOUT)
        page.wait_for_function(f"() => ({DRAWN_JS})() >= 1", timeout=TIMEOUT)
        drawn = page.evaluate(DRAWN_JS)
        page.wait_for_function(f"() => ({DRAWN_JS})() > {drawn}", timeout=TIMEOUT)
        assert page.evaluate(STATUS_JS)["state"] == "running"
        # the run and its baseline, train and test: four curves, and the legend fits
        try:
            page.wait_for_function(f"() => ({LEGEND_JS})()?.count >= 4", timeout=5 * TIMEOUT)
        except PlaywrightTimeout:  # say what the page showed instead (seen once under load)
            pytest.fail(f"the legend never showed 4 curves; the page showed {_plot_state(page)}")
        assert page.evaluate(LEGEND_JS)["inside"], page.evaluate(LEGEND_JS)

        # a reload, then a restart of the app: the run trains on, and this browser may stop it
        page.reload()
        train_app.stop()
        assert runs.read_run(run.path).state == "running"
        train_app.start()
        _open_train_tab(page, train_app.url)
        page.wait_for_function(
            f"() => ({STATUS_JS})()?.run === '{run.name}' && ({STATUS_JS})().state === 'running'",
            timeout=TIMEOUT,
        )
        page.wait_for_function(
            "() => document.querySelector('#train-stop')?.disabled === false", timeout=TIMEOUT
        )
        # the settings and the overlay of the baseline survived the reload and the restart
        page.wait_for_function(
            "() => document.querySelector('#train-epochs input')?.value === '500'", timeout=TIMEOUT
        )
        assert page.locator("#train-width input").input_value() == "8"
        assert page.locator("#train-baseline input").is_checked()
        page.wait_for_function(
            f"() => document.querySelector('#train-overlay')?.innerText.includes('{baseline.name}')",
            timeout=TIMEOUT,
        )

        other = browser.new_context().new_page()  # another user: may watch, may not stop
        try:
            _open_train_tab(other, train_app.url)
            other.wait_for_function(f"() => ({STATUS_JS})()?.run === '{run.name}'", timeout=TIMEOUT)
            assert other.locator("#train-stop").is_disabled()
        finally:
            other.context.close()

        page.click("#train-stop")
        page.wait_for_function(f"() => ({STATUS_JS})()?.state === 'stopped'", timeout=TIMEOUT)
        run = runs.read_run(run.path)
        assert (run.path / "last.pt").exists() and run.status["step"] < run.status["total_steps"]
        page.wait_for_function(
            "() => document.querySelector('#train-resume')?.disabled === false", timeout=TIMEOUT
        )
    finally:
        page.close()


def _finished_run(root: Path, name: str, acc: float) -> None:
    """A finished run's folder as the trainer leaves it: a status and a train and a test point."""
    (root / name).mkdir()
    status = {"state": "finished", "pid": 1, "updated": time.time(), "epoch": 1.0, "epochs": 1}
    (root / name / "status.json").write_text(json.dumps(status))
    records = [
        {"type": "train", "epoch": 0.5, "step": 1, "train_loss": 2.0, "train_acc": acc / 2},
        {"type": "eval", "epoch": 1.0, "test_loss": 1.5, "test_acc": acc, "train_acc": acc},
    ]
    (root / name / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


COMPARE_LEGEND_JS = """() => [...document.querySelectorAll(
  '#train-compare-acc .role-legend-label text')].map((t) => t.textContent)"""


def test_compare_legend_follows_each_pair(browser, tmp_path):
    # the plot builds its legend from the data it holds when its colours change: a second pair
    # must not keep the first pair's legend
    root = tmp_path / "checkpoints"
    root.mkdir()
    for name, acc in (("alpha", 0.5), ("bravo", 0.6), ("charlie", 0.7)):
        _finished_run(root, name, acc)
    app = App(root, tmp_path / "app.log")
    app.start()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_train_tab(page, app.url)
        page.get_by_text("Compare two runs").click()
        for b, gone in (("bravo", None), ("charlie", "bravo")):
            for elem_id, name in (("train-compare-a", "alpha"), ("train-compare-b", b)):
                box = page.locator(f"#{elem_id} input")
                box.fill(name)
                box.press("Enter")
            page.click("#train-compare")
            want = [f"{n} · {m}" for n in ("alpha", b) for m in ("test acc", "train acc")]
            try:
                page.wait_for_function(
                    f"() => {json.dumps(want)}.every((s) => ({COMPARE_LEGEND_JS})().includes(s))"
                    + (
                        f" && !({COMPARE_LEGEND_JS})().some((s) => s.startsWith('{gone}'))"
                        if gone
                        else ""
                    ),  # fmt: skip
                    timeout=TIMEOUT,
                )
            except PlaywrightTimeout:
                pytest.fail(f"compare {b}: legend {page.evaluate(COMPARE_LEGEND_JS)}, want {want}")
    finally:
        page.close()
        app.stop()


def test_an_uploaded_zip_is_kept_listed_chosen_and_deleted(browser, train_app, tmp_path):
    from tests.test_dataset_upload import tiny_zip

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_train_tab(page, train_app.url)
        assert not page.locator("#train-upload-box").is_visible()
        page.locator("#train-dataset").get_by_text("Uploaded .zip").click()
        page.locator("#train-upload-box").wait_for(state="visible", timeout=TIMEOUT)
        page.locator("#train-upload-zip input[type=file]").set_input_files(
            str(tiny_zip(tmp_path / "pets.zip"))
        )
        page.wait_for_function(
            "() => document.querySelector('#train-upload-message')?.innerText"
            ".includes('Kept pets: 2 classes, 8 training and 2 test images')",
            timeout=TIMEOUT,
        )
        assert (train_app.root / "datasets" / "pets" / "manifest.json").is_file()
        # listed and chosen: the form trains on it
        assert page.locator("#train-upload input").input_value().startswith("pets (2 classes")
        assert page.locator("#train-dataset input[value=upload]").is_checked()
        page.click("#train-upload-delete")
        page.wait_for_function(
            "() => document.querySelector('#train-upload-message')?.innerText"
            ".includes('Deleted pets')",
            timeout=TIMEOUT,
        )
        assert not (train_app.root / "datasets" / "pets").exists()
    finally:
        page.close()
