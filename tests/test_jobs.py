"""Run folders, the job launcher and the Train tab's callbacks, against a fake training command.

The fake command (written below) speaks the training CLI's contract: `--check` prints one JSON
line or an `error: ` line; a run writes status.json and metrics.jsonl and stops on SIGTERM with
status "stopped". It takes a fraction of a second, so these tests need no real training.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipelines.spec import PipelineSpec, StepSpec, make, preset
from playground import budget, controls, estimate, jobs, owners, runs, train_view
from playground.training import compare
from playground.training import settings as run_settings
from playground.ui import train

FAKE_ENGINE = r"""
import json, os, signal, sys, time
from dataclasses import replace
from pathlib import Path

args = sys.argv[1:]
def arg(name, default=None):
    return args[args.index(name) + 1] if name in args else default

if "--check" in args:
    if int(arg("--epochs", 1)) < 1:
        print("error: --epochs must be at least 1, got 0", file=sys.stderr)
        sys.exit(2)
    print("starting the check")
    print(json.dumps({"train_size": 1000, "test_size": 200, "device": "cpu", "epochs": 2}))
    sys.exit(0)

out = Path(arg("--resume") or arg("--out"))
time.sleep(float(os.environ.get("FAKE_START_S", "0")))  # imports, data loading
if os.environ.get("FAKE_FAIL"):
    print("Traceback (most recent call last):\nRuntimeError: CUDA out of memory", flush=True)
    sys.exit(1)
stop = []
if not os.environ.get("FAKE_IGNORE_TERM"):
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

def status(state, step):
    tmp = out / ".status.tmp"
    tmp.write_text(json.dumps({"state": state, "pid": os.getpid(), "epoch": step / 10,
        "epochs": 2, "step": step, "total_steps": 20, "images_per_s": 100.0, "elapsed_s": 1.0,
        "eta_s": 5.0, "lr": 0.1, "device": "cpu", "message": "", "updated": time.time()}))
    os.replace(tmp, out / "status.json")

step = 4 if arg("--resume") else 0
(out / "config.json").write_text(json.dumps({"dataset": "synthetic", "epochs": 2}))
while step < 20 and not stop:
    step += 1
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"type": "train", "epoch": step / 10, "step": step,
            "train_loss": 2.0 / step, "train_acc": step / 20, "lr": 0.1,
            "images_per_s": 100.0, "elapsed_s": step * 0.1}) + "\n")
    if step % 10 == 0:
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"type": "eval", "epoch": step / 10, "test_loss": 1.0,
                "test_acc": 0.5, "train_loss": 1.0, "train_acc": 0.5, "elapsed_s": 1}) + "\n")
    (out / "last.pt").write_bytes(b"x")
    status("running", step)
    time.sleep(float(os.environ.get("FAKE_STEP_S", "0.3")))
