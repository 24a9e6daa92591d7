"""What the Train tab shows, as plain data: the device banner, the runs table, the curves, the
status box, the pipeline's code. No Gradio here (playground/ui/train.py lays these out and wires
them), so each can be tested alone; everything is read from the run folders.
"""

from __future__ import annotations

import hashlib
import html
import math
import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.export import transform_source
from pipelines.spec import PipelineSpec
from playground import estimate, jobs, runs
from playground.jobs import JobError, Settings
from playground.runs import Run
from playground.training import compare

# "run" is the folder's name, what a row click selects; "name" what a person called it
RUN_COLUMNS = [
    "name",
    "state",
    "data",
    "augment",
    "epochs",
    "final test acc",
    "best test acc",
    "effect of augmentation",
    "duration",
    "started",
    "note",
    "run",
]
PLOT_COLUMNS = ["epoch", "value", "series"]


# --- devices -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def detect_devices() -> dict[str, Any]:
    """What this server can train on. Counting GPUs does not create a CUDA context here."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    names = _gpu_names(count)
    return {
        "gpus": count,
        "names": names,
        "cpus": os.cpu_count() or 1,
        "zero_gpu": _env_true("SPACES_ZERO_GPU"),
        "space": bool(os.environ.get("SPACE_ID")),
    }


def _env_true(name: str) -> bool:
    """An environment flag as Spaces sets them ("true", "1"); "false" or unset is off."""
    return os.environ.get(name, "").strip().lower() in ("1", "t", "true", "yes")


def _gpu_names(count: int) -> list[str]:
    if not count:
        return []
    import subprocess

    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        names = [line.strip() for line in out.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        names = []
    return names[:count] or ["GPU"] * count


def device_banner(info: dict[str, Any]) -> str:
    if info["zero_gpu"]:
        return (
            "**ZeroGPU Space:** a GPU is lent only for the length of one call, and a training "
            "run lives longer than that, so **background training here runs on the CPU**. Use "
            "the quick CPU run, or duplicate this Space onto dedicated GPU hardware for full runs."
        )
    if info["gpus"]:
        kinds = sorted(set(info["names"]))
        many = "GPUs" if info["gpus"] > 1 else "GPU"
        extra = (
            " (several GPUs: the run uses torchrun, one process per GPU)"
            if info["gpus"] > 1
            else ""
        )
        return f"**Devices:** {info['gpus']} {many}: {', '.join(kinds)}{extra}."
    return (
        f"**No GPU here: training runs on the CPU ({info['cpus']} cores).** A full CIFAR-10 run "
        "takes hours on a CPU. **Quick CPU run** trains on at most 10,000 images (CIFAR-10's "
        "first 10,000; the synthetic set has 5,000), with a narrower ResNet-18 and five "
        "epochs, which finish in a few minutes; **Preview & estimate** says how long before "
        "you start."
    )


def fmt_time(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def is_baseline(run: Run) -> bool:
    """The second arm of a pair: no augmentation, or the other pipeline it is compared with."""
    settings = runs.read_json(run.path / "settings.json") or {}
    return bool(
        settings.get("no_augment") or settings.get("baseline") or run.config.get("no_augment")
    )


def is_other_pipeline(run: Run) -> bool:
    """A second arm that trains another pipeline ("compare against: another pipeline file")."""
    return is_baseline(run) and not (
        (runs.read_json(run.path / "settings.json") or {}).get("no_augment")
        or run.config.get("no_augment")
    )


Step = tuple[str, dict[str, Any], float]  # transform, parameters, step probability


def pipeline_steps(run: Run) -> list[Step]:
    """The run's pipeline as (transform, params, step p) of its enabled steps, as given (the
    launcher's pipeline-original.json; older runs: pipeline.json, else config.json). A
    baseline's pipeline is the one it was compared with, not applied."""
    spec = (
        runs.read_json(run.path / runs.ASKED_PIPELINE)
        or runs.read_json(run.path / runs.APPLIED_PIPELINE)
        or run.config.get("pipeline")
        or {}
    )
    steps = spec.get("steps") if isinstance(spec, dict) else None
    return [
        (str(step.get("transform")), dict(step.get("params") or {}), _probability(step))
        for step in steps or []
        if isinstance(step, dict) and step.get("enabled", True)
    ]


