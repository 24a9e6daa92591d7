"""The Train tab's Sweep panel: which augmentation helps this data? Candidates (the Augment
tab's pipeline, presets, a strength ladder of one of its parameters), a budget and seeds; the
data set, model and other settings come from the tab's form. Estimate, Start / Stop / Resume
(playground.jobs.sweeps), the rung ladder while it runs, and at the end the forest plot, the
tied-for-best words, the per-class heat map, the summary and "Use this pipeline", which loads
the recommended candidate into the Augment tab. What it shows is computed in
playground.train_view.sweep; the callbacks here only read the inputs and wrap the result.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from pipelines.catalogue import PRESETS
from pipelines.spec import PipelineSpec, SpecError, default_spec, load
from playground import controls, owners, runs
from playground.jobs import JobError, sweep_limits, sweeps
from playground.train_form import FORM_KEYS, settings_from
from playground.train_view import strength_ladder as ladder
from playground.train_view import sweep as sweep_view
from playground.training.settings import MODEL_NAMES
from playground.training.sweep.__main__ import DEFAULT_SEEDS
from playground.ui.augment import TAB_ID as AUGMENT_TAB
from playground.ui.editing import on_pipeline
from playground.ui.export import export_files

DEFAULT_BUDGET_MINUTES = 20
LADDER_INFO = (
    "**Strength ladder** (optional): one candidate per value of one parameter of the Augment "
    "tab's pipeline, ColorJitter brightness 0, 0.2, 0.4, 0.8, say, or RandAugment magnitude "
    "5, 9, 14. Pick the step and the parameter; the values start as a ladder around the "
    "current one."
)


def sweep_panel() -> dict[str, Any]:
    """The panel's components, by name (laid out where this is called, inside an Accordion)."""
    parts: dict[str, Any] = {}
    limits = sweep_limits.limits_text()
    gr.Markdown(
        "Rank augmentation pipelines by their measured effect on this data and model: each "
        "candidate and no augmentation train with the same seeds; the better half goes on to a "
        "longer schedule, and the end reports each one's effect with its interval on the test "
        "set. The data set, model and other settings are the form's above."
        + (f" {limits}" if limits else "")
    )
    parts["candidates"] = gr.CheckboxGroup(
        [sweeps.CURRENT, *PRESETS],
        value=[sweeps.CURRENT],
        label="Candidates (no augmentation is always in)",
        elem_id="sweep-candidates",
    )
    parts["files"] = gr.File(
        file_count="multiple",
        file_types=[".json"],
        label="Saved pipeline files (.json, as the Export tab writes them; optional)",
        height=90,
        elem_id="sweep-files",
    )
    gr.Markdown(LADDER_INFO, elem_id="sweep-ladder-info")
    first = ladder.step_choices(default_spec())  # the tab's opening refreshes them (wire)
    with gr.Row(equal_height=True):
        parts["ladder_step"] = gr.Dropdown(
            first, value=ladder.NO_LADDER, label="Step of the current pipeline",
            elem_id="sweep-ladder-step",
        )  # fmt: skip
        parts["ladder_param"] = gr.Dropdown(
            [], value=None, label="Its parameter", elem_id="sweep-ladder-param"
        )
        parts["ladder_values"] = gr.Textbox(
            label="Values (comma-separated: one candidate each)",
            placeholder="0, 0.2, 0.4, 0.8",
            elem_id="sweep-ladder-values",
        )
    with gr.Row():
        parts["budget"] = gr.Number(
            DEFAULT_BUDGET_MINUTES, label="Budget (minutes)", elem_id="sweep-budget"
        )
        parts["seeds"] = gr.Number(
            DEFAULT_SEEDS, precision=0, label="Paired seeds per candidate", elem_id="sweep-seeds"
        )
        parts["first_epochs"] = gr.Number(
            None,
            precision=0,
            label="Or a fixed schedule: epochs on the first rung (doubled on each next)",
            info="empty: fit the schedule to the budget",
            visible=not sweep_limits.sweep_limits().max_minutes,  # a bounded server fits a budget
            elem_id="sweep-first-epochs",
        )
    with gr.Row():
        parts["estimate_btn"] = gr.Button("Estimate", size="sm", elem_id="sweep-estimate-btn")
        parts["start"] = gr.Button("Start sweep", variant="primary", elem_id="sweep-start")
        parts["stop"] = gr.Button(
            "Stop sweep", variant="stop", interactive=False, elem_id="sweep-stop"
        )
        parts["resume"] = gr.Button("Resume sweep", interactive=False, elem_id="sweep-resume")
    parts["estimate"] = gr.Markdown(elem_id="sweep-estimate")
    parts["message"] = gr.Markdown(elem_id="sweep-message")
    parts["picked"] = gr.Dropdown(
        [], label="Sweep shown", allow_custom_value=True, elem_id="sweep-picked"
    )
    parts["status"] = gr.Markdown(sweep_view.status_text(None), elem_id="sweep-status")
    parts["ladder_table"] = gr.HTML(elem_id="sweep-ladder-table")
    parts["curves"] = gr.LinePlot(
        sweep_view.curves(None), x="epoch", y="value", color="series", y_lim=[0, 1],
        title="The rung's trials: held-out accuracy", y_title="accuracy", x_title="epoch",
        height=260, elem_id="sweep-curves",
    )  # fmt: skip
    parts["results"] = gr.HTML(elem_id="sweep-results")
    with gr.Row():
        parts["use"] = gr.Button(
            "Use this pipeline (load it into the Augment tab)", visible=False, elem_id="sweep-use"
        )
        parts["export"] = gr.Button(
            "Export it (.py and .json)", visible=False, elem_id="sweep-export"
        )
    parts["use_message"] = gr.Markdown(elem_id="sweep-use-message")
    parts["export_files"] = gr.File(
        label="The recommended pipeline", file_count="multiple", visible=False,
        interactive=False, elem_id="sweep-export-files",
    )  # fmt: skip
    parts["signature"] = gr.State(None)
    return parts


