"""Fixtures: for the slow tests `python app.py` on a free port and real Chromium (Playwright); a
checkpoints root of the test's own; the fake training command and a process that looks like a
run (tests/fake_runs.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright never downloads a browser here
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """URL of the app started as users start it (`python app.py`); its output goes to app.log."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("app") / "app.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        # a checkpoints folder of its own: the tests never read or write the repository's
        "PLAYGROUND_CHECKPOINTS": str(tmp_path_factory.mktemp("checkpoints")),
    }
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"app.py did not come up on {url}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.25)
        yield url
    finally:
        log_text = log_path.read_text(errors="replace")
        if "Traceback" in log_text:  # shown with the failing test's report
            print(f"app.py logged errors:\n{log_text[-4000:]}")
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def browser():
    """A Playwright Chromium browser (Debian's /usr/bin/chromium, headless)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A checkpoints root of the test's own, for the app's run code (several owners)."""
    from playground import runs

    root = tmp_path / "checkpoints"
    root.mkdir()
    monkeypatch.setenv(runs.ROOT_ENV, str(root))
    monkeypatch.setenv("PLAYGROUND_SINGLE_USER", "0")
    return root


@pytest.fixture
def fake_engine(tmp_path, monkeypatch):
    """The training command replaced by tests/fake_runs.py's FAKE_ENGINE (a fraction of a second)."""
    from playground import jobs
    from tests.fake_runs import FAKE_ENGINE

    script = tmp_path / "fake_playground_train.py"  # "playground" in argv: pid_alive trusts it
    script.write_text(FAKE_ENGINE)
    monkeypatch.setattr(jobs.process, "train_command", lambda *a: [sys.executable, str(script), *a])
    return script


@pytest.fixture
def sleeper():
    """A live process whose command line looks like a training process."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "playground"])
    yield proc
    proc.kill()
    proc.wait()