def _probability(step: dict[str, Any]) -> float:
    p = step.get("p", 1.0)
    return float(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else 1.0


def steps_summary(steps: list[Step], most: int = 4) -> str:
    """ "Crop, HorizontalFlip, GaussianBlur (p 0.7)": the steps' names without "Random" (and
    their step probability where below 1), at most `most` of them."""
    if not steps:
        return "none"
    names = [_step_words(t.removeprefix("Random") or t, {}, p) for t, _, p in steps]
    extra = f" +{len(names) - most}" if len(names) > most else ""
    return ", ".join(names[:most]) + extra


def display_name(run: Run) -> str:
    """What a person called the run, else its folder's name."""
    return runs.read_notes(run.path)["name"] or run.name


def delete_question(run: Run, all_runs: list[Run]) -> str:
    """What Delete asks: which run goes, with what, and, for one half of a run and its
    baseline, that the pair's comparison (the effect of augmentation) goes with it."""
    name = display_name(run)
    shown = html.escape(name)  # a person's text, never HTML
    which = f"**{shown}**" + (f" ({html.escape(run.name)})" if name != run.name else "")
    text = f"Delete {which} with its curves, log and checkpoints? It cannot be undone."
    pair = [r for r in all_runs if r.job == run.job and r.name != run.name]
    if pair and is_baseline(run) != all(is_baseline(r) for r in pair):
        other = ", ".join(
            f"**{html.escape(display_name(r))}**"
            for r in pair
            if is_baseline(r) != is_baseline(run)
        )
        role = "It is the baseline of" if is_baseline(run) else "Its baseline is"
        text += (
            f" {role} {other}: the comparison of the two (the effect of augmentation) goes with it."
        )
    return text


def augment_label(run: Run, all_runs: list[Run] | None = None) -> str:
    """The pipeline's steps, and for a run and its baseline, that they are a pair."""
    pair = [r for r in all_runs or [] if r.job == run.job and r.name != run.name]
    if is_other_pipeline(run):
        main = next((r for r in pair if not is_baseline(r)), None)
        against = f" (compared with {display_name(main)})" if main else ""
        return steps_summary(pipeline_steps(run)) + against
    if is_baseline(run):
        main = next((r for r in pair if not is_baseline(r)), None)
        return f"none: baseline of {display_name(main)}" if main else "none (baseline)"
    summary = steps_summary(pipeline_steps(run))
    return f"{summary} (baseline: {display_name(pair[0])})" if pair else summary


def data_label(run: Run) -> str:
    """The data set and how many images the run trains on (what it really has, not the subset
    asked for: a 10,000 subset of the 5,000 synthetic images is 5,000)."""
    settings = runs.read_json(run.path / "settings.json") or {}
    data = str(run.config.get("dataset") or settings.get("dataset", "?"))
    data = data.split(":", 1)[0] if data.startswith("folder:") else data
    size = run.config.get("train_size")
    return f"{data} ({size:,} images)" if isinstance(size, int) else data


TRAIN_SIZE = 32  # the training resolution (CIFAR-10's); size-setting steps are fitted to it


def pipeline_code(spec: PipelineSpec) -> str:
    """What the run will apply, as code: the Augment tab's pipeline at the training size."""
    fitted = spec.with_output_size(TRAIN_SIZE)
    note = ""
    if spec.output_size() not in (None, TRAIN_SIZE):
        note = f"# output size {spec.output_size()} -> {TRAIN_SIZE}, the training resolution\n"
    return note + transform_source(fitted)


def pipeline_heading(spec: PipelineSpec, refused: str = "") -> str:
    """The line above the read-only pipeline: its steps in order (with step probabilities and
    the training size) and a short fingerprint of what will be applied, so that any change to
    the pipeline, however small, changes this line where it is seen. `refused`: the Augment
    tab's word on a refused value it holds (then nothing can start until it is fixed)."""
    fitted = spec.with_output_size(TRAIN_SIZE)
    steps = [_step_words(s.transform, s.params, s.p) for s in spec.active]
    order = " → ".join(steps) if steps else "no augmentation (every step is off)"
    digest = hashlib.sha256(fitted.to_json().encode()).hexdigest()[:8]
    line = f"**Will train on:** {order} · pipeline `{digest}`"
    return f"{line}\n\n{refused} Start waits until it is fixed." if refused else line


def _step_words(transform: str, params: dict[str, Any], p: float) -> str:
    """A step as the runs table and Compare name it: "GaussianBlur (p 0.7)"."""
    return transform if p >= 1 else f"{transform} (p {p:g})"


def first_batch(cfg: dict[str, Any], count: int = 32) -> list[tuple[Any, str]]:
    """The first `count` training images as the run will see them, each with its class: drawn
    on the CPU here (the page never takes GPU memory; on a GPU run the draws differ but follow
    the same law), as playground.training.preview draws them."""
    import torch

    from pipelines.spec import from_dict
    from playground.training import data
    from playground.training.augment import TrainBatches
    from playground.training.preview import to_pil

    cfg = {**cfg, "device": "cpu"}
    try:
        dataset = data.load(cfg)
    except data.DataError as err:  # a corrupt image among good ones, say: as Start says it
        raise JobError(str(err)) from None
    world = cfg.get("world_size", 1)
    batches = TrainBatches(
        dataset, from_dict(cfg["train_pipeline"]), batch=cfg["batch_size"],
        seed=cfg["seed"], device=torch.device("cpu"), world=world, workers=0,
        log=lambda message: None,
    )  # fmt: skip
    shown: list[tuple[Any, str]] = []
    for images, targets, _ in batches.training(0):  # a small batch (a folder's) holds fewer
        shown += [
            (to_pil(image), target_caption(target, dataset.classes))
            for image, target in zip(images, targets, strict=True)
        ][: count - len(shown)]
        if len(shown) >= count:
            break
    return shown


def target_caption(target: Any, classes: list[str]) -> str:
    """What the loss is told an image is: its class, or after CutMix/MixUp the classes of the
    mixed soft target with their weights ("cat 0.62 + dog 0.38")."""
    if target.ndim == 0:
        return classes[int(target)]
    weights = [(float(w), classes[i]) for i, w in enumerate(target.tolist()) if w > 0.005]
    weights.sort(reverse=True)
    if len(weights) == 1:
        return weights[0][1]
    return " + ".join(f"{name} {w:.2f}" for w, name in weights[:3])


def trained_on(config: dict[str, Any]) -> str:
    """Which data a model learnt from, and what that means for a photo: a model trained on the
    synthetic shapes knows only those ten classes, so it calls a cat "dots" or "checker"."""
    dataset = str(config.get("dataset") or "?")
    classes = config.get("classes") or []
    size = config.get("train_size")
    images = f" ({size:,} images)" if isinstance(size, int) else ""
    if dataset == "synthetic":
        return (
            f"Trained on the synthetic set{images}: generated shapes and textures in ten classes "
            f"({', '.join(classes)}). It knows nothing else, so a photo of a cat comes out as "
            'one of those, "dots" say: that is expected, not a fault.'
        )
    if dataset.startswith("folder:"):
        return (
            f"Trained on a folder data set{images} of {len(classes)} classes: {', '.join(classes)}."
        )
    if dataset == "cifar10":
        return (
            f"Trained on CIFAR-10{images}: 32 x 32 photos of ten classes "
            f"({', '.join(classes)}); other subjects come out as the nearest of those."
        )
    return f"Trained on {dataset}{images}."


# --- runs list and curves ------------------------------------------------------------------


def runs_table(all_runs: list[Run]) -> pd.DataFrame:
    """One row per run: its name, what it trained on and with, how far, how well, how long."""
    rows = []
    jobs_of: dict[str, list[Run]] = {}
    for run in all_runs:
        jobs_of.setdefault(run.job, []).append(run)
    for run in all_runs:
        records = runs.read_metrics(run.path)
        best, final = runs.best_test_acc(records), runs.final_test_acc(records)
        epoch, epochs = (
            run.status.get("epoch"),
            run.status.get("epochs") or run.config.get("epochs"),
        )
        progress = (
            f"{epoch:.2f} / {epochs}" if isinstance(epoch, (int, float)) else f"0 / {epochs or '?'}"
        )
        if run.state == "finished" and isinstance(epoch, (int, float)):
            progress = f"{epoch:.0f} / {epochs}"
        notes = runs.read_notes(run.path)
        note = notes["note"]
        if run.state in ("failed", "diverged", runs.INTERRUPTED):
            note = "\n".join(t for t in (note, run_message(run)) if t)
        rows.append(
            [
                display_name(run),  # the name given, else the folder's (also in "run")
                run.state,
                data_label(run),
                augment_label(run, all_runs),
                progress,
                f"{final:.1%}" if final is not None else "-",
                f"{best:.1%}" if best is not None else "-",
                effect_label(jobs_of[run.job]),
                fmt_time(run.status.get("elapsed_s")),
                time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)),
                note,
                run.name,
            ]
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def run_choices(all_runs: list[Run]) -> list[tuple[str, str]]:
    """(label, folder name) for the run pickers: the name a person gave, and the folder's."""
    choices = []
    for run in all_runs:
        name = runs.read_notes(run.path)["name"]
        choices.append((f"{name} ({run.name})" if name else run.name, run.name))
    return choices