status("stopped" if stop else "finished", step)
"""


@pytest.fixture
def fake_engine(tmp_path, monkeypatch):
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


def _run_folder(root: Path, name: str, status: dict | None = None, **files: str) -> Path:
    path = root / name
    path.mkdir()
    if status is not None:
        (path / "status.json").write_text(json.dumps({"updated": time.time(), **status}))
    for filename, text in files.items():
        (path / filename.replace("_", ".", 1)).write_text(text)
    return path


def _wait(predicate, timeout=120.0):  # an upper bound, for busy machines
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


SETTINGS = jobs.Settings(dataset="synthetic", epochs=2, batch_size=100, device="cpu", width=8)


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


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epochs": 0}, "epochs must be between 1"),
        ({"epochs": 1.5}, "epochs must be a whole number"),
        ({"batch_size": -3}, "batch size must be between 1 and 65536, got -3"),
        ({"lr": -1}, "peak learning rate must be at least 1e-06, got -1"),
        ({"batch_size": "lots"}, "batch size must be a whole number"),
        ({"dataset": "folder", "folder": "/no/such/folder"}, "does not exist"),
        ({"dataset": "folder", "folder": ""}, "give the path"),
        ({"amp": "fp8"}, "amp must be one of auto, bf16, fp16, off, got 'fp8'"),
        ({"width": 2000}, "width must be between 1 and 512"),
    ],
)
def test_impossible_settings_are_explained(change, message):
    values = {"dataset": "synthetic", "folder": "", "epochs": 2, "batch_size": 64}
    values |= {"recipe": "fast", "amp": "auto", "device": "cpu"} | change
    with pytest.raises(jobs.JobError, match=message):
        jobs.make_settings(values)


def test_settings_become_the_commands_flags():
    values = {"dataset": "folder", "folder": "/tmp", "epochs": 3, "batch_size": 32}
    values |= {"recipe": "d2l", "amp": "off", "device": "cuda", "nproc": 2, "subset": 500}
    settings = jobs.make_settings(values | {"width": 16, "seed": 7, "lr": 0})
    flags = jobs.flags(settings)
    assert flags[flags.index("--dataset") + 1] == "folder:/tmp"
    assert flags[flags.index("--nproc") + 1] == "2" and flags[flags.index("--subset") + 1] == "500"
    assert "--lr" not in flags  # 0: auto, the training command fits it
    assert "--nproc" not in jobs.flags(SETTINGS) and "--subset" not in jobs.flags(SETTINGS)
    # every form field is a declared setting and becomes the flag of the same name
    for d in train.FORM:
        assert d.flag in jobs.flags(jobs.make_settings({**values, d.name: _other(d)})), d.name


def _other(d) -> object:
    """A valid value for a declared setting other than its default."""
    if d.name == "dataset":
        return "synthetic"
    if d.choices:
        return next(c for c in d.choices if c != d.default)
    if d.type is bool:
        return not d.default
    return (d.high if d.high is not None and d.high < 100 else 3) if d.type is int else 0.05


def test_single_user_mode_is_off_on_a_space(monkeypatch):
    monkeypatch.delenv("PLAYGROUND_SINGLE_USER", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert owners.single_user()
    monkeypatch.setenv("SPACE_ID", "someone/playground")
    assert not owners.single_user()


def test_one_space_check_decides_single_user_mode_and_the_banner(monkeypatch):
    # issue 20: owners and the device banner read SPACE_ID themselves, beside budget.on_space()
    monkeypatch.delenv("PLAYGROUND_SINGLE_USER", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setattr(budget, "on_space", lambda: True)
    assert not owners.single_user()
    assert train_view.devices.detect_devices.__wrapped__()["space"] is True


def test_the_data_set_kinds_are_the_declared_ones():
    # issue 20: jobs spelt the kinds, and the form's words for them, by hand
    values = {"folder": "", "epochs": 2, "device": "cpu"}
    for kind, word in run_settings.DATASET_KINDS.items():
        if kind != "folder":  # a folder needs an existing path (test_impossible_settings...)
            assert jobs.make_settings(values | {"dataset": word}).dataset == kind
            assert jobs.make_settings(values | {"dataset": kind}).dataset == kind
    with pytest.raises(jobs.JobError) as refused:
        jobs.make_settings(values | {"dataset": "imagenet"})
    assert all(word in str(refused.value) for word in run_settings.DATASET_KINDS.values())


def test_seeds_per_arm_are_bounded_as_declared(root):
    most = int(run_settings.SEEDS.high)
    with pytest.raises(jobs.JobError, match=f"between 1 and {most}, got {most + 1}"):
        jobs.start(SETTINGS, preset("cifar-standard"), "me", seeds=most + 1)
    assert not list(root.iterdir())


def test_compare_leaves_out_what_may_change_on_resume_unseen(root, monkeypatch):
    # issue 20: a hand-kept list beside the `resume` metadata; a new setting that only says
    # where or how fast (resume, not in the form) must stay out of Compare by its declaration
    declared = run_settings.declared()
    prefetch = replace(run_settings.by_name("workers"), name="prefetch", help="batches ahead")
    monkeypatch.setattr(run_settings, "declared", lambda: (*declared, prefetch))
    run, _ = _finished_pair(root, preset("cifar-standard"))
    rows = train_view.run_settings_rows(runs.find_run(run.name))
    assert "prefetch" not in rows and "workers" not in rows and "dist backend" not in rows
    assert {"Device", "GPUs", "aug seed"} <= set(rows)  # resumable but chosen in the form: shown
    assert "data dir" not in rows and "no augment" not in rows


@pytest.mark.parametrize(
    ("value", "zero"), [("true", True), ("1", True), ("false", False), ("", False)]
)
def test_zero_gpu_spaces_train_on_the_cpu_and_say_so(monkeypatch, value, zero):
    monkeypatch.setenv("SPACES_ZERO_GPU", value)
    train_view.detect_devices.cache_clear()
    try:
        info = train_view.detect_devices()
    finally:
        train_view.detect_devices.cache_clear()
    assert info["zero_gpu"] is zero
    banner = train_view.device_banner({**info, "gpus": 1, "names": ["H200"]})
    assert ("background training here runs on the CPU" in banner) is zero
    assert ("1 GPU: H200" in banner) is not zero


# --- start / stop / resume (fake engine) ---------------------------------------------------


def test_a_pipeline_that_does_not_validate_never_starts(root, fake_engine):
    bad = PipelineSpec((StepSpec("RandomRotation", {"degrees": 1e9}),))
    with pytest.raises(jobs.JobError, match="does not validate"):
        jobs.start(SETTINGS, bad, "me")
    assert runs.list_runs() == []
    values = train.form_defaults(dataset="synthetic", epochs=2, device="cpu")
    message, *_ = train.on_start(bad, False, 1, train.AGAINST_NONE, None, "me", None, *values)
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
    _wait(lambda: runs.find_run(first.name).status.get("step", 0) >= 2)
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


# --- the tab's view ------------------------------------------------------------------------


def test_curves_overlay_runs_with_a_series_each(root):
    for name, acc in (("aug", 0.6), ("noaug", 0.4)):
        lines = [
            {"type": "train", "epoch": 0.5, "train_loss": 1.5, "train_acc": acc},
            {"type": "eval", "epoch": 1.0, "test_loss": 1.2, "test_acc": acc, "train_acc": acc},
            {"type": "summary", "best_test_acc": acc},
        ]
        _run_folder(
            root,
            name,
            {"state": "finished", "pid": 1},
            metrics_jsonl="".join(json.dumps(r) + "\n" for r in lines),
        )
    loss, acc = train_view.curves(["aug"])
    assert set(acc["series"]) == {"train acc", "test acc"}
    loss, acc = train_view.curves(["aug", "noaug"])
    assert set(acc["series"]) == {
        f"{n} · {m}" for n in ("aug", "noaug") for m in ("train acc", "test acc")
    }
    assert len(loss) == 8  # each series' lone point is drawn as a dash: two rows
    table = train_view.runs_table(runs.list_runs())
    assert list(table["best test acc"]) in (["60.0%", "40.0%"], ["40.0%", "60.0%"])


def test_a_one_epoch_runs_test_accuracy_is_drawn(root):
    """Issue 17: after epoch 1 the legend listed the test accuracy and nothing was drawn (a line
    needs two points): a lone point becomes a short level dash centred on it."""
    lines = [{"type": "train", "epoch": e / 4, "train_loss": 2.0, "train_acc": 0.3} for e in (1, 2)]
    lines.append({"type": "eval", "epoch": 1.0, "test_loss": 1.1, "test_acc": 0.569})
    _run_folder(root, "one", {"state": "finished", "pid": 1},
                metrics_jsonl="".join(json.dumps(r) + "\n" for r in lines))  # fmt: skip
    _, acc = train_view.curves(["one"])
    test = acc[acc.series == "test acc"]
    assert list(test["value"]) == [0.569, 0.569] and test["epoch"].mean() == pytest.approx(1.0)
    assert 0.01 < test["epoch"].max() - test["epoch"].min() < 0.1  # seen, and at its epoch
    train_acc = acc[acc.series == "train acc"]  # two points draw a line as they are
    assert list(train_acc["epoch"]) == [0.25, 0.5]


def test_poll_sends_nothing_when_nothing_changed(root):
    path = _run_folder(
        root, "r", {"state": "finished", "pid": 1, "epoch": 1.0, "epochs": 1}, metrics_jsonl=""
    )
    skip = train.gr.skip()
    first = train.poll(None, [], 0, None, "me")
    assert 'data-run="r"' in first[0] and first[4]["value"] == "r"
    assert all(v == skip for v in train.poll("r", [], 0, first[-1], "me")[:-1])
    with open(path / "metrics.jsonl", "a") as fh:
        line = {"type": "train", "epoch": 0.2, "train_loss": 1, "train_acc": 0.1}
        fh.write(json.dumps(line) + "\n")
    data = train.poll("r", [], 0, first[-1], "me")
    assert 'data-points="1"' in data[0] and set(data[2]["series"]) == {"train acc"}
    # a new series: the next tick only recolours (the plot redraws from the data it holds), the
    # one after resends the data; twice, each map unlike the one before (a redraw lost in a busy
    # browser is made good by the second); then nothing until something changes
    colors = {"train acc": train_view.PALETTE[0][0]}
    maps = []
    for _ in range(train.REDRAWS):
        redraw = train.poll("r", [], 0, data[-1], "me")
        assert redraw[0] == skip and redraw[3] == skip
        assert {k: v for k, v in redraw[2]["color_map"].items() if k} == colors
        maps.append(redraw[2]["color_map"])
        data = train.poll("r", [], 0, redraw[-1], "me")
        assert set(data[2]["series"]) == {"train acc"}
    assert maps[0] != maps[1] and maps[-1] == colors
    assert all(v == skip for v in train.poll("r", [], 0, data[-1], "me")[:-1])
    # a test point: a new series, so the redraws again
    with open(path / "metrics.jsonl", "a") as fh:
        line = {"type": "eval", "epoch": 1.0, "test_loss": 1, "test_acc": 0.2, "train_acc": 0.1}
        fh.write(json.dumps(line) + "\n")
    data = train.poll("r", [], 0, data[-1], "me")
    assert set(data[2]["series"]) == {"train acc", "test acc"}
    redraw = train.poll("r", [], 0, data[-1], "me")
    assert {k for k in redraw[2]["color_map"] if k} == {"train acc", "test acc"}


def _finished_pair(root: Path, spec: PipelineSpec, owner: str = "alice") -> tuple[Path, Path]:
    """A finished run and its baseline, as the launcher and the trainer leave them."""
    folders = []
    for name, no_aug, accs in (("20261123-100000-synthetic", False, (0.5, 0.8, 0.7)),
                               ("20261123-100000-synthetic-noaug", True, (0.4, 0.6, 0.55))):  # fmt: skip
        records = [{"type": "train", "epoch": 0.5, "train_loss": 2.0, "train_acc": 0.2}]
        records += [{"type": "eval", "epoch": e + 1.0, "test_loss": 1.0, "test_acc": a}
                    for e, a in enumerate(accs)]  # fmt: skip
        status = {"state": "finished", "pid": 1, "epoch": 3.0, "epochs": 3, "elapsed_s": 194.0}
        launch = {"job": "20261123-100000-synthetic", "owner": owners.owner_id(owner)}
        cfg = {"dataset": "synthetic", "train_size": 5000, "test_size": 1000, "epochs": 3,
               "batch_size": 128, "lr": 0.05, "no_augment": no_aug}  # fmt: skip
        folders.append(
            _run_folder(
                root,
                name,
                status,
                launch_json=json.dumps(launch),
                config_json=json.dumps(cfg),
                pipeline_json=spec.to_json(),
                settings_json=json.dumps(
                    {"dataset": "synthetic", "epochs": 3, "no_augment": no_aug}
                ),
                metrics_jsonl="".join(json.dumps(r) + "\n" for r in records),
            )  # fmt: skip
        )
    return folders[0], folders[1]


def test_runs_table_tells_runs_apart(root):
    alice, bob = owners.new_token(), owners.new_token()  # the browsers' tokens
    run, baseline = _finished_pair(root, preset("cifar-standard"), alice)
    assert train.on_save_notes(run.name, "  crop and  flip ", "first try\n", alice).startswith(
        "Saved the name and note"
    )
    assert json.loads((run / "notes.json").read_text())["name"] == "crop and flip"
    assert "only that session can name it" in train.on_save_notes(run.name, "x", "", bob)
    table = train_view.runs_table(runs.list_runs()).set_index("run")
    row, base = table.loc[run.name], table.loc[baseline.name]
    assert (row["name"], row["note"]) == ("crop and flip", "first try")
    assert row["augment"] == f"Crop, HorizontalFlip (baseline: {baseline.name})"
    assert base["augment"] == "none: baseline of crop and flip"
    assert row["data"] == "synthetic (5,000 images)" and row["epochs"] == "3 / 3"
    assert (row["final test acc"], row["best test acc"]) == ("70.0%", "80.0%")
    assert (base["final test acc"], base["best test acc"]) == ("55.0%", "60.0%")
    assert row["duration"] == "3:14"
    # the pickers show the given name, and select by the folder's
    assert (f"crop and flip ({run.name})", run.name) in train_view.run_choices(runs.list_runs())
    # the poll fills the name and note boxes when the watched run changes, not on every tick
    first = train.poll(run.name, [], 0, None, alice)
    assert first[train.NOTES] == [
        train.gr.update(value="crop and flip", interactive=True),
        train.gr.update(value="first try", interactive=True),
    ]
    train.on_save_notes(run.name, "crop and flip", "edited elsewhere", alice)
    later = first
    for _ in range(train.REDRAWS):  # new series: the redraws first (see poll)
        recolour = train.poll(run.name, [], 0, later[-1], alice)
        later = train.poll(run.name, [], 0, recolour[-1], alice)
    assert later[train.NOTES] == [train.gr.skip(), train.gr.skip()]
    assert "edited elsewhere" in list(later[3]["note"])  # the table shows it


def test_delete_asks_first_and_keeps_live_runs(root, sleeper):
    alice, bob = owners.new_token(), owners.new_token()  # the browsers' tokens
    run, baseline = _finished_pair(root, preset("cifar-standard"), alice)
    confirm, text = train.on_delete_ask(run.name)
    assert confirm["visible"] is True and "cannot be undone" in text and run.name in text
    assert runs.find_run(run.name) is not None  # asking deletes nothing
    message, confirm = train.on_delete(run.name, bob)
    assert "only that session can delete it" in message and run.is_dir()
    best = runs.download_copy(runs.find_run(run.name), "pipeline.json")
    message, confirm = train.on_delete(run.name, alice)
    assert message == f"Deleted {run.name}." and confirm["visible"] is False
    assert not run.exists() and not Path(best).exists()
    assert [r.name for r in runs.list_runs()] == [baseline.name]
    live = _run_folder(root, "live", {"state": "running", "pid": sleeper.pid})
    (live / "launch.json").write_text(json.dumps({"owner": owners.owner_id(alice)}))
    message, _ = train.on_delete("live", alice)
    assert "stop it before deleting it" in message and live.is_dir()


def test_two_runs_compared_side_by_side(root):
    wide = preset("cifar-standard").with_params("RandomCrop", padding=8)
    run, baseline = _finished_pair(root, preset("cifar-standard"))
    other = root / "other"
    shutil.copytree(run, other)
    (other / "pipeline.json").write_text(wide.to_json())
    cfg = json.loads((other / "config.json").read_text()) | {"lr": 0.1}
    (other / "config.json").write_text(json.dumps(cfg))
    rows = {label: (a, b, d) for label, a, b, d in train_view.compare_rows(
        runs.find_run(run.name), runs.find_run("other"))}  # fmt: skip
    assert rows["step 1 padding"] == ("4", "8", True)
    assert rows["step 1"] == ("RandomCrop", "RandomCrop", False)
    assert rows["Peak learning rate"] == ("0.05", "0.1", True)
    assert rows["Epochs"] == ("3", "3", False)
    assert sum(d for _, _, d in rows.values()) == 2
    html, loss, acc = train.on_compare(run.name, "other", 0)
    assert "data-differ='2'" in html and html.count("≠") == 3  # two rows and the note
    assert set(acc["series"]) == {f"{n} · {m}" for n in ("100000-synthetic", "other")
                                  for m in ("train acc", "test acc")}  # fmt: skip
    # the colours follow the data, as a second step (the plot builds its legend from its data)
    loss_colours, acc_colours = train.compare_colours(run.name, "other", 0)
    assert set(acc_colours["color_map"]) == set(acc["series"])
    assert set(loss_colours["color_map"]) == set(loss["series"])
    # a baseline against its run: the whole pipeline differs
    rows = {label: (a, b, d) for label, a, b, d in train_view.compare_rows(
        runs.find_run(run.name), runs.find_run(baseline.name))}  # fmt: skip
    assert rows["augmentation"] == ("2 steps", "none (baseline)", True)
    assert rows["step 2"] == ("RandomHorizontalFlip", "-", True)


def test_step_probabilities_show_in_compare_and_the_runs_table(root):
    """Issue 17: two runs that differ only in a step's probability must not look the same."""
    blur = make([("RandomCrop", {}), ("GaussianBlur", {})])
    run, _ = _finished_pair(root, blur)
    other = root / "other"
    shutil.copytree(run, other)
    (other / "pipeline.json").write_text(controls.set_probability(blur, 1, 0.7).to_json())
    rows = {label: (a, b, d) for label, a, b, d in train_view.compare_rows(
        runs.find_run(run.name), runs.find_run("other"))}  # fmt: skip
    assert rows["step 2 step probability"] == ("1", "0.7", True)
    assert sum(d for _, _, d in rows.values()) == 1
    table = train_view.runs_table(runs.list_runs()).set_index("run")
    assert table.loc["other"]["augment"].startswith("Crop, GaussianBlur (p 0.7)")
    assert table.loc[run.name]["augment"].startswith("Crop, GaussianBlur (baseline")


