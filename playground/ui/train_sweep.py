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

from pipelines.catalogue import PRESETS
from pipelines.spec import PipelineSpec
from playground import controls, owners, runs
from playground.jobs import JobError, sweeps
from playground.train_form import settings_from
from playground.train_view import sweep as sweep_view
from playground.training.sweep.__main__ import DEFAULT_SEEDS
from playground.ui.editing import on_pipeline

DEFAULT_BUDGET_MINUTES = 20
LADDER_HINT = "ColorJitter.brightness=0,0.2,0.4,0.8"


def sweep_panel() -> dict[str, Any]:
    """The panel's components, by name (laid out where this is called, inside an Accordion)."""
    parts: dict[str, Any] = {}
    limits = sweeps.limits_text()
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
    parts["ladder"] = gr.Textbox(
        label="Strength ladder of the current pipeline (STEP.PARAM=v1,v2,...; optional)",
        placeholder=LADDER_HINT,
        elem_id="sweep-ladder",
    )
    with gr.Row():
        parts["budget"] = gr.Number(
            DEFAULT_BUDGET_MINUTES, label="Budget (minutes)", elem_id="sweep-budget"
        )
        parts["seeds"] = gr.Number(
            DEFAULT_SEEDS, precision=0, label="Paired seeds per candidate", elem_id="sweep-seeds"
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
    parts["results"] = gr.HTML(elem_id="sweep-results")
    parts["use"] = gr.Button(
        "Use this pipeline (load it into the Augment tab)", visible=False, elem_id="sweep-use"
    )
    parts["use_message"] = gr.Markdown(elem_id="sweep-use-message")
    parts["signature"] = gr.State(None)
    return parts


def on_estimate(
    spec: PipelineSpec, chosen: Any, ladder: Any, budget: Any, seeds: Any, *values: Any
) -> str:
    try:
        settings = settings_from(values)
    except JobError as err:
        return f"⚠️ No estimate: {err}"
    return sweep_view.estimate(settings, spec, chosen, ladder, budget, seeds)


def on_start(
    draft: PipelineSpec | None,
    spec: PipelineSpec,
    chosen: Any,
    ladder: Any,
    budget: Any,
    seeds: Any,
    owner: str | None,
    request: gr.Request | None,
    *values: Any,
) -> tuple[str, Any]:
    """Start the sweep in the background; the panel then shows it."""
    refused = controls.refused_note(draft)
    if refused and (sweeps.CURRENT in (chosen or []) or str(ladder or "").strip()):
        return f"⚠️ {refused} Fix it in the Augment tab, then Start sweep.", gr.skip()
    try:
        settings = settings_from(values)
        folder = sweeps.start(
            settings, spec, owners.requester(owner, request), chosen, ladder, budget, seeds
        )
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


def poll(
    picked: str | None, signature: Any, owner: str | None, request: gr.Request | None = None
) -> list[Any]:
    """The panel from the sweep folders: the picker, status, ladder, results and buttons; sent
    only when something changed."""
    all_sweeps = sweeps.list_sweeps()
    sweep = _shown(picked, all_sweeps)
    data = (sweep or {}).get("data") or {}
    me = owners.requester(owner, request)
    mine = sweep is not None and owners.may_control(sweep["owner"], me)
    busy = bool(runs.live_sweeps()) or any(r.live for r in runs.list_runs())
    new = [
        [(s["name"], s["state"]) for s in all_sweeps],
        sweep["name"] if sweep else None,
        data.get("updated"),
        sweep["state"] if sweep else None,
        int(data.get("elapsed_s") or 0) if sweep and sweep["live"] else None,
        mine,
        busy,
    ]
    if new == signature:
        return [gr.skip()] * POLL_OUTPUTS + [signature]
    resumable = sweep is not None and sweep["state"] in ("stopped", "failed", runs.INTERRUPTED)
    return [
        gr.update(
            choices=sweep_view.sweep_choices(all_sweeps), value=sweep["name"] if sweep else None
        ),
        sweep_view.status_text(sweep),
        sweep_view.ladder_html(data),
        sweep_view.results_html(sweep),
        gr.update(interactive=bool(sweep and sweep["live"] and mine)),
        gr.update(interactive=bool(resumable and mine and not busy and data)),
        gr.update(visible=sweep_view.use_pipeline_path(sweep) is not None),
        new,
    ]


POLL_OUTPUTS = 7  # before the signature


def on_use(picked: str | None, image: Any, seed: Any, spec: PipelineSpec, layout: Any) -> list:
    """The recommended candidate (the report's "use") into the Augment tab: the same as loading
    its pipeline file there, so Export and Start use it."""
    sweep = _shown(picked, sweeps.list_sweeps())
    path = sweep_view.use_pipeline_path(sweep)
    if path is None:
        return [spec, gr.skip(), gr.skip(), gr.skip(), gr.skip(), "⚠️ No pipeline to use yet."]
    shown = on_pipeline(str(path), image, seed, spec, layout)
    labels = {c["key"]: c["label"] for c in sweep["data"]["candidates"]}
    label = labels.get(sweep["data"]["report"]["use"], path.stem)
    return [*shown, f"Loaded {label} into the Augment tab (Export writes it as code)."]


def wire(
    parts: dict[str, Any],
    spec_state: gr.State,
    draft: gr.State,
    owner_state: gr.State,
    settings_inputs: list[Any],
    timer: gr.Timer,
    augment: dict[str, Any] | None,
    image_state: gr.State,
) -> None:
    p = parts
    request_inputs = [p["candidates"], p["ladder"], p["budget"], p["seeds"]]
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
    outputs = [
        p["picked"], p["status"], p["ladder_table"], p["results"], p["stop"], p["resume"],
        p["use"], p["signature"],
    ]  # fmt: skip
    poll_inputs = [p["picked"], p["signature"], owner_state]
    timer.tick(poll, poll_inputs, outputs, api_name=False, queue=False, show_progress="hidden")
    p["picked"].input(poll, poll_inputs, outputs, api_name=False, queue=False)
    if augment is not None:
        targets = [*augment["pipeline_outputs"], p["use_message"]]
        inputs = [p["picked"], image_state, augment["seed"], spec_state, augment["layout"]]
    else:  # the tab alone (tests): the pipeline state only
        targets = [spec_state, gr.State(), gr.State(), gr.State(), gr.State(), p["use_message"]]
        inputs = [p["picked"], image_state, gr.State(0), spec_state, gr.State((0, ""))]
    p["use"].click(on_use, inputs, targets, api_name="sweep_use")