def curves(names: list[str], smoothing: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loss, accuracy) long-form tables for gr.LinePlot: one series per run and metric.

    `smoothing` (0 to 0.99) is an exponential moving average over the training loss, which is
    logged per interval and noisy; the test points (one per epoch) are drawn as they are."""
    loss_rows, acc_rows = [], []
    labels = short_labels(names)
    smoothing = min(max(float(smoothing or 0.0), 0.0), 0.99)
    for name in names:
        run = runs.find_run(name)
        if run is None:
            continue
        prefix = f"{labels[name]} · " if len(names) > 1 else ""
        average = None
        for r in runs.read_metrics(run.path):
            kind, epoch = r.get("type"), r.get("epoch")
            if not isinstance(epoch, (int, float)):
                continue
            if kind == "train":
                loss = r.get("train_loss")
                if isinstance(loss, (int, float)) and math.isfinite(loss):
                    average = (
                        loss if average is None else smoothing * average + (1 - smoothing) * loss
                    )
                    loss = average
                loss_rows.append([epoch, loss, f"{prefix}train loss"])
                acc_rows.append([epoch, r.get("train_acc"), f"{prefix}train acc"])
            elif kind == "eval":
                loss_rows.append([epoch, r.get("test_loss"), f"{prefix}test loss"])
                acc_rows.append([epoch, r.get("test_acc"), f"{prefix}test acc"])
    return plot_frame(loss_rows), plot_frame(acc_rows)


LEGEND_CHARS = 20  # a run's label in a legend: four curves must fit beside a half-width plot


def short_labels(names: list[str]) -> dict[str, str]:
    """A run's label in the legend: the name a person gave it, else its folder's name without
    the date ("20261122-"), cut to LEGEND_CHARS, unless that is ambiguous among those shown."""
    full = {}
    for n in names:
        run = runs.find_run(n)
        given = runs.read_notes(run.path)["name"] if run else ""
        full[n] = given or (n[9:] if len(n) > 9 and n[:8].isdigit() and n[8] == "-" else n)
    for cut in (LEGEND_CHARS, None):
        short = {n: _cut(label, cut) for n, label in full.items()}
        if len(set(short.values())) == len(short):
            return short
    return {n: n for n in names}


def _cut(text: str, most: int | None) -> str:
    """Cut in the middle: the end ("-noaug", "v2") tells runs apart as often as the start."""
    if most is None or len(text) <= most:
        return text
    return text[: most - 7] + "…" + text[-6:]


def plot_frame(rows: list[list[Any]]) -> pd.DataFrame:
    """Numeric x and y, even when empty: the plot's axes take their type from the first value."""
    frame = pd.DataFrame(rows, columns=PLOT_COLUMNS)
    frame["epoch"] = pd.to_numeric(frame["epoch"], errors="coerce").astype(float)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["series"] = frame["series"].astype(str)
    return _mark_lone_points(frame.dropna().reset_index(drop=True))