def test_training_loss_smoothing_and_metrics_csv(root):
    records = [
        {"type": "train", "epoch": 0.1 * i, "step": i, "train_loss": loss, "train_acc": 0.1}
        for i, loss in enumerate([4.0, 0.0, 4.0, 0.0], 1)
    ] + [{"type": "eval", "epoch": 0.4, "test_loss": 3.0, "test_acc": 0.5}]
    lines = "".join(json.dumps(r) + "\n" for r in records)
    _run_folder(root, "r", {"state": "finished", "pid": 1}, metrics_jsonl=lines)
    loss, _ = train_view.curves(["r"], 0.0)
    assert list(loss[loss.series == "train loss"]["value"]) == [4.0, 0.0, 4.0, 0.0]
    loss, _ = train_view.curves(["r"], 0.5)
    assert list(loss[loss.series == "train loss"]["value"]) == [4.0, 2.0, 3.0, 1.5]
    test = loss[loss.series == "test loss"]  # never smoothed; one point: a dash centred on it
    assert list(test["value"]) == [3.0, 3.0] and test["epoch"].mean() == pytest.approx(0.4)
    assert 0 < test["epoch"].max() - test["epoch"].min() <= 0.1
    out = train.poll("r", [], 0.5, None, "me")
    csv_path = Path(out[-4]["value"])  # metrics.csv, best.pt, pipeline.json, then `seen`
    assert csv_path.name == "r-metrics.csv" and csv_path.is_relative_to(runs.downloads_root())
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("type,epoch,step,train_loss") and len(rows) == 6
    assert rows[5].startswith("eval,0.4,,")


