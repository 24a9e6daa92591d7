"""The Train tab's settings: checked, explained, turned into the command's flags; the Space and
ZeroGPU rules (the fake training command and the run folders: tests/fake_runs.py).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipelines.spec import preset
from playground import budget, jobs, owners, runs, train_form, train_view
from playground.training import settings as run_settings
from tests.fake_runs import SETTINGS, _finished_pair

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
        ({"model": "vgg"}, "model must be one of resnet18, "),
        ({"finetune": "some"}, "fine-tune must be one of all, head, got 'some'"),
        # a file of weights is a server path: the command line's, never the page's or the API's
        ({"weights": "/etc/passwd"}, "start from must be one of none, imagenet, got '/etc/"),
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
    for d in train_form.FORM:
        assert d.flag in jobs.flags(jobs.make_settings({**values, d.name: _other(d)})), d.name


def _other(d) -> object:
    """A valid value for a declared setting other than its default."""
    if d.name == "dataset":
        return "synthetic"
    if d.choices or d.offered:
        return next(c for c in d.choices or d.offered if c != d.default)
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
        # a folder needs an existing path (test_impossible_settings...), an upload a kept
        # data set (tests/test_dataset_upload.py)
        if kind not in ("folder", "upload"):
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
