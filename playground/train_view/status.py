"""The watched run's status: the status box (progress, throughput, ETA, message, log tail), its
plain-data view for the API, which run to watch, and when the view must be redrawn."""

from __future__ import annotations

import html
import re
from typing import Any

from playground import jobs, runs
from playground.runs import Run
from playground.train_view.labels import fmt_time


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


# the training command's words for ImageNet weights it could not download
NO_WEIGHTS_ERROR = re.compile(
    r"the ImageNet weights of (\S+) are not in '(.+?)' and could not be downloaded \((.*)\)\. "
    r"Download \S+ elsewhere and put it in that folder as '(.+?)'"
)


def run_message(run: Run) -> str:
    """The run's message in the page's words: the training command's advice for its own
    command line ("pass --dataset synthetic", a folder relative to where it was started) is
    said as a person in the browser can act on it."""
    message = run.message
    weights = NO_WEIGHTS_ERROR.search(message)
    if weights:  # the download failed when the run started (models.imagenet_state_dict)
        model, folder, reason, file = weights.groups()
        why = f"could not be downloaded ({reason})"
        return jobs.no_weights_words(model, folder, file, why) + "."
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
