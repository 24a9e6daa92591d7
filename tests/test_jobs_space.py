"""What one anonymous request may take on a shared server: a Space's bounds, the time limit,
the operator's Stop, folder data sets, another pipeline compared (the fake training command and the run folders: tests/fake_runs.py).
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pipelines.spec import preset
from playground import jobs, owners, runs, train_view
from playground.train_view import preflight
from playground.ui import train_control
from tests.fake_runs import SETTINGS, _wait

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


def test_a_space_bounds_a_run_at_a_models_224_px(root, tmp_path, monkeypatch):
    # the image size's Space bound (64) does not hold a torchvision model, which trains at its
    # weights' 224 px when the size is not given: such a run has its own, narrower bounds
    monkeypatch.setenv("SPACE_ID", "someone/playground")
    for env in jobs.Limits.ENV.values():
        monkeypatch.delenv(env, raising=False)
    settings = jobs.Settings(dataset="synthetic", synthetic_size=5_001, epochs=11, device="cpu",
                             model="mobilenet_v3_small")  # fmt: skip
    monkeypatch.setenv("PLAYGROUND_MAX_START_MEMORY_MB", "1")  # were it let through: not started
    with pytest.raises(jobs.JobError) as refused:  # the real training command's --check
        jobs.start(settings, preset("cifar-standard"), "me")
    assert str(refused.value) == (
        "a run at 224 px (a torchvision model at its weights' size) trains at most 5,000 images "
        "for at most 10 epochs on this server, and these settings give 5,001 images for 11 "
        "epochs: set Subset to 5,000 or less and set Epochs to 10 or less"
    )
    assert not [p for p in root.iterdir() if p.is_dir()]  # nothing was started
    assert jobs.limits_text()["model"] == (
        "A run above 64 px (a torchvision model at its weights' size) trains at most 5,000 "
        "images for at most 10 epochs on this server."
    )

    pipeline = tmp_path / "pipeline.json"
    pipeline.write_text(preset("cifar-standard").to_json())
    within = jobs.check(replace(settings, synthetic_size=5_000, epochs=10), pipeline)
    assert within["image_size"] == 224
    jobs.limits._within_limits(within, jobs.server_limits())  # at the bounds: allowed
    with pytest.raises(jobs.JobError, match="give 5,000 images for 11 epochs: set Epochs to 10"):
        jobs.limits._within_limits({**within, "epochs": 11}, jobs.server_limits())
    # the CIFAR network at 32 px, and a model at 64 px: the Space's usual bounds alone
    for small in ({"image_size": 32, "model": "resnet18"}, {"image_size": 64}):
        jobs.limits._within_limits({**within, "train_size": 50_000, "epochs": 50} | small,
                                   jobs.server_limits())  # fmt: skip
    monkeypatch.delenv("SPACE_ID")  # elsewhere a 224 px run is bounded only where set
    jobs.limits._within_limits({**within, "train_size": 50_000, "epochs": 50}, jobs.server_limits())
    assert "model" not in jobs.limits_text()


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
    assert train_control.operator_stop("guess", "all").startswith("⚠️ Not the operator's token")
    assert runs.find_run(run_dir.name).state == "running"
    assert train_control.operator_stop("op-token-123", "all") == f"Stopping {run_dir.name}."
    _wait(lambda: runs.find_run(run_dir.name).state == "stopped")
    monkeypatch.delenv(owners.OPERATOR_ENV)
    assert not train_control.operator_stop("op-token-123").startswith("Stopping")

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
        preflight.against_spec(preflight.AGAINST_FILE, None)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "augmentation-pipeline", "version": 2, "steps": [{"x": 1}]}')
    with pytest.raises(jobs.JobError, match="^the pipeline file to compare against: "):
        preflight.against_spec(preflight.AGAINST_FILE, str(bad))
    assert preflight.against_spec(preflight.AGAINST_NONE, str(bad)) is None
    good = tmp_path / "flip.json"
    good.write_text(other.to_json())
    assert preflight.against_spec(preflight.AGAINST_FILE, str(good)) == other
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
