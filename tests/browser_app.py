"""What the Train tab's browser tests share (not collected as tests): `python app.py` on a port
of its own (`App`, restartable; `running`, which also ends any training it left behind), the
Train tab opened and its form filled and picked, and the scripts that read its status and its accuracy
plot. The Chromium fixture is tests/conftest.py's `browser`."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from playground import runs

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


@contextlib.contextmanager
def running(root: Path, log: Path) -> Iterator[App]:
    """An `App` started on `root`; afterwards stopped, and every run or sweep process it
    started killed (a test never leaves training behind, failed or not)."""
    app = App(root, log)
    app.start()
    try:
        yield app
    finally:
        app.stop()
        for run in runs.list_runs(app.root):
            if run.live and run.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(run.pid, signal.SIGKILL)
        for folder in runs.sweep_folders(app.root):  # a sweep's process group: it and its trial
            pid = (runs.read_json(folder / "launch.json") or {}).get("pid")
            if runs.sweep_live(folder) and isinstance(pid, int):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


def fill(page, elem_id: str, value: int) -> None:
    """Type `value` into the number box `#elem_id` and leave it (Tab), as a user does."""
    box = page.locator(f"#{elem_id} input")
    box.fill(str(value))
    box.press("Tab")


def pick(page, elem_id: str, option: str) -> None:
    """Choose `option` (its label) in the dropdown `#elem_id`, as a user does, and wait until
    the box shows it."""
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_function(
        f"() => document.querySelector('#{elem_id} input')?.value === '{option}'", timeout=TIMEOUT
    )


def open_train_tab(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
