"""What the Sweep panel shows, computed without Gradio: the estimate before a sweep (how long,
the smallest difference it can detect), the rung ladder while it runs (which candidates are in,
which were dropped and why), its status line, and the results at the end: a forest plot of each
candidate's effect with its interval (inline SVG), the tied-for-best words, the per-class
effect heat map (an HTML table) and the summary in words. All read from the sweep folder.
"""

from __future__ import annotations

import html
import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.spec import preset
from playground import runs
from playground.estimate import estimate_epoch
from playground.jobs import JobError, flags, sweep_limits, sweeps
from playground.jobs.process import Settings
from playground.train_view.labels import fmt_time
from playground.train_view.plots import plot_frame
from playground.training import settings as run_settings
from playground.training.sweep.candidates import BASELINE_LABEL
from playground.training.sweep.plan import (
    FINALISTS,
    Cost,
    Plan,
    binomial_spread_points,
    detectable_points,
    fit,
    predicted_s,
    rung_sizes,
)
from playground.training.sweep.report import eta_s, summary_text
from playground.training.sweep.state import PROBE, SUMMARY_TXT, VALIDATION_SHARE

# Before a sweep has measured it: the seconds a trial costs besides its epochs (the process
# start, loading the data, the final scoring); 5.2 s measured on a 2-core CPU, synthetic data.
START_S_GUESS = 6.0
ACCURACY_GUESS = 0.5  # before training, the accuracy that the floor below is computed at


# ---- the estimate -------------------------------------------------------------------------


def estimate_text(
    candidates: int,
    seeds: int,
    budget_s: float | None,
    cost: Cost,
    test_images: int,
    accuracy: float = ACCURACY_GUESS,
    how: str = "",
    slots: int = 1,
    finalists: int = FINALISTS,
    first_epochs: int | None = None,
) -> str:
    """The schedule the sweep will run and how long it takes: with a budget, the one `plan.fit`
    makes of it (after the one-epoch probe the sweep runs first); with `first_epochs`, the
    fixed one (no probe). And the smallest difference its last rung can detect: with the spread
    of two runs' accuracies on the test images alone as the per-seed spread
    (`binomial_spread_points`), a floor: training noise adds to it."""
    if first_epochs:
        sizes = rung_sizes(candidates, finalists)
        epochs = [first_epochs * 2**k for k in range(len(sizes))]  # as the sweep plans it
        plan = Plan(sizes, epochs, seeds, slots, predicted_s(sizes, epochs, seeds, cost, slots),
                    True)  # fmt: skip
        total, of_budget = plan.predicted_s, " (a fixed schedule, no budget)"
    else:
        probe_s = cost.trial_s(1)
        plan = fit(candidates, seeds, budget_s - probe_s, cost, slots, finalists)
        total = probe_s + plan.predicted_s
        of_budget = f" of the {fmt_time(budget_s)} budget"
    sizes = ", ".join(str(n + 1) for n in plan.sizes)
    epochs = ", ".join(str(e) for e in plan.epochs)
    text = (
        f"**Estimate:** {len(plan.sizes)} rung(s) of {sizes} candidates (no augmentation "
        f"included) x {seeds} seeds, {epochs} epochs: {plan.trials()} trials, about "
        f"{fmt_time(total)}{of_budget} (one epoch about "
        f"{cost.epoch_s:.1f} s, a start {cost.start_s:.1f} s{'; ' + how if how else ''})."
    )
    if not plan.fits:
        text += (
            f" ⚠️ Even one epoch per rung takes about {fmt_time(total)}, over the budget: the "
            "sweep measures its probe again and, still over, stops before training a rung; "
            "give it more minutes, fewer candidates or seeds, or a fixed schedule."
        )
    floor = binomial_spread_points(accuracy, test_images)
    detect = detectable_points(seeds, max(1, plan.sizes[-1]), floor)
    if detect is None:
        text += (
            " With one seed it cannot tell candidates apart (no spread to test against): "
            "give it 2 or more."
        )
    else:
        text += (
            f" Smallest difference it can detect: **at least {detect:.1f} points** of test "
            f"accuracy (a floor: from the {test_images:,} test images alone at about "
            f"{accuracy:.0%} accuracy; training noise adds to it, and the sweep reports the "
            "measured one at the end)."
        )
    return text


REWRITTEN = tuple(run_settings.by_name(n).flag for n in ("validation", "split_seed"))


