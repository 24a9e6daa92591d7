"""The Train tab: launch a background run, watch its train_view.curves, stop/resume it, compare runs, predict.

Layout and event wiring only. The run itself is a separate process (playground.jobs); this tab
reads everything it shows from the run folders (playground.runs) on a 1 s gr.Timer, so a page
reload or an app restart loses nothing. Callbacks are plain functions of plain values.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from pipelines.spec import PipelineSpec, SpecError
from pipelines.spec import load as load_spec
from playground import controls, jobs, owners, runs, train_view
from playground.images import ImageLoadError, load_image
from playground.jobs import JobError
from playground.runs import Run
from playground.training import settings as run_settings

POLL_S = 1.0
DATASET_CHOICES = [(word, kind) for kind, word in run_settings.DATASET_KINDS.items()]
# A quick CPU run: a subset, a narrow ResNet-18 and five epochs finish in a few minutes; the
# batch size and learning rate are fitted to the data by the training command (0 = auto).
QUICK_CPU = {"subset": 10000, "epochs": 5, "width": 16, "batch_size": 0, "device": "cpu"}
# The form: the declared settings that have a label (playground.training.settings), then the
# folder path, which belongs to the data set choice. Callbacks take the values in this order.
FORM = run_settings.form_fields()
FORM_KEYS = [d.name for d in FORM] + ["folder"]
MORE_SETTINGS = ("subset", "lr", "width", "seed")  # under "More settings"
# the runs table's columns (train_view.RUN_COLUMNS): the accuracies wide enough to read
COLUMN_WIDTHS = ["12%", "7%", "10%", "15%", "6%", "7%", "7%", "8%", "9%", "9%", "10%"]
SMOOTHING = 0.6  # the training loss's default smoothing (an exponential moving average)


# --- helpers -------------------------------------------------------------------------------


def _owner(owner: str | None, request: gr.Request | None) -> str:
    """The browser's persistent token (survives reloads), else this connection's session."""
    if owners.valid(owner):
        return str(owner)
    session = getattr(request, "session_hash", None) if request is not None else None
    return session or "local"


def form_defaults(**changes: Any) -> list[Any]:
    """The form's initial values in FORM_KEYS order (0 for "auto"), with `changes` applied:
    what an API client passes to train_start / train_check."""
    values = {d.name: 0 if d.default is None else d.default for d in FORM} | {"folder": ""}
    values["nproc"] = run_settings.by_name("nproc").low  # one process: the declared least
    unknown = set(changes) - set(values)
    if unknown:
        raise KeyError(f"not settings of the form: {sorted(unknown)}")
    return list((values | changes).values())


def form_values(values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(FORM_KEYS, values, strict=True))


def settings_from(values: tuple[Any, ...]) -> jobs.Settings:
    return jobs.make_settings(form_values(values))


def view(
    watched: str | None,
    overlay: list[str] | None,
    owner: str,
    all_runs: list[Run] | None = None,
    smoothing: float | None = SMOOTHING,
) -> list[Any]:
    """Everything the Watch and Runs sections show, read from the run folders."""
    all_runs = runs.list_runs() if all_runs is None else all_runs
    names = [r.name for r in all_runs]
    choices = train_view.run_choices(all_runs)
    if watched not in names:
        watched = train_view.default_watch(all_runs)
    overlay = [n for n in (overlay or []) if n in names and n != watched]
    run = next((r for r in all_runs if r.name == watched), None)
    records = runs.read_metrics(run.path) if run else []
    points = sum(1 for r in records if r.get("type") == "train")
    loss, acc = train_view.curves(([watched] if watched else []) + overlay, smoothing or 0.0)
    busy = any(r.live for r in all_runs)
    mine = run is not None and jobs.may_control(run, owner)
    job = [r for r in all_runs if run is not None and r.job == run.job]
    notes = runs.read_notes(run.path) if run else {"name": "", "note": ""}
    csv = runs.metrics_csv(run) if run else None
    best = runs.download_copy(run, "best.pt") if run else None
    pipeline = runs.download_copy(run, "pipeline.json") if run else None
    log = runs.log_tail(run.path) if run else ""
    return [
        train_view.status_html(run, points, job),
        loss,
        acc,
        train_view.runs_table(all_runs),
        gr.update(choices=choices, value=watched),
        gr.update(choices=choices, value=overlay),
        log,
        gr.update(interactive=bool(run and run.live and mine)),
        gr.update(interactive=bool(run and run.resumable and mine and not busy)),
        gr.update(interactive=bool(run and not run.live and mine)),
        gr.update(value=notes["name"], interactive=mine),
        gr.update(value=notes["note"], interactive=mine),
        gr.update(choices=choices),
        gr.update(choices=choices),
        train_view.experiment_report(job),
        gr.update(value=csv, interactive=csv is not None),
        gr.update(value=best, interactive=best is not None),
        gr.update(value=pipeline, interactive=pipeline is not None),
    ]


# status, 2 plots, runs table, watched, overlay, log, stop, resume, delete, name, note,
# 2 compare pickers, the paired experiment's report, 3 downloads (the last three:
# metrics.csv, best.pt, pipeline.json)
VIEW_OUTPUTS = 18
NOTES = slice(10, 12)  # the name and note boxes: sent when the watched run changes only
DOWNLOADS = 3


REDRAWS = 2  # colour-only redraws after the set of curves changes (see poll)


def _recolour(series: list[str], redrawn: int, roles: dict[str, bool] | None) -> dict[str, str]:
    """train_view.color_map of `series`, told apart from the previous redraw's map by a key no
    series has: gr.LinePlot redraws only when its color_map changes."""
    colors = train_view.color_map(series, roles)
    return colors | {"": "#000000"} if redrawn % 2 else colors


def poll(
    watched: str | None,
    overlay: list[str] | None,
    smoothing: float | None,
    seen: dict[str, Any] | None,
    owner: str | None,
    request: gr.Request | None = None,
) -> list[Any]:
    """The timer's tick: read the run folders; send nothing when nothing changed.

    `seen` (per page) remembers what was sent. gr.LinePlot builds its colour scale and legend
    only when a setting such as color_map changes, and then from the data it already holds
    (a color_map sent with new data is applied before that data): so a series that appears
    later (test accuracy after the first epoch, an overlaid run) is drawn by a tick that sends
    only a color_map, after the tick that sent the data. That redraw is sent REDRAWS times,
    each after a data update and each with a map the plot has not seen (`_recolour`), so a
    redraw lost or overtaken in a busy browser is made good by the next. The name and note
    boxes are filled when the watched run changes, never under a person typing.
    """
    seen = dict(seen or {})
    me = _owner(owner, request)
    smoothing = SMOOTHING if smoothing is None else smoothing
    all_runs = runs.list_runs()
    if watched not in {r.name for r in all_runs}:
        watched = train_view.default_watch(all_runs)
    sig = train_view.view_signature(all_runs, watched, overlay or [], me) + f"|{smoothing}"
    if seen.get("redraws") and seen.get("data_sent"):
        seen["redraws"] -= 1
        seen["redrawn"] = redrawn = seen.get("redrawn", 0) + 1
        seen["data_sent"], seen["sig"] = False, None  # the data again next tick
        roles = seen.get("roles")
        plots = [gr.update(color_map=_recolour(s, redrawn, roles)) for s in seen["series"]]
        return [gr.skip(), *plots, *[gr.skip()] * (VIEW_OUTPUTS - 3), seen]
    if sig == seen.get("sig"):
        return [gr.skip()] * VIEW_OUTPUTS + [seen]
    out = view(watched, overlay, me, all_runs, smoothing)
    series = [sorted(set(frame["series"])) for frame in out[1:3]]
    if series != seen.get("series") and any(series):
        seen["redraws"] = REDRAWS
    seen["series"], seen["data_sent"], seen["sig"] = series, True, sig
    shown = ([watched] if watched else []) + [
        n for n in overlay or [] if n != watched and n in {r.name for r in all_runs}
    ]
    seen["roles"] = train_view.curve_roles(shown)
    if seen.get("notes_for") == (watched, me):
        out[NOTES] = [gr.skip(), gr.skip()]
    seen["notes_for"] = (watched, me)
    # Gradio copies a file it is given into its cache (hashing it): only when it changed
    files = repr([_file_key(update.get("value")) for update in out[-DOWNLOADS:]])
    if files == seen.get("files"):
        out[-DOWNLOADS:] = [gr.skip()] * DOWNLOADS
    seen["files"] = files
    return [*out, seen]


def _file_key(path: str | None) -> tuple[str, float] | None:
    try:
        return (path, os.stat(path).st_mtime) if path else None
    except OSError:
        return None


# --- launch and control --------------------------------------------------------------------


def on_quick() -> list[Any]:
    """Quick CPU run: the values of QUICK_CPU's fields, in its order."""
    return list(QUICK_CPU.values())


