"""The sweep's report and progress: the final report's data (`final_report`, kept in
sweep.json), and, read from its state (sweep.json) alone, the seconds left by the plan (`eta_s`)
and the summary in words (`summary_text`, summary.txt), for the command line, the sweep itself
and the Train tab's panel."""

from __future__ import annotations

from typing import Any

import numpy as np

from playground.training.sweep import decide
from playground.training.sweep.plan import (
    Cost,
    binomial_spread_points,
    detectable_points,
    predicted_s,
)


def eta_s(state: dict[str, Any]) -> float | None:
    """Seconds left by the plan and the measured cost: the rungs not finished (a running rung's
    finished trials left out)."""
    plan, cost = state.get("plan"), state.get("cost")
    if not plan or not cost:
        return None
    cost = Cost(**cost)
    done = sum(1 for r in state["rungs"] if r.get("state") == "finished")
    sizes, epochs = plan["sizes"][done:], plan["epochs"][done:]
    return predicted_s(sizes, epochs, plan["seeds"], cost, plan.get("slots", 1))


def summary_text(state: dict[str, Any]) -> str:
    """The sweep's report in words (summary.txt)."""
    report, labels = state.get("report"), {c["key"]: c["label"] for c in state["candidates"]}
    lines = [f"sweep of {len(state['candidates'])} candidates (no augmentation included), "
             f"{state['seeds']} paired seeds"]  # fmt: skip
    for record in state["rungs"]:
        kept = (record.get("decision") or {}).get("kept")
        went_on = f"; went on: {', '.join(labels[k] for k in kept)}" if kept else ""
        lines.append(f"rung {record['index'] + 1}: {len(record['keys'])} candidates, "
                     f"{record['epochs']} epochs{went_on}")  # fmt: skip
    if not report:
        return "\n".join(lines) + "\n"
    lines.append(f"final report on {report['evaluated_on']}")
    lines.append(f"{'candidate':40}{'test acc':>10}{'vs none':>10}  95% simultaneous CI")
    for key, acc in sorted(report["test_acc_points"].items(), key=lambda kv: -kv[1]):
        row = next((r for r in report["vs_none"] if r["key"] == key), None)
        effect = f"{row['points']:>+10.1f}  {row['low']:+.1f} to {row['high']:+.1f}" if row else ""
        lines.append(f"{labels[key][:39]:40}{acc:>9.1f}%{effect}")
    lines += [f"  {r['words']}" for r in report["vs_none"]]
    lines.append(f"tied for best: {report['tied_words']}")
    if report["use"] and report["best"] != report["use"]:
        lines.append(
            f"use: {labels[report['use']]} is the best pipeline of the tied group by test "
            f"accuracy; {labels[report['best']]} scored higher and cannot be told apart from it"
        )
    elif report["use"]:
        lines.append(f"use: {labels[report['use']]} (the best of the tied group by test accuracy)")
    else:
        lines.append("use: no augmentation; no pipeline was tied with it for best")
    if report["detectable_points"] is not None:
        lines.append(
            f"smallest difference this budget detects (80% power, adjusted 5% level): "
            f"{report['detectable_points']:.1f} points (per-seed spread {report['spread_points']:.1f})"
        )
    for d in report["dropped"]:
        lines.append(f"dropped at rung {d['rung'] + 1}: {d['label']}: {d['why']}")
    if report["caution"]:
        lines.append(f"caution: {report['caution']}")
    lines.append(f"adjustment: {report['adjustment']}")
    return "\n".join(lines) + "\n"


def final_report(
    state: dict[str, Any],
    test: decide.Results,
    labels_by_seed: dict[int, np.ndarray],
    epochs: int,
    *,
    baseline: str,
    labels: dict[str, str],
    specs: dict[str, Any],
) -> dict[str, Any]:
    """The final report's data (sweep.json's "report"): each last-rung candidate's correct
    answers on the test set by seed (`test`) and the test labels by seed, the finalists'
    effects against no augmentation (`baseline`) and against the best, the group tied for best,
    the candidates dropped on the way (from `state`'s rungs), the per-class changes and the
    smallest difference the budget detects."""
    keys = list(test)
    classes = state["classes"]
    vs_none = decide.effects_against(test, baseline, keys)
    means = {k: decide.mean_points(test, k) for k in keys}
    best = max(keys, key=lambda k: (means[k], k == baseline))
    vs_best = decide.effects_against(test, best, keys)
    tied = decide.tied_for_best(test, keys)
    for row in vs_none:
        row["label"] = labels[row["key"]]
        row["words"] = decide.claim_text(row, row["label"])
    for row in vs_best:
        row["label"] = labels[row["key"]]
    seeds = state["seeds"]
    spread = decide.spread_points(test, baseline, keys)
    if spread is None:
        base_acc = means[baseline] / 100
        spread = binomial_spread_points(base_acc, len(next(iter(labels_by_seed.values()))))
    comparisons = max(1, len(keys) - 1)
    dropped = []
    for record in state["rungs"][:-1]:
        decision = record.get("decision") or {}
        effects = {r["key"]: r for r in record.get("vs_none") or []}
        for row in decision.get("rows", []):
            if row["kept"]:
                continue
            effect = effects.get(row["key"], {})
            dropped.append({
                "key": row["key"], "label": labels[row["key"]],
                "rung": record["index"], "epochs": record["epochs"], "why": row["why"],
                "points": effect.get("points"), "low": effect.get("low"),
                "high": effect.get("high"),
            })  # fmt: skip
    tied_labels = [labels[k] for k in tied["tied"]]
    if len(tied["tied"]) > 1:
        tied_words = (f"these {len(tied_labels)} cannot be told apart at this budget: "
                      f"{', '.join(tied_labels)}")  # fmt: skip
    else:
        tied_words = f"{tied_labels[0]} is measurably better than every other finalist"
    if seeds < 2:
        tied_words += " (one seed: no candidates are told apart; a second seed measures "
        tied_words += "the training noise)"
    use = next((k for k in tied["tied"] if k != baseline), None)
    report = {
        "rung": len(state["rungs"]) - 1,
        "epochs": epochs,
        "seeds": seeds,
        "evaluated_on": f"the test set ({len(next(iter(labels_by_seed.values())))} images), "
        "scored once by each last-rung trial at its end; promotions used the validation "
        f"split ({state['validation']} training images held out)",
        "adjustment": "Holm over each family of comparisons (the finalists against no "
        "augmentation; every pair of finalists); intervals are simultaneous 95% "
        "(Bonferroni), so an interval that just misses 0 can sit beside a Holm claim",
        "test_acc_points": means,
        "best": best,
        "use": use,
        "vs_none": vs_none,
        "vs_best": vs_best,
        "tied": tied["tied"],
        "tied_words": tied_words,
        "claimed_pairs": tied["claimed_pairs"],
        "pairs": tied["pairs"],
        "dropped": dropped,
        "classes": classes,
        "per_class": {
            k: decide.per_class_change(test, labels_by_seed, k, baseline, len(classes))
            for k in keys
            if k != baseline
        },
        "spread_points": spread,
        "detectable_points": detectable_points(seeds, comparisons, spread),
        "caution": decide.under_rated(epochs, specs, labels),
    }
    return report
