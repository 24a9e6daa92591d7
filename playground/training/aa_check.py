"""The A/A check: the paired experiment's reading of two runs that differ only in the
augmentation draws, counted over many pairs (`python -m playground.training.compare --aa`).

Both arms of a pair train the same pipeline with the same `--seed` (the same initial weights
and data order) and a different `--aug-seed`, so nothing but chance separates them: every
"helped" or "hurt" is a false claim. How often each reading claims one is what calibrates it:
the default verdict, the one-seed intervals over the test images (McNemar's exact one and the
bootstrap), and the t-interval verdict with 2 or 3 pairs taken as the seeds of one experiment.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from playground.training.checkpoints import atomic_write_bytes, atomic_write_json
from playground.training.compare import _ok, _read_json, _train, load_arm, summarize
from playground.training.settings import by_name
from playground.training.stats import paired_bootstrap, points_text, t_interval, verdict

AA_JSON, AA_TXT = "aa.json", "aa.txt"
AA_OTHER_DRAWS = 1_000_000  # arm b's augmentation seed: the pair's seed plus this


def aa_folders(folder: Path, repeats: int | None = None) -> list[tuple[Path, Path]]:
    """The A/A pairs of `folder`: (arm a, arm b), in order."""
    if repeats is None:
        repeats = len(list(folder.glob("aa*-a")))
    return [(folder / f"aa{k:02d}-a", folder / f"aa{k:02d}-b") for k in range(repeats)]


def run_aa(folder: Path, pipeline: str, repeats: int, train_args: list[str], jobs: int = 1) -> int:
    """K pairs of the same pipeline: each pair has one seed (the same initial weights and data
    order in both arms) and two augmentation seeds, so its arms differ only in what the
    pipeline drew. Every verdict that says "helped" or "hurt" is a false claim. `jobs` pairs
    train at a time (each pair's arms one after the other)."""
    folder.mkdir(parents=True, exist_ok=True)

    def pair(k: int, a: Path, b: Path) -> str:
        for out, draws in ((a, k), (b, k + AA_OTHER_DRAWS)):
            args = ["--pipeline", pipeline, *train_args, by_name("seed").flag, str(k)]
            code = _train(out, [*args, by_name("aug_seed").flag, str(draws)], quiet=True)
            if code != 0:
                return f"error: the run {out.name} ended with status {code}; see {out}/train.out"
        return aa_line(k, summarize([a], [b]))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [
            pool.submit(pair, k, a, b) for k, (a, b) in enumerate(aa_folders(folder, repeats))
        ]
        lines = [f.result() for f in futures]
    for line in lines:
        print(line, flush=True)
    if any(line.startswith("error:") for line in lines):
        return 1
    report = write_aa(folder)
    print(report, end="")
    return 0


def aa_line(k: int, summary: dict[str, Any]) -> str:
    a, b = summary["arms"]["augmented"], summary["arms"]["baseline"]
    return (
        f"pair {k}: {a['test_acc']:.1%} vs {b['test_acc']:.1%}, "
        f"{points_text(summary['effect_points'])} points (test-image interval "
        f"{points_text(summary['ci_low'])} to {points_text(summary['ci_high'])}); "
        f"claim: {summary['claim'] or 'none'}"
    )


def aa_report(pairs: list[tuple[Path, Path]]) -> dict[str, Any]:
    """How often each way of reading a pair claimed an effect between two runs that differ only
    in the augmentation draws: the default verdict (one seed per experiment), the one-seed
    intervals over test images (McNemar's exact one and the bootstrap), and the t-interval
    verdict over 2 and over 3 consecutive pairs taken as the seeds of one experiment."""
    per_pair, diffs = [], []
    for a, b in pairs:
        summary = summarize([a], [b])
        arm_a, arm_b = load_arm(a), load_arm(b)
        boot = [100 * v for v in paired_bootstrap(_ok(arm_a), _ok(arm_b))]
        per_pair.append(
            {
                "runs": [a.name, b.name],
                "test_acc": [arm_a.test_acc, arm_b.test_acc],
                "points": summary["effect_points"],
                "exact_interval": [summary["ci_low"], summary["ci_high"]],
                "bootstrap_interval": boot,
                "mcnemar_p_exact": summary["mcnemar"]["p_exact"],
                "claim": summary["claim"],
            }
        )
        diffs.append(summary["effect_points"])
    k = len(per_pair)
    grouped = {}
    for size in (2, 3):
        claims = [
            verdict(*t_interval(diffs[i : i + size]), size)[0] for i in range(0, k - size + 1, size)
        ]
        grouped[str(size)] = {"experiments": len(claims), "claimed": sum(map(bool, claims))}
    excludes = lambda key: sum(1 for p in per_pair if p[key][0] > 0 or p[key][1] < 0)  # noqa: E731
    return {
        "pairs": per_pair,
        "repeats": k,
        "claimed": sum(1 for p in per_pair if p["claim"]),
        "exact_interval_excluded_0": excludes("exact_interval"),
        "bootstrap_interval_excluded_0": excludes("bootstrap_interval"),
        "t_verdict_by_seeds": grouped,
        "sd_points": float(np.std(diffs, ddof=1)) if k > 1 else None,
    }


def aa_text(report: dict[str, Any]) -> str:
    k = report["repeats"]
    lines = [aa_line(i, _pair_as_summary(p)) for i, p in enumerate(report["pairs"])]
    if report["sd_points"] is not None:
        lines.append(
            f"spread of the pairs' differences (training noise and test images): "
            f"sd {report['sd_points']:.2f} points"
        )
    lines.append(
        f"one-seed intervals over the test images that excluded 0 (would have claimed): "
        f"McNemar exact {report['exact_interval_excluded_0']} of {k}, "
        f"bootstrap {report['bootstrap_interval_excluded_0']} of {k}"
    )
    for size, t in report["t_verdict_by_seeds"].items():
        lines.append(
            f"t-interval verdict with {size} pairs as the seeds of one experiment: "
            f"{t['claimed']} of {t['experiments']} claimed an effect"
        )
    lines.append(f"A/A: {report['claimed']} of {k} claimed an effect")
    return "\n".join(lines) + "\n"


def _pair_as_summary(p: dict[str, Any]) -> dict[str, Any]:
    arms = {"augmented": {"test_acc": p["test_acc"][0]}, "baseline": {"test_acc": p["test_acc"][1]}}
    low, high = p["exact_interval"]
    return {"arms": arms, "effect_points": p["points"], "ci_low": low, "ci_high": high,
            "claim": p["claim"]}  # fmt: skip


def write_aa(folder: Path) -> str:
    pairs = [
        (a, b)
        for a, b in aa_folders(folder)
        if (_read_json(a / "status.json") or {}).get("state") == "finished"
        and (_read_json(b / "status.json") or {}).get("state") == "finished"
    ]
    if not pairs:
        raise ValueError(f"{folder} holds no finished A/A pair (aaNN-a and aaNN-b)")
    report = aa_report(pairs)
    text = aa_text(report)
    atomic_write_json(folder / AA_JSON, report)
    atomic_write_bytes(folder / AA_TXT, text.encode())
    return text