def _comparable(args: list[str]) -> list[str]:
    """Training flags less those a sweep rewrites (the validation split)."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in REWRITTEN:
            skip = True
        else:
            out.append(a)
    return out


def previous_cost(train_args: list[str], root: Path | None = None) -> tuple[Cost, float] | None:
    """The cost a previous sweep with the same training flags measured, and its baseline's
    test accuracy (fraction; the estimate's floor is computed at it)."""
    for folder in runs.sweep_folders(root):
        state = runs.read_json(folder / runs.SWEEP_JSON) or {}
        if not state.get("cost") or _comparable(state.get("train_args") or []) != _comparable(
            train_args
        ):
            continue
        accuracy = ACCURACY_GUESS
        report = state.get("report") or {}
        base = (state.get("candidates") or [{}])[0].get("key")
        if base in (report.get("test_acc_points") or {}):
            accuracy = report["test_acc_points"][base] / 100
        try:
            return Cost(**state["cost"]), accuracy
        except TypeError:
            continue
    return None


def estimate(
    settings: Settings,
    spec: Any,
    chosen: Any,
    ladder: Any,
    budget_minutes: Any,
    seeds: Any,
    root: Path | None = None,
    files: Any = None,
    first_epochs: Any = None,
) -> str:
    """The estimate for the panel's values, or what is wrong with them ("⚠️ ...")."""
    try:
        request = sweeps.checked_request(chosen, ladder, budget_minutes, seeds, files, first_epochs)
        with tempfile.TemporaryDirectory(prefix="playground-sweep-") as tmp:
            _, current, cfg, n = sweeps.prepared(Path(tmp), settings, spec, request)
            trial = sweeps.trial_settings(settings)
            args = flags(trial)
            found = previous_cost(args, root)
            if found:
                cost, accuracy = found
                how = "measured by an earlier sweep with these settings"
            else:
                pipeline = current or next(Path(tmp).glob(f"{sweeps.GIVEN}/*.json"), None)
                if pipeline is None:
                    pipeline = Path(tmp) / "check.json"
                    pipeline.write_text(preset(request.chosen[0]).to_json())
                epoch_s, how = estimate_epoch(trial, pipeline, cfg, root)
                epoch_s *= 1 - VALIDATION_SHARE  # a fifth of the training images is held out
                cost, accuracy = Cost(epoch_s, START_S_GUESS), ACCURACY_GUESS
                how = f"{how}; the start guessed"
        budget_s = request.minutes * 60 if request.minutes else None
        return estimate_text(n, request.seeds, budget_s, cost, int(cfg["test_size"]), accuracy,
                             how, first_epochs=request.first_epochs)  # fmt: skip
    except JobError as err:
        return f"⚠️ No estimate: {err}"


# ---- while it runs ------------------------------------------------------------------------


def _labels(state: dict[str, Any]) -> dict[str, str]:
    return {c["key"]: c["label"] for c in state.get("candidates") or []}


def ladder_rows(state: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): one row per candidate, one column per planned rung saying "in",
    "training", "waiting", "finalist" or "dropped: why" ("" once dropped earlier)."""
    plan = state.get("plan") or {}
    records = state.get("rungs") or []
    epochs = list(plan.get("epochs") or [r.get("epochs") for r in records])
    count = max(len(epochs), len(records))
    headers = ["candidate"]
    for i in range(count):
        e = epochs[i] if i < len(epochs) else records[i].get("epochs")
        headers.append(f"rung {i + 1} ({e} epochs)" if e else f"rung {i + 1}")
    rows = []
    for key, label in _labels(state).items():
        row, out = [label], False
        for i in range(count):
            record = records[i] if i < len(records) else None
            if out:
                row.append("")
                continue
            if record is None:
                row.append("waiting")
                continue
            if key not in record.get("keys", []):
                row.append("")
                out = True
                continue
            decision = record.get("decision") or {}
            mine = next((r for r in decision.get("rows", []) if r.get("key") == key), None)
            if record.get("state") == "finished" and not decision:
                row.append("finalist")
            elif record.get("state") != "finished":
                row.append("training" if record.get("state") == "running" else "waiting")
            elif mine is None or mine.get("kept", key in decision.get("kept", [])):
                row.append("in")
            else:
                row.append(f"dropped: {mine.get('why', '')}")
                out = True
        rows.append(row)
    return headers, rows


def ladder_html(state: dict[str, Any] | None) -> str:
    if not state or not state.get("candidates"):
        return ""
    headers, rows = ladder_rows(state)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = ""
    for row in rows:
        cells = f"<td>{html.escape(row[0])}</td>"
        for cell in row[1:]:
            kind = cell.split(":")[0] if cell else "out"
            cells += f'<td class="rung-{html.escape(kind)}">{html.escape(cell)}</td>'
        body += f"<tr>{cells}</tr>"
    return (
        '<table class="sweep-ladder" style="border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def time_left_s(sweep: dict[str, Any]) -> float | None:
    """Seconds left: the plan's rungs not finished at the measured cost (`report.eta_s`), less
    what the running rung has done already (its finished trials, and the epochs its live
    trials have trained). None until the cost is measured (the probe, or a fixed schedule's
    first rung)."""
    state = sweep.get("data") or {}
    left = eta_s(state) if state else None
    if left is None:
        return None
    cost, slots = Cost(**state["cost"]), max(1, int((state.get("plan") or {}).get("slots") or 1))
    for record in state.get("rungs") or []:
        if record.get("state") != "running":
            continue
        for name in record.get("trials") or []:
            status = runs.read_json(sweep["path"] / str(name) / "status.json") or {}
            if status.get("state") == "finished":
                left -= cost.trial_s(record["epochs"]) / slots
            elif _num(status.get("epoch")):
                left -= min(status["epoch"], record["epochs"]) * cost.epoch_s / slots
    return max(0.0, left)


def status_text(sweep: dict[str, Any] | None) -> str:
    """The sweep's state, the time it has trained (all its starts) and, while it runs, the
    time left."""
    if sweep is None:
        return "No sweep yet: pick candidates and a budget, then Start sweep."
    state = sweep["data"] or {}
    parts = [f"**{sweep['name']}**: {sweep['state']}"]
    if sweep["message"]:
        parts.append(f"({sweep['message']})")
    text = " ".join(parts) + f". Elapsed {fmt_time(sweep_limits.used_s(sweep))}"
    if sweep["live"]:
        left = time_left_s(sweep)
        text += f", about {fmt_time(left)} left" if left is not None else ", time left: measuring"
    plan = state.get("plan") or {}
    if plan.get("over_budget"):  # sweeps that ran over their budget anyway (before it refused)
        text += f". ⚠️ {plan['over_budget']}"
    return text + "."


def _trial_parts(name: str, rung: int) -> tuple[str, str]:
    """("c01-flip", "0") from "r0-c01-flip-s0"."""
    key, _, seed = name.removeprefix(f"r{rung}-").rpartition("-s")
    return key, seed


def curves(sweep: dict[str, Any] | None) -> pd.DataFrame:
    """The held-out (validation) accuracy per epoch of the trials of the rung training now
    (else the last one; before any, the probe's): one series per candidate and seed."""
    rows: list[list[Any]] = []
    state = (sweep or {}).get("data") or {}
    rungs = [r for r in state.get("rungs") or [] if r.get("trials")]
    labels = _labels(state)
    if rungs:
        record = next((r for r in rungs if r.get("state") == "running"), rungs[-1])
        names = [(n, *_trial_parts(str(n), record.get("index", 0))) for n in record["trials"]]
        series = [(n, f"{labels.get(key, key)} · seed {seed}") for n, key, seed in names]
    elif sweep is not None and (sweep["path"] / PROBE).is_dir():
        series = [(PROBE, f"{BASELINE_LABEL} (the one-epoch probe)")]
    else:
        series = []
    for name, label in series:
        for r in runs.read_metrics(sweep["path"] / str(name)):
            if r.get("type") == "eval" and _num(r.get("epoch")):
                rows.append([r["epoch"], r.get("test_acc"), label])
    return plot_frame(rows)


# ---- the results --------------------------------------------------------------------------


def excludes_zero(row: dict[str, Any]) -> bool:
    low, high = row.get("low"), row.get("high")
    return _num(low) and _num(high) and (low > 0 or high < 0)


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def forest_svg(rows: list[dict[str, Any]], title: str, width: int = 640) -> str:
    """Each row's effect (points) as a dot with its interval as a line, against a dashed line
    at 0; an interval that excludes 0 is drawn bold and marked "≠ 0". Rows need label, points,
    low, high (an interval of None draws the dot alone)."""
    rows = [r for r in rows if _num(r.get("points"))]
    if not rows:
        return ""
    values = [0.0] + [
        v for r in rows for v in (r["points"], r.get("low"), r.get("high")) if _num(v)
    ]
    lo, hi = min(values), max(values)
    pad = max(1.0, 0.08 * (hi - lo))
    lo, hi = lo - pad, hi + pad
    left, right, row_h, top = 200, 170, 26, 30
    plot_w = width - left - right
    height = top + row_h * len(rows) + 24

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sweep-forest" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}" style="font:12px sans-serif">',
        f'<text x="4" y="16" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{x(0):.1f}" y1="{top - 6}" x2="{x(0):.1f}" y2="{height - 20}" '
        'stroke="#888" stroke-dasharray="4 3"/>',
        f'<text x="{x(0):.1f}" y="{height - 6}" text-anchor="middle" fill="#666">0</text>',
        f'<text x="{x(lo):.1f}" y="{height - 6}" fill="#666">{lo:+.1f}</text>',
        f'<text x="{x(hi):.1f}" y="{height - 6}" text-anchor="end" fill="#666">{hi:+.1f} points</text>',
    ]
    for i, row in enumerate(rows):
        y = top + row_h * i + row_h / 2
        marked = excludes_zero(row)
        colour = "#1a7f37" if marked and row["points"] > 0 else "#cf222e" if marked else "#555"
        css = "forest-row excludes-zero" if marked else "forest-row"
        interval = ""
        parts.append(f'<g class="{css}" data-key="{html.escape(str(row.get("key", "")))}">')
        parts.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{html.escape(str(row.get('label', row.get('key', ''))))[:40]}</text>"
        )
        if _num(row.get("low")) and _num(row.get("high")):
            parts.append(
                f'<line x1="{x(row["low"]):.1f}" y1="{y:.1f}" x2="{x(row["high"]):.1f}" '
                f'y2="{y:.1f}" stroke="{colour}" stroke-width="{3 if marked else 1.5}"/>'
            )
            interval = f" ({row['low']:+.1f} to {row['high']:+.1f})"
        parts.append(f'<circle cx="{x(row["points"]):.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>')
        mark = " ≠ 0" if marked else ""
        parts.append(
            f'<text x="{width - right + 8}" y="{y + 4:.1f}" fill="{colour}">'
            f"{row['points']:+.1f}{html.escape(interval)}{mark}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def heat_map_html(report: dict[str, Any], labels: dict[str, str]) -> str:
    """Per-class change of test accuracy (points) against no augmentation: a row per
    candidate, a column per class, green for better, red for worse, stronger for larger."""
    per_class, classes = report.get("per_class") or {}, report.get("classes") or []
    if not per_class or not classes:
        return ""
    values = [abs(v) for row in per_class.values() for v in row if _num(v)]
    scale = max(values) if values and max(values) > 0 else 1.0
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in classes)
    body = ""
    for key, row in per_class.items():
        cells = ""
        for value in row:
            if not _num(value):
                cells += "<td>-</td>"
                continue
            alpha = min(1.0, abs(value) / scale) * 0.75
            rgb = "26,127,55" if value > 0 else "207,34,46"
            cells += (
                f'<td style="background:rgba({rgb},{alpha:.2f});text-align:right" '
                f'data-value="{value:.2f}">{value:+.1f}</td>'
            )
        body += f"<tr><th>{html.escape(labels.get(key, key))}</th>{cells}</tr>"
    return (
        '<table class="sweep-heat-map" style="border-collapse:collapse">'
        f"<caption>Change of each class's test accuracy against no augmentation (points)"
        f"</caption><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def summary(sweep: dict[str, Any]) -> str:
    try:
        return (sweep["path"] / SUMMARY_TXT).read_text()
    except OSError:
        return summary_text(sweep["data"]) if sweep.get("data") else ""


def results_html(sweep: dict[str, Any] | None) -> str:
    """At the end: both forest plots, the tied-for-best words, the heat map, the summary."""
    state = (sweep or {}).get("data") or {}
    report = state.get("report")
    if not report:
        return ""
    labels = _labels(state)
    best = labels.get(report.get("best"), report.get("best"))
    use = labels.get(report["use"]) if report.get("use") else None
    tied = html.escape(report.get("tied_words", ""))
    parts = [
        f'<p class="sweep-tied"><b>Tied for best:</b> {tied}</p>',
        forest_svg(
            report.get("vs_none") or [],
            "Effect against no augmentation (test accuracy points, simultaneous 95% intervals)",
        ),
        forest_svg(
            report.get("vs_best") or [],
            f"Against the best, {best} (points, simultaneous 95% intervals)",
        ),
        "<p>"
        + html.escape(
            f"Use: {use}."
            if use
            else "Use: no augmentation; no pipeline was tied with it for best."
        )
        + "</p>",
        heat_map_html(report, labels),
    ]
    if report.get("caution"):
        parts.append(f"<p>⚠️ {html.escape(report['caution'])}</p>")
    parts.append(f'<pre class="sweep-summary">{html.escape(summary(sweep))}</pre>')
    return '<div class="sweep-results">' + "".join(p for p in parts if p) + "</div>"


def use_pipeline_path(sweep: dict[str, Any] | None) -> Path | None:
    """The recommended candidate's pipeline file (report["use"]), or None (no report yet, or
    no augmentation is the one to use)."""
    report = ((sweep or {}).get("data") or {}).get("report") or {}
    key = report.get("use")
    if not key or not runs._bare(str(key)):
        return None
    path = sweep["path"] / "candidates" / f"{key}.json"
    return path if path.is_file() else None


def use_label(sweep: dict[str, Any]) -> str:
    """The recommended candidate's label (its key if the sweep does not name it)."""
    state = sweep.get("data") or {}
    key = (state.get("report") or {}).get("use")
    return _labels(state).get(key, str(key))


def sweep_choices(all_sweeps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f"{s['name']} ({s['state']})", s["name"]) for s in all_sweeps]
