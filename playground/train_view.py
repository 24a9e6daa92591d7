"""What the Train tab shows, as plain data: the device banner, the runs table, the curves, the
status box, the pipeline's code. No Gradio here (playground/ui/train.py lays these out and wires
them), so each can be tested alone; everything is read from the run folders.
"""

from __future__ import annotations

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

RUN_COLUMNS = ["run", "state", "data", "augment", "epoch", "best test acc", "started", "message"]
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


def augment_label(run: Run) -> str:
    settings = runs.read_json(run.path / "settings.json") or {}
    if settings.get("no_augment") or run.config.get("no_augment"):
        return "none (baseline)"
    return "pipeline"


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


# --- runs list and curves ------------------------------------------------------------------


def runs_table(all_runs: list[Run]) -> pd.DataFrame:
    rows = []
    for run in all_runs:
        records = runs.read_metrics(run.path)
        best = runs.best_test_acc(records)
        epoch, epochs = (
            run.status.get("epoch"),
            run.status.get("epochs") or run.config.get("epochs"),
        )
        progress = (
            f"{epoch:.2f} / {epochs}" if isinstance(epoch, (int, float)) else f"0 / {epochs or '?'}"
        )
        rows.append(
            [
                run.name,
                run.state,
                data_label(run),
                augment_label(run),
                progress,
                f"{best:.1%}" if best is not None else "-",
                time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)),
                run_message(run) if run.state in ("failed", runs.INTERRUPTED) else "",
            ]
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def curves(names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loss, accuracy) long-form tables for gr.LinePlot: one series per run and metric."""
    loss_rows, acc_rows = [], []
    labels = short_labels(names)
    for name in names:
        run = runs.find_run(name)
        if run is None:
            continue
        prefix = f"{labels[name]} · " if len(names) > 1 else ""
        for r in runs.read_metrics(run.path):
            kind, epoch = r.get("type"), r.get("epoch")
            if not isinstance(epoch, (int, float)):
                continue
            if kind == "train":
                loss_rows.append([epoch, r.get("train_loss"), f"{prefix}train loss"])
                acc_rows.append([epoch, r.get("train_acc"), f"{prefix}train acc"])
            elif kind == "eval":
                loss_rows.append([epoch, r.get("test_loss"), f"{prefix}test loss"])
                acc_rows.append([epoch, r.get("test_acc"), f"{prefix}test acc"])
    return plot_frame(loss_rows), plot_frame(acc_rows)


def short_labels(names: list[str]) -> dict[str, str]:
    """Run names without their date ("20261122-"), for a legend that fits, unless that is
    ambiguous among the runs shown."""
    short = {n: n[9:] if len(n) > 9 and n[:8].isdigit() and n[8] == "-" else n for n in names}
    return short if len(set(short.values())) == len(short) else {n: n for n in names}


def plot_frame(rows: list[list[Any]]) -> pd.DataFrame:
    """Numeric x and y, even when empty: the plot's axes take their type from the first value."""
    frame = pd.DataFrame(rows, columns=PLOT_COLUMNS)
    frame["epoch"] = pd.to_numeric(frame["epoch"], errors="coerce").astype(float)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["series"] = frame["series"].astype(str)
    return frame.dropna().reset_index(drop=True)


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
        label = {"failed": "Failed", runs.INTERRUPTED: "Interrupted"}.get(run.state, "")
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
        folder = jobs.data_folder(run.config or {"data_dir": "./data"})
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
        parts.append(f"{run.name}:{run.state}:{run.status.get('updated')}:{size}")
    return "|".join(parts)


# (train, test) shades of one hue per run, so the two curves of a run read as a pair
PALETTE = [
    ("#93c5fd", "#1d4ed8"),
    ("#fdba74", "#c2410c"),
    ("#86efac", "#15803d"),
    ("#fca5a5", "#b91c1c"),
    ("#c4b5fd", "#6d28d9"),
    ("#f9a8d4", "#be185d"),
    ("#d6d3d1", "#57534e"),
]


def color_map(series: list[str]) -> dict[str, str]:
    """A colour per series: one hue per run, light for train and dark for test."""
    run_names = sorted({s.rpartition(" · ")[0] for s in series})
    colors = {}
    for name in series:
        run, _, metric = name.rpartition(" · ")
        train_shade, test_shade = PALETTE[run_names.index(run) % len(PALETTE)]
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
