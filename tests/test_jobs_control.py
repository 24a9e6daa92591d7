"""Start, stop and resume against the fake training command: refusals, ownership, escalation,
crashes (the fake training command and the run folders: tests/fake_runs.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pipelines.spec import PipelineSpec, StepSpec, preset
from playground import jobs, owners, runs, train_form
from playground.train_view import preflight
from playground.ui import train_start
from tests.fake_runs import SETTINGS, _run_folder, _wait

# --- start / stop / resume (fake engine) ---------------------------------------------------


def test_a_pipeline_that_does_not_validate_never_starts(root, fake_engine):
    bad = PipelineSpec((StepSpec("RandomRotation", {"degrees": 1e9}),))
    with pytest.raises(jobs.JobError, match="does not validate"):
        jobs.start(SETTINGS, bad, "me")
    assert runs.list_runs() == []
    values = train_form.form_defaults(dataset="synthetic", epochs=2, device="cpu")
    message, *_ = train_start.on_start(
        bad, False, 1, preflight.AGAINST_NONE, None, "me", None, *values
    )
    assert message.startswith("⚠️") and "does not validate" in message


def test_a_failed_check_is_shown_and_leaves_no_folder(root, fake_engine):
    settings = jobs.Settings(dataset="synthetic", epochs=0)
    with pytest.raises(jobs.JobError, match="^--epochs must be at least 1, got 0$"):
        jobs.start(settings, preset("cifar-standard"), "me")
    assert list(root.iterdir()) == [root / ".start.lock"]


def test_start_refuse_stop_resume(root, fake_engine):
    spec = preset("cifar-standard")
    first, baseline = jobs.start(SETTINGS, spec, "alice", baseline=True)
    assert baseline.name.endswith("-noaug")
    launch = json.loads((first / "launch.json").read_text())
    assert launch["owner"] == owners.owner_id("alice") != "alice"
    assert "--no-augment" not in launch["command"]
    assert "--no-augment" in json.loads((baseline / "launch.json").read_text())["command"]
    assert (first / "pipeline-original.json").read_text() == spec.to_json()
    # both have a checkpoint before the stop (on a busy machine the baseline starts later)
    _wait(lambda: all(runs.find_run(f.name).status.get("step", 0) >= 2 for f in (first, baseline)))
    assert os.getpriority(os.PRIO_PROCESS, runs.find_run(first.name).pid) >= jobs.NICE

    with pytest.raises(jobs.JobError, match=f"already training.*{first.name}"):
        jobs.start(SETTINGS, spec, "bob")
    with pytest.raises(jobs.JobError, match="started by another session"):
        jobs.stop(first.name, "bob")

    assert "Stopping" in jobs.stop(first.name, "alice")
    _wait(lambda: all(r.state == "stopped" for r in runs.list_runs()))
    assert runs.find_run(first.name).resumable

    assert set(jobs.resume(first.name, "alice")) == {first, baseline}  # the job continues
    _wait(lambda: runs.find_run(first.name).state == "running")
    assert runs.find_run(first.name).owner == owners.owner_id("alice")
    jobs.stop(first.name, "alice")
    _wait(lambda: runs.find_run(first.name).state == "stopped")
    log = (first / "log.txt").read_text()
    assert log.count("$ ") == 2 and "--resume" in log


def test_a_resume_is_live_at_once_so_a_second_resume_or_start_is_refused(
    root, fake_engine, monkeypatch
):
    # Seen on the running app: in the seconds before a resumed trainer writes status.json, the
    # old one ("stopped") made the run look free; two Resume clicks started two trainers in one
    # folder, and a Start from another client started a second run beside it.
    import threading

    spec = preset("cifar-standard")
    (run_dir,) = jobs.start(SETTINGS, spec, "alice")
    _wait(lambda: runs.find_run(run_dir.name).state == "running")
    jobs.stop(run_dir.name, "alice")
    _wait(lambda: runs.find_run(run_dir.name).state == "stopped")
    created = runs.find_run(run_dir.name).started

    monkeypatch.setenv("FAKE_START_S", "3")  # a slow start-up: the window the race needs
    results: list[object] = []

    def resume() -> None:
        try:
            results.append(jobs.resume(run_dir.name, "alice"))
        except jobs.JobError as err:
            results.append(err)

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(r).__name__ for r in results) == ["JobError", "list"], results
    loser = next(r for r in results if isinstance(r, jobs.JobError))
    assert str(loser) == f"{run_dir.name} is being resumed already: watch it in the Runs list"
    run = runs.find_run(run_dir.name)
    assert run.state == "starting" and run.live and not run.resumable
    assert run.started == created  # the run keeps its start time across a resume
    with pytest.raises(jobs.JobError, match="already training"):
        jobs.start(SETTINGS, spec, "bob")
    with pytest.raises(jobs.JobError, match="is being resumed already"):  # not "no last.pt"
        jobs.resume(run_dir.name, "alice")
    _wait(lambda: runs.find_run(run_dir.name).state == "running")
    jobs.stop(run_dir.name, "alice")
    _wait(lambda: runs.find_run(run_dir.name).state == "stopped")
    assert (run_dir / "log.txt").read_text().count("$ ") == 2  # one start, one resume


def test_a_launch_marks_the_run_live_before_its_process_exists(root):
    path = _run_folder(root, "spawning", {"state": "stopped", "pid": 1, "updated": 100.0})
    launch = {"pid": None, "spawning": True, "started": time.time(), "action": "resume"}
    (path / "launch.json").write_text(json.dumps(launch))
    assert runs.find_run("spawning").state == "starting"
    launch["started"] = time.time() - runs.SPAWN_TIMEOUT_S - 1  # the app died mid-spawn
    (path / "launch.json").write_text(json.dumps(launch))
    assert runs.find_run("spawning").state == "stopped"


def test_a_trainer_that_died_of_an_error_is_failed_with_that_error(root):
    # It could not even write its final status (a folder it cannot write): the log says why;
    # "interrupted, killed or out of memory" would send a person looking for the wrong thing.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    log = (
        "$ python -m playground.train --resume x\nTraceback (most recent call last):\n"
        "PermissionError: [Errno 13] Permission denied: 'x/.status.json.tmp'\n"
    )
    _run_folder(root, "ro", {"state": "running", "pid": dead.pid}, log_txt=log, last_pt="x")
    run = runs.find_run("ro")
    assert run.state == "failed" and run.message.startswith("PermissionError: [Errno 13]")
    # an error from an earlier launch is not this launch's reason
    log = "$ first\nValueError: old\n$ python -m playground.train --resume x\nepoch 1\n"
    _run_folder(root, "killed", {"state": "running", "pid": dead.pid}, log_txt=log, last_pt="x")
    assert runs.find_run("killed").state == runs.INTERRUPTED


def test_anyone_may_stop_in_single_user_mode(root, fake_engine, monkeypatch):
    (run_dir,) = jobs.start(SETTINGS, preset("cifar-standard"), "alice")
    monkeypatch.setenv("PLAYGROUND_SINGLE_USER", "1")
    _wait(lambda: runs.find_run(run_dir.name).state == "running")
    jobs.stop(run_dir.name, "someone-else")
    _wait(lambda: runs.find_run(run_dir.name).state == "stopped")


def test_stop_escalates_when_sigterm_is_ignored(root, fake_engine, monkeypatch):
    monkeypatch.setenv("FAKE_IGNORE_TERM", "1")
    (run_dir,) = jobs.start(SETTINGS, preset("cifar-standard"), "me")
    _wait(lambda: runs.find_run(run_dir.name).state == "running")
    jobs.stop(run_dir.name, "me", grace_s=1.0)
    run = _wait(lambda: (r := runs.find_run(run_dir.name)).state == "stopped" and r)
    assert "killed before it could write a checkpoint" in run.message
    assert run.resumable


def test_a_crash_is_a_failed_run_with_its_reason(root, fake_engine, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "1")
    (run_dir,) = jobs.start(SETTINGS, preset("cifar-standard"), "me")
    run = _wait(lambda: (r := runs.find_run(run_dir.name)).state == "failed" and r)
    assert run.message == "RuntimeError: CUDA out of memory"
    with pytest.raises(jobs.JobError, match="cannot be resumed"):
        jobs.resume(run_dir.name, "me")


def test_stop_during_start_up_before_the_handler_is_installed(root, sleeper, monkeypatch):
    path = _run_folder(root, "starting", None, launch_json=json.dumps({"pid": sleeper.pid}))
    assert runs.find_run("starting").state == "starting"
    monkeypatch.setenv("PLAYGROUND_SINGLE_USER", "1")
    jobs.stop("starting", None)
    sleeper.wait(timeout=5)
    assert sleeper.returncode == -signal.SIGTERM
    assert runs.read_run(path).state == "stopped"


def test_the_stop_grace_period_covers_slow_steps(root):
    """A full-size batch on a CPU can take longer than 20 s: SIGKILL must not come mid-step."""
    path = _run_folder(
        root,
        "slow",
        {"state": "running", "pid": 1, "images_per_s": 25.0},
        config_json='{"batch_size": 512}',
    )
    assert jobs.control._step_seconds(runs.read_run(path)) == pytest.approx(512 / 25)
    assert (
        jobs.control._step_seconds(runs.read_run(_run_folder(root, "new", {"state": "running"})))
        == 0
    )
