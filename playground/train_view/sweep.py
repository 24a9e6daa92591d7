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

from pipelines.spec import preset
from playground import runs
from playground.estimate import estimate_epoch
from playground.jobs import JobError, checks, flags, sweeps, validated
from playground.jobs.process import Settings
from playground.train_view.labels import fmt_time  # noqa: F401 (also the tests')
from playground.training.sweep.plan import (
    FINALISTS,
    Cost,
    binomial_spread_points,
    detectable_points,
    fit,
)
from playground.training.sweep.run import SUMMARY_TXT, VALIDATION_SHARE, eta_s, summary_text

# Before a sweep has measured it: the seconds a trial costs besides its epochs (the process
# start, loading the data, the final scoring); 5.2 s measured on a 2-core CPU, synthetic data.
START_S_GUESS = 6.0
ACCURACY_GUESS = 0.5  # before training, the accuracy that the floor below is computed at


# ---- the estimate -------------------------------------------------------------------------


def estimate_text(
    candidates: int,
    seeds: int,
    budget_s: float,
    cost: Cost,
    test_images: int,
    accuracy: float = ACCURACY_GUESS,
    how: str = "",
    slots: int = 1,
    finalists: int = FINALISTS,
) -> str:
    """The schedule `plan.fit` makes of the budget (after the one-epoch probe the sweep runs
    first), how long it takes, and the smallest difference its last rung can detect: with
    the spread of two runs' accuracies on the test images alone as the per-seed spread
    (`binomial_spread_points`), a floor: training noise adds to it."""
    probe_s = cost.trial_s(1)
    plan = fit(candidates, seeds, budget_s - probe_s, cost, slots, finalists)
    total = probe_s + plan.predicted_s
    sizes = ", ".join(str(n + 1) for n in plan.sizes)
    epochs = ", ".join(str(e) for e in plan.epochs)
    text = (
        f"**Estimate:** {len(plan.sizes)} rung(s) of {sizes} candidates (no augmentation "
        f"included) x {seeds} seeds, {epochs} epochs: {plan.trials()} trials, about "
        f"{fmt_time(total)} of the {fmt_time(budget_s)} budget (one epoch about "
        f"{cost.epoch_s:.1f} s, a start {cost.start_s:.1f} s{'; ' + how if how else ''})."
    )
    if not plan.fits:
        text += (
            f" ⚠️ Even one epoch per rung takes about {fmt_time(total)}, over the budget: it "
            "runs anyway; give it more minutes or fewer candidates."
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


def _comparable(args: list[str]) -> list[str]:
    """Training flags less those a sweep rewrites (the validation split)."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in ("--validation", "--split-seed"):
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
) -> str:
    """The estimate for the panel's values, or what is wrong with them ("⚠️ ...")."""
    try:
        chosen, ladder, minutes, seeds = sweeps._checked_request(
            chosen, ladder, budget_minutes, seeds
        )
        with tempfile.TemporaryDirectory(prefix="playground-sweep-") as tmp:
            current = None
            if sweeps.CURRENT in chosen or ladder:
                current = Path(tmp) / sweeps.CURRENT_FILE
                current.write_text(validated(spec).to_json())
            sources = sweeps.candidate_sources(chosen, current)
            try:
                n = sweeps.count_candidates(sources, ladder, current)
            except ValueError as err:
                raise JobError(str(err)) from None
            pipeline = current or Path(tmp) / "check.json"
            if current is None:
                pipeline.write_text(preset(chosen[0]).to_json())
            trial = sweeps.trial_settings(settings)
            cfg = checks.check(trial, pipeline)
            args = flags(trial)
            found = previous_cost(args, root)
            if found:
                cost, accuracy = found
                how = "measured by an earlier sweep with these settings"
            else:
                epoch_s, how = estimate_epoch(trial, pipeline, cfg, root)
                epoch_s *= 1 - VALIDATION_SHARE  # a fifth of the training images is held out
                cost, accuracy = Cost(epoch_s, START_S_GUESS), ACCURACY_GUESS
                how = f"{how}; the start guessed"
        return estimate_text(n, seeds, minutes * 60, cost, int(cfg["test_size"]), accuracy, how)
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


def status_text(sweep: dict[str, Any] | None) -> str:
    """The sweep's state, elapsed time and, while it runs, the time left (`run.eta_s`)."""
    if sweep is None:
        return "No sweep yet: pick candidates and a budget, then Start sweep."
    state = sweep["data"] or {}
    parts = [f"**{sweep['name']}**: {sweep['state']}"]
    if sweep["message"]:
        parts.append(f"({sweep['message']})")
    elapsed = state.get("elapsed_s")
    text = " ".join(parts) + f". Elapsed {fmt_time(elapsed)}"
    if sweep["live"]:
        left = eta_s(state) if state else None
        text += f", about {fmt_time(left)} left" if left is not None else ", time left: measuring"
    plan = state.get("plan") or {}
    if plan.get("over_budget"):
        text += f". ⚠️ {plan['over_budget']}"
    return text + "."


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


def sweep_choices(all_sweeps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f"{s['name']} ({s['state']})", s["name"]) for s in all_sweeps]
