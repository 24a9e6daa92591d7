"""The Train tab's launch: the data set choice, Quick CPU run, the first-batch preview and its
estimate (asked, or on opening the tab where that is quick), a preview gone stale when a setting
changes, Start (refused while the Augment tab holds a refused value), and the synthetic set
offered when CIFAR-10 cannot be had. The form's values come in FORM_KEYS order."""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipelines.spec import PipelineSpec
from playground import controls, jobs, owners, runs, train_view
from playground.jobs import JobError
from playground.train_form import QUICK_CPU, settings_from, settings_key
from playground.train_view import preflight
from playground.training import settings as run_settings


def on_quick() -> list[Any]:
    """Quick CPU run: the values of QUICK_CPU's fields, in its order."""
    return list(QUICK_CPU.values())


def auto_notes(cfg: dict[str, Any] | None) -> tuple[Any, Any]:
    """What the training command chose for the fields left at 0 ("auto: 64"), as the batch
    and learning-rate fields' info lines."""
    notes = preflight.auto_notes(cfg)
    if notes is None:
        return gr.skip(), gr.skip()
    batch_note, lr_note = notes
    return gr.update(info=batch_note), gr.update(info=lr_note)


def on_dataset(dataset: str) -> tuple[Any, Any]:
    """The folder path shows for a folder, the uploads panel for an uploaded data set."""
    return (
        gr.update(visible=dataset == run_settings.FOLDER_KIND),
        gr.update(visible=dataset == run_settings.UPLOAD_KIND),
    )


def on_preview(spec: PipelineSpec, baseline: bool, *values: Any) -> tuple[Any, ...]:
    """The first 32 training images as the pipeline feeds them, a time-per-epoch estimate (of
    the run and, if ticked, its baseline), the message line, and the batch and learning-rate
    fields' "auto: ..." notes (preflight.preview: kept per settings once it has an estimate)."""
    try:
        settings = settings_from(values)
        spec = jobs.validated(spec)
    except JobError as err:
        return gr.skip(), "", f"⚠️ {err}", gr.skip(), gr.skip()
    try:
        gallery, estimate, message, cfg = preflight.preview(settings, spec, bool(baseline))
    except JobError as err:
        return gr.skip(), "", f"⚠️ {err}", gr.skip(), gr.skip()
    return gallery, estimate, message, *auto_notes(cfg)


ASK_PREVIEW = (
    "Press **Preview & estimate** to see the first batch as the pipeline feeds it and how long "
    "the run will take (on this CPU that takes a few seconds, so it is not done unasked)."
)


def on_tab_preview(spec: PipelineSpec, baseline: bool, *values: Any) -> tuple[Any, ...]:
    """Opening the tab previews the current settings where that is quick (a GPU, or a preview
    already made for them), unless a run is training (it would slow the run down, and timing
    steps beside it would give a wrong estimate); on a CPU it says how to ask for one. It writes
    the images and the estimate only, never the message line: a Start pressed while it works
    keeps its answer there. Last comes the key of the settings it previewed."""
    if jobs.active_runs():
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    info = train_view.detect_devices()
    if not info["gpus"] or info["zero_gpu"]:
        try:
            kept = preflight.is_previewed(settings_from(values), jobs.validated(spec), baseline)
        except JobError:
            kept = False
        if not kept:
            return gr.skip(), ASK_PREVIEW, settings_key(*values), gr.skip(), gr.skip()
    gallery, estimate, note, batch_note, lr_note = on_preview(spec, baseline, *values)
    text = "\n\n".join(t for t in (estimate, note) if t)
    return gallery, text, settings_key(*values), batch_note, lr_note


STALE_PREVIEW = (
    "*The settings changed while this preview was made: **Preview & estimate** shows the new ones.*"
)


SETTINGS_CHANGED = (
    "*The settings changed: **Preview & estimate** shows the first batch, the estimate and the "
    "recipe for the new ones.*"
)


def settings_edited() -> tuple[Any, str]:
    """A setting was edited: the first batch, the estimate and the recipe line shown were made
    for the old settings, so they go (gallery, estimate)."""
    return None, SETTINGS_CHANGED


def clear_stale_message(message: str | None) -> Any:
    """The watched status changed: "Started X ..." or "Resuming X ..." goes once nothing trains
    or waits any more (the run finished, stopped or failed: the status and the runs list say
    which)."""
    if not (message or "").startswith(("Started ", "Resuming ")):
        return gr.skip()
    if any(r.live or r.state == runs.QUEUED for r in runs.list_runs()):
        return gr.skip()
    return ""


def drop_if_stale(previewed: str | None, *values: Any) -> tuple[Any, Any]:
    """After a preview: clear it if the form changed while it was made (it shows old settings)."""
    if previewed is None or previewed == settings_key(*values):
        return gr.skip(), gr.skip()
    return None, STALE_PREVIEW


def on_start(
    spec: PipelineSpec,
    baseline: bool,
    seeds: Any,
    against: str | None,
    against_file: Any,
    owner: str | None,
    request: gr.Request | None,
    *values: Any,
) -> tuple[Any, Any, Any]:
    """Validate, then start the run (and the no-augmentation baseline, or the pipeline it is
    compared against, over `seeds` paired seeds) in the background. `values`: the form's, in
    FORM_KEYS order (Gradio puts the request before them)."""
    me = owners.requester(owner, request)
    try:
        settings = settings_from(values)
        pairs = jobs.whole_number(seeds, "seeds per arm", jobs.MIN_SEEDS, jobs.MAX_SEEDS)
        other = preflight.against_spec(against, against_file)
        baseline = bool(baseline) or other is not None
        folders = jobs.start(settings, spec, me, baseline=baseline, seeds=pairs, against=other)
    except JobError as err:
        return f"⚠️ {err}", gr.skip(), gr.skip()
    names = [f.name for f in folders]
    message = preflight.start_message(settings, names, baseline, other is not None, pairs)
    all_names = [r.name for r in runs.list_runs()]
    return (
        message,
        gr.update(choices=all_names, value=names[0]),
        gr.update(choices=all_names, value=names[1:2] if baseline else []),
    )


def on_pipeline_heading(spec: PipelineSpec, draft: PipelineSpec | None) -> str:
    return train_view.pipeline_heading(spec, controls.refused_note(draft))


def on_start_checked(
    draft: PipelineSpec | None,
    spec: PipelineSpec,
    baseline: bool,
    seeds: Any,
    against: str | None,
    against_file: Any,
    owner: str | None,
    request: gr.Request | None,
    *values: Any,
) -> tuple[Any, Any, Any]:
    """Start, unless the Augment tab holds a refused value: its boxes then show a pipeline that
    is not the one `spec` holds, and a run must train what the page shows."""
    refused = controls.refused_note(draft)
    if refused:
        return f"{refused} Fix it in the Augment tab, then Start.", gr.skip(), gr.skip()
    return on_start(spec, baseline, seeds, against, against_file, owner, request, *values)


def offer_synthetic(message: str | None) -> Any:
    """The "Use the synthetic set" button shows when the message says CIFAR-10 cannot be had."""
    return gr.update(visible=jobs.NO_CIFAR10 in (message or ""))


def on_use_synthetic() -> tuple[Any, Any, Any, str]:
    """One click from "CIFAR-10 cannot be had here" to settings that train without it."""
    return (
        "synthetic",
        gr.update(visible=False),
        gr.update(visible=False),
        "Switched to the synthetic set (generated shapes and textures, no download). Press "
        "**Preview & estimate** or **Start**.",
    )