def test_the_first_batch_shows_each_images_class(tmp_path):
    settings = jobs.Settings(dataset="synthetic", synthetic_size=64, epochs=1, batch_size=32,
                             device="cpu", width=8)  # fmt: skip
    pipeline = tmp_path / "pipeline.json"
    pipeline.write_text(preset("cifar-standard").to_json())
    batch = train_view.first_batch(jobs.check(settings, pipeline))
    assert len(batch) == 32
    assert all(image.size == (32, 32) for image, _ in batch)
    from playground.training.data import SYNTHETIC_CLASSES

    assert {label for _, label in batch} <= set(SYNTHETIC_CLASSES)
    assert len({label for _, label in batch}) > 3  # a shuffled batch, not one class


def test_predict_says_what_the_model_was_trained_on():
    synthetic = {"dataset": "synthetic", "classes": ["disk", "dots"], "train_size": 5000}
    text = train_view.trained_on(synthetic)
    assert "synthetic set (5,000 images)" in text and '"dots"' in text and "expected" in text
    cifar = train_view.trained_on({"dataset": "cifar10", "classes": ["cat", "dog"]})
    assert cifar.startswith("Trained on CIFAR-10") and "cat, dog" in cifar


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


def test_legend_labels_drop_the_date_and_the_run_is_watched_before_its_baseline(root):
    assert train_view.short_labels(
        ["20261122-101010-cifar10", "20261122-101010-cifar10-noaug"]
    ) == {
        "20261122-101010-cifar10": "101010-cifar10",
        "20261122-101010-cifar10-noaug": "101010-cifar10-noaug",
    }
    long = ["20261122-101010-folder-noaug-12", "20261122-101010-folder-noaug-13"]
    assert train_view.short_labels(long) == {  # four curves' legend must fit beside a plot
        long[0]: "101010-folder…aug-12",
        long[1]: "101010-folder…aug-13",
    }
    clash = ["20261122-101010-x", "20261123-101010-x"]
    assert train_view.short_labels(clash) == {n: n for n in clash}
    job = {"job": "a"}
    _run_folder(
        root, "a", {"state": "finished", "pid": 1}, launch_json=json.dumps(job | {"started": 1})
    )
    _run_folder(
        root,
        "a-noaug",
        {"state": "finished", "pid": 1},
        launch_json=json.dumps(job | {"started": 2}),
    )
    assert [r.name for r in runs.list_runs()] == ["a-noaug", "a"]
    assert train_view.default_watch(runs.list_runs()) == "a"


