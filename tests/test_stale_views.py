"""Views that must follow what changed (issue 17): step by step after a new image, the Train
tab's estimate after a setting, the Start/Resume message after the run. Plain callbacks, and
their wiring read from the app's config (built, not launched)."""

import pytest

from pipelines.spec import default_spec
from playground import runs
from playground.images import sample_image
from playground.ui import build_app, train_start, views


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # a checkpoints folder of its own
        mp.setenv(runs.ROOT_ENV, str(tmp_path_factory.mktemp("checkpoints")))
        yield build_app()


def _listeners(demo, elem_id: str) -> list[tuple[str, str, list[str]]]:
    """(event, function name, output elem_ids) of every listener on the element `elem_id`."""
    ids = {b._id: getattr(b, "elem_id", None) for b in demo.blocks.values()}
    target = next(i for i, e in ids.items() if e == elem_id)
    found = []
    for dep, fn in zip(demo.config["dependencies"], demo.fns.values(), strict=True):
        for block, event in dep["targets"]:
            if block == target:
                name = getattr(fn.fn, "__name__", "")
                found.append((event, name, [ids.get(o) for o in dep["outputs"]]))
    return found


def _skipped(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1


def test_step_by_step_follows_a_new_image(app):
    cat, rocket = sample_image("cat"), sample_image("rocket")
    spec = default_spec()
    before = views.on_steps(cat, 0, spec, 1)
    steps, strength = views.refresh_views(rocket, 0, spec, 1, "ColorJitter#0/hue", before)
    size = f'width="{rocket.width}" height="{rocket.height}"'
    assert size in steps and size not in before  # its input is the new image
    assert strength.count("<img") == 8
    # Nothing shown: nothing drawn.
    assert all(_skipped(v) for v in views.refresh_views(rocket, 0, spec, 1, None, ""))
    # Wired after an upload and after a sample pick (each an event chain ending in it).
    refreshes = [
        dep for dep, fn in zip(app.config["dependencies"], app.fns.values(), strict=True)
        if getattr(fn.fn, "__name__", "") == "refresh_views"
    ]  # fmt: skip
    assert len(refreshes) == 2 and all(dep["trigger_after"] is not None for dep in refreshes)


def test_an_edited_setting_takes_the_old_estimate_and_recipe_away(app):
    gallery, note = train_start.settings_edited()
    assert gallery is None and "settings changed" in note and "Recipe" not in note
    for elem_id in ("train-subset", "train-epochs", "train-baseline", "train-quick"):
        events = _listeners(app, elem_id)
        assert any(
            name == "settings_edited" and "train-estimate" in outputs for _, name, outputs in events
        ), (elem_id, events)


def test_the_start_or_resume_message_goes_when_the_run_has_ended(tmp_path, monkeypatch):
    state = {"now": "running"}
    monkeypatch.setattr(
        runs, "list_runs", lambda root=None: [runs.Run(tmp_path / "r1", state["now"])]
    )
    message = "Resuming r1 from its last checkpoint."
    assert _skipped(train_start.clear_stale_message(message))  # kept while it trains
    state["now"] = runs.QUEUED
    assert _skipped(
        train_start.clear_stale_message("Started r0 in the background. 1 more run waits")
    )
    state["now"] = "finished"
    assert train_start.clear_stale_message(message) == ""
    assert train_start.clear_stale_message("Started r1 in the background.") == ""
    assert _skipped(train_start.clear_stale_message("⚠️ Not yours"))  # other words stay


def test_the_status_change_clears_the_message(app):
    events = _listeners(app, "train-status")
    assert any(n == "clear_stale_message" and o == ["train-message"] for _, n, o in events)