LONE_POINT_WIDTH = 0.04  # of the x range: the dash that draws a series' only point


def _mark_lone_points(frame: pd.DataFrame) -> pd.DataFrame:
    """A line plot draws nothing for a series of one point (the first evaluation, the only one
    of a 1-epoch run): such a point becomes a short level dash centred on it, so it is seen."""
    counts = frame["series"].value_counts()
    lone = frame["series"].isin(counts[counts == 1].index)
    if not lone.any():
        return frame
    span = max(float(frame["epoch"].max() - min(frame["epoch"].min(), 0.0)), 1.0)
    half = LONE_POINT_WIDTH * span / 2
    left, right = frame[lone].copy(), frame[lone].copy()
    left["epoch"] -= half
    right["epoch"] += half
    return pd.concat([frame[~lone], left, right], ignore_index=True)


def steady_eta(status: dict[str, Any]) -> float | None:
    """Seconds left, from the run's average time per step so far (evaluations included): the
    trainer's own ETA counts this launch's steps only and swings at every evaluation."""
    elapsed, step, total = (status.get(k) for k in ("elapsed_s", "step", "total_steps"))
    if not all(isinstance(v, (int, float)) for v in (elapsed, step, total)) or step <= 0:
        eta = status.get("eta_s")
        return float(eta) if isinstance(eta, (int, float)) else None
    return max(0.0, elapsed / step * (total - step))