def auto_notes(cfg: dict[str, Any] | None) -> tuple[Any, Any]:
    """What the training command chose for the fields left at 0 ("auto: 64"), as the batch
    and learning-rate fields' info lines."""
    if not cfg:
        return gr.skip(), gr.skip()
    auto = cfg.get("auto") or {}
    batch = cfg.get("batch_size")
    steps = cfg.get("steps_per_epoch")
    batch_note = f"auto: {batch}" if auto.get("batch_size") else f"given: {batch}"
    if steps:
        batch_note += f" ({steps} steps per epoch)"
    lr = cfg.get("lr")
    lr_note = (f"auto: {lr:.3g}" if auto.get("lr") else f"given: {lr:.3g}") if lr else ""
    return gr.update(info=batch_note), gr.update(info=lr_note or None)


def on_dataset(dataset: str):
    return gr.update(visible=dataset == "folder")


def first_batch(cfg: dict[str, Any]) -> list[Any]:
    """The first 32 training images as the pipeline feeds them, captioned with their class."""
    return train_view.first_batch(cfg)


_PREVIEWS: dict[tuple[jobs.Settings, str, bool], tuple[Any, str, str, dict]] = {}


def on_preview(spec: PipelineSpec, baseline: bool, *values: Any) -> tuple[Any, ...]:
    """The first 32 training images as the pipeline feeds them, a time-per-epoch estimate (of
    the run and, if ticked, its baseline), the message line, and the batch and learning-rate
    fields' "auto: ..." notes. An answer without an estimate is not kept: the next one may have
    one (a run that was training has ended)."""
    try:
        settings = settings_from(values)
        spec = jobs.validated(spec)
    except JobError as err:
        return gr.skip(), "", f"⚠️ {err}", gr.skip(), gr.skip()
    key = (settings, spec.to_json(), bool(baseline))
    if key in _PREVIEWS:
        gallery, estimate, message, cfg = _PREVIEWS[key]
        return gallery, estimate, message, *auto_notes(cfg)
    try:
        gallery, estimate, message, cfg, final = _preview(settings, spec, bool(baseline))
    except JobError as err:
        return gr.skip(), "", f"⚠️ {err}", gr.skip(), gr.skip()
    if final:
        if len(_PREVIEWS) >= 16:
            _PREVIEWS.clear()
        _PREVIEWS[key] = gallery, estimate, message, cfg
    return gallery, estimate, message, *auto_notes(cfg)


