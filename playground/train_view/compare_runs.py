"""Two runs side by side: everything each was trained with (its settings as resolved, its
pipeline's steps), the rows that differ marked."""

from __future__ import annotations

import html
from typing import Any

from playground import runs
from playground.runs import Run
from playground.train_view.labels import display_name, is_baseline, pipeline_steps
from playground.training import settings as run_settings

# what a run was trained with, beyond the declared settings: (label, config key)
RESOLVED = (("training images", "train_size"), ("test images", "test_size"))


def compared(d: run_settings.Declared) -> bool:
    """Whether Compare shows a declared setting: one declared `compared`, and not one that may
    change when a run is resumed (`resume`: where and how fast, not what it computes) unless
    the form shows it (the device and the GPUs, which a person chose)."""
    return d.compared and not (d.resume and not d.label)


def run_settings_rows(run: Run) -> dict[str, str]:
    """{label: value} of everything a run was trained with: its declared settings (as the
    training command resolved them: "auto" batch sizes become numbers), then its pipeline's
    steps with their parameters."""
    given = runs.read_json(run.path / "settings.json") or {}
    rows: dict[str, str] = {}
    for d in run_settings.declared():
        if not compared(d):
            continue
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
