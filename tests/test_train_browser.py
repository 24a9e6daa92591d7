"""The Train tab in real Chromium: start a tiny run from the page, watch the curve grow, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from playground import runs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60_000  # ms

STATUS_JS = """() => {
  const box = document.querySelector('#train-status .train-status');
  return box ? {state: box.dataset.state, points: Number(box.dataset.points || 0)} : null;
}"""
# Points drawn on the accuracy plot: the vertices of its line marks (SVG path commands).
DRAWN_JS = """() => [...document.querySelectorAll('#train-acc-plot path[aria-roledescription="line mark"]')]
  .filter((p) => p.getAttribute('stroke'))
  .map((p) => (p.getAttribute('d') || '').split(/[ML]/).filter(Boolean).length)
  .reduce((a, b) => a + b, 0)"""


@pytest.fixture(scope="module")
def train_app(tmp_path_factory):
    """`python app.py` on a free port with its own empty checkpoints folder."""
    root = tmp_path_factory.mktemp("checkpoints")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("app") / "app.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        runs.ROOT_ENV: str(root),
    }
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=fh, stderr=fh)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"app.py did not come up:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.25)
        yield url, root
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        for run in runs.list_runs(root):  # never leave a training process behind
            if run.live and run.pid:
                os.kill(run.pid, signal.SIGKILL)


def _fill(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input")
    box.fill(str(value))
    box.press("Tab")


def test_start_a_tiny_run_watch_the_curve_grow_and_stop_it(browser, train_app):
    url, root = train_app
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url)
        page.get_by_role("tab", name="Train").click()
        page.locator("#train-dataset").get_by_text("Synthetic").click()
        for elem_id, value in (
            ("train-epochs", 5),
            ("train-batch", 40),
            ("train-subset", 400),
            ("train-width", 8),
        ):
            _fill(page, elem_id, value)
        page.click("#train-start")
        page.wait_for_function(
            "() => document.querySelector('#train-message').innerText.includes('Started')",
            timeout=TIMEOUT,
        )
        (run,) = runs.list_runs(root)
        assert run.launch["command"][-2:] == ["--out", str(run.path)]

        page.wait_for_function(f"() => ({STATUS_JS})()?.points >= 1", timeout=TIMEOUT)
        page.wait_for_function(f"() => ({DRAWN_JS})() >= 1", timeout=TIMEOUT)
        drawn = page.evaluate(DRAWN_JS)
        page.wait_for_function(f"() => ({DRAWN_JS})() > {drawn}", timeout=TIMEOUT)
        assert page.evaluate(STATUS_JS)["state"] == "running"

        page.click("#train-stop")
        page.wait_for_function(f"() => ({STATUS_JS})()?.state === 'stopped'", timeout=TIMEOUT)
        run = runs.read_run(run.path)
        assert (run.path / "last.pt").exists() and run.status["step"] < run.status["total_steps"]
        assert page.locator("#train-resume").is_enabled()
    finally:
        page.close()