def on_ladder_steps(spec: PipelineSpec, step: Any) -> Any:
    """The Step picker for the Augment tab's pipeline as it is now (the tab was opened): its
    steps, the picked one kept while the pipeline has it."""
    return gr.update(choices=ladder.step_choices(spec), value=ladder.picked_step(spec, step))


def on_ladder_step(spec: PipelineSpec, step: Any) -> tuple[Any, str]:
    """A step picked: its parameters (the first picked) and a ladder of values for that one."""
    choices = ladder.param_choices(spec, step)
    param = choices[0][1] if choices else None
    return gr.update(choices=choices, value=param), ladder.ladder_values(spec, step, param)


def on_ladder_param(spec: PipelineSpec, step: Any, param: Any) -> str:
    """A parameter picked: a ladder of values for it, to edit."""
    return ladder.ladder_values(spec, step, param)


def on_estimate(
    spec: PipelineSpec,
    chosen: Any,
    step: Any,
    param: Any,
    rungs: Any,
    budget: Any,
    seeds: Any,
    files: Any,
    first_epochs: Any,
    *values: Any,
) -> str:
    """`step`, `param`, `rungs`: the ladder pickers (ladder.ladder_text)."""
    try:
        settings = settings_from(values)
    except JobError as err:
        return f"⚠️ No estimate: {err}"
    text = ladder.ladder_text(step, param, rungs)
    return sweep_view.estimate(
        settings, spec, chosen, text, budget, seeds, files=files, first_epochs=first_epochs
    )


def on_start(
    draft: PipelineSpec | None,
    spec: PipelineSpec,
    chosen: Any,
    step: Any,
    param: Any,
    rungs: Any,
    budget: Any,
    seeds: Any,
    files: Any,
    first_epochs: Any,
    owner: str | None,
    request: gr.Request | None,
    *values: Any,
) -> tuple[str, Any]:
    """Start the sweep in the background; the panel then shows it. The ladder pickers
    (`step`, `param`, `rungs`) make the --ladder text the sweep validates."""
    text = ladder.ladder_text(step, param, rungs)
    refused = controls.refused_note(draft)
    if refused and (sweeps.CURRENT in (chosen or []) or text):
        return f"⚠️ {refused} Fix it in the Augment tab, then Start sweep.", gr.skip()
    try:
        settings = settings_from(values)
        folder = sweeps.start(
            settings, spec, owners.requester(owner, request), chosen, text, budget, seeds,
            files=files, first_epochs=first_epochs,
        )  # fmt: skip
    except JobError as err:
        return f"⚠️ {err}", gr.skip()
    choices = sweep_view.sweep_choices(sweeps.list_sweeps())
    return (
        f"Started the sweep {folder.name}: its trials show in the Runs list as "
        f"{folder.name}/..., its ladder and results below.",
        gr.update(choices=choices, value=folder.name),
    )