def status_html(run: Run | None, points: int = 0, job: list[Run] | None = None) -> str:
    """State, progress bar, throughput, time, device and learning rate of one run; `job`: the
    runs started with it (its baseline), whose ETA counts too."""
    if run is None:
        return '<div class="train-status" data-state="none">No run selected. Start one above.</div>'
    s = run.status
    epoch, epochs = s.get("epoch") or 0.0, s.get("epochs") or run.config.get("epochs") or 0
    step, total = s.get("step") or 0, s.get("total_steps") or 0
    fraction = step / total if total else (epoch / epochs if epochs else 0.0)
    if run.state == "finished":
        fraction = 1.0
    ips = s.get("images_per_s")
    lr = s.get("lr")
    eta = steady_eta(s) if run.live else None
    if run.live and job:
        etas = [steady_eta(r.status) for r in job if r.live and r.name != run.name]
        if any(e is not None for e in etas):
            eta = max([e for e in (eta, *etas) if e is not None])
    facts = [
        f"epoch {epoch:.2f} / {epochs}",
        f"{ips:,.0f} images/s" if isinstance(ips, (int, float)) else "- images/s",
        f"elapsed {fmt_time(s.get('elapsed_s'))}",
        (f"ETA {fmt_time(eta)}" + (" (with its baseline)" if job and len(job) > 1 else ""))
        if run.live
        else "",
        f"device {html.escape(str(s.get('device') or run.config.get('device') or '-'))}",
        f"lr {lr:.3g}" if isinstance(lr, (int, float)) else "",
        f"{points} metric points",
    ]
    message = ""
    if run.message:
        label = {"failed": "Failed", runs.INTERRUPTED: "Interrupted", "diverged": "Diverged"}
        label = label.get(run.state, "")
        text = html.escape(run_message(run))
        message = f"<div class='train-message'>{f'<b>{label}:</b> ' if label else ''}{text}</div>"
    if run.state in ("failed", runs.INTERRUPTED):
        tail = html.escape(runs.log_tail(run.path, lines=12))
        message += f"<pre class='train-log-tail' style='white-space:pre-wrap'>{tail}</pre>"
    return (
        f'<div class="train-status" data-state="{html.escape(run.state)}" '
        f'data-run="{html.escape(run.name)}" data-points="{points}">'
        f"<div><b>{html.escape(run.name)}</b>: <b class='train-state'>{html.escape(run.state)}</b></div>"
        f'<progress max="1" value="{fraction:.4f}" style="width:100%"></progress>'
        f"<div>{fraction:.0%} · {' · '.join(f for f in facts if f)}</div>{message}</div>"
    )


def run_message(run: Run) -> str:
    """The run's message in the page's words: the training command's advice for its own
    command line ("pass --dataset synthetic", a folder relative to where it was started) is
    said as a person in the browser can act on it."""
    message = run.message
    if "could not be downloaded" in message and "CIFAR-10" in message:
        folder = runs.shown(str(jobs.data_folder(run.config or {"data_dir": "./data"})))
        return (
            f"{jobs.NO_CIFAR10} (it looks in {folder}) and could not be downloaded. Choose "
            "Synthetic as the data set to train without it."
        )
    return message


def run_status(name: str | None) -> dict[str, Any]:
    """The watched run as plain data (the API's view of what the status box shows)."""
    run = runs.find_run(name) if name else None
    if run is None and not name:
        run = runs.find_run(default_watch(runs.list_runs()))
    if run is None:
        return {"run": name, "state": "none", "points": 0}
    records = runs.read_metrics(run.path)
    return {
        "run": run.name,
        "state": run.state,
        "message": run.message,
        "points": sum(1 for r in records if r.get("type") == "train"),
        "evals": sum(1 for r in records if r.get("type") == "eval"),
        "status": run.status,
        "owner_set": bool(run.owner),
        "has_last": (run.path / "last.pt").exists(),
        "has_best": (run.path / "best.pt").exists(),
    }