def test_an_estimate_is_not_kept_when_a_run_started_while_timing(root, monkeypatch, sleeper):
    cfg = {"device": "cpu", "world_size": 1, "width": 8, "batch_size": 100, "amp_dtype": "off",
           "batched": True, "image_size": 32, "train_size": 1000, "test_size": 200}  # fmt: skip
    monkeypatch.setattr(estimate, "_MEASURED", {})

    def timing_while_a_run_starts(*args):
        _run_folder(root, "20261123-000000-late", {"state": "running", "pid": sleeper.pid})
        return 123.0

    monkeypatch.setattr(estimate, "measure_images_per_s", timing_while_a_run_starts)
    with pytest.raises(jobs.JobError, match="a run started while a few steps were timed"):
        estimate.estimate_epoch(SETTINGS, root / "pipeline.json", cfg, root)
    assert estimate._MEASURED == {}  # the next estimate times again


GPU_SERVER = {"gpus": 1, "names": ["H100"], "cpus": 16, "zero_gpu": False, "space": False}
CPU_SERVER = {"gpus": 0, "names": [], "cpus": 2, "zero_gpu": False, "space": False}


def test_opening_the_tab_leaves_the_message_line_to_start(root, monkeypatch):
    monkeypatch.setattr(train_view, "detect_devices", lambda: GPU_SERVER)
    monkeypatch.setattr(
        train, "on_preview", lambda spec, base, *values: ("imgs", "Estimate", "Valid.", "b", "l")
    )
    values = train.form_defaults(dataset="synthetic", epochs=2, device="cpu", width=8)
    gallery, estimate, key, batch_note, lr_note = train.on_tab_preview(
        preset("d2l-flip"), False, *values
    )
    assert (gallery, estimate, batch_note, lr_note) == ("imgs", "Estimate\n\nValid.", "b", "l")
    # the form did not change meanwhile: the preview stays
    assert train.drop_if_stale(key, *values) == (train.gr.skip(), train.gr.skip())
    # Quick CPU run was pressed meanwhile: the preview of the old settings goes
    changed = train.form_defaults(dataset="synthetic", epochs=5, device="cpu", width=8)
    assert train.drop_if_stale(key, *changed) == (None, train.STALE_PREVIEW)


CHECKED = {"train_size": 1000, "test_size": 200, "device": "cpu", "epochs": 2, "batch_size": 100}


def test_an_answer_without_an_estimate_is_not_kept(root, monkeypatch):
    # Seen: Preview & estimate while a run trained said "no estimate while a run is training";
    # after the run ended the same settings still said so (the answer was cached), seed 1 not.
    monkeypatch.setattr(train, "_PREVIEWS", {})
    monkeypatch.setattr(jobs, "check", lambda *a, **k: dict(CHECKED))  # as the tab looks it up
    monkeypatch.setattr(train, "first_batch", lambda cfg: ["img"] * 32)
    training = [True]

    def estimate_epoch(settings, pipeline, cfg, root=None):
        if training[0]:
            raise jobs.JobError("no estimate while a run is training")
        return 10.0, "100 images/s"

    monkeypatch.setattr(estimate, "estimate_epoch", estimate_epoch)
    values = train.form_defaults(dataset="synthetic", epochs=2, device="cpu", width=8)
    spec = preset("d2l-flip")
    _, text, message, *_ = train.on_preview(spec, False, *values)
    assert text.startswith("No time estimate: no estimate while a run is training")
    training[0] = False
    _, text, _, *_ = train.on_preview(spec, False, *values)
    assert "about 0:10 per epoch and 0:20 for 2 epochs on cpu" in text
    # with its baseline, two runs share the device: the estimate counts both
    _, text, _, *_ = train.on_preview(spec, True, *values)
    assert "0:40 for 2 epochs for the run and its baseline" in text


def test_cifar10_that_cannot_be_had_is_said_before_anything_starts(root, fake_engine, monkeypatch):
    # Seen offline: "valid", "Started", and 3 s later a failed run whose message told a person
    # in a browser to "pass --dataset synthetic" and to fill ./data (relative to what?).
    cfg = CHECKED | {"dataset": "cifar10", "data_ready": False, "data_dir": "./data"}
    for where in (jobs, jobs.checks):  # the tab looks it up on the package, a Start on checks
        monkeypatch.setattr(where, "check", lambda *a, **k: dict(cfg))
    monkeypatch.setattr(jobs.checks, "cifar10_reachable", lambda *a: False)
    monkeypatch.setattr(train, "_PREVIEWS", {})
    folder = str(jobs.REPO / "data")
    with pytest.raises(jobs.JobError, match=f"^CIFAR-10 is not on this server.*{folder}"):
        jobs.start(SETTINGS, preset("cifar-standard"), "me")
    assert not [p for p in root.iterdir() if p.is_dir()]  # no failed run left behind
    values = train.form_defaults(dataset="cifar10", epochs=2, device="cpu", width=8)
    gallery, _, message, *_ = train.on_preview(preset("cifar-standard"), False, *values)
    assert gallery is None and message.startswith("⚠️ CIFAR-10 is not on this server")
    assert "--dataset" not in message and folder in message
    assert train.offer_synthetic(message)["visible"] is True
    message, *_ = train.on_start(
        preset("cifar-standard"), False, 1, train.AGAINST_NONE, None, "me", None, *values
    )
    assert train.offer_synthetic(message)["visible"] is True
    assert train.on_use_synthetic()[0] == "synthetic"
    assert train.offer_synthetic("Started x")["visible"] is False
    # it can be downloaded: the preview says where it goes, and the run fetches it
    monkeypatch.setattr(jobs.checks, "cifar10_reachable", lambda *a: True)
    _, _, message, *_ = train.on_preview(preset("cifar-standard"), False, *values)
    assert message.startswith("Settings are valid. CIFAR-10 is not in " + folder)


def test_an_old_download_failure_is_said_in_the_pages_words(root):
    log = (
        "$ python -m playground.train\nerror: CIFAR-10 is not in './data' and could not be "
        "downloaded (<urlopen error>). Download it elsewhere, or pass --dataset synthetic\n"
    )
    _run_folder(root, "offline", {"state": "failed", "pid": 1, "message": ""}, log_txt=log)
    run = runs.find_run("offline")
    text = train_view.run_message(run)
    assert "--dataset" not in text and str(jobs.REPO / "data") in text and "Synthetic" in text
    assert "Failed:</b> CIFAR-10 is not on this server" in train_view.status_html(run)


