"""A several-process CPU run stopped while its workers are still starting is "stopped", not
"failed: workers exited with status 1" (the signal ended them before their handler was in)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from playground.jobs import REPO

pytestmark = pytest.mark.slow


def test_a_multi_process_run_stopped_during_start_up_is_stopped(tmp_path):
    out = tmp_path / "run"
    out.mkdir()  # as the app makes it
    cmd = [sys.executable, "-m", "playground.train", "--pipeline", "d2l-flip", "--dataset",
           "synthetic", "--synthetic-size", "64", "--width", "4", "--epochs", "1",
           "--device", "cpu", "--nproc", "2", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _workers_started(proc.pid):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # the workers are importing torch, no handler yet
    log = proc.communicate(timeout=300)[0].decode()
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "stopped", (status, log[-2000:])
    assert proc.returncode == 0
    assert status.get("step", 0) == 0 and "start-up" in status["message"]


def _workers_started(pid: int) -> bool:
    """torchrun has started its workers (processes running playground.train under it)."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for child in found.stdout.split():
        workers = subprocess.run(["pgrep", "-P", child], capture_output=True, text=True)
        if len(workers.stdout.split()) >= 2:
            return True
    return False