def default_watch(all_runs: list[Run]) -> str | None:
    """A live run if there is one, else the newest; of a run and its baseline, the run."""
    ordered = [r for r in all_runs if r.live] + all_runs
    ordered.sort(key=lambda r: r.name != r.job)  # stable: keeps live-then-newest otherwise
    return ordered[0].name if ordered else None


def view_signature(all_runs: list[Run], watched: str | None, overlay: list[str], owner: str) -> str:
    parts = [watched or "", ",".join(overlay or []), owner]
    for run in all_runs:
        try:
            size = (run.path / "metrics.jsonl").stat().st_size
        except OSError:
            size = -1
        try:
            noted = (run.path / runs.NOTES_NAME).stat().st_mtime_ns
        except OSError:
            noted = 0
        parts.append(f"{run.name}:{run.state}:{run.status.get('updated')}:{size}:{noted}")
    return "|".join(parts)


# (train, test) shades of one hue per run, so the two curves of a run read as a pair. Runs
# trained with augmentation take PALETTE's hues, baselines (without) BASELINE_PALETTE's: the
# with/without colours are the same in Watch and in Compare, in whatever order runs are picked.
PALETTE = [
    ("#93c5fd", "#1d4ed8"),
    ("#86efac", "#15803d"),
    ("#c4b5fd", "#6d28d9"),
    ("#f9a8d4", "#be185d"),
    ("#d6d3d1", "#57534e"),
]
BASELINE_PALETTE = [("#fdba74", "#c2410c"), ("#fca5a5", "#b91c1c")]


def curve_roles(names: list[str]) -> dict[str, bool]:
    """Each run's label in the curves' series (see curves: none when one run is drawn) ->
    whether it is a baseline, in the order of `names`."""
    labels = short_labels(names)
    roles = {}
    for name in names:
        run = runs.find_run(name)
        if run is not None:
            roles[labels[name] if len(names) > 1 else ""] = is_baseline(run)
    return roles


def color_map(series: list[str], roles: dict[str, bool] | None = None) -> dict[str, str]:
    """A colour per series: one hue per run, light for train and dark for test; a baseline's
    hue from BASELINE_PALETTE (`roles`: a run's label -> baseline, see curve_roles), others
    from PALETTE, each in the order of `roles`, then of the labels."""
    roles = roles or {}
    labels = list(roles) + sorted({s.rpartition(" · ")[0] for s in series} - set(roles))
    hues = {}
    for baseline, palette in ((False, PALETTE), (True, BASELINE_PALETTE)):
        own = [label for label in labels if bool(roles.get(label)) == baseline]
        hues |= {label: palette[i % len(palette)] for i, label in enumerate(own)}
    colors = {}
    for name in series:
        run, _, metric = name.rpartition(" · ")
        train_shade, test_shade = hues[run]
        colors[name] = train_shade if metric.startswith("train") else test_shade
    return colors


def describe_estimate(
    settings: Settings, cfg: dict[str, Any], pipeline: Path, baseline: bool = False
) -> tuple[str, bool]:
    """(the estimate as text, whether it is one): a "No time estimate: ..." answer is not, and
    is not worth keeping; the next preview may well have one. With the baseline, two runs share
    the device, so the time is that of both."""
    try:
        epoch_s, how = estimate.estimate_epoch(settings, pipeline, cfg)
    except JobError as err:
        return f"No time estimate: {err}.", False
    runs_together = 2 if baseline else 1
    total = epoch_s * settings.epochs * runs_together
    both = " for the run and its baseline, which share the device" if baseline else ""
    text = (
        f"**Estimate:** about {fmt_time(epoch_s * runs_together)} per epoch and "
        f"{fmt_time(total)} for {settings.epochs} epochs{both} on {cfg.get('device', '?')} "
        f"({cfg['train_size']:,} training images; {how})."
    )
    if cfg.get("device") == "cpu" and total > 3600:
        text += " ⚠️ That is long: **Quick CPU run** finishes in a few minutes."
    return text, True


# --- comparing two runs --------------------------------------------------------------------

# what a run was trained with, beyond the declared settings: (label, config key)
RESOLVED = (("training images", "train_size"), ("test images", "test_size"))


