"""The sweep's progress and report in words, read from its state (sweep.json) alone: the
seconds left by the plan (`eta_s`) and the summary (`summary_text`, summary.txt), for the
command line, the sweep itself and the Train tab's panel."""

from __future__ import annotations

from typing import Any

from playground.training.sweep.plan import Cost, predicted_s


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
