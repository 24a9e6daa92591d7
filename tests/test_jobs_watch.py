"""The Train tab's Watch and Runs sections: curves, the poll, the runs table, notes, Delete,
Compare, Predict's words (the fake training command and the run folders: tests/fake_runs.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gradio as gr
import pytest

from pipelines.spec import make, preset
from playground import controls, owners, runs, train_view
from playground.ui import train_control, train_watch
from tests.fake_runs import _finished_pair, _run_folder

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
    skip = gr.skip()
    first = train_watch.poll(None, [], 0, None, "me")
    assert 'data-run="r"' in first[0] and first[4]["value"] == "r"
    assert all(v == skip for v in train_watch.poll("r", [], 0, first[-1], "me")[:-1])
    with open(path / "metrics.jsonl", "a") as fh:
        line = {"type": "train", "epoch": 0.2, "train_loss": 1, "train_acc": 0.1}
        fh.write(json.dumps(line) + "\n")
    data = train_watch.poll("r", [], 0, first[-1], "me")
    assert 'data-points="1"' in data[0] and set(data[2]["series"]) == {"train acc"}
    # a new series: the next tick only recolours (the plot redraws from the data it holds), the
    # one after resends the data; twice, each map unlike the one before (a redraw lost in a busy
    # browser is made good by the second); then nothing until something changes
    colors = {"train acc": train_view.PALETTE[0][0]}
    maps = []
    for _ in range(train_watch.REDRAWS):
        redraw = train_watch.poll("r", [], 0, data[-1], "me")
        assert redraw[0] == skip and redraw[3] == skip
        assert {k: v for k, v in redraw[2]["color_map"].items() if k} == colors
        maps.append(redraw[2]["color_map"])
        data = train_watch.poll("r", [], 0, redraw[-1], "me")
        assert set(data[2]["series"]) == {"train acc"}
    assert maps[0] != maps[1] and maps[-1] == colors
    assert all(v == skip for v in train_watch.poll("r", [], 0, data[-1], "me")[:-1])
    # a test point: a new series, so the redraws again
    with open(path / "metrics.jsonl", "a") as fh:
        line = {"type": "eval", "epoch": 1.0, "test_loss": 1, "test_acc": 0.2, "train_acc": 0.1}
        fh.write(json.dumps(line) + "\n")
    data = train_watch.poll("r", [], 0, data[-1], "me")
    assert set(data[2]["series"]) == {"train acc", "test acc"}
    redraw = train_watch.poll("r", [], 0, data[-1], "me")
    assert {k for k in redraw[2]["color_map"] if k} == {"train acc", "test acc"}


def test_runs_table_tells_runs_apart(root):
    alice, bob = owners.new_token(), owners.new_token()  # the browsers' tokens
    run, baseline = _finished_pair(root, preset("cifar-standard"), alice)
    assert train_control.on_save_notes(
        run.name, "  crop and  flip ", "first try\n", alice
    ).startswith("Saved the name and note")
    assert json.loads((run / "notes.json").read_text())["name"] == "crop and flip"
    assert "only that session can name it" in train_control.on_save_notes(run.name, "x", "", bob)
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
    first = train_watch.poll(run.name, [], 0, None, alice)
    assert first[train_watch.NOTES] == [
        gr.update(value="crop and flip", interactive=True),
        gr.update(value="first try", interactive=True),
    ]
    train_control.on_save_notes(run.name, "crop and flip", "edited elsewhere", alice)
    later = first
    for _ in range(train_watch.REDRAWS):  # new series: the redraws first (see poll)
        recolour = train_watch.poll(run.name, [], 0, later[-1], alice)
        later = train_watch.poll(run.name, [], 0, recolour[-1], alice)
    assert later[train_watch.NOTES] == [gr.skip(), gr.skip()]
    assert "edited elsewhere" in list(later[3]["note"])  # the table shows it


def test_delete_asks_first_and_keeps_live_runs(root, sleeper):
    alice, bob = owners.new_token(), owners.new_token()  # the browsers' tokens
    run, baseline = _finished_pair(root, preset("cifar-standard"), alice)
    confirm, text = train_control.on_delete_ask(run.name)
    assert confirm["visible"] is True and "cannot be undone" in text and run.name in text
    assert runs.find_run(run.name) is not None  # asking deletes nothing
    message, confirm = train_control.on_delete(run.name, bob)
    assert "only that session can delete it" in message and run.is_dir()
    best = runs.download_copy(runs.find_run(run.name), "pipeline.json")
    message, confirm = train_control.on_delete(run.name, alice)
    assert message == f"Deleted {run.name}." and confirm["visible"] is False
    assert not run.exists() and not Path(best).exists()
    assert [r.name for r in runs.list_runs()] == [baseline.name]
    live = _run_folder(root, "live", {"state": "running", "pid": sleeper.pid})
    (live / "launch.json").write_text(json.dumps({"owner": owners.owner_id(alice)}))
    message, _ = train_control.on_delete("live", alice)
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
    html, loss, acc = train_watch.on_compare(run.name, "other", 0)
    assert "data-differ='2'" in html and html.count("≠") == 3  # two rows and the note
    assert set(acc["series"]) == {f"{n} · {m}" for n in ("100000-synthetic", "other")
                                  for m in ("train acc", "test acc")}  # fmt: skip
    # the colours follow the data, as a second step (the plot builds its legend from its data)
    loss_colours, acc_colours = train_watch.compare_colours(run.name, "other", 0)
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
    out = train_watch.poll("r", [], 0.5, None, "me")
    csv_path = Path(out[-4]["value"])  # metrics.csv, best.pt, pipeline.json, then `seen`
    assert csv_path.name == "r-metrics.csv" and csv_path.is_relative_to(runs.downloads_root())
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("type,epoch,step,train_loss") and len(rows) == 6
    assert rows[5].startswith("eval,0.4,,")


def test_predict_says_what_the_model_was_trained_on():
    synthetic = {"dataset": "synthetic", "classes": ["disk", "dots"], "train_size": 5000}
    text = train_view.trained_on(synthetic)
    assert "synthetic set (5,000 images)" in text and '"dots"' in text and "expected" in text
    cifar = train_view.trained_on({"dataset": "cifar10", "classes": ["cat", "dog"]})
    assert cifar.startswith("Trained on CIFAR-10") and "cat, dog" in cifar


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


def test_a_tick_sends_the_pickers_values_only_where_the_runs_changed_them(root):
    # a tick's answer may arrive after Start's, which set the overlay to the new baseline: a
    # tick that sent back the overlay it was asked with undid that (the legend lost 2 curves)
    for name in ("a", "b"):
        _run_folder(root, name, {"state": "finished", "pid": 1, "epoch": 1.0, "epochs": 1})
    out = train_watch.view("b", ["a"], "me")
    watched, overlay = out[4], out[5]
    assert "value" not in watched and "value" not in overlay
    assert {c[1] if isinstance(c, tuple) else c for c in overlay["choices"]} >= {"a", "b"}
    out = train_watch.view("gone", ["a", "gone", "b"], "me")  # a deleted run: both corrected
    assert out[4]["value"] in ("a", "b") and "gone" not in out[5]["value"]
    assert out[4]["value"] not in out[5]["value"]