def _preview(
    settings: jobs.Settings, spec: PipelineSpec, baseline: bool
) -> tuple[Any, str, str, dict, bool]:
    with tempfile.TemporaryDirectory(prefix="playground-check-") as tmp:
        pipeline = Path(tmp) / "pipeline.json"
        pipeline.write_text(spec.to_json())
        cfg = jobs.check(settings, pipeline)
        problem = jobs.data_problem(cfg)
        if problem:  # said before anything is timed or started
            return None, "", f"⚠️ {problem}.", cfg, False
        estimate, final = train_view.describe_estimate(settings, cfg, pipeline, baseline)
    reason = cfg.get("recipe_reason")
    estimate += f"\n\n**Recipe:** {cfg.get('recipe')}: {reason}." if reason else ""
    if not cfg.get("data_ready", True):
        folder = runs.shown(str(jobs.data_folder(cfg)))
        note = f"CIFAR-10 is not in {folder} yet: the run downloads it (170 MB) when it starts."
        return None, estimate, f"Settings are valid. {note}", cfg, final
    return first_batch(cfg), estimate, "Settings are valid. Press **Start** to train.", cfg, final


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
            key = (settings_from(values), jobs.validated(spec).to_json(), bool(baseline))
        except JobError:
            key = None
        if key not in _PREVIEWS:
            return gr.skip(), ASK_PREVIEW, settings_key(*values), gr.skip(), gr.skip()
    gallery, estimate, note, batch_note, lr_note = on_preview(spec, baseline, *values)
    text = "\n\n".join(t for t in (estimate, note) if t)
    return gallery, text, settings_key(*values), batch_note, lr_note


STALE_PREVIEW = (
    "*The settings changed while this preview was made: **Preview & estimate** shows the new ones.*"
)


def settings_key(*values: Any) -> str:
    return json.dumps([str(v) for v in values])


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


AGAINST_NONE, AGAINST_FILE = "none", "another pipeline file"


def against_spec(choice: str | None, path: Any) -> PipelineSpec | None:
    """The pipeline the run is compared against: None for "none" (no augmentation), else the
    uploaded pipeline file, loaded as the Export tab loads one (validated, 64 KB at most)."""
    if choice != AGAINST_FILE:
        return None
    path = getattr(path, "name", path)
    if not path:
        raise JobError("compare against another pipeline file: upload the pipeline file first")
    try:
        return load_spec(str(path))
    except SpecError as err:
        raise JobError(f"the pipeline file to compare against: {err}") from None


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
    me = _owner(owner, request)
    try:
        settings = settings_from(values)
        pairs = jobs.whole_number(seeds, "seeds per arm", 1, jobs.MAX_SEEDS)
        other = against_spec(against, against_file)
        baseline = bool(baseline) or other is not None
        folders = jobs.start(settings, spec, me, baseline=baseline, seeds=pairs, against=other)
    except JobError as err:
        return f"⚠️ {err}", gr.skip(), gr.skip()
    names = [f.name for f in folders]
    second = "the baseline without augmentation" if other is None else "the other pipeline"
    extra = f" and {second}, {names[1]}," if baseline else ""
    message = f"Started {names[0]}{extra} in the background. Curves appear after the first steps."
    if pairs > 1:
        message += (
            f" {len(names) - (2 if baseline else 1)} more runs (seeds {settings.seed + 1} to "
            f"{settings.seed + pairs - 1}) wait in the queue and start one pair at a time."
        )
    if settings.device == "cpu" or not train_view.detect_devices()["gpus"]:
        message += " It trains on the CPU: see the ETA below; **Stop** keeps a checkpoint."
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


def on_stop(watched: str | None, owner: str | None, request: gr.Request | None = None) -> str:
    try:
        return jobs.stop(watched or "", _owner(owner, request))
    except JobError as err:
        return f"⚠️ {err}"


def on_save_notes(
    watched: str | None,
    name: str,
    note: str,
    owner: str | None,
    request: gr.Request | None = None,
) -> str:
    """Keep the watched run's name and note in its folder (notes.json)."""
    run = runs.find_run(watched) if watched else None
    if run is None:
        return "⚠️ Select a run in the Runs list first."
    if not jobs.may_control(run, _owner(owner, request)):
        return f"⚠️ {run.name} was started by another session; only that session can name it."
    try:
        notes = runs.write_notes(run.path, name, note)
    except OSError as err:  # a full or read-only checkpoints folder: nothing half-written stays
        return f"⚠️ Could not save the name and note of {run.name} ({err.strerror or err})."
    shown = html.escape(notes["name"])  # what a person typed is text, never HTML
    return f"Saved the name and note of {run.name}" + (f" ({shown})." if shown else ".")


