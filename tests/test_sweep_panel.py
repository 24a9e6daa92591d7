"""The Sweep panel's plain parts (playground.train_view.sweep) and the runs list's view of a
sweep's trials (playground.runs): the estimate, the rung ladder, the forest plot, the heat map,
the results, "use this pipeline", and the trials as SWEEP/TRIAL runs."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from playground import jobs, runs
from playground.jobs import sweeps
from playground.train_view import sweep as view
from playground.training.sweep.plan import (
    Cost,
    binomial_spread_points,
    detectable_points,
    fit,
    predicted_s,
)
from tests.helpers import _skipped


def _state(report: dict | None = None, rungs: list | None = None) -> dict:
    candidates = [
        {"key": "c00-none", "label": "no augmentation", "source": "baseline", "spec": None},
        {"key": "c01-flip", "label": "flip <b>", "source": "preset flip", "spec": {"steps": []}},
        {"key": "c02-ra", "label": "randaugment", "source": "preset ra", "spec": {"steps": []}},
        {"key": "c03-cj", "label": "colour jitter", "source": "preset cj", "spec": {"steps": []}},
    ]
    return {
        "state": "running",
        "candidates": candidates,
        "seeds": 3,
        "plan": {"sizes": [3, 2, 1], "epochs": [2, 4, 8], "seeds": 3, "slots": 1},
        "cost": {"epoch_s": 10.0, "start_s": 5.0},
        "rungs": rungs or [],
        "report": report,
        "elapsed_s": 125.0,
    }


RUNGS = [
    {
        "index": 0,
        "epochs": 2,
        "keys": ["c00-none", "c01-flip", "c02-ra", "c03-cj"],
        "state": "finished",
        "decision": {
            "kept": ["c01-flip", "c02-ra"],
            "rows": [
                {"key": "c01-flip", "kept": True, "why": "the best"},
                {"key": "c02-ra", "kept": True, "why": "cannot be told from the best"},
                {"key": "c03-cj", "kept": False, "why": "worse than flip by 4.0 points"},
            ],
        },
    },
    {"index": 1, "epochs": 4, "keys": ["c00-none", "c01-flip", "c02-ra"], "state": "running"},
]


# ---- the estimate -------------------------------------------------------------------------


def test_estimate_says_the_schedule_the_time_and_the_detectable_floor():
    cost = Cost(epoch_s=10.0, start_s=5.0)
    text = view.estimate_text(3, 3, 1800.0, cost, test_images=1000, accuracy=0.6)
    plan = fit(3, 3, 1800.0 - cost.trial_s(1), cost)
    assert plan.fits
    assert ", ".join(map(str, plan.epochs)) + " epochs" in text
    assert f"{plan.trials()} trials" in text
    floor = detectable_points(3, plan.sizes[-1], binomial_spread_points(0.6, 1000))
    assert f"at least {floor:.1f} points" in text
    assert "a floor" in text and "1,000 test images" in text
    assert "over the budget" not in text
    # more seeds at the same budget: a smaller floor, fewer epochs
    more = view.estimate_text(3, 6, 1800.0, cost, test_images=1000, accuracy=0.6)
    found = float(re.search(r"at least ([\d.]+) points", more)[1])
    assert found < floor


def test_estimate_warns_over_budget_and_with_one_seed():
    text = view.estimate_text(4, 2, 30.0, Cost(epoch_s=60.0, start_s=5.0), test_images=200)
    assert "over the budget" in text
    one = view.estimate_text(1, 1, 600.0, Cost(epoch_s=1.0, start_s=1.0), test_images=200)
    assert "cannot tell candidates apart" in one and "at least" not in one


def test_a_fixed_schedule_is_estimated_without_a_probe_or_a_budget():
    cost = Cost(epoch_s=10.0, start_s=5.0)
    text = view.estimate_text(3, 2, None, cost, test_images=1000, first_epochs=2)
    # rungs of 3 then 2 candidates besides none (finalists 2), 2 then 4 epochs, no probe
    expected = predicted_s([3, 2], [2, 4], 2, cost, 1)
    assert "2, 4 epochs" in text and "14 trials" in text  # (4 + 3) x 2 seeds
    assert f"about {view.fmt_time(expected)} (a fixed schedule, no budget)" in text
    assert "budget:" not in text and "over the budget" not in text


def test_previous_sweep_cost_is_reused_for_the_same_flags(tmp_path):
    folder = tmp_path / "s1"
    folder.mkdir()
    state = _state({"test_acc_points": {"c00-none": 70.0}})
    state["train_args"] = ["--dataset", "synthetic", "--validation", "40"]
    (folder / "sweep.json").write_text(json.dumps(state))
    cost, accuracy = view.previous_cost(["--dataset", "synthetic"], tmp_path)
    assert cost == Cost(10.0, 5.0) and accuracy == pytest.approx(0.7)
    assert view.previous_cost(["--dataset", "cifar10"], tmp_path) is None


# ---- while it runs ------------------------------------------------------------------------


def test_ladder_says_who_is_in_and_who_was_dropped_and_why():
    headers, rows = view.ladder_rows(_state(rungs=RUNGS))
    assert headers == ["candidate", "rung 1 (2 epochs)", "rung 2 (4 epochs)", "rung 3 (8 epochs)"]
    by = {row[0]: row[1:] for row in rows}
    assert by["no augmentation"] == ["in", "training", "waiting"]
    assert by["flip <b>"] == ["in", "training", "waiting"]
    assert by["colour jitter"] == ["dropped: worse than flip by 4.0 points", "", ""]
    html = view.ladder_html(_state(rungs=RUNGS))
    assert "flip &lt;b&gt;" in html and "<b>" not in html  # a label is text
    assert 'class="rung-dropped"' in html


def _trial(folder: Path, name: str, status: dict, evals: list[float] = ()) -> None:
    (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / name / "status.json").write_text(json.dumps(status))
    lines = [{"type": "eval", "epoch": e + 1, "test_acc": a} for e, a in enumerate(evals)]
    (folder / name / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_status_line_has_elapsed_and_time_left_while_live(tmp_path):
    state = _state(rungs=[RUNGS[0], {**RUNGS[1], "trials": ["r1-c00-none-s0", "r1-c01-flip-s0"]}])
    state["elapsed_before_s"] = 100.0
    (tmp_path / "launch.json").write_text(json.dumps({"started": time.time() - 25}))
    sweep = {"name": "s1", "path": tmp_path, "state": "running", "message": "", "live": True,
             "data": state}  # fmt: skip
    from playground.training.sweep.report import eta_s

    full = eta_s(state)  # rungs 2 and 3 at 15 s a start + 10 s an epoch
    assert view.time_left_s(sweep) == pytest.approx(full)
    # one trial of the running rung finished (4 epochs: 45 s), one halfway (1.5 epochs: 15 s)
    _trial(tmp_path, "r1-c00-none-s0", {"state": "finished", "epoch": 4.0})
    _trial(tmp_path, "r1-c01-flip-s0", {"state": "running", "epoch": 1.5})
    assert view.time_left_s(sweep) == pytest.approx(full - 45.0 - 15.0)
    text = view.status_text(sweep)
    # elapsed: the earlier starts' 100 s and this one's 25 s since its launch
    assert "**s1**: running" in text and re.search(r"Elapsed 2:0[5-9]", text), text
    assert f"about {view.fmt_time(full - 60.0)} left" in text
    stopped = view.status_text({**sweep, "live": False, "state": "stopped"})
    assert "left" not in stopped and "Elapsed 2:05" in stopped  # sweep.json's elapsed_s
    before = {**sweep, "data": {**state, "cost": None}}
    assert view.time_left_s(before) is None
    assert "time left: measuring" in view.status_text(before)


def test_curves_are_the_running_rungs_trials_by_candidate_and_seed(tmp_path):
    state = _state(rungs=[RUNGS[0], {**RUNGS[1], "trials": ["r1-c00-none-s0", "r1-c01-flip-s0"]}])
    sweep = {"name": "s1", "path": tmp_path, "state": "running", "message": "", "live": True,
             "data": state}  # fmt: skip
    assert view.curves(sweep).empty and view.curves(None).empty
    _trial(tmp_path, "probe", {"state": "finished"}, [0.3])
    _trial(tmp_path, "r1-c00-none-s0", {"state": "finished"}, [0.2, 0.4])
    _trial(tmp_path, "r1-c01-flip-s0", {"state": "running"}, [0.25])
    frame = view.curves(sweep)
    assert sorted(set(frame["series"])) == ["flip <b> · seed 0", "no augmentation · seed 0"]
    none = frame[frame["series"] == "no augmentation · seed 0"]
    assert list(none["epoch"]) == [1.0, 2.0] and list(none["value"]) == [0.2, 0.4]
    # before any rung: the probe's one epoch
    probing = {**sweep, "data": _state()}
    assert set(view.curves(probing)["series"]) == {"no augmentation (the one-epoch probe)"}


# ---- the results --------------------------------------------------------------------------

VS_NONE = [
    {"key": "c01-flip", "label": "flip <b>", "points": 4.2, "low": 1.5, "high": 6.9},
    {"key": "c02-ra", "label": "randaugment", "points": -0.8, "low": -3.1, "high": 1.6},
    {"key": "c03-cj", "label": "colour jitter", "points": -5.0, "low": -7.5, "high": -2.5},
]


def test_forest_plot_shows_each_effect_and_marks_intervals_that_exclude_zero():
    svg = view.forest_svg(VS_NONE, "Effect against no augmentation")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for label in ("flip &lt;b&gt;", "randaugment", "colour jitter"):
        assert label in svg
    assert "+4.2 (+1.5 to +6.9) ≠ 0" in svg
    assert "-0.8 (-3.1 to +1.6)<" in svg  # includes 0: no mark
    assert "-5.0 (-7.5 to -2.5) ≠ 0" in svg
    groups = re.findall(r'<g class="([^"]+)" data-key="([^"]+)"', svg)
    assert dict((k, c) for c, k in groups) == {
        "c01-flip": "forest-row excludes-zero",
        "c02-ra": "forest-row",
        "c03-cj": "forest-row excludes-zero",
    }
    # the dashed zero line sits between the lowest low and the highest high
    zero = float(re.search(r'<line x1="([\d.]+)"[^>]*stroke-dasharray', svg)[1])
    circles = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]
    assert circles[2] < zero < circles[0]
    assert view.forest_svg([], "nothing") == ""


def test_heat_map_colours_each_class_by_its_change():
    report = {"classes": ["cat", "dog"], "per_class": {"c01-flip": [10.0, -5.0]}}
    html = view.heat_map_html(report, {"c01-flip": "flip"})
    assert "<th>cat</th>" in html and "<th>flip</th>" in html
    assert 'rgba(26,127,55,0.75);text-align:right" data-value="10.00">+10.0' in html  # strongest
    assert 'rgba(207,34,46,0.38);text-align:right" data-value="-5.00">-5.0' in html


def test_results_have_the_tied_words_both_plots_the_heat_map_and_the_summary(tmp_path):
    report = {
        "best": "c01-flip", "use": "c01-flip", "vs_none": VS_NONE, "vs_best": VS_NONE[1:],
        "tied": ["c01-flip", "c02-ra"], "tied_words": "these 2 cannot be told apart at this "
        "budget: flip, randaugment", "classes": ["cat", "dog"],
        "per_class": {"c01-flip": [1.0, 2.0]}, "caution": "short runs",
    }  # fmt: skip
    (tmp_path / "summary.txt").write_text("the summary <in words>\n")
    (tmp_path / "candidates").mkdir()
    (tmp_path / "candidates" / "c01-flip.json").write_text('{"steps": []}')
    sweep = {"name": "s", "path": tmp_path, "state": "finished", "message": "", "live": False,
             "data": _state(report, RUNGS)}  # fmt: skip
    html = view.results_html(sweep)
    assert "these 2 cannot be told apart at this budget: flip, randaugment" in html
    assert html.count("<svg") == 2 and "sweep-heat-map" in html
    assert "the summary &lt;in words&gt;" in html and "Use: flip &lt;b&gt;." in html
    assert view.use_pipeline_path(sweep) == tmp_path / "candidates" / "c01-flip.json"
    none_best = {**sweep, "data": _state({**report, "use": None}, RUNGS)}
    assert view.use_pipeline_path(none_best) is None
    assert view.results_html({**sweep, "data": _state(None, RUNGS)}) == ""


# ---- the trials in the runs list ----------------------------------------------------------


def _sweep_with_trials(root: Path, name: str = "20261207-100000-sweep") -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps(_state()))
    for trial in ("r0-c00-none-s0", "r0-c01-flip-s0"):
        (folder / trial).mkdir()
        status = {"state": "finished", "pid": 1, "updated": time.time(), "epoch": 1.0}
        (folder / trial / "status.json").write_text(json.dumps(status))
    (folder / "candidates").mkdir()  # not a run folder
    return folder


def test_sweep_trials_are_runs_named_after_their_sweep(root):
    (root / "plain-run").mkdir()
    (root / "plain-run" / "status.json").write_text(json.dumps({"state": "finished", "pid": 1}))
    folder = _sweep_with_trials(root)
    names = [r.name for r in runs.list_runs(root)]
    assert sorted(names) == sorted(
        ["plain-run", f"{folder.name}/r0-c00-none-s0", f"{folder.name}/r0-c01-flip-s0"]
    )
    trial = runs.find_run(f"{folder.name}/r0-c01-flip-s0", root)
    assert trial is not None and trial.sweep == folder.name and trial.state == "finished"
    assert trial.path == folder / "r0-c01-flip-s0" and "/" not in trial.file_name
    for bad in (
        folder.name,  # the sweep itself is not a run
        f"{folder.name}/../plain-run",
        f"{folder.name}/candidates",
        "plain-run/x",  # not a sweep folder
        f"{folder.name}/r0-c00-none-s0/x",
        f"/{folder.name}/r0-c00-none-s0",
        str(folder / "r0-c00-none-s0"),
        "../checkpoints/plain-run",
    ):
        assert runs.find_run(bad, root) is None, bad
    # a trial is its sweep's: the run controls refuse it, with the reason
    with pytest.raises(jobs.JobError, match="trial of the sweep"):
        jobs.stop(trial.name, "alice", root)
    with pytest.raises(jobs.JobError, match="trial of the sweep"):
        jobs.delete(trial.name, "alice", root)
    assert trial.path.exists()
    # the runs table names it with its sweep
    table = __import__("playground.train_view", fromlist=["runs_table"]).runs_table(
        runs.list_runs(root)
    )
    assert f"{folder.name}/r0-c01-flip-s0" in set(table["run"])


def test_a_sweep_is_listed_with_its_state(root):
    folder = _sweep_with_trials(root)
    (listed,) = sweeps.list_sweeps(root)
    assert listed["name"] == folder.name and listed["data"]["candidates"][0]["key"] == "c00-none"
    # sweep.json says running but no process runs it: interrupted, resumable
    assert listed["state"] == runs.INTERRUPTED and not listed["live"]
    assert sweeps.sweep_folder(folder.name, root) == folder
    assert sweeps.sweep_folder("../x", root) is None


# ---- the panel's callbacks ----------------------------------------------------------------


def _finished_sweep(root: Path) -> Path:
    from pipelines.spec import preset

    folder = root / "20261207-110000-sweep"
    (folder / "candidates").mkdir(parents=True)
    (folder / "candidates" / "c01-flip.json").write_text(preset("d2l-flip").to_json())
    report = {
        "best": "c01-flip", "use": "c01-flip", "vs_none": VS_NONE[:1], "vs_best": [],
        "tied": ["c01-flip"], "tied_words": "flip is the best", "classes": ["cat"],
        "per_class": {"c01-flip": [1.0]},
    }  # fmt: skip
    state = {**_state(report, RUNGS), "state": "finished"}
    (folder / "sweep.json").write_text(json.dumps(state))
    (folder / "launch.json").write_text(json.dumps({"kind": "sweep", "pid": None}))
    (folder / "summary.txt").write_text("the summary\n")
    return folder


def test_poll_sends_each_part_only_when_it_changed(root):
    import gradio as gr

    from playground.ui import train_sweep

    skip = gr.skip()
    first = train_sweep.poll(None, None, "alice")
    names = train_sweep.POLLED
    shown = dict(zip(names, first[:-1], strict=True))
    assert shown["status"] == view.status_text(None) and shown["results"] == ""
    assert train_sweep.poll(None, first[-1], "alice")[:-1] == [skip] * len(names)
    folder = _finished_sweep(root)
    later = dict(zip(names, train_sweep.poll(None, first[-1], "alice")[:-1], strict=True))
    assert later["picked"]["value"] == folder.name
    assert "flip is the best" in later["results"] and "<svg" in later["results"]
    assert later["use"]["visible"] and later["export"]["visible"]
    assert later["stop"] == skip  # not live before, not live now: unchanged


def test_use_this_pipeline_loads_the_recommended_one_and_export_writes_it(root):
    import gradio as gr

    from pipelines.spec import load, preset
    from playground.ui import augment, train_sweep

    spec = preset("cifar-standard")
    layout = (0, spec.to_json())
    out = train_sweep.on_use(None, None, 0, spec, layout)
    assert out[0] is spec and "No pipeline" in out[-2]  # no sweep yet: nothing changes
    assert _skipped(out[-1])  # and the page stays in the Train tab
    folder = _finished_sweep(root)
    out = train_sweep.on_use(folder.name, None, 0, spec, layout)
    assert out[0] == preset("d2l-flip") and out[1][0] == 1  # the editor shows it
    assert out[-2].startswith("Loaded flip <b> into the Augment tab")
    assert isinstance(out[-1], gr.Tabs) and out[-1].selected == augment.TAB_ID  # shown there
    files, message = train_sweep.on_export(folder.name, "resnet18")
    code, saved = files["value"]
    assert code.endswith(".py") and load(saved) == preset("d2l-flip")
    assert "RandomHorizontalFlip" in Path(code).read_text() and message == "Exported flip <b>."
    assert "eval_transform" in Path(code).read_text()  # the model's, as the Export tab writes it
    plain, _ = train_sweep.on_export(folder.name, "no such model")
    assert "eval_transform" not in Path(plain["value"][0]).read_text()


def test_a_pipeline_that_is_refused_is_not_used_and_the_page_stays(root):
    from pipelines.spec import preset
    from playground.ui import train_sweep

    spec = preset("cifar-standard")
    folder = _finished_sweep(root)
    (folder / "candidates" / "c01-flip.json").write_text('{"format": "something else"}')
    out = train_sweep.on_use(folder.name, None, 0, spec, (0, spec.to_json()))
    assert out[0] is spec and "Pipeline not loaded" in out[3]  # the Augment tab says why
    assert out[-2] == "⚠️ flip <b> was not loaded: see the Augment tab."
    assert _skipped(out[-1])  # the page stays in the Train tab, where the message is


# ---- the strength-ladder pickers ----------------------------------------------------------


def test_ladder_steps_are_the_active_steps_with_a_number_to_vary_named_as_the_ladder_names_them():
    from pipelines.spec import PipelineSpec, make
    from playground.train_view import strength_ladder as ladder

    spec = make(
        [
            ("ColorJitter", {}),
            ("RandomChannelPermutation", {}),  # nothing to ladder
            ("RandomRotation", {}),
            ("ColorJitter", {"brightness": 0.2}),
        ]
    )
    off = replace(spec.steps[2], enabled=False)  # switched off: not a step a sweep varies
    spec = PipelineSpec((*spec.steps[:2], off, spec.steps[3]))
    assert ladder.step_choices(spec) == [
        ("no ladder", ""),
        ("1. Colour jitter · ColorJitter", "ColorJitter"),
        ("4. Colour jitter · ColorJitter", "ColorJitter#1"),  # the second active one
    ]
    assert ladder.picked_step(spec, "ColorJitter#1") == "ColorJitter#1"
    assert ladder.picked_step(spec, "RandomRotation") == ""  # switched off since: no ladder


def test_ladder_parameters_are_the_steps_numbers_as_the_catalogue_labels_them():
    from pipelines.catalogue import BY_NAME
    from pipelines.spec import default_spec, make
    from playground.train_view import strength_ladder as ladder

    spec = default_spec()  # flip, RandomResizedCrop, ColorJitter
    assert ladder.param_choices(spec, "ColorJitter") == [
        ("Brightness · brightness", "brightness"),
        ("Contrast · contrast", "contrast"),
        ("Saturation · saturation", "saturation"),
        ("Hue · hue", "hue"),
    ]
    crop = [name for _, name in ladder.param_choices(spec, "RandomResizedCrop")]
    assert "size" in {p.name for p in BY_NAME["RandomResizedCrop"].params} and "size" not in crop
    assert ladder.param_choices(spec, "") == []  # no ladder
    assert ladder.param_choices(spec, "RandAugment") == []  # not in this pipeline
    mixup = make([("MixUp", {})])  # its number of classes is the data set's, not a strength
    assert [name for _, name in ladder.param_choices(mixup, "MixUp")] == ["alpha"]


def test_a_ladder_is_prefilled_weakest_first_around_the_current_value():
    from pipelines.spec import default_spec, make, preset
    from playground.train_view import strength_ladder as ladder

    spec = default_spec()
    assert ladder.ladder_values(spec, "ColorJitter", "brightness") == "0,0.25,0.5,1"
    assert ladder.ladder_values(spec, "ColorJitter", "hue") == "0,0.05,0.1,0.2"
    assert ladder.ladder_values(preset("randaugment"), "RandAugment", "magnitude") == "0,4,9,18"
    # at the top of its range: the range in thirds, the values a minimum refuses left out
    crop = make([("RandomResizedCrop", {"scale_min": 0.5, "scale_max": 1.0})])
    assert ladder.ladder_values(crop, "RandomResizedCrop", "scale_max") == "0.67,1"
    # an odd kernel stays odd; a second step of a transform is laddered from its own value
    blur = make([("GaussianBlur", {"kernel_size": 7}), ("ColorJitter", {}),
                 ("ColorJitter", {"brightness": 0.2})])  # fmt: skip
    assert ladder.ladder_values(blur, "GaussianBlur", "kernel_size") == "1,3,7,13"
    assert ladder.ladder_values(blur, "ColorJitter#1", "brightness") == "0,0.1,0.2,0.4"
    assert ladder.ladder_values(blur, "ColorJitter", "nothing") == ""
    assert ladder.ladder_values(blur, "", None) == ""


def test_every_prefilled_ladder_is_one_the_sweep_takes_and_holds_the_current_value():
    # every catalogue transform's every laddered parameter: the pickers' text goes through the
    # sweep's own parser (candidates.ladder), which makes one pipeline per value
    from pipelines.catalogue import CATALOGUE
    from pipelines.spec import make
    from playground.train_view import strength_ladder as ladder
    from playground.training.sweep.candidates import ladder as parse

    laddered = 0
    for tdef in CATALOGUE:
        spec = make([(tdef.name, {})])
        for _, param in ladder.param_choices(spec, tdef.name):
            values = ladder.ladder_values(spec, tdef.name, param)
            text = ladder.ladder_text(tdef.name, param, values)
            specs = [s for s, _ in parse(spec, "current", text)]
            got = [s.steps[0].params[param] for s in specs]
            assert len(got) >= 2 and got == sorted(got), (text, got)
            assert spec.steps[0].params[param] in got, text
            laddered += 1
    assert laddered > 50


def test_the_pickers_make_the_ladder_text_the_sweep_validates(root):
    import gradio as gr

    from pipelines.catalogue import BY_NAME
    from pipelines.spec import PipelineSpec, StepSpec, default_spec
    from playground.train_form import form_defaults
    from playground.train_view import strength_ladder as ladder
    from playground.ui import train_sweep

    assert ladder.ladder_text("", "brightness", "0,1") == ""  # no step: no ladder
    assert ladder.ladder_text(None, None, None) == ""
    assert ladder.ladder_text("ColorJitter", "brightness", " 0, 0.4 ") == (
        "ColorJitter.brightness=0, 0.4"
    )
    spec, form = default_spec(), form_defaults(dataset="synthetic")
    request = (["d2l-flip"], "ColorJitter", "brightness", "0,x", 20, 2, None, 1)
    # the sweep's own parser says what is wrong, for the estimate and for Start alike
    said = "ladder ColorJitter.brightness: 'x' is not a number"
    assert said in train_sweep.on_estimate(spec, *request, *form)
    message, picked = train_sweep.on_start(None, spec, *request, "alice", None, *form)
    assert said in message and picked == gr.skip()
    assert runs.sweep_folders(root) == []  # nothing started
    # a ladder varies the current pipeline: a refused edit there stops Start, as the
    # current-pipeline candidate does
    jitter = BY_NAME["ColorJitter"].defaults()
    draft = PipelineSpec((StepSpec("ColorJitter", {**jitter, "brightness": 7.0}),))
    fine = (["d2l-flip"], "ColorJitter", "brightness", "0,0.4", 20, 2, None, 1)
    message, _ = train_sweep.on_start(draft, spec, *fine, "alice", None, *form)
    assert "Fix it in the Augment tab" in message and runs.sweep_folders(root) == []


def test_picking_a_step_then_a_parameter_fills_the_pickers(root):
    from pipelines.spec import default_spec, preset
    from playground.ui import train_sweep

    spec = default_spec()
    params, values = train_sweep.on_ladder_step(spec, "ColorJitter")
    assert params["value"] == "brightness" and len(params["choices"]) == 4
    assert values == "0,0.25,0.5,1"
    assert train_sweep.on_ladder_param(spec, "ColorJitter", "hue") == "0,0.05,0.1,0.2"
    params, values = train_sweep.on_ladder_step(spec, "")  # no ladder: nothing to pick
    assert params["choices"] == [] and params["value"] is None and values == ""
    # the Train tab opened on another pipeline: its steps; a step it lacks is no ladder
    steps = train_sweep.on_ladder_steps(preset("randaugment"), "ColorJitter")
    assert steps["value"] == "" and [v for _, v in steps["choices"]] == ["", "RandAugment"]
    assert train_sweep.on_ladder_steps(spec, "ColorJitter")["value"] == "ColorJitter"
