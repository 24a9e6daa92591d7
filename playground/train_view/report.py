"""The paired experiment (a run and its baseline over one or several seeds): its effect for
the runs table and its report in Markdown (verdict, interval, arms, per class, confusion)."""

from __future__ import annotations

import html
from typing import Any

from playground.runs import Run
from playground.train_view.labels import is_baseline
from playground.training import compare, stats


def effect_label(job: list[Run]) -> str:
    """The paired experiment's effect for the runs table: "+4.1 (+2.3 to +5.9), 3 seeds", or
    with one seed "+2.0, this seed only" (its interval leaves out training noise), or "-"."""
    found = job_summary(job)
    if found is None or isinstance(found[0], str):
        return "-"
    summary = found[0]
    points = stats.points_text(summary["effect_points"])
    seeds = len(summary["seeds"])
    if seeds < stats.MIN_SEEDS_FOR_VERDICT:
        return f"{points}, this seed only"
    low, high = (stats.points_text(summary[k]) for k in ("ci_low", "ci_high"))
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