def on_delete_ask(watched: str | None) -> tuple[Any, str]:
    """Delete asks first: the confirmation row, saying what goes."""
    run = runs.find_run(watched) if watched else None
    if run is None:
        return gr.update(visible=False), ""
    return gr.update(visible=True), train_view.delete_question(run, runs.list_runs())


def on_delete(
    watched: str | None, owner: str | None, request: gr.Request | None = None
) -> tuple[str, Any]:
    """The confirmed Delete: the run folder goes (never a run that is training)."""
    try:
        message = jobs.delete(watched or "", _owner(owner, request))
    except JobError as err:
        message = f"⚠️ {err}"
    return message, gr.update(visible=False)


def on_compare(
    a: str | None, b: str | None, smoothing: float | None = SMOOTHING
) -> tuple[Any, ...]:
    """Two runs side by side: their settings (differences marked) and their curves on the
    same axes."""
    run_a, run_b, loss, acc = _compared(a, b, smoothing)
    return train_view.compare_html(run_a, run_b), loss, acc


def _compared(a: str | None, b: str | None, smoothing: float | None) -> tuple[Any, ...]:
    """The two runs (None where there is none) and their curves on the same axes."""
    pair = [runs.find_run(n) if n else None for n in (a, b)]
    names = [r.name for r in pair if r is not None]
    return (*pair, *train_view.curves(names, SMOOTHING if smoothing is None else smoothing))


def compare_colours(
    a: str | None, b: str | None, smoothing: float | None = SMOOTHING
) -> tuple[Any, Any]:
    """Compare's second step: the curves' colours, sent after their data. gr.LinePlot builds
    its legend from the data it already holds when its color_map changes, and applies a
    color_map sent with new data before that data (see poll)."""
    run_a, run_b, loss, acc = _compared(a, b, smoothing)
    roles = train_view.curve_roles([r.name for r in (run_a, run_b) if r is not None])
    return tuple(
        gr.update(color_map=train_view.color_map(sorted(set(f["series"])), roles))
        for f in (loss, acc)
    )


def on_resume(watched: str | None, owner: str | None, request: gr.Request | None = None) -> str:
    try:
        folders = jobs.resume(watched or "", _owner(owner, request))
    except JobError as err:
        return f"⚠️ {err}"
    return f"Resuming {', '.join(f.name for f in folders)} from its last checkpoint."


def operator_stop(token: str, run: str = "all") -> str:
    """The server operator's Stop for any run ("all": every live run), through the HTTP API:
    `client.predict(TOKEN, "all", api_name="/operator_stop")` with PLAYGROUND_OPERATOR_TOKEN."""
    if not owners.is_operator(token):
        return "⚠️ Not the operator's token (PLAYGROUND_OPERATOR_TOKEN on the server)."
    try:
        stopped = jobs.operator_stop(None if run == "all" else [run])
    except JobError as err:
        return f"⚠️ {err}"
    return f"Stopping {', '.join(stopped)}." if stopped else "No run is training."


def on_select_row(table: pd.DataFrame, evt: gr.SelectData) -> Any:
    """Clicking a row of the runs list watches that run."""
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    try:
        return table.iloc[int(row)]["run"]
    except (IndexError, KeyError, ValueError, TypeError):
        return gr.skip()


PREFS_KEY = "augplay-train-settings"
PREFS_VERSION = 1
VIEW_PREFS = ("baseline", "watched", "overlay", "smoothing")  # after the form's fields


def save_prefs(*values: Any) -> dict[str, Any]:
    """What the tab remembers in this browser (gr.BrowserState): the form's values (FORM_KEYS),
    the baseline box, the watched and overlaid runs and the smoothing, by name."""
    return {"version": PREFS_VERSION, **dict(zip([*FORM_KEYS, *VIEW_PREFS], values, strict=True))}


def restore_prefs(prefs: dict[str, Any] | None) -> list[Any]:
    """The remembered values, in save_prefs' order; gr.skip() for what is missing or no longer
    valid here (a choice this server does not offer, a setting out of its range)."""
    prefs = prefs if isinstance(prefs, dict) and prefs.get("version") == PREFS_VERSION else {}
    out: list[Any] = []
    for key in FORM_KEYS:
        value = prefs.get(key)
        out.append(value if key in prefs and _valid_pref(key, value) else gr.skip())
    kinds = {"baseline": bool, "watched": str, "overlay": list, "smoothing": (int, float)}
    for key in VIEW_PREFS:
        value = prefs.get(key)
        out.append(value if isinstance(value, kinds[key]) else gr.skip())
    return out


def _valid_pref(key: str, value: Any) -> bool:
    if key == "folder":
        return isinstance(value, str)
    if key == "dataset":
        return value in [v for _, v in DATASET_CHOICES]
    declared = run_settings.by_name(key)
    if key == "device":
        info = train_view.detect_devices()
        return value in _device_choices(info)
    if declared.auto and value in (0, None):
        return True
    try:
        run_settings.check_value(declared, value, key)
    except run_settings.SettingError:
        return False
    return True