def on_stop(picked: str | None, owner: str | None, request: gr.Request | None = None) -> str:
    try:
        return sweeps.stop(picked or "", owners.requester(owner, request))
    except JobError as err:
        return f"⚠️ {err}"


def on_resume(picked: str | None, owner: str | None, request: gr.Request | None = None) -> str:
    try:
        folder = sweeps.resume(picked or "", owners.requester(owner, request))
    except JobError as err:
        return f"⚠️ {err}"
    return f"Resumed the sweep {folder.name}: it continues where it was."


def _shown(picked: str | None, all_sweeps: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next(
        (s for s in all_sweeps if s["name"] == picked), all_sweeps[0] if all_sweeps else None
    )


def _key(value: Any) -> str:
    """What a poll compares to send an output only when it changed."""
    if isinstance(value, pd.DataFrame):
        return value.to_json()
    return repr(value)


def view(picked: str | None, owner: str | None, request: gr.Request | None = None) -> dict:
    """The panel's outputs as plain values, by name: the picker (choices, value), the status
    line, the ladder, the curves, the results, and which buttons apply."""
    all_sweeps = sweeps.list_sweeps()
    sweep = _shown(picked, all_sweeps)
    data = (sweep or {}).get("data") or {}
    mine = sweep is not None and owners.may_control(
        sweep["owner"], owners.requester(owner, request)
    )
    busy = bool(runs.live_sweeps()) or any(r.live for r in runs.list_runs())
    resumable = sweep is not None and sweep["state"] in ("stopped", "failed", runs.INTERRUPTED)
    usable = sweep_view.use_pipeline_path(sweep) is not None
    return {
        "picked": (sweep_view.sweep_choices(all_sweeps), sweep["name"] if sweep else None),
        "status": sweep_view.status_text(sweep),
        "ladder_table": sweep_view.ladder_html(data),
        "curves": sweep_view.curves(sweep),
        "results": sweep_view.results_html(sweep),
        "stop": bool(sweep and sweep["live"] and mine),
        "resume": bool(resumable and mine and not busy and data),
        "use": usable,
        "export": usable,
    }


def _update(name: str, value: Any) -> Any:
    if name == "picked":
        return gr.update(choices=value[0], value=value[1])
    if name in ("stop", "resume"):
        return gr.update(interactive=value)
    if name in ("use", "export"):
        return gr.update(visible=value)
    return value


POLLED = ("picked", "status", "ladder_table", "curves", "results", "stop", "resume", "use",
          "export")  # fmt: skip


def poll(
    picked: str | None, signature: Any, owner: str | None, request: gr.Request | None = None
) -> list[Any]:
    """The panel from the sweep folders; each output sent only when it changed since the last
    poll of this page (`signature`: what each showed)."""
    shown = view(picked, owner, request)
    old = signature if isinstance(signature, dict) else {}
    keys = {name: _key(shown[name]) for name in POLLED}
    out = [gr.skip() if old.get(n) == keys[n] else _update(n, shown[n]) for n in POLLED]
    return [*out, keys]


def on_use(picked: str | None, image: Any, seed: Any, spec: PipelineSpec, layout: Any) -> list:
    """The recommended candidate (the report's "use") into the Augment tab: the same as loading
    its pipeline file there, so Export and Start use it. Loaded, the page shows the Augment tab
    (the last output selects it); refused, it stays here, where the message says so."""
    sweep = _shown(picked, sweeps.list_sweeps())
    path = sweep_view.use_pipeline_path(sweep)
    if path is None:
        nothing = [spec, gr.skip(), gr.skip(), gr.skip(), gr.skip()]
        return [*nothing, "⚠️ No pipeline to use yet.", gr.skip()]
    shown = on_pipeline(str(path), image, seed, spec, layout)
    label = sweep_view.use_label(sweep)
    if shown[0] is spec:  # refused (on_pipeline said why in the summary)
        return [*shown, f"⚠️ {label} was not loaded: see the Augment tab.", gr.skip()]
    loaded = f"Loaded {label} into the Augment tab (Start trains it; Export writes it)."
    return [*shown, loaded, gr.Tabs(selected=AUGMENT_TAB)]


def on_export(picked: str | None, model: Any = None) -> tuple[Any, str]:
    """The recommended candidate as files: the Python code (with the form's model's eval
    transform, as the Export tab writes it) and the pipeline .json."""
    sweep = _shown(picked, sweeps.list_sweeps())
    path = sweep_view.use_pipeline_path(sweep)
    if path is None:
        return gr.update(visible=False), "⚠️ No pipeline to export yet."
    try:
        spec = load(path)
    except SpecError as err:
        return gr.update(visible=False), f"⚠️ {err}"
    model = model if model in MODEL_NAMES else None  # else the code without an eval transform
    _, code_path, json_path = export_files(spec, model)
    label = sweep_view.use_label(sweep)
    return gr.update(value=[code_path, json_path], visible=True), f"Exported {label}."


def wire(
    parts: dict[str, Any],
    spec_state: gr.State,
    draft: gr.State,
    owner_state: gr.State,
    settings_inputs: list[Any],
    timer: gr.Timer,
    augment: dict[str, Any] | None,
    image_state: gr.State,
    tab: gr.Tab,
    tabs: gr.Tabs | None = None,
) -> None:
    """`tab`: the Train tab (its opening refreshes the ladder's steps from the pipeline).
    `augment`: the Augment tab's parts and `tabs` the app's gr.Tabs, which "Use this
    pipeline" loads into and selects (None: the Train tab alone, as tests build it)."""
    p = parts
    step, param, rungs = p["ladder_step"], p["ladder_param"], p["ladder_values"]
    quiet = {"api_name": False, "queue": False, "show_progress": "hidden"}
    tab.select(on_ladder_steps, [spec_state, step], [step], **quiet)
    step.change(on_ladder_step, [spec_state, step], [param, rungs], **quiet)
    param.input(on_ladder_param, [spec_state, step, param], [rungs], **quiet)
    request_inputs = [
        p["candidates"], step, param, rungs, p["budget"], p["seeds"], p["files"],
        p["first_epochs"],
    ]  # fmt: skip
    p["estimate_btn"].click(
        on_estimate, [spec_state, *request_inputs, *settings_inputs], [p["estimate"]],
        api_name="sweep_estimate", concurrency_id="train-check",
    )  # fmt: skip
    p["start"].click(
        on_start, [draft, spec_state, *request_inputs, owner_state, *settings_inputs],
        [p["message"], p["picked"]], api_name="sweep_start", concurrency_id="train-start",
    ).then(lambda: None, None, [p["signature"]], api_name=False, queue=False)  # fmt: skip
    p["stop"].click(
        on_stop, [p["picked"], owner_state], [p["message"]], api_name="sweep_stop",
        concurrency_id="train-control",
    )  # fmt: skip
    p["resume"].click(lambda: gr.update(interactive=False), None, [p["resume"]], api_name=False)
    p["resume"].click(
        on_resume, [p["picked"], owner_state], [p["message"]], api_name="sweep_resume",
        concurrency_id="train-control",
    ).then(lambda: None, None, [p["signature"]], api_name=False, queue=False)  # fmt: skip
    outputs = [*(p[name] for name in POLLED), p["signature"]]
    poll_inputs = [p["picked"], p["signature"], owner_state]
    timer.tick(poll, poll_inputs, outputs, api_name=False, queue=False, show_progress="hidden")
    p["picked"].input(poll, poll_inputs, outputs, api_name=False, queue=False)
    if augment is not None:
        targets = [*augment["pipeline_outputs"], p["use_message"]]
        inputs = [p["picked"], image_state, augment["seed"], spec_state, augment["layout"]]
    else:  # the tab alone (tests): the pipeline state only
        targets = [spec_state, *(gr.State() for _ in range(4)), p["use_message"]]
        inputs = [p["picked"], image_state, gr.State(0), spec_state, gr.State((0, ""))]
    if tabs is not None:
        p["use"].click(on_use, inputs, [*targets, tabs], api_name="sweep_use")
    else:  # no tabs to select: all but the selection
        p["use"].click(lambda *a: on_use(*a)[:-1], inputs, targets, api_name="sweep_use")
    model = settings_inputs[FORM_KEYS.index("model")]
    p["export"].click(
        on_export, [p["picked"], model], [p["export_files"], p["use_message"]],
        api_name="sweep_export",
    )  # fmt: skip