def test_the_quick_runs_numbers_add_up(root):
    cfg = {"dataset": "synthetic", "subset": 10000, "train_size": 5000, "epochs": 5}
    _run_folder(root, "quick", {"state": "finished", "pid": 1}, config_json=json.dumps(cfg))
    assert train_view.data_label(runs.find_run("quick")) == "synthetic (5,000 images)"
    assert "5,000" in train_view.device_banner({"gpus": 0, "cpus": 2, "zero_gpu": False})
    # the ETA: the average step so far (evaluations included), not this launch's last steps
    status = {"elapsed_s": 60.0, "step": 100, "total_steps": 400, "eta_s": 5.0}
    assert train_view.steady_eta(status) == 180.0
    # a run and its baseline train side by side: the ETA is that of the later one
    job = {"job": "a"}
    for name, step in (("a", 300), ("a-noaug", 100)):
        status = {"state": "running", "pid": os.getpid(), "elapsed_s": 60.0, "step": step,
                  "total_steps": 400, "epoch": 1.0, "epochs": 5}  # fmt: skip
        _run_folder(root, name, status, launch_json=json.dumps(job))
    monkeypatch_alive = runs.pid_alive
    try:
        runs.pid_alive = lambda pid: True
        both = [runs.find_run("a"), runs.find_run("a-noaug")]
        assert "ETA 3:00 (with its baseline)" in train_view.status_html(both[0], 0, both)
    finally:
        runs.pid_alive = monkeypatch_alive


def test_opening_the_tab_on_a_cpu_starts_no_preview_nobody_asked_for(root, monkeypatch):
    # Seen: opening the tab on a CPU machine started a 14-second preview nobody asked for.
    monkeypatch.setattr(train_view, "detect_devices", lambda: CPU_SERVER)
    monkeypatch.setattr(train, "_PREVIEWS", {})
    asked = []
    monkeypatch.setattr(jobs, "check", lambda *a, **k: asked.append(1) or dict(CHECKED))
    values = train.form_defaults(dataset="synthetic", epochs=2, device="cpu", width=8)
    gallery, text, key, *_ = train.on_tab_preview(preset("d2l-flip"), False, *values)
    assert gallery == train.gr.skip() and text == train.ASK_PREVIEW and not asked
    assert key == train.settings_key(*values)
    # a preview made for these settings already is shown at once
    monkeypatch.setattr(train, "first_batch", lambda cfg: ["img"] * 32)
    monkeypatch.setattr(estimate, "estimate_epoch", lambda *a, **k: (10.0, "100 images/s"))
    train.on_preview(preset("d2l-flip"), False, *values)
    gallery, text, *_ = train.on_tab_preview(preset("d2l-flip"), False, *values)
    assert gallery == ["img"] * 32 and "Estimate" in text and len(asked) == 1


def test_the_tab_remembers_its_settings_in_the_browser(monkeypatch):
    monkeypatch.setattr(train_view, "detect_devices", lambda: CPU_SERVER)
    values = train.form_defaults(dataset="synthetic", epochs=7, device="cpu", seed=3)
    saved = train.save_prefs(*values, True, "run-a", ["run-a-noaug"], 0.3)
    assert saved["epochs"] == 7 and saved["overlay"] == ["run-a-noaug"]
    saved = json.loads(json.dumps(saved))  # as localStorage keeps it
    restored = train.restore_prefs(saved)
    assert restored == [*values, True, "run-a", ["run-a-noaug"], 0.3]
    # what this server does not offer, or no longer accepts, keeps the page's own value
    skip = train.gr.skip()
    odd = saved | {"device": "cuda", "epochs": -1, "dataset": "imagenet", "overlay": "x"}
    keys = [*train.FORM_KEYS, *train.VIEW_PREFS]
    restored = dict(zip(keys, train.restore_prefs(odd), strict=True))
    assert restored["device"] == restored["epochs"] == restored["dataset"] == skip
    assert restored["overlay"] == skip and restored["seed"] == 3
    assert train.restore_prefs(None) == [skip] * (len(train.FORM_KEYS) + len(train.VIEW_PREFS))
    assert train.restore_prefs({"version": 99, "epochs": 3})[1] == skip


# --- what one anonymous request may take on a shared server --------------------------------