def run_settings_rows(run: Run) -> dict[str, str]:
    """{label: value} of everything a run was trained with: its declared settings (as the
    training command resolved them: "auto" batch sizes become numbers), then its pipeline's
    steps with their parameters."""
    from playground.training import settings as run_settings

    given = runs.read_json(run.path / "settings.json") or {}
    rows: dict[str, str] = {}
    for d in run_settings.declared():
        if d.name in ("data_dir", "dist_backend", "workers", "compile", "no_augment"):
            continue  # where and how fast, not what it computes (no_augment: "augmentation")
        value = run.config.get(d.name, given.get(d.name, d.default))
        rows[d.label.split(" (")[0] if d.label else d.name.replace("_", " ")] = _fmt(value)
    for label, key in RESOLVED:
        rows[label] = _fmt(run.config.get(key))
    steps = [] if is_baseline(run) else pipeline_steps(run)
    rows["augmentation"] = "none (baseline)" if is_baseline(run) else f"{len(steps)} steps"
    for i, (transform, params, p) in enumerate(steps, 1):
        rows[f"step {i}"] = transform
        rows[f"step {i} step probability"] = _fmt(p)
        for key, value in params.items():
            rows[f"step {i} {key}"] = _fmt(value)
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


def compare_rows(a: Run, b: Run) -> list[tuple[str, str, str, bool]]:
    """(setting, value in a, value in b, whether they differ), settings first, then the
    pipelines' steps side by side (a step only one run has differs)."""
    rows_a, rows_b = run_settings_rows(a), run_settings_rows(b)
    labels = list(rows_a) + [k for k in rows_b if k not in rows_a]
    labels.sort(key=lambda k: (k.startswith("step "), _step_number(k)))
    out = []
    for label in labels:
        va, vb = rows_a.get(label, "-"), rows_b.get(label, "-")
        out.append((label, va, vb, va != vb))
    return out


def _step_number(label: str) -> int:
    parts = label.split()
    return int(parts[1]) if len(parts) > 1 and parts[0] == "step" and parts[1].isdigit() else 0


MARKED = ' style="background:rgba(250,204,21,0.25);font-weight:600"'