def prefs_state() -> gr.BrowserState:
    """The Train tab's remembered settings in localStorage; created outside the tabs, as the
    owner token is (a tab's contents are mounted only when it is opened). A fixed key (public,
    as the owner token's): Gradio's default is drawn anew at each start, and the settings would
    not survive an app restart."""
    return gr.BrowserState(
        None, storage_key=PREFS_KEY, secret=PREFS_KEY + " (public, not a secret)"
    )


def on_load(token: str | None) -> tuple[str, str]:
    """Give this browser a persistent owner token (localStorage), used to authorise Stop/Resume;
    a token this server did not sign (made up, or from before its secret changed) is replaced."""
    token = token if owners.valid(token) else owners.new_token()
    return token, token


# --- predict -------------------------------------------------------------------------------


def on_predict(watched: str | None, image_path: str | None) -> tuple[Any, Any, str]:
    """(top-5 classes, the image as loaded, note) through the run's own test-time
    preprocessing. The upload is a plain file decoded by the app's safe loader (size and
    pixel limits, EXIF, odd modes), never by Gradio's image component."""
    if not image_path:
        return None, None, "⚠️ Upload an image, or use the Augment tab's image."
    try:
        image = load_image(image_path)
    except ImageLoadError as err:
        return None, None, f"⚠️ {err}"
    run = runs.find_run(watched) if watched else None
    if run is None:
        return None, image, "⚠️ Select a run in the Runs list first."
    if not (run.path / "best.pt").exists():
        return None, image, f"⚠️ {run.name} has no best.pt yet (it is {run.state})."
    try:
        top = predict_top5(run.path, image)
    except Exception as err:  # a checkpoint that does not load must not take the page down
        return None, image, f"⚠️ Could not predict with {run.name}: {err}"
    note = "" if run.state == "finished" else f" ({run.name} is {run.state}; its best.pt so far)"
    data = train_view.trained_on(run.config)
    return {name: float(p) for name, p in top}, image, f"Top-5 from {run.name}{note}. {data}"


_MODELS: dict[Path, tuple[float, Any, dict[str, Any]]] = {}


def predict_top5(run_dir: Path, image: Any) -> list[tuple[str, float]]:
    """The run's best.pt on the CPU (loaded once per file version), top-5 (class, probability)."""
    from playground.training.predict import load_model, predict

    mtime = (run_dir / "best.pt").stat().st_mtime
    cached = _MODELS.get(run_dir)
    if cached is None or cached[0] != mtime:
        model, config = load_model(run_dir, device="cpu")
        _MODELS.clear()  # one model in memory at a time
        _MODELS[run_dir] = cached = (mtime, model, config)
    return predict(cached[1], cached[2], image, topk=5)


def use_augment_image(image: Any) -> Any:
    """The Augment tab's current image, as a file the Predict box can show and send."""
    if image is None:
        return None
    path = Path(tempfile.mkdtemp(prefix="predict-")) / "image.png"
    image.save(path)
    return str(path)


# --- layout --------------------------------------------------------------------------------


def owner_token() -> gr.BrowserState:
    """This browser's owner token in localStorage (playground.owners: signed on the server; the
    BrowserState key is public). Create it outside the tabs: a BrowserState reads localStorage
    when it is mounted, and a tab's contents are mounted only when it is opened."""
    return gr.BrowserState(None, storage_key=owners.STORAGE_KEY, secret=owners.BROWSER_STATE_KEY)


def build_form(info: dict[str, Any]) -> dict[str, gr.components.Component]:
    """The settings form, from the declarations (playground.training.settings): one control per
    declared field with a label, and the folder path; by name. What this server has decides
    only the device choices and whether the GPU count shows."""
    controls: dict[str, gr.components.Component] = {}
    main = [d for d in FORM if d.name not in MORE_SETTINGS and d.name != "dataset"]
    more = [d for d in FORM if d.name in MORE_SETTINGS]
    dataset = run_settings.by_name("dataset")
    controls["dataset"] = gr.Radio(
        DATASET_CHOICES, value="cifar10", label=dataset.label, elem_id=dataset.elem_id
    )
    controls["folder"] = gr.Textbox(
        label="Folder path (holds train/<class>/ and test/<class>/)",
        visible=False,
        elem_id="train-folder",
    )
    for row in range(0, len(main), 2):
        with gr.Row():
            for d in main[row : row + 2]:
                controls[d.name] = _control(d, info)
    with gr.Accordion("More settings", open=not info["gpus"] or info["zero_gpu"]), gr.Row():
        for d in more:
            controls[d.name] = _control(d, info)
    return controls


def _device_choices(info: dict[str, Any]) -> list[str]:
    """On ZeroGPU a GPU exists only inside a call: runs use the CPU."""
    gpu = info["gpus"] and not info["zero_gpu"]
    return ["cpu"] if info["zero_gpu"] else ["auto", "cpu"] + (["cuda"] if gpu else [])


def _control(d: run_settings.Declared, info: dict[str, Any]) -> gr.components.Component:
    if d.choices:
        choices = list(d.choices)
        if d.name == "device":
            choices = _device_choices(info)
        value = d.default if d.default in choices else choices[0]
        return gr.Dropdown(choices, value=value, label=d.label, elem_id=d.elem_id)
    if d.type is bool:
        return gr.Checkbox(bool(d.default), label=d.label, elem_id=d.elem_id)
    limit = info.get("limits", {}).get(d.name)  # this server's bound, shown by the box
    if d.name == "nproc":
        gpus = info["gpus"] if not info["zero_gpu"] else 0
        return gr.Number(
            max(1, gpus), precision=0, minimum=1, label=d.label, visible=gpus > 1,
            elem_id=d.elem_id, info=limit,
        )  # fmt: skip
    # no minimum/maximum on the box: Gradio would refuse out-of-range values with a generic
    # error; the declaration's check answers in the setting's words ("epochs must be ...")
    return gr.Number(
        d.default or 0, precision=0 if d.type is int else None, label=d.label, elem_id=d.elem_id,
        info=limit,
    )  # fmt: skip