def test_a_space_bounds_epochs_data_and_time_per_run(root, fake_engine, monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/playground")
    for env in jobs.Limits.ENV.values():
        monkeypatch.delenv(env, raising=False)
    limits = jobs.server_limits()
    assert limits == jobs.Limits(50, 50_000, 120.0)
    with pytest.raises(jobs.JobError, match="epochs must be at most 50 on this server, got 10000"):
        jobs.make_settings({"dataset": "synthetic", "epochs": 10_000})

    monkeypatch.setenv("PLAYGROUND_MAX_TRAIN_IMAGES", "500")  # the fake check says 1000
    with pytest.raises(jobs.JobError, match="at most 500 images per run.*Subset to 500"):
        jobs.start(SETTINGS, preset("cifar-standard"), "me")
    assert not [p for p in root.iterdir() if p.is_dir()]

    monkeypatch.setenv("PLAYGROUND_MAX_TRAIN_IMAGES", "0")  # 0: no limit
    monkeypatch.setenv("PLAYGROUND_MAX_RUN_MINUTES", "2")
    (run_dir,) = jobs.start(SETTINGS, preset("cifar-standard"), "me")
    _wait(lambda: runs.find_run(run_dir.name).state == "running")
    pid = runs.find_run(run_dir.name).pid
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"PLAYGROUND_TIME_LIMIT_S=120" in environ  # the trainer stops itself after 2 min
    jobs.operator_stop([run_dir.name], wait=True)
    run = runs.find_run(run_dir.name)
    runs.write_json(run.path / "status.json", {**run.status, "elapsed_s": 119.0})
    with pytest.raises(jobs.JobError, match="has used this server's 2 minutes per run"):
        jobs.resume(run_dir.name, "me")
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.delenv("PLAYGROUND_MAX_RUN_MINUTES")
    assert jobs.server_limits() == jobs.Limits(None, None, None)  # locally: no limits


def test_the_training_loop_stops_itself_at_the_time_limit(monkeypatch):
    from playground.training.stop import StopFlag

    monkeypatch.setenv(StopFlag.TIME_LIMIT_ENV, "0.2")
    flag = StopFlag()
    flag.install()
    try:
        deadline = time.monotonic() + 5
        while flag.signal is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        flag.uninstall()
    assert flag.signal == signal.SIGALRM
    assert "time limit per run" in flag.reason and "checkpoint is kept" in flag.reason


def test_the_operator_may_stop_any_run(root, fake_engine, monkeypatch, capsys):
    monkeypatch.setenv(owners.OPERATOR_ENV, "op-token-123")
    (run_dir,) = jobs.start(SETTINGS, preset("cifar-standard"), "alice")
    _wait(lambda: runs.find_run(run_dir.name).state == "running")
    assert train.operator_stop("guess", "all").startswith("⚠️ Not the operator's token")
    assert runs.find_run(run_dir.name).state == "running"
    assert train.operator_stop("op-token-123", "all") == f"Stopping {run_dir.name}."
    _wait(lambda: runs.find_run(run_dir.name).state == "stopped")
    monkeypatch.delenv(owners.OPERATOR_ENV)
    assert not train.operator_stop("op-token-123").startswith("Stopping")

    # and from a shell on the server
    jobs.resume(run_dir.name, "alice")
    _wait(lambda: runs.find_run(run_dir.name).state == "running")
    assert jobs.main(["stop", "--all"]) == 0
    assert capsys.readouterr().out.strip() == f"stopped: {run_dir.name}"
    assert runs.find_run(run_dir.name).state == "stopped"
    assert jobs.main(["stop", "no-such-run"]) == 2


def test_folder_data_sets_on_a_space_stay_inside_the_data_root(tmp_path, monkeypatch):
    values = {"dataset": "folder", "epochs": 2, "batch_size": 64, "recipe": "fast"}
    values |= {"amp": "auto", "device": "cpu"}
    monkeypatch.setenv("SPACE_ID", "someone/playground")
    monkeypatch.delenv(jobs.DATA_ROOT_ENV, raising=False)
    with pytest.raises(jobs.JobError, match="folder data sets are off on this server"):
        jobs.make_settings({**values, "folder": str(tmp_path)})
    data = tmp_path / "data"
    (data / "cats").mkdir(parents=True)
    monkeypatch.setenv(jobs.DATA_ROOT_ENV, str(data))
    messages = set()
    for outside in ("/etc", "/no/such/folder", str(data / ".." / "..")):
        with pytest.raises(jobs.JobError) as err:
            jobs.make_settings({**values, "folder": outside})
        messages.add(str(err.value))
    # the same answer whether the folder exists or not: it tells a visitor nothing
    assert messages == {f"folder data sets on this server must lie inside {data.resolve()}"}
    settings = jobs.make_settings({**values, "folder": str(data / "cats")})
    assert settings.dataset == f"folder:{data / 'cats'}"
    with pytest.raises(jobs.JobError, match="does not exist"):
        jobs.make_settings({**values, "folder": str(data / "dogs")})


def test_compare_against_another_pipeline_file(root, fake_engine, tmp_path, monkeypatch):
    """ "Compare against: another pipeline file": the second arm trains that pipeline (no
    --no-augment), paired with the run by seed; the runs table says which is which."""
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    spec, other = preset("cifar-standard"), preset("d2l-flip")
    with pytest.raises(jobs.JobError, match="upload the pipeline file first"):
        train.against_spec(train.AGAINST_FILE, None)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "augmentation-pipeline", "version": 2, "steps": [{"x": 1}]}')
    with pytest.raises(jobs.JobError, match="^the pipeline file to compare against: "):
        train.against_spec(train.AGAINST_FILE, str(bad))
    assert train.against_spec(train.AGAINST_NONE, str(bad)) is None
    good = tmp_path / "flip.json"
    good.write_text(other.to_json())
    assert train.against_spec(train.AGAINST_FILE, str(good)) == other
    first, second = jobs.start(SETTINGS, spec, "me", against=other)
    assert second.name.endswith("-other") and first.name.endswith("-synthetic")
    assert (second / runs.ASKED_PIPELINE).read_text() == other.to_json()
    assert (first / runs.ASKED_PIPELINE).read_text() == spec.to_json()
    assert "--no-augment" not in json.loads((second / "launch.json").read_text())["command"]
    arm = json.loads((second / "settings.json").read_text())
    assert arm["baseline"] and not arm["no_augment"]
    _wait(lambda: all(runs.find_run(p.name).state == "finished" for p in (first, second)))
    all_runs = runs.list_runs()
    run_b = runs.find_run(second.name)
    assert train_view.is_baseline(run_b) and train_view.is_other_pipeline(run_b)
    assert train_view.augment_label(run_b, all_runs).startswith("HorizontalFlip (compared with")


# --- several seeds: a paired experiment, one pair at a time --------------------------------


def test_several_seeds_train_one_pair_at_a_time_from_a_queue(root, fake_engine, monkeypatch):
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    spec = preset("cifar-standard")
    with pytest.raises(jobs.JobError, match="seeds per arm must be between 1 and 10"):
        jobs.start(SETTINGS, spec, "me", baseline=True, seeds=0)
    folders = jobs.start(replace(SETTINGS, seed=5), spec, "me", baseline=True, seeds=2)
    names = [f.name for f in folders]
    assert [n.split("-", 2)[2] for n in names] == ["synthetic-s5", "synthetic-s5-noaug",
                                                   "synthetic-s6", "synthetic-s6-noaug"]  # fmt: skip
    for folder, seed in zip(folders, (5, 5, 6, 6), strict=True):
        launch = json.loads((folder / "launch.json").read_text())
        assert launch["command"][launch["command"].index("--seed") + 1] == str(seed)
    assert [runs.find_run(n).state for n in names[2:]] == [runs.QUEUED] * 2
    assert jobs.advance() == []  # the first pair is still training
    _wait(lambda: all(runs.find_run(n).state == "finished" for n in names[:2]))
    assert sorted(jobs.advance()) == sorted(folders[2:])  # the next pair, both arms at once
    assert jobs.advance() == []
    _wait(lambda: all(runs.find_run(n).state == "finished" for n in names))
    assert len({runs.find_run(n).job for n in names}) == 1