def compare_html(a: Run | None, b: Run | None) -> str:
    """Two runs' settings side by side; rows that differ are marked (≠, highlighted)."""
    if a is None or b is None:
        return "<div class='train-compare' data-rows='0'>Pick two runs to compare.</div>"
    rows = compare_rows(a, b)
    differ = sum(1 for *_, d in rows if d)
    body = "".join(
        f"<tr class='{'differs' if d else 'same'}'{MARKED if d else ''}>"
        f"<td>{'≠' if d else ''}</td><td>{html.escape(label)}</td>"
        f"<td>{html.escape(va)}</td><td>{html.escape(vb)}</td></tr>"
        for label, va, vb, d in rows
    )
    results = [_result_line(r) for r in (a, b)]
    head = "".join(f"<th>{html.escape(display_name(r))}<br><small>{t}</small></th>"
                   for r, t in zip((a, b), results, strict=True))  # fmt: skip
    return (
        f"<div class='train-compare' data-rows='{len(rows)}' data-differ='{differ}'>"
        f"<p>{differ} of {len(rows)} settings differ (marked ≠).</p>"
        f"<table style='width:100%;border-collapse:collapse'><thead><tr><th></th><th>setting</th>"
        f"{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _result_line(run: Run) -> str:
    """ "finished: final 70.0%, best 80.0%" (after the folder's name if the run has another)."""
    records = runs.read_metrics(run.path)
    best, final = runs.best_test_acc(records), runs.final_test_acc(records)
    folder = f"{run.name}, " if display_name(run) != run.name else ""
    if best is None:
        return html.escape(f"{folder}{run.state}")
    return html.escape(f"{folder}{run.state}: final {final:.1%}, best {best:.1%}")


# --- with vs without augmentation ----------------------------------------------------------


def effect_label(job: list[Run]) -> str:
    """The paired experiment's effect for the runs table: "+4.1 (+2.3 to +5.9), 3 seeds", or
    with one seed "+2.0, this seed only" (its interval leaves out training noise), or "-"."""
    found = job_summary(job)
    if found is None or isinstance(found[0], str):
        return "-"
    summary = found[0]
    points = compare.points_text(summary["effect_points"])
    seeds = len(summary["seeds"])
    if seeds < compare.MIN_SEEDS_FOR_VERDICT:
        return f"{points}, this seed only"
    low, high = (compare.points_text(summary[k]) for k in ("ci_low", "ci_high"))
    claim = f" {summary['claim']}" if summary.get("claim") else ""
    return f"{points} ({low} to {high}), {seeds} seeds{claim}"


def job_summary(job: list[Run]) -> tuple[dict[str, Any] | str, int, int] | None:
    """(compare.summarize's result, or why there is none yet; finished pairs; pairs) for a
    job with a baseline; None for a job without one. The result is computed once per set of
    finished pairs and kept in the job's first run folder (compare.stored_summary)."""
    augmented = [r for r in job if not is_baseline(r)]
    if not augmented or len(augmented) == len(job):
        return None
    done = [r for r in job if r.state == "finished" and (r.path / compare.PREDICTIONS).exists()]
    seeds = {r.config.get("seed") for r in augmented}
    finished = sum(1 for s in seeds if sum(1 for r in done if r.config.get("seed") == s) == 2)
    if not finished:
        return (
            f"The comparison appears here when a pair (the run and its baseline, same seed) "
            f"has finished: 0 of {len(augmented)} so far.",
            0,
            len(augmented),
        )
    home = min(augmented, key=lambda r: r.name).path
    try:
        summary = compare.stored_summary(
            home,
            [r.path for r in done if not is_baseline(r)],
            [r.path for r in done if is_baseline(r)],
        )
    except (OSError, ValueError, KeyError) as err:
        return f"⚠️ The runs could not be compared: {err}", finished, len(augmented)
    return summary, finished, len(augmented)


def experiment_report(job: list[Run]) -> str:
    """The paired experiment of a job (a run and its baseline, over one or several seeds), as
    Markdown: the effect on test accuracy with its 95% interval and what it covers, a verdict
    in words (from 2 seeds on), each arm's over-fitting gap, the per-class change and the
    confusion matrices. Empty when the job has no baseline."""
    found = job_summary(job)
    if found is None:
        return ""
    summary, finished, pairs = found
    head = "### With vs without augmentation\n"
    if isinstance(summary, str):
        return head + summary
    return head + _report_markdown(summary, finished, pairs)


def _report_markdown(summary: dict[str, Any], done: int, pairs: int) -> str:
    aug, base = summary["arms"]["augmented"], summary["arms"]["baseline"]
    lines = [f"**{summary['verdict'][0].upper()}{summary['verdict'][1:]}**", ""]
    how = f"{summary['interval']}; {done} of {pairs} pairs finished"
    if summary.get("covers"):
        how += f"; it covers {summary['covers']}"
    if "mcnemar" in summary:
        test = summary["mcnemar"]
        how += (
            f"; McNemar's exact test p = {test['p_exact']:.3g} ({test['only_augmented']} test "
            f"images right only with augmentation, {test['only_baseline']} only without)"
        )
    lines += [f"*{how}.*", ""]
    lines += [
        "| arm | test accuracy | train accuracy | over-fitting gap |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, arm in (("with augmentation", aug), ("without (baseline)", base)):
        lines.append(
            f"| {name} | {arm['test_acc']:.1%} | {arm['train_acc']:.1%} | "
            f"{arm['overfitting_gap_points']:+.1f} points |"
        )
    lines += ["", f"*Train accuracy measured on {aug['train_acc_measured_on']}.*", ""]
    lines += ["| class | with | without | change |", "| --- | ---: | ---: | ---: |"]
    rows = zip(
        summary["classes"], aug["per_class_acc"], base["per_class_acc"],
        summary["per_class_change_points"], strict=True,
    )  # fmt: skip
    for name, a, b, change in rows:
        mark = " ⚠️" if change < -5 else ""
        lines.append(f"| {html.escape(str(name))} | {a:.1%} | {b:.1%} | {change:+.1f}{mark} |")
    for name, arm in (("with augmentation", aug), ("without augmentation", base)):
        lines += ["", f"<details><summary>Confusion matrix, {name} (rows: true class)</summary>",
                  "", _matrix_markdown(summary["classes"], arm["confusion_matrix"]), "</details>"]  # fmt: skip
    problems = summary.get("problems") or []
    lines += [f"\n⚠️ {html.escape(p)}" for p in problems]
    return "\n".join(lines)


def _matrix_markdown(classes: list[str], matrix: list[list[int]]) -> str:
    names = [html.escape(str(c)) for c in classes]  # whole: "triang" and "checke" read as typos
    out = ["| true \\ predicted | " + " | ".join(names) + " |"]
    out.append("| --- |" + " ---: |" * len(classes))
    for name, row in zip(names, matrix, strict=True):
        out.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(out)
