"""What the page says, as plain functions: the words a newcomer reads on each tab (issue 17's
"Words on the page"). No server, no browser; the layout checks are in test_page_browser.py."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from pipelines.catalogue import BY_NAME, PRESETS
from pipelines.spec import PipelineSpec, default_spec, make, preset
from playground import runs, train_view
from playground.images import sample_image
from playground.train_view import preflight
from playground.ui import export, step_editor, train_control, train_watch, views
from playground.ui.editing import on_add, on_pipeline, on_seed
from playground.ui.image_upload import sample_after_upload

LAYOUT = (0, default_spec().to_json())


def _skipped(value) -> bool:
    return value == gr.skip()


# --- the Augment tab ------------------------------------------------------------------------


def test_add_without_a_pick_says_what_to_do():
    spec, layout, grid, summary, draft = on_add(
        None, sample_image("cat"), 0, default_spec(), LAYOUT
    )
    assert spec == default_spec() and _skipped(layout) and _skipped(grid) and _skipped(draft)
    assert summary == '⚠️ Choose a step in "Add a step" first, then press Add.'
    assert "None" not in summary and "got" not in summary
    _, _, _, summary, _ = on_add("NoSuchStep", sample_image("cat"), 0, default_spec(), LAYOUT)
    assert summary == "⚠️ There is no step called 'NoSuchStep' to add."


@pytest.mark.parametrize(
    ("typed", "used", "said"),
    [
        (12.7, 13, "12.7 was set to 13"),
        (-5, 0, "-5 was set to 0"),
        (2.5, 2, "2.5 was set to 2"),
        (2**40, 2**31 - 1, "1,099,511,627,776 was set to 2,147,483,647"),
    ],
)
def test_a_seed_changed_from_what_was_typed_always_says_so(typed, used, said):
    # 12.7 became 13 in silence while -5 got a note: rounding and clamping are said alike
    box, grid, summary = on_seed(sample_image("cat"), typed, default_spec())
    assert box == used and f'data-seed="{used}"' in grid
    note = f"⚠️ Seed is a whole number from 0 to 2,147,483,647: {said}."
    assert summary.startswith(f"{note} Input")


def test_a_whole_seed_in_range_needs_no_note():
    box, _, summary = on_seed(sample_image("cat"), 7, default_spec())
    assert _skipped(box) and summary.startswith("Input")
    box, _, summary = on_seed(sample_image("cat"), 7.0, default_spec())
    assert _skipped(box) and summary.startswith("Input")


def test_a_refused_upload_leaves_the_upload_box():
    # the box listed the refused file beside the previous image, as if it were the one shown
    sample, upload = sample_after_upload("⚠️ The file is empty. The previous image is kept.")
    assert _skipped(sample) and upload is None
    sample, upload = sample_after_upload("Input 64 x 40 px -> output 64 x 40 px. Order: x.")
    assert sample is None and _skipped(upload)


def test_a_refused_pipeline_file_is_said_in_the_export_tab_only(tmp_path):
    bad = tmp_path / "pipeline.json"
    bad.write_text(json.dumps({"format": "augmentation-pipeline", "version": 1, "steps": "x"}))
    spec = default_spec()
    out = export.on_pipeline_file(str(bad), sample_image("cat"), 0, spec, LAYOUT)
    new_spec, layout, grid, summary, draft, box, status = out
    assert new_spec is spec and all(_skipped(v) for v in (layout, grid, summary, draft))
    assert status.startswith("⚠️ Pipeline not loaded:") and "'steps' must be a list" in status
    assert box is None  # the refused file leaves the box
    good = tmp_path / "good.json"
    good.write_text(preset("d2l-flip").to_json())
    new_spec, layout, grid, summary, _draft, box, status = export.on_pipeline_file(
        str(good), sample_image("cat"), 0, spec, LAYOUT
    )
    assert new_spec == preset("d2l-flip") and layout[1] == new_spec.to_json()
    assert summary.startswith("Input 451 x 300 px") and status == export.LOADED
    assert _skipped(box)


def test_cifar_presets_on_a_photo_say_they_expect_32_px_images():
    cifar = [name for name, p in PRESETS.items() if p.image_side == 32]
    assert cifar == ["cifar-standard", "trivialaugment-cifar", "autoaugment-cifar10"]
    for name in cifar:
        assert "32 x 32 images" in PRESETS[name].description
        _, _, _, summary, _ = on_pipeline(name, sample_image("cat"), 0, default_spec(), LAYOUT)
        assert summary.startswith("Input 451 x 300 px -> output 32 x 32 px")
        assert f"ℹ️ {name} is made for 32 x 32 images (CIFAR's): on this 451 x 300 picture" in (
            summary
        )
    small = Image.new("RGB", (32, 32), (90, 120, 30))
    _, _, _, summary, _ = on_pipeline("cifar-standard", small, 0, default_spec(), LAYOUT)
    assert "ℹ️" not in summary  # on the images it was made for, nothing to say
    _, _, _, summary, _ = on_pipeline("d2l-shape", sample_image("cat"), 0, default_spec(), LAYOUT)
    assert "ℹ️" not in summary


def test_the_first_screen_shows_a_plausible_colour_jitter():
    # hue 0.5 (its maximum) painted the first screen's cats green and purple
    hue = default_spec().step("ColorJitter").params["hue"]
    assert hue == BY_NAME["ColorJitter"].param("hue").default == 0.1
    assert preset("d2l-color").step("ColorJitter").params["hue"] == 0.5  # d2l's value kept


def test_step_views_name_steps_as_the_editor_does_not_by_internal_keys():
    steps = make(
        [
            ("RandomHorizontalFlip", {}),
            ("ColorJitter", {}),
            ("ColorJitter", {"hue": 0.2}),
            ("CutMix", {}),
        ]
    ).steps
    spec = PipelineSpec((replace(steps[0], enabled=False), *steps[1:]))  # step 1 off
    choices = views.strength_update((1, spec.to_json()))["choices"]
    labels = [label for label, _ in choices]
    assert "2. Colour jitter · Brightness" in labels and "3. Colour jitter · Hue" in labels
    assert dict((v, k) for k, v in choices)["ColorJitter#1/hue"] == "3. Colour jitter · Hue"
    assert not any("#" in label for label in labels)
    html = views.on_steps(sample_image("cat"), 0, spec, 1)
    assert "2. Colour jitter" in html and "3. Colour jitter" in html and "4. CutMix" in html
    assert "#0" not in html and "#1" not in html and "Horizontal flip" not in html  # off


def test_step_buttons_use_glyphs_every_font_has_and_say_what_they_do():
    # "⧉" (U+29C9) drew as an empty box; the buttons had no tooltip or accessible name
    for name, (text, what) in step_editor.STEP_BUTTONS.items():
        assert all(ord(c) < 0x100 or c in "↑↓" for c in text), (name, text)
        assert what.startswith(("Move step", "Duplicate step", "Remove step"))
        assert f'"{name}": "{what}"' in step_editor.STEP_BUTTONS_JS


# --- the Train tab --------------------------------------------------------------------------


def _run(root: Path, name: str, no_augment: bool = False, job: str = "", **status) -> Path:
    path = root / name
    path.mkdir()
    state = {"state": "finished", "pid": 1, "updated": time.time(), "epoch": 1.0, "epochs": 1}
    (path / "status.json").write_text(json.dumps(state | status))
    (path / "launch.json").write_text(json.dumps({"job": job or name}))
    (path / "config.json").write_text(
        json.dumps({"dataset": "synthetic", "no_augment": no_augment})
    )
    (path / "pipeline.json").write_text(preset("cifar-standard").to_json())
    records = [
        {"type": "train", "epoch": 0.5, "train_loss": 2.0, "train_acc": 0.2},
        {"type": "eval", "epoch": 1.0, "test_loss": 1.0, "test_acc": 0.5},
    ]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _pair(root: Path) -> tuple[Path, Path]:
    job = "20261203-100000-synthetic"
    return _run(root, job, job=job), _run(root, f"{job}-noaug", True, job=job)


def test_a_stopped_run_says_who_stopped_it(root):
    path = _run(root, "r", state="stopped", message="stopped by SIGTERM")
    (path / "last.pt").write_bytes(b"x")
    assert runs.read_run(path).message.startswith("stopped from outside the app (the process")
    (path / "stop.json").write_text(json.dumps({"requested": time.time()}))
    run = runs.read_run(path)
    assert run.message == "stopped by the user (Stop); Resume continues from its last checkpoint"
    assert "SIGTERM" not in train_view.status_html(run)
    (path / "stop.json").write_text(json.dumps({"requested": time.time(), "by": "operator"}))
    assert runs.read_run(path).message.startswith("stopped by the server's operator;")
    (path / "last.pt").unlink()
    assert runs.read_run(path).message.endswith("; no checkpoint yet")
    limit = "stopped: this server's time limit per run (30 min) was reached"
    (path / "status.json").write_text(json.dumps({"state": "stopped", "pid": 1, "message": limit}))
    assert runs.read_run(path).message == limit  # said by the trainer in words already


def test_the_runs_table_names_every_run(root):
    run, baseline = _pair(root)
    (run / "notes.json").write_text(json.dumps({"name": "crop and flip", "note": ""}))
    table = train_view.runs_table(runs.list_runs()).set_index("run")
    assert table.loc[run.name, "name"] == "crop and flip"
    assert table.loc[baseline.name, "name"] == baseline.name  # was blank


def test_delete_names_the_run_once_and_warns_for_a_pair(root):
    run, baseline = _pair(root)
    alone = _run(root, "20261203-110000-synthetic")
    _, text = train_control.on_delete_ask(alone.name)
    assert text == (
        f"Delete **{alone.name}** with its curves, log and checkpoints? It cannot be undone."
    )
    (run / "notes.json").write_text(json.dumps({"name": "crop and flip", "note": ""}))
    _, text = train_control.on_delete_ask(baseline.name)
    assert text.startswith(f"Delete **{baseline.name}** with")
    assert "It is the baseline of **crop and flip**: the comparison of the two (the effect of " in (
        text
    )
    _, text = train_control.on_delete_ask(run.name)
    assert text.startswith(f"Delete **crop and flip** ({run.name}) with")
    assert f"Its baseline is **{baseline.name}**: the comparison" in text


def test_confusion_matrix_headers_are_whole_class_names():
    classes = ["triangle", "checker", "dots"]
    table = train_view.report._matrix_markdown(classes, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    head, _, *rows = table.splitlines()
    assert head == "| true \\ predicted | triangle | checker | dots |"
    assert rows[0].startswith("| triangle |") and rows[1].startswith("| checker |")


def test_with_and_without_keep_their_colours_in_watch_and_compare(root):
    run, baseline = _pair(root)
    (run / "notes.json").write_text(json.dumps({"name": "with flip", "note": ""}))
    with_test, without_test = train_view.PALETTE[0][1], train_view.BASELINE_PALETTE[0][1]
    # Watch: each run alone, then the run with its baseline overlaid
    for name, colour in ((run.name, with_test), (baseline.name, without_test)):
        _, acc = train_view.curves([name])
        roles = train_view.curve_roles([name])
        assert train_view.color_map(sorted(set(acc["series"])), roles)["test acc"] == colour
    first = train_watch.poll(run.name, [baseline.name], 0, None, "me")
    recolour = train_watch.poll(run.name, [baseline.name], 0, first[-1], "me")
    watch = {k: v for k, v in recolour[2]["color_map"].items() if k}
    # Compare, in either order
    for a, b in ((run.name, baseline.name), (baseline.name, run.name)):
        _, acc_colours = train_watch.compare_colours(a, b, 0)
        assert acc_colours["color_map"] == watch
    label = train_view.short_labels([run.name, baseline.name])[baseline.name]
    assert watch[f"{label} · test acc"] == without_test
    assert watch["with flip · test acc"] == with_test


def test_the_first_batch_shows_32_images_when_a_batch_holds_fewer(tmp_path):
    from playground import jobs

    settings = jobs.Settings(dataset="synthetic", synthetic_size=64, epochs=1, batch_size=16,
                             device="cpu", width=8)  # fmt: skip
    pipeline = tmp_path / "pipeline.json"
    pipeline.write_text(preset("cifar-standard").to_json())
    cfg = jobs.check(settings, pipeline)
    assert cfg["batch_size"] == 16
    shown = preflight.first_batch(cfg)  # two batches' worth, not one
    assert len(shown) == 32 and all(image.size == (32, 32) for image, _ in shown)
