"""A public Space: what one Start may cost, bounded by declaration and measured.

Anyone can call `/train_start` on a Space without the page, so the Space narrows each run
setting to its declared `space_high`, the processes to the hardware's, the memory of the runs
one Start trains at once to a budget (estimated from their settings before anything starts)
and seeds x arms x minutes to a budget per Start. Outside a Space nothing changes unless set.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from gradio_client import Client

from pipelines.spec import preset
from playground import budget, jobs, runs
from playground.training import settings as run_settings

SPACE_VARS = (*jobs.Limits.ENV.values(), budget.MEMORY_ENV, budget.START_MINUTES_ENV)


@pytest.fixture
def space(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/playground")
    for env in SPACE_VARS:
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr(jobs.limits, "hardware_processes", lambda: 1)  # a CPU Space
    return monkeypatch


FAKE_CHECK = r"""
import json, sys
args = sys.argv[1:]
width = int(args[args.index("--width") + 1]) if "--width" in args else 64
print(json.dumps({"train_size": 1000, "test_size": 200, "device": "cpu", "epochs": 2,
                  "image_size": 32, "width": width, "batch_size": 512, "world_size": 1}))
"""


@pytest.fixture
def fake_check(tmp_path, monkeypatch):
    script = tmp_path / "fake_playground_train.py"
    script.write_text(FAKE_CHECK)
    monkeypatch.setattr(jobs.process, "train_command", lambda *a: ["python3", str(script), *a])


BASE = {"dataset": "synthetic", "device": "cpu", "epochs": 2}


def test_a_space_narrows_every_declared_setting_and_the_processes(space):
    narrowed = [d for d in run_settings.declared() if d.space_high]
    assert {d.name for d in narrowed} >= {"width", "batch_size", "image_size", "epochs"}
    for d in narrowed:
        at_bound = int(d.space_high)
        assert getattr(jobs.make_settings({**BASE, d.name: at_bound}), d.name) == at_bound
        with pytest.raises(jobs.JobError, match=f"at most {at_bound:g} on this server"):
            jobs.make_settings({**BASE, d.name: at_bound + 1})
    with pytest.raises(jobs.JobError, match="at most 1 on this server, got 8"):
        jobs.make_settings({**BASE, "device": "auto", "nproc": 8})
    texts = jobs.limits_text()
    assert texts["width"] == "at most 64 on this server" and texts["nproc"].startswith("at most 1")
    assert "1 with the baseline" in texts["seeds"] and "240 training minutes" in texts["seeds"]
    assert "MB of memory" in texts["memory"]


def test_outside_a_space_nothing_is_narrowed_unless_set(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    for env in SPACE_VARS:
        monkeypatch.delenv(env, raising=False)
    assert jobs.setting_highs() == {} and jobs.limits_text() == {}
    assert jobs.start_budget() == budget.StartBudget(None, None)
    settings = jobs.make_settings({**BASE, "device": "auto", "nproc": 8, "width": 512})
    assert settings.nproc == 8 and settings.width == 512
    monkeypatch.setenv(budget.MEMORY_ENV, "2000")  # set: it holds anywhere
    assert jobs.start_budget().memory_mb == 2000
    monkeypatch.setenv(budget.MEMORY_ENV, "lots")
    with pytest.raises(jobs.JobError, match="PLAYGROUND_MAX_START_MEMORY_MB='lots' is not a"):
        jobs.start_budget()


def test_seeds_times_arms_times_minutes_stay_within_one_budget(space, root, fake_check):
    settings = jobs.make_settings(BASE)
    with pytest.raises(jobs.JobError) as err:
        jobs.start(settings, preset("cifar-standard"), "me", baseline=True, seeds=10)
    assert str(err.value) == (
        "this server trains at most 240 minutes per Start (120 per run), and 10 seeds x 2 arms "
        "x 120 minutes is 2,400: set seeds per arm to 1 or less"
    )
    assert list(root.iterdir()) == []  # nothing was made
    space.setenv(budget.START_MINUTES_ENV, "0")  # lifted
    assert jobs.max_seeds(True) == jobs.MAX_SEEDS


def test_a_start_that_does_not_fit_in_memory_is_refused_with_the_number(space, root, fake_check):
    space.setenv(budget.MEMORY_ENV, "3000")
    settings = jobs.make_settings({**BASE, "width": 64})
    with pytest.raises(jobs.JobError) as err:
        jobs.start(settings, preset("cifar-standard"), "me", baseline=True)
    each = budget.run_memory_mb({"train_size": 1000, "test_size": 200, "image_size": 32,
                                 "width": 64, "batch_size": 512, "device": "cpu"})  # fmt: skip
    assert f"need about {2 * each:,.0f} MB of memory (2 runs at once" in str(err.value)
    assert "at most 3,000 MB: set the batch size to 32 or less" in str(err.value)
    assert [p for p in root.iterdir() if p.is_dir()] == []  # no half-made run folder


def test_the_memory_model_grows_with_what_costs_memory():
    cfg = {"train_size": 5000, "test_size": 1000, "image_size": 32, "width": 16,
           "batch_size": 64, "device": "cpu", "world_size": 1}  # fmt: skip
    small = budget.run_memory_mb(cfg)
    for change in ({"width": 64}, {"batch_size": 512}, {"image_size": 64}, {"world_size": 2},
                   {"train_size": 50_000}, {"workers": 2}):  # fmt: skip
        assert budget.run_memory_mb({**cfg, **change}) > small, change
    # on a GPU the activations are in its memory, not the host's
    assert budget.run_memory_mb({**cfg, "device": "cuda", "batch_size": 512}) < small
    assert budget.largest_batch(cfg, budget.run_memory_mb({**cfg, "batch_size": 256}), 1) == 256


@pytest.mark.slow
def test_the_memory_model_takes_a_torchvision_model_at_its_size():
    # the estimate knows ResNet-18 at `width` only; a torchvision model at 224 px is estimated
    # from its size (data, activations) without failing
    cfg = {"train_size": 1000, "test_size": 200, "image_size": 224, "model": "convnext_tiny"}
    cfg |= {"device": "cpu", "batch_size": 32}
    assert budget.run_memory_mb(cfg) > budget.run_memory_mb({**cfg, "image_size": 32})
    assert budget.largest_batch(cfg, budget.run_memory_mb(cfg), 1) >= 32


def test_the_form_shows_a_spaces_limits_next_to_its_fields(space, root):
    from playground.ui import build_app

    demo = build_app()
    by_id = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert by_id["train-width"].info == "at most 64 on this server"
    assert by_id["train-batch"].info == "at most 1,024 on this server"
    assert by_id["train-epochs"].info == "at most 50 on this server"
    assert "240 training minutes per Start" in by_id["train-seeds"].info
    assert "MB of memory" in by_id["train-memory-limit"].value


# --- measured: the largest Start the API allows, trained for a few steps ----------------------

MEMORY_BUDGET_MB = 3000  # small, so the largest Start is quick to reach on a CPU


@pytest.fixture
def space_app(space, root):
    from playground.images import MAX_UPLOAD_BYTES
    from playground.ui import CSS, build_app

    space.setenv(budget.MEMORY_ENV, str(MEMORY_BUDGET_MB))
    demo = build_app()
    _, url, _ = demo.launch(
        prevent_thread_lock=True, max_file_size=MAX_UPLOAD_BYTES, css=CSS, quiet=True
    )
    yield url
    demo.close()
    for run in runs.list_runs(root):  # never leave a training process behind
        if run.live and run.pid:
            os.kill(run.pid, signal.SIGKILL)


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


@pytest.mark.slow
def test_the_largest_start_the_api_allows_stays_within_the_memory_budget(space_app, root):
    from playground.train_form import form_defaults

    client = Client(space_app, verbose=False)
    # every field that costs memory at the Space's bound, with the baseline: the most one
    # request may ask for. The subset only sets how much of the synthetic set's 5,000 images
    # (all held in memory) is trained on: 1,024 makes the status report every 6 steps.
    largest = {"dataset": "synthetic", "device": "cpu", "amp": "off", "epochs": 50}
    largest |= {"subset": 1024, "width": 64, "batch_size": 1024}
    message, _, _ = client.predict(
        True, 1, "none", None, *form_defaults(**largest), api_name="/train_start"
    )
    assert message.startswith("⚠️ these settings need about"), message
    assert f"at most {MEMORY_BUDGET_MB:,} MB" in message
    batch = int(re.search(r"set the batch size to (\d+) or less", message)[1])
    message, _, _ = client.predict(
        True,
        1,
        "none",
        None,
        *form_defaults(**largest | {"batch_size": 2 * batch}),
        api_name="/train_start",
    )
    assert message.startswith("⚠️ these settings need about"), message  # the next one is refused
    settings = form_defaults(**largest | {"batch_size": batch})
    message, _, _ = client.predict(True, 1, "none", None, *settings, api_name="/train_start")
    assert message.startswith("Started"), message

    deadline = time.monotonic() + 600  # an upper bound for a busy machine
    while time.monotonic() < deadline:
        live = [r for r in runs.list_runs(root) if r.live]
        if len(live) == 2 and all(r.status.get("step", 0) >= 2 for r in live):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the runs did not take 2 steps: {runs.list_runs(root)}")
    peaks = [_peak_rss_mb(r.pid) for r in live]  # each trainer's peak: their sum bounds both
    estimate = 2 * budget.run_memory_mb(live[0].config)
    print(f"batch {batch}: peak RSS {peaks} MB, sum {sum(peaks):,.0f}, estimate {estimate:,.0f}")
    jobs.operator_stop(None, root, wait=True)
    assert sum(peaks) <= MEMORY_BUDGET_MB, peaks


def test_on_a_space_the_log_and_the_cifar_message_show_no_server_paths(space, root, monkeypatch):
    import sys

    run = root / "run1"
    run.mkdir()
    command = " ".join(jobs.train_command("--pipeline", str(run / "pipeline.json")))
    (run / runs.LOG_NAME).write_text(f"$ {command}\nerror: bad\n")
    tail = runs.log_tail(run)
    assert tail.startswith("$ python -m playground.train --pipeline checkpoints/run1/pipeline.json")
    assert sys.executable not in tail and str(root) not in tail
    monkeypatch.setattr(jobs.checks, "cifar10_reachable", lambda: False)
    problem = jobs.data_problem({"dataset": "cifar10", "data_ready": False, "data_dir": "./data"})
    assert "(it looks in data)" in problem and str(jobs.REPO) not in problem
    monkeypatch.delenv("SPACE_ID")  # locally the operator reads the real paths
    assert str(root) in runs.log_tail(run) and str(jobs.REPO) in jobs.data_problem(
        {"dataset": "cifar10", "data_ready": False, "data_dir": "./data"}
    )


def test_owner_tokens_expire_and_are_replaced(root, monkeypatch):
    from playground import owners
    from playground.ui import train_prefs

    now = time.time()
    token = owners.new_token(now)
    assert owners.valid(token, now) and owners.valid(token, now + 29 * 86400)
    assert not owners.valid(token, now + 31 * 86400)  # 30 days by default
    monkeypatch.setenv(owners.TOKEN_DAYS_ENV, "1")
    assert not owners.valid(token, now + 2 * 86400)
    nonce, issued, signature = token.split(".")
    assert not owners.valid(f"{nonce}.{int(issued) + 86400 * 365}.{signature}", now)  # re-dated
    assert not owners.valid(f"{nonce}.{signature}")  # the old format, without a date
    old = owners.new_token(now - 3 * 86400)
    fresh, _ = train_prefs.on_load(old)
    assert fresh != old and owners.valid(fresh)
