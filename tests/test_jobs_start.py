"""The Train tab before a Start: the first batch, the estimate and the preview (asked, on
opening the tab, kept per settings), CIFAR-10 that cannot be had, Quick CPU run, the settings
remembered in the browser (the fake training command and the run folders: tests/fake_runs.py).
"""

from __future__ import annotations

import json
import os

import gradio as gr
import pytest

from pipelines.spec import preset
from playground import estimate, jobs, runs, train_form, train_view
from playground.train_view import preflight, prefs
from playground.ui import train_prefs, train_start
from tests.fake_runs import SETTINGS, _run_folder


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


def test_an_estimate_reads_only_an_earlier_run_of_the_same_model(root, monkeypatch):
    # a ResNet-18 run at 224 px trains far slower than mobilenet_v3_small at the same size,
    # and a frozen backbone far faster than the whole network
    common = {"device": "cpu", "world_size": 1, "width": 64, "batch_size": 32, "amp_dtype": "off",
              "batched": True, "image_size": 224}  # fmt: skip
    old = common | {"train_size": 100, "test_size": 20}  # from before models: the CIFAR network
    metrics = "".join(json.dumps({"type": "train", "images_per_s": 40.0}) + "\n" for _ in range(3))
    _run_folder(root, "20261123-000000-resnet", {"state": "finished"}, metrics_jsonl=metrics,
                config_json=json.dumps(old))  # fmt: skip
    monkeypatch.setattr(estimate, "_MEASURED", {})
    monkeypatch.setattr(estimate, "measure_images_per_s", lambda *a: 400.0)
    cfg = old | {"model": "resnet18", "finetune": "all"}
    _, how = estimate.estimate_epoch(SETTINGS, root / "pipeline.json", cfg, root)
    assert "run 20261123-000000-resnet" in how
    for change in ({"model": "mobilenet_v3_small"}, {"finetune": "head"}):
        seconds, how = estimate.estimate_epoch(SETTINGS, root / "pipeline.json", cfg | change, root)
        assert "timed" in how and seconds == pytest.approx(100 / 400 + 20 / 1200)


GPU_SERVER = {"gpus": 1, "names": ["H100"], "cpus": 16, "zero_gpu": False, "space": False}
CPU_SERVER = {"gpus": 0, "names": [], "cpus": 2, "zero_gpu": False, "space": False}


def test_opening_the_tab_leaves_the_message_line_to_start(root, monkeypatch):
    monkeypatch.setattr(train_view, "detect_devices", lambda: GPU_SERVER)
    monkeypatch.setattr(
        train_start,
        "on_preview",
        lambda spec, base, *values: ("imgs", "Estimate", "Valid.", "b", "l"),
    )
    values = train_form.form_defaults(dataset="synthetic", epochs=2, device="cpu", width=8)
    gallery, estimate, key, batch_note, lr_note = train_start.on_tab_preview(
        preset("d2l-flip"), False, *values
    )
    assert (gallery, estimate, batch_note, lr_note) == ("imgs", "Estimate\n\nValid.", "b", "l")
    # the form did not change meanwhile: the preview stays
    assert train_start.drop_if_stale(key, *values) == (gr.skip(), gr.skip())
    # Quick CPU run was pressed meanwhile: the preview of the old settings goes
    changed = train_form.form_defaults(dataset="synthetic", epochs=5, device="cpu", width=8)
    assert train_start.drop_if_stale(key, *changed) == (None, train_start.STALE_PREVIEW)


CHECKED = {"train_size": 1000, "test_size": 200, "device": "cpu", "epochs": 2, "batch_size": 100}


def test_an_answer_without_an_estimate_is_not_kept(root, monkeypatch):
    # Seen: Preview & estimate while a run trained said "no estimate while a run is training";
    # after the run ended the same settings still said so (the answer was cached), seed 1 not.
    monkeypatch.setattr(preflight, "_PREVIEWS", {})
    monkeypatch.setattr(jobs, "check", lambda *a, **k: dict(CHECKED))  # as the tab looks it up
    monkeypatch.setattr(preflight, "first_batch", lambda cfg: ["img"] * 32)
    training = [True]

    def estimate_epoch(settings, pipeline, cfg, root=None):
        if training[0]:
            raise jobs.JobError("no estimate while a run is training")
        return 10.0, "100 images/s"

    monkeypatch.setattr(estimate, "estimate_epoch", estimate_epoch)
    values = train_form.form_defaults(dataset="synthetic", epochs=2, device="cpu", width=8)
    spec = preset("d2l-flip")
    _, text, message, *_ = train_start.on_preview(spec, False, *values)
    assert text.startswith("No time estimate: no estimate while a run is training")
    training[0] = False
    _, text, _, *_ = train_start.on_preview(spec, False, *values)
    assert "about 0:10 per epoch and 0:20 for 2 epochs on cpu" in text
    # with its baseline, two runs share the device: the estimate counts both
    _, text, _, *_ = train_start.on_preview(spec, True, *values)
    assert "0:40 for 2 epochs for the run and its baseline" in text


