"""Reading run folders: metrics, live and dead processes, failures, the runs list (the fake training command and the run folders: tests/fake_runs.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from playground import runs, train_view
from tests.fake_runs import _run_folder

# --- reading run folders -------------------------------------------------------------------


def test_metrics_skip_a_half_written_line_and_read_appends(root):
    path = _run_folder(root, "a", {"state": "running", "pid": 1})
    line = json.dumps({"type": "train", "epoch": 0.2, "train_loss": 2.0})
    (path / "metrics.jsonl").write_text(line + "\n" + '{"type": "tra')
    assert [r["epoch"] for r in runs.read_metrics(path)] == [0.2]
    with open(path / "metrics.jsonl", "a") as fh:
        fh.write('in", "epoch": 0.4}\n')
    assert [r["epoch"] for r in runs.read_metrics(path)] == [0.2, 0.4]
    (path / "metrics.jsonl").write_text(line + "\n")  # rewritten shorter (a resume truncates)
    assert [r["epoch"] for r in runs.read_metrics(path)] == [0.2]


def test_live_pid_is_running_and_dead_pid_is_interrupted(root, sleeper):
    _run_folder(root, "live", {"state": "running", "pid": sleeper.pid})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _run_folder(root, "dead", {"state": "running", "pid": dead.pid}, last_pt="x")
    assert runs.find_run("live").state == "running"
    run = runs.find_run("dead")
    assert run.state == runs.INTERRUPTED and run.resumable and not run.live
    assert "ended without writing a final status" in run.message


def test_a_process_is_alive_the_moment_it_is_started():
    # /proc/PID/cmdline reads empty for a moment after a spawn: that must not make a run that
    # was just launched look dead (failed, or free to start a second run beside it)
    for _ in range(50):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(9)", "playground"])
        try:
            assert runs.pid_alive(proc.pid)
        finally:
            proc.kill()
            proc.wait()
    assert not runs.pid_alive(proc.pid)


def test_failed_runs_say_why(root):
    log = "epoch 0.2 ...\nTraceback (most recent call last):\n  File x\nValueError: bad thing\n"
    _run_folder(root, "crashed", {"state": "failed", "pid": 1, "message": ""}, log_txt=log)
    assert runs.find_run("crashed").message == "ValueError: bad thing"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _run_folder(
        root,
        "never-started",
        None,
        launch_json=json.dumps({"pid": dead.pid}),
        log_txt="$ python -m playground.train\nerror: CIFAR-10 is not in './data'\n",
    )
    run = runs.find_run("never-started")
    assert run.state == "failed" and run.message == "CIFAR-10 is not in './data'"
    assert "error: CIFAR-10" in runs.log_tail(run.path, lines=1)
    html = train_view.status_html(run)
    assert "Failed:" in html and "CIFAR-10 is not in" in html


def test_runs_list_is_newest_first_and_names_are_not_paths(root):
    _run_folder(root, "old", {"state": "finished", "pid": 1, "updated": 100.0})
    _run_folder(root, "new", {"state": "finished", "pid": 1, "updated": 200.0})
    (root / "not-a-run").mkdir()
    (root / ".hidden").mkdir()
    assert [r.name for r in runs.list_runs()] == ["new", "old"]
    for bad in ("../checkpoints", "/etc", ".hidden", "", None, "not-a-run"):
        assert runs.find_run(bad) is None
