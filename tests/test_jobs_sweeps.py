"""Sweeps from the app (playground.jobs.sweeps): a tiny real sweep started as a background
process, refused what would run beside it, stopped, resumed and stopped again; the refusals
of a busy server and of a Space's bounds, with nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from pipelines.spec import preset
from playground import jobs, owners, runs
from playground.jobs import sweep_limits, sweeps
from playground.training.sweep.candidates import make_candidates
from tests.fake_runs import SETTINGS, _run_folder

# the smallest sweep that trains for real: 200 synthetic images, width 4, one candidate
TINY = replace(SETTINGS, synthetic_size=200, width=4, batch_size=None, epochs=1)
SPEC = preset("cifar-standard")


def _wait(predicate, timeout=180.0):  # an upper bound, for busy machines
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def _kill_live(root) -> None:
    for folder in runs.sweep_folders(root):
        pid = (runs.read_json(folder / "launch.json") or {}).get("pid")
        if runs.sweep_live(folder) and isinstance(pid, int):
            os.killpg(pid, signal.SIGKILL)


def test_start_refuse_beside_it_stop_resume_stop(root):
    try:
        folder = sweeps.start(TINY, SPEC, "alice", [sweeps.CURRENT], "", 0.1, 2, root=root)
        launch = runs.read_json(folder / "launch.json")
        assert launch["kind"] == "sweep" and launch["command"][-2:] == ["--out", str(folder)]
        cmd = launch["command"]
        assert cmd[cmd.index("--candidates") + 1] == str(folder / sweeps.CURRENT_FILE)
        assert "--epochs" not in cmd and "--seed" not in cmd  # the sweep sets them per trial
        assert json.loads((folder / sweeps.CURRENT_FILE).read_text()) == json.loads(SPEC.to_json())
        assert sweeps.read(folder)["live"]

        # one training at a time: neither a run nor a second sweep starts beside it
        with pytest.raises(jobs.JobError, match="A sweep is training on this server"):
            jobs.start(TINY, SPEC, "alice", root=root)
        with pytest.raises(jobs.JobError, match="A sweep is training"):
            sweeps.start(TINY, SPEC, "alice", ["cifar-standard"], "", 1, 2, root=root)
        assert runs.sweep_folders(root) == [folder]  # the refused one left nothing

        # another session may watch it, not stop it
        with pytest.raises(jobs.JobError, match="another session"):
            sweeps.stop(folder.name, "bob", root)
        # stop once a trial (the cost probe first) trains
        _wait(lambda: any(r.live for r in runs.list_runs(root)))
        assert sweeps.read(folder)["state"] == "running"
        assert "stopping" in sweeps.stop(folder.name, "alice", root).lower()
        assert sweeps.read(folder)["state"] in ("stopping", "stopped")
        _wait(lambda: (s := sweeps.read(folder))["state"] == "stopped" and not s["live"])
        assert "resume" in sweeps.read(folder)["message"]
        assert not any(r.live for r in runs.list_runs(root))  # its trial stopped with it
        with pytest.raises(jobs.JobError, match="not running"):
            sweeps.stop(folder.name, "alice", root)

        sweeps.resume(folder.name, "alice", root)
        assert runs.read_json(folder / "launch.json")["command"][-2:] == ["--resume", str(folder)]
        with pytest.raises(jobs.JobError, match="already"):
            sweeps.resume(folder.name, "alice", root)
        assert sweeps.read(folder)["state"] in ("starting", "running")  # not the old "stopped"
        _wait(lambda: sweeps.read(folder)["state"] == "running")
        sweeps.stop(folder.name, "alice", root)
        _wait(lambda: (s := sweeps.read(folder))["state"] == "stopped" and not s["live"])
        assert "$ " in (folder / runs.LOG_NAME).read_text()  # its output is in its log
    finally:
        _kill_live(root)


def test_a_sweep_waits_for_a_training_run(root, sleeper):
    _run_folder(root, "20261207-090000-synthetic", {"state": "running", "pid": sleeper.pid})
    with pytest.raises(jobs.JobError, match="A run is already training"):
        sweeps.start(TINY, SPEC, "alice", ["cifar-standard"], "", 1, 2, root=root)
    assert runs.sweep_folders(root) == []


@pytest.mark.parametrize(
    ("env", "chosen", "minutes", "words"),
    [
        ({"PLAYGROUND_MAX_SWEEP_CANDIDATES": "1"}, ["cifar-standard", "randaugment"], 1,
         "at most 1 candidates besides no augmentation, and these are 2"),
        ({"SPACE_ID": "someone/space"}, ["cifar-standard"], 61, "at most 60 minutes"),
        ({}, [], 1, "pick at least one candidate"),
        ({}, ["cifar-standard"], 0, "more than 0 minutes"),
    ],
)  # fmt: skip
def test_refusals_say_why_and_leave_nothing(root, monkeypatch, env, chosen, minutes, words):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(jobs.JobError, match=words):
        sweeps.start(TINY, SPEC, "alice", chosen, "", minutes, 2, root=root)
    assert list(root.iterdir()) in ([], [root / ".start.lock"])


def test_a_ladder_that_does_not_fit_the_pipeline_is_refused(root):
    with pytest.raises(jobs.JobError, match="has no active ColorJitter"):
        sweeps.start(TINY, SPEC, "alice", [], "ColorJitter.brightness=0,0.4", 1, 2, root=root)
    assert runs.sweep_folders(root) == []


def _sweep_folder(root, said: str, updated: float, pid: int | None, started: float):
    folder = root / "20261207-100000-sweep"
    folder.mkdir(exist_ok=True)
    (folder / "sweep.json").write_text(json.dumps({"state": said, "updated": updated}))
    launch = {"pid": pid, "kind": "sweep", "started": started, "owner": owners.owner_id("alice")}
    (folder / "launch.json").write_text(json.dumps(launch))
    return folder


def test_a_sweep_state_is_what_its_file_says_resolved_against_its_process(root, sleeper):
    now = time.time()
    # resumed: the live process has not yet said anything since it started
    folder = _sweep_folder(root, "stopped", now - 60, sleeper.pid, now)
    assert (sweeps.read(folder)["state"], sweeps.read(folder)["live"]) == ("starting", True)
    # it said "stopped" since, and is ending
    _sweep_folder(root, "stopped", now + 1, sleeper.pid, now)
    assert sweeps.read(folder)["state"] == "stopped"
    # running, and Stop was pressed: stopping until it says otherwise
    _sweep_folder(root, "running", now + 1, sleeper.pid, now)
    assert sweeps.read(folder)["state"] == "running"
    (folder / "stop.json").write_text("{}")
    assert sweeps.read(folder)["state"] == "stopping"
    # its process is gone: stopped (Stop was pressed), else interrupted
    _sweep_folder(root, "running", now + 1, None, now)
    assert sweeps.read(folder)["state"] == "stopped"
    (folder / "stop.json").unlink()
    interrupted = sweeps.read(folder)
    assert interrupted["state"] == runs.INTERRUPTED and "resume" in interrupted["message"]
    with pytest.raises(jobs.JobError, match="another session"):
        sweeps.resume(folder.name, "bob", root)


def _pipeline_file(folder, name: str, spec) -> str:
    path = folder / name
    path.write_text(spec.to_json())
    return str(path)


def test_saved_files_and_a_fixed_schedule_make_the_sweep_command(root, tmp_path):
    files = [
        _pipeline_file(tmp_path, "flip only.json", preset("d2l-flip")),
        _pipeline_file(tmp_path, "strong.json", preset("randaugment")),
    ]
    request = sweeps.checked_request([], "", None, 2, files, first_epochs=2)
    folder = root / "s"
    folder.mkdir()
    sources, current, cfg, n = sweeps.prepared(folder, TINY, SPEC, request)
    assert current is None and n == 2 and cfg["train_size"] == 200
    given = [folder / sweeps.GIVEN / "flip-only.json", folder / sweeps.GIVEN / "strong.json"]
    assert sources == [str(p) for p in given]
    assert json.loads(given[1].read_text()) == json.loads(preset("randaugment").to_json())
    cmd = sweeps.sweep_command(folder, TINY, sources, current, request)
    assert cmd[cmd.index("--first-epochs") + 1] == "2" and "--budget-minutes" not in cmd
    labels = [c.label for c in make_candidates(sources)]
    assert labels == ["no augmentation", "flip-only", "strong"]  # named after the files
    # with a budget instead, and the current pipeline: its file, the budget, no fixed schedule
    request = sweeps.checked_request([sweeps.CURRENT], "", 5, 2)
    sources, current, _, n = sweeps.prepared(folder, TINY, SPEC, request)
    cmd = sweeps.sweep_command(folder, TINY, sources, current, request)
    assert sources == [str(folder / sweeps.CURRENT_FILE)] and n == 1
    assert cmd[cmd.index("--budget-minutes") + 1] == "5" and "--first-epochs" not in cmd


def test_a_file_that_is_not_a_pipeline_is_refused_by_its_name(root, tmp_path):
    good = _pipeline_file(tmp_path, "good.json", preset("d2l-flip"))
    bad = tmp_path / "notes.json"
    bad.write_text('{"steps": [{"name": "NoSuchTransform"}]}')
    with pytest.raises(jobs.JobError, match="the pipeline file notes.json"):
        sweeps.start(TINY, SPEC, "alice", [], "", 1, 2, root=root, files=[good, str(bad)])
    assert list(root.iterdir()) in ([], [root / ".start.lock"])


def test_a_space_fits_every_sweep_to_a_budget(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/space")
    with pytest.raises(jobs.JobError, match="fits every sweep to a budget of at most 60"):
        sweeps.checked_request(["cifar-standard"], "", None, 2, first_epochs=1)
    monkeypatch.delenv("SPACE_ID")
    assert sweeps.checked_request(["cifar-standard"], "", None, 2, first_epochs=1).minutes is None
    with pytest.raises(jobs.JobError, match="1 to 100"):
        sweeps.checked_request(["cifar-standard"], "", None, 2, first_epochs=101)


def test_a_sweep_over_the_servers_minutes_is_stopped_and_cannot_resume(root, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_SWEEP_MINUTES", "60")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "playground"])
    try:
        now = time.time()
        folder = _sweep_folder(root, "running", now - 100, proc.pid, now - 30 * 60)
        data = json.loads((folder / "sweep.json").read_text())
        data["elapsed_before_s"] = 29 * 60.0  # earlier starts: 29 min; this one: 30 so far
        (folder / "sweep.json").write_text(json.dumps(data))
        assert sweep_limits.enforce_limits(root, grace_s=1) == []  # 59 min: under the limit
        assert proc.poll() is None
        data["elapsed_before_s"] = 31 * 60.0
        (folder / "sweep.json").write_text(json.dumps(data))
        assert sweep_limits.enforce_limits(root, grace_s=1) == [folder.name]
        assert proc.wait(timeout=10) == -signal.SIGTERM
        stopped = sweeps.read(folder)
        assert stopped["state"] == "stopped" and "limit of 60 minutes" in stopped["message"]
        with pytest.raises(jobs.JobError, match="has used this server's 60 minutes"):
            sweeps.resume(folder.name, "alice", root)
    finally:
        proc.kill()
        proc.wait()