def test_stopping_an_experiment_stops_its_queue_and_resume_requeues_it(
    root, fake_engine, monkeypatch
):
    spec = preset("cifar-standard")
    first, base, *later = jobs.start(SETTINGS, spec, "me", baseline=True, seeds=2)
    # both have a checkpoint (on a busy machine the baseline may start seconds after the run)
    _wait(lambda: all((p / "last.pt").exists() for p in (first, base)))
    assert "2 queued runs will not start" in jobs.stop(first.name, "me")
    _wait(lambda: all(runs.find_run(p.name).state == "stopped" for p in (first, base)))
    assert [runs.find_run(p.name).state for p in later] == ["stopped", "stopped"]
    assert jobs.advance() == []  # stopped means stopped: nothing starts by itself
    assert set(jobs.resume(first.name, "me")) == {first, base}
    assert [runs.find_run(p.name).state for p in later] == [runs.QUEUED, runs.QUEUED]
    jobs.stop(first.name, "me")
    _wait(lambda: all(runs.find_run(p.name).state == "stopped" for p in (first, base)))


def test_the_operators_stop_stops_an_experiments_queue_too(root, fake_engine, monkeypatch):
    # stopped the live pair only: within seconds the queue started the next pair
    monkeypatch.setenv(owners.OPERATOR_ENV, "op-token-123")
    first, base, *later = jobs.start(SETTINGS, preset("cifar-standard"), "alice", True, seeds=3)
    _wait(lambda: all((p / "last.pt").exists() for p in (first, base)))
    assert train.operator_stop("op-token-123", "all").startswith("Stopping")  # the endpoint
    _wait(lambda: all(runs.find_run(p.name).state == "stopped" for p in (first, base)))
    assert [runs.find_run(p.name).state for p in later] == ["stopped"] * 4
    assert jobs.advance() == []
    # the owner resumes it, then the operator stops it from the server's shell
    jobs.resume(first.name, "alice")
    assert [runs.find_run(p.name).state for p in later] == [runs.QUEUED] * 4
    _wait(lambda: all(runs.find_run(p.name).live for p in (first, base)))
    assert jobs.main(["stop", "--all"]) == 0
    assert [runs.find_run(p.name).state for p in later] == ["stopped"] * 4
    assert jobs.advance() == []


def _finished_arm(root: Path, name: str, seed: int, no_aug: bool, right: np.ndarray, job: str):
    """A finished run folder as the training command leaves it, with per-image predictions."""
    label = np.arange(len(right)) % 2
    pred = np.where(right, label, 1 - label)
    path = _run_folder(root, name, {"state": "finished", "pid": 1})
    config = {"seed": seed, "no_augment": no_aug, "classes": ["cat", "dog"],
              "total_steps": 100, "batch_size": 32}  # fmt: skip
    (path / "config.json").write_text(json.dumps(config))
    (path / "launch.json").write_text(json.dumps({"pid": 1, "job": job, "started": 1.0}))
    acc = float(right.mean())
    evals = {"type": "eval", "epoch": 1.0, "test_acc": acc, "train_eval_acc": min(1.0, acc + 0.1),
             "test_acc_per_class": [float(right[label == k].mean()) for k in (0, 1)]}  # fmt: skip
    (path / "metrics.jsonl").write_text(json.dumps(evals) + "\n")
    np.savez(path / "predictions.npz", pred=pred, label=label)
    return path


def test_a_finished_pair_reads_as_this_seeds_effect_not_a_verdict(root):
    rng = np.random.default_rng(0)
    base_right = rng.random(2000) < 0.6
    aug_right = base_right | (rng.random(2000) < 0.25)  # right on more images
    _finished_arm(root, "j", 0, False, aug_right, "j")
    job = [runs.find_run("j")]
    assert train_view.experiment_report(job) == ""  # no baseline: nothing to compare
    _finished_arm(root, "j-noaug", 0, True, base_right, "j")
    report = train_view.experiment_report(jobs.job_runs(runs.find_run("j")))
    assert "**This seed only: +" in report and "not a verdict" in report
    assert "helped" not in report and "hurt" not in report
    assert "interval over the test images (McNemar), this seed only; 1 of 1 pairs" in report
    assert "it covers this seed's test images only, not training noise" in report
    assert "McNemar's exact test p = " in report
    assert "| with augmentation |" in report and "over-fitting gap" in report
    assert "| cat |" in report and "Confusion matrix, with augmentation" in report
    table = train_view.runs_table(runs.list_runs())  # both runs of the pair show the effect
    effects = set(table["effect of augmentation"])
    assert len(effects) == 1 and effects.pop().endswith(", this seed only")

    # the same runs with equal predictions: a difference of 0, still this seed only
    np.savez(root / "j" / "predictions.npz", **dict(np.load(root / "j-noaug" / "predictions.npz")))
    report = train_view.experiment_report(jobs.job_runs(runs.find_run("j")))
    assert "**This seed only: +0.0 points" in report


def test_the_comparison_is_computed_once_and_read_afterwards(root, monkeypatch):
    """Stored in the job's run folder when a pair has finished; redraws of the runs table (more
    jobs than any cache held) read it rather than recompute it."""
    rng = np.random.default_rng(1)
    for j in range(10):
        right = rng.random(500) < 0.5
        _finished_arm(root, f"r{j}", 0, False, right, f"r{j}")
        _finished_arm(root, f"r{j}-noaug", 0, True, right ^ (rng.random(500) < 0.1), f"r{j}")
    calls = []
    summarize = compare.summarize
    monkeypatch.setattr(compare, "summarize", lambda *a: calls.append(a) or summarize(*a))
    first = train_view.runs_table(runs.list_runs())
    assert len(calls) == 10 and all(
        (root / f"r{j}" / "experiment.json").exists() for j in range(10)
    )
    for _ in range(3):
        assert train_view.runs_table(runs.list_runs()).equals(first)
    assert len(calls) == 10
    # a pair trained again (new predictions): computed again, once
    np.savez(
        root / "r3" / "predictions.npz", **dict(np.load(root / "r3-noaug" / "predictions.npz"))
    )
    train_view.runs_table(runs.list_runs())
    train_view.runs_table(runs.list_runs())
    assert len(calls) == 11


def test_the_report_waits_for_a_finished_pair(root):
    _run_folder(root, "k", {"state": "running", "pid": 1}, launch_json='{"job": "k"}')
    _run_folder(root, "k-noaug", {"state": "running", "pid": 1},
                launch_json='{"job": "k"}', settings_json='{"no_augment": true}')  # fmt: skip
    report = train_view.experiment_report(jobs.job_runs(runs.find_run("k")))
    assert "appears here when a pair" in report and "0 of 1 so far" in report