def build_tab(
    spec_state: gr.State,
    image_state: gr.State,
    demo: gr.Blocks | None = None,
    token: gr.BrowserState | None = None,
    prefs: gr.BrowserState | None = None,
    draft: gr.State | None = None,
) -> gr.Tab:
    """`draft`: the Augment tab's refused edit, if any (augment.on_edit); Start waits for it."""
    info = train_view.detect_devices()
    info["limits"] = jobs.limits_text()  # a Space's bounds, next to the fields they bound
    jobs.start_queue_worker()  # several-seed experiments advance while this server runs
    with gr.Tab("Train", elem_id="train-tab") as tab:
        owner_state = gr.State(None)
        signature = gr.State(None)
        previewed = gr.State(None)  # the settings the tab-open preview was made for
        gr.Markdown(train_view.device_banner(info), elem_id="train-devices")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                form = build_form(info)
                baseline = gr.Checkbox(
                    False,
                    label="Train without augmentation too (a baseline beside it, to see what "
                    "augmentation does to over-fitting)",
                    elem_id="train-baseline",
                )
                against = gr.Radio(
                    [AGAINST_NONE, AGAINST_FILE],
                    value=AGAINST_NONE,
                    label="Compare against (the second arm: none = the same run without "
                    "augmentation, or another pipeline file)",
                    elem_id="train-against",
                )
                against_file = gr.File(
                    label="Pipeline file to compare against (JSON)",
                    file_types=[".json"],
                    visible=False,
                    elem_id="train-against-file",
                )
                seeds = gr.Number(
                    min(
                        run_settings.default_seeds(
                            "cuda" if info["gpus"] and not info["zero_gpu"] else "cpu"
                        ),
                        jobs.max_seeds(True),
                    ),
                    precision=0,
                    label="Seeds per arm (paired with the baseline; one pair trains at a time)",
                    elem_id="train-seeds",
                    info=info["limits"].get("seeds"),
                )
                if "memory" in info["limits"]:
                    gr.Markdown(info["limits"]["memory"], elem_id="train-memory-limit")
                with gr.Row():
                    quick = gr.Button(
                        "Quick CPU run", variant="secondary", elem_id="train-quick", size="sm"
                    )
                    check = gr.Button("Preview & estimate", elem_id="train-check", size="sm")
                    start = gr.Button("Start", variant="primary", elem_id="train-start")
                message = gr.Markdown(elem_id="train-message")
                use_synthetic = gr.Button(
                    "Use the synthetic set", visible=False, size="sm", elem_id="train-use-synthetic"
                )
            with gr.Column(scale=1, min_width=320):
                heading = gr.Markdown(
                    train_view.pipeline_heading(spec_state.value), elem_id="train-pipeline-heading"
                )
                code = gr.Code(
                    train_view.pipeline_code(spec_state.value),
                    language="python",
                    label="Pipeline from the Augment tab (read-only)",
                    interactive=False,
                    elem_id="train-pipeline",
                )
                gallery = gr.Gallery(
                    label="The first 32 training images, as the pipeline feeds them, with their class",
                    columns=8,
                    rows=4,
                    height="auto",
                    object_fit="contain",
                    allow_preview=True,
                    elem_id="train-first-batch",
                )
                estimate_md = gr.Markdown(elem_id="train-estimate")

        gr.Markdown("### Watch")
        status = gr.HTML(train_view.status_html(None), elem_id="train-status")
        with gr.Row():
            stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="train-stop")
            resume = gr.Button("Resume", interactive=False, elem_id="train-resume")
            download_csv = gr.DownloadButton(
                "Download metrics.csv", interactive=False, elem_id="train-download-csv"
            )
            download_best = gr.DownloadButton(
                "Download best.pt", interactive=False, elem_id="train-download-best"
            )
            download_pipeline = gr.DownloadButton(
                "Download pipeline.json", interactive=False, elem_id="train-download-pipeline"
            )
        # one plot per row: the legend sits under the plot in one line, and a run with its
        # baseline (four curves) needs the page's width for it
        with gr.Column():
            loss_plot = gr.LinePlot(
                train_view.curves([])[0], x="epoch", y="value", color="series", title="Loss", y_title="loss",
                x_title="epoch", height=280, elem_id="train-loss-plot",
            )  # fmt: skip
            acc_plot = gr.LinePlot(
                train_view.curves([])[1], x="epoch", y="value", color="series", title="Accuracy",
                y_title="accuracy", y_lim=[0, 1], x_title="epoch", height=280, elem_id="train-acc-plot",
            )  # fmt: skip
        smoothing = gr.Slider(
            0, 0.95, value=SMOOTHING, step=0.05, label="Smoothing of the training loss "
            "(0 = as logged; the test points are never smoothed)", elem_id="train-smoothing",
        )  # fmt: skip
        experiment = gr.Markdown(elem_id="train-experiment")
        with gr.Accordion("Log (last lines)", open=False):
            log = gr.Textbox(
                lines=12, max_lines=12, show_label=False, interactive=False, elem_id="train-log"
            )

        gr.Markdown("### Runs")
        with gr.Row():
            # choices change as runs come and go; a name is only ever looked up, never a path
            watched = gr.Dropdown(
                [],
                label="Watched run (Stop, Resume, downloads, notes, Predict)",
                allow_custom_value=True,
                elem_id="train-watched",
            )
            overlay = gr.Dropdown(
                [],
                multiselect=True,
                allow_custom_value=True,
                label="Overlay other runs on the curves",
                elem_id="train-overlay",
            )
        with gr.Row(equal_height=True):
            run_name = gr.Textbox(
                label="Name of the watched run", max_length=runs.MAX_NAME, scale=1,
                elem_id="train-run-name",
            )  # fmt: skip
            run_note = gr.Textbox(
                label="Note", lines=1, max_lines=4, max_length=runs.MAX_NOTE, scale=2,
                elem_id="train-run-note",
            )  # fmt: skip
            with gr.Column(scale=0, min_width=140):
                save_notes = gr.Button("Save name and note", size="sm", elem_id="train-save-notes")
                delete = gr.Button(
                    "Delete run…", size="sm", variant="stop", interactive=False,
                    elem_id="train-delete",
                )  # fmt: skip
        with gr.Row(visible=False, elem_id="train-delete-confirm") as confirm_row:
            confirm_text = gr.Markdown()
            confirm_yes = gr.Button(
                "Yes, delete it", variant="stop", size="sm", elem_id="train-delete-yes"
            )
            confirm_no = gr.Button("Cancel", size="sm", elem_id="train-delete-no")
        notes_message = gr.Markdown(elem_id="train-notes-message")
        table = gr.Dataframe(
            train_view.runs_table([]),
            interactive=False,
            wrap=True,
            elem_id="train-runs",
            max_height=360,
            column_widths=COLUMN_WIDTHS,
        )
        # (room here for the paired with/without-augmentation experiment's result)

        with gr.Accordion("Compare two runs", open=False, elem_id="train-compare-box"):
            with gr.Row():
                compare_a = gr.Dropdown(
                    [], label="Run A", allow_custom_value=True, elem_id="train-compare-a"
                )
                compare_b = gr.Dropdown(
                    [], label="Run B", allow_custom_value=True, elem_id="train-compare-b"
                )
                compare = gr.Button("Compare", size="sm", elem_id="train-compare")
            compare_table = gr.HTML(
                train_view.compare_html(None, None), elem_id="train-compare-table"
            )
            with gr.Column():
                compare_loss = gr.LinePlot(
                    train_view.curves([])[0], x="epoch", y="value", color="series", title="Loss",
                    y_title="loss", x_title="epoch", height=300, elem_id="train-compare-loss",
                )  # fmt: skip
                compare_acc = gr.LinePlot(
                    train_view.curves([])[1], x="epoch", y="value", color="series",
                    title="Accuracy", y_title="accuracy", y_lim=[0, 1], x_title="epoch",
                    height=300, elem_id="train-compare-acc",
                )  # fmt: skip

        with gr.Accordion("Predict with the watched run", open=False), gr.Row():
            with gr.Column():
                # a plain file, decoded by the app's loader: gr.Image would decode it first,
                # with Pillow's decompression-bomb check switched off
                predict_image = gr.File(
                    label="Image", file_types=["image"], type="filepath", height=120,
                    elem_id="train-predict-image",
                )  # fmt: skip
                predict_seen = gr.Image(
                    label="As loaded", type="pil", height=160, interactive=False,
                    elem_id="train-predict-seen",
                )  # fmt: skip
            with gr.Column():
                use_current = gr.Button("Use the Augment tab's image", size="sm")
                predict_btn = gr.Button("Predict", variant="primary", elem_id="train-predict")
                predict_note = gr.Markdown()
            top5 = gr.Label(num_top_classes=5, label="Top-5", elem_id="train-top5")

        timer = gr.Timer(POLL_S)
        gr.api(train_view.run_status, api_name="train_status")
        gr.api(operator_stop, api_name="operator_stop")

    settings_inputs = [form[key] for key in FORM_KEYS]
    view_outputs = [
        status,
        loss_plot,
        acc_plot,
        table,
        watched,
        overlay,
        log,
        stop,
        resume,
        delete,
        run_name,
        run_note,
        compare_a,
        compare_b,
        experiment,
        download_csv,
        download_best,
        download_pipeline,
    ]
    assert len(view_outputs) == VIEW_OUTPUTS
    quiet = {"show_progress": "hidden"}

    # (no spec_state.change listener: Gradio would then hash the spec on every event, and a
    # PipelineSpec holds dicts; the code is refreshed whenever the tab is opened instead)
    tab.select(train_view.pipeline_code, [spec_state], [code], api_name=False, queue=False, **quiet)
    draft = gr.State(None) if draft is None else draft
    tab.select(
        on_pipeline_heading, [spec_state, draft], [heading], api_name=False, queue=False, **quiet
    )
    tab.select(
        on_tab_preview, [spec_state, baseline, *settings_inputs],
        [gallery, estimate_md, previewed, form["batch_size"], form["lr"]],
        api_name=False, concurrency_id="train-check", show_progress="minimal",
    ).then(
        drop_if_stale, [previewed, *settings_inputs], [gallery, estimate_md],
        api_name=False, queue=False, **quiet,
    )  # fmt: skip
    form["dataset"].change(
        on_dataset, [form["dataset"]], [form["folder"]], api_name=False, queue=False, **quiet
    )
    # typed or picked, or set by Quick CPU run / Use the synthetic set (not by a preview's notes)
    edited = [c.input for c in (*settings_inputs, baseline)] + [quick.click, use_synthetic.click]
    gr.on(
        edited, settings_edited, None, [gallery, estimate_md], api_name=False, queue=False,
        **quiet,
    )  # fmt: skip
    status.change(clear_stale_message, [message], [message], api_name=False, queue=False, **quiet)
    quick.click(on_quick, None, [form[k] for k in QUICK_CPU], api_name="train_quick", queue=False)
    against.change(
        lambda choice: gr.update(visible=choice == AGAINST_FILE), against, against_file,
        api_name=False, queue=False,
    )  # fmt: skip
    check.click(
        on_preview, [spec_state, baseline, *settings_inputs],
        [gallery, estimate_md, message, form["batch_size"], form["lr"]],
        api_name="train_check", concurrency_id="train-check",
    ).then(offer_synthetic, [message], [use_synthetic], api_name=False, queue=False)  # fmt: skip
    start.click(
        on_start_checked,
        [draft, spec_state, baseline, seeds, against, against_file, owner_state, *settings_inputs],
        [message, watched, overlay],
        api_name="train_start", concurrency_id="train-start",
    ).then(lambda: None, None, [signature], api_name=False, queue=False).then(
        offer_synthetic, [message], [use_synthetic], api_name=False, queue=False
    )  # fmt: skip
    use_synthetic.click(
        on_use_synthetic, None, [form["dataset"], form["folder"], use_synthetic, message],
        api_name=False, queue=False,
    )  # fmt: skip
    stop.click(
        on_stop,
        [watched, owner_state],
        [message],
        api_name="train_stop",
        concurrency_id="train-control",
    )
    # greyed at once (a double-click must not send two); the next tick sets it from the run
    resume.click(lambda: gr.update(interactive=False), None, [resume], api_name=False, queue=False)
    resume.click(
        on_resume,
        [watched, owner_state],
        [message],
        api_name="train_resume",
        concurrency_id="train-control",
    ).then(lambda: None, None, [signature], api_name=False, queue=False)
    poll_inputs = [watched, overlay, smoothing, signature, owner_state]
    timer.tick(
        poll, poll_inputs, [*view_outputs, signature], api_name="train_poll", queue=False, **quiet
    )
    for control in (watched, overlay, smoothing):
        control.input(
            poll, poll_inputs, [*view_outputs, signature], api_name=False, queue=False, **quiet
        )
    table.select(on_select_row, [table], [watched], api_name=False, queue=False).then(
        poll, poll_inputs, [*view_outputs, signature], api_name=False, queue=False, **quiet
    )
    save_notes.click(
        on_save_notes, [watched, run_name, run_note, owner_state], [notes_message],
        api_name="train_notes", concurrency_id="train-control",
    )  # fmt: skip
    delete.click(on_delete_ask, [watched], [confirm_row, confirm_text], api_name=False, queue=False)
    confirm_no.click(
        lambda: gr.update(visible=False), None, [confirm_row], api_name=False, queue=False
    )
    confirm_yes.click(
        on_delete, [watched, owner_state], [notes_message, confirm_row],
        api_name="train_delete", concurrency_id="train-control",
    ).then(lambda: None, None, [signature], api_name=False, queue=False)  # fmt: skip
    compare.click(
        on_compare, [compare_a, compare_b, smoothing], [compare_table, compare_loss, compare_acc],
        api_name="train_compare", concurrency_id="train-compare",
    ).then(
        compare_colours, [compare_a, compare_b, smoothing], [compare_loss, compare_acc],
        api_name=False, queue=False, show_progress="hidden",
    )  # fmt: skip
    use_current.click(use_augment_image, [image_state], [predict_image], api_name=False)
    predict_btn.click(
        on_predict,
        [watched, predict_image],
        [top5, predict_seen, predict_note],
        api_name="train_predict",
        concurrency_id="train-predict",
    )
    if demo is not None and token is not None:
        demo.load(on_load, [token], [token, owner_state], api_name=False, queue=False)
    if demo is not None and prefs is not None:
        remembered = [*settings_inputs, baseline, watched, overlay, smoothing]
        demo.load(restore_prefs, [prefs], remembered, api_name=False, queue=False, **quiet).then(
            lambda: None, None, [signature], api_name=False, queue=False
        )
        gr.on(
            [c.change for c in remembered], save_prefs, remembered, [prefs],
            api_name=False, queue=False, **quiet,
        )  # fmt: skip
    return tab


def launch_settings() -> dict[str, list[str]]:
    """launch() settings: the checkpoints folder is never served by path, wherever it lies (a
    Space's /data, say). Downloads are handed out as copies in the temporary folder
    (`download_copy`), which Gradio serves once a callback returns them."""
    return {"allowed_paths": [], "blocked_paths": [str(runs.checkpoints_root())]}