def test_cifar10_that_cannot_be_had_is_said_before_anything_starts(root, fake_engine, monkeypatch):
    # Seen offline: "valid", "Started", and 3 s later a failed run whose message told a person
    # in a browser to "pass --dataset synthetic" and to fill ./data (relative to what?).
    cfg = CHECKED | {"dataset": "cifar10", "data_ready": False, "data_dir": "./data"}
    for where in (jobs, jobs.checks):  # the tab looks it up on the package, a Start on checks
        monkeypatch.setattr(where, "check", lambda *a, **k: dict(cfg))
    monkeypatch.setattr(jobs.checks, "cifar10_reachable", lambda *a: False)
    monkeypatch.setattr(preflight, "_PREVIEWS", {})
    folder = str(jobs.REPO / "data")
    with pytest.raises(jobs.JobError, match=f"^CIFAR-10 is not on this server.*{folder}"):
        jobs.start(SETTINGS, preset("cifar-standard"), "me")
    assert not [p for p in root.iterdir() if p.is_dir()]  # no failed run left behind
    values = train_form.form_defaults(dataset="cifar10", epochs=2, device="cpu", width=8)
    gallery, _, message, *_ = train_start.on_preview(preset("cifar-standard"), False, *values)
    assert gallery is None and message.startswith("⚠️ CIFAR-10 is not on this server")
    assert "--dataset" not in message and folder in message
    assert train_start.offer_synthetic(message)["visible"] is True
    message, *_ = train_start.on_start(
        preset("cifar-standard"), False, 1, preflight.AGAINST_NONE, None, "me", None, *values
    )
    assert train_start.offer_synthetic(message)["visible"] is True
    assert train_start.on_use_synthetic()[0] == "synthetic"
    assert train_start.offer_synthetic("Started x")["visible"] is False
    # it can be downloaded: the preview says where it goes, and the run fetches it
    monkeypatch.setattr(jobs.checks, "cifar10_reachable", lambda *a: True)
    _, _, message, *_ = train_start.on_preview(preset("cifar-standard"), False, *values)
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
    monkeypatch.setattr(preflight, "_PREVIEWS", {})
    asked = []
    monkeypatch.setattr(jobs, "check", lambda *a, **k: asked.append(1) or dict(CHECKED))
    values = train_form.form_defaults(dataset="synthetic", epochs=2, device="cpu", width=8)
    gallery, text, key, *_ = train_start.on_tab_preview(preset("d2l-flip"), False, *values)
    assert gallery == gr.skip() and text == train_start.ASK_PREVIEW and not asked
    assert key == train_form.settings_key(*values)
    # a preview made for these settings already is shown at once
    monkeypatch.setattr(preflight, "first_batch", lambda cfg: ["img"] * 32)
    monkeypatch.setattr(estimate, "estimate_epoch", lambda *a, **k: (10.0, "100 images/s"))
    train_start.on_preview(preset("d2l-flip"), False, *values)
    gallery, text, *_ = train_start.on_tab_preview(preset("d2l-flip"), False, *values)
    assert gallery == ["img"] * 32 and "Estimate" in text and len(asked) == 1


def test_the_tab_remembers_its_settings_in_the_browser(monkeypatch):
    monkeypatch.setattr(train_view, "detect_devices", lambda: CPU_SERVER)
    values = train_form.form_defaults(dataset="synthetic", epochs=7, device="cpu", seed=3)
    saved = train_prefs.save_prefs(*values, True, "run-a", ["run-a-noaug"], 0.3)
    assert saved["epochs"] == 7 and saved["overlay"] == ["run-a-noaug"]
    saved = json.loads(json.dumps(saved))  # as localStorage keeps it
    restored = train_prefs.restore_prefs(saved)
    assert restored == [*values, True, "run-a", ["run-a-noaug"], 0.3]
    # what this server does not offer, or no longer accepts, keeps the page's own value
    skip = gr.skip()
    odd = saved | {"device": "cuda", "epochs": -1, "dataset": "imagenet", "overlay": "x"}
    keys = [*train_form.FORM_KEYS, *prefs.VIEW_PREFS]
    restored = dict(zip(keys, train_prefs.restore_prefs(odd), strict=True))
    assert restored["device"] == restored["epochs"] == restored["dataset"] == skip
    assert restored["overlay"] == skip and restored["seed"] == 3
    assert train_prefs.restore_prefs(None) == [skip] * (
        len(train_form.FORM_KEYS) + len(prefs.VIEW_PREFS)
    )
    assert train_prefs.restore_prefs({"version": 99, "epochs": 3})[1] == skip
