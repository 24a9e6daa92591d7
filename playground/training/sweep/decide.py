"""The sweep's decisions: which candidates go on at each rung (by a paired test against the
rung's best, on the validation images) and the final report (on the test set, the finalists'
effects against no augmentation and against each other, adjusted for the many comparisons).

Plain numbers in, plain data out: a candidate's results are, per seed, a boolean array of
which images it got right (every candidate of a seed saw the same images in the same order).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from playground.training.stats import (
    ALPHA_DEFAULT,
    _binom_half_cdf,
    holm,
    mcnemar,
    mcnemar_interval,
    paired_t,
    points_text,
    t_quantile,
    t_sf,
)

Results = dict[str, dict[int, np.ndarray]]  # candidate key -> seed -> right/wrong per image
# Heavy augmentation pays off late: under this many epochs on the last rung, strong candidates
# may be under-rated (and are said to be).
SHORT_SCHEDULE_EPOCHS = 30
POLICY_STEPS = ("AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix", "RandomErasing",
                "CutMix", "MixUp")  # fmt: skip


def accuracy(results: Results, key: str) -> dict[int, float]:
    return {seed: float(ok.mean()) for seed, ok in results[key].items()}


def mean_points(results: Results, key: str) -> float:
    return 100 * float(np.mean(list(accuracy(results, key).values())))


def _diffs(results: Results, a: str, b: str) -> list[float]:
    """Per seed, accuracy points of a minus b, over the seeds both have."""
    seeds = sorted(set(results[a]) & set(results[b]))
    return [100 * (results[a][s].mean() - results[b][s].mean()) for s in seeds]


def resolution(results: Results) -> float:
    """The points one evaluation image is worth: the finest step a per-seed difference can
    take (stats.spread: the seeds' spread is taken as at least this)."""
    images = next(iter(next(iter(results.values())).values()))
    return 100 / max(1, len(images))


def _t(results: Results, a: str, b: str) -> dict[str, float]:
    return paired_t(_diffs(results, a, b), resolution(results))


def _worse_p(results: Results, key: str, best: str) -> tuple[float, float]:
    """(mean difference in points, one-sided p that `key` is worse than `best`): a paired t
    over seeds, or with one seed McNemar's exact one-sided p over the images."""
    diffs = _diffs(results, key, best)
    mean = float(np.mean(diffs))
    if len(diffs) >= 2:
        t = _t(results, key, best)
        return mean, t_sf(-mean / t["se"], t["df"])
    (seed,) = set(results[key]) & set(results[best])
    a, b = results[key][seed], results[best][seed]
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    if only_a + only_b == 0:
        return mean, 1.0
    return mean, _binom_half_cdf(only_a, only_a + only_b)[0]


def promote(
    results: Results, baseline: str, keep: int, labels: dict[str, str], epochs: int
) -> dict[str, Any]:
    """Who goes on: the rung's best (highest mean validation accuracy, the baseline included)
    and the `keep` candidates besides the baseline with the least evidence of being worse than
    it (the largest one-sided p of a paired test), the baseline always. Why each other one was
    dropped, in words."""
    best = max(results, key=lambda k: (mean_points(results, k), k == baseline))
    rows = []
    for key in results:
        diff, p = (0.0, 1.0) if key == best else _worse_p(results, key, best)
        rows.append({"key": key, "mean_points": mean_points(results, key), "vs_best": diff,
                     "p_worse": p})  # fmt: skip
    ranked = sorted(
        (r for r in rows if r["key"] != baseline),
        key=lambda r: (-r["p_worse"], -r["vs_best"], r["key"]),
    )
    kept = {r["key"] for r in ranked[:keep]} | {baseline}
    seeds = len(next(iter(results.values())))
    test = f"paired over {seeds} seeds" if seeds > 1 else "McNemar over the images, one seed"
    for r in rows:
        r["kept"] = r["key"] in kept
        if not r["kept"]:
            r["why"] = (
                f"{points_text(r['vs_best'])} points against {labels[best]} on validation at "
                f"{epochs} epochs ({test}: one-sided p {r['p_worse']:.2g} that it is not worse); "
                f"{keep} of {len(ranked)} went on"
            )
    return {"best": best, "rows": rows, "kept": sorted(kept)}


def _interval(t: dict[str, float], level: float) -> tuple[float, float, float]:
    half = t_quantile(1 - level / 2, t["df"]) * t["se"]
    return t["mean"], t["mean"] - half, t["mean"] + half


def effects_against(
    results: Results, reference: str, keys: list[str], alpha: float = ALPHA_DEFAULT
) -> list[dict[str, Any]]:
    """Each key's effect against `reference` (points): with 2 or more seeds, the mean paired
    difference with a simultaneous (1 - alpha) interval over the family (Bonferroni: each at
    alpha / m) and Holm-adjusted p-values; a claim ("helped", "hurt") needs an adjusted p under
    alpha. With one seed: McNemar over this seed's test images, never a claim."""
    keys = [k for k in keys if k != reference]
    if not keys:
        return []
    seeds = len(set(results[keys[0]]) & set(results[reference]))
    out = []
    if seeds < 2:
        for key in keys:
            (seed,) = set(results[key]) & set(results[reference])
            a, b = results[key][seed], results[reference][seed]
            m = mcnemar(a, b)
            low, high = mcnemar_interval(m["only_augmented"], m["only_baseline"], len(a))
            out.append({"key": key, "points": 100 * float(a.mean() - b.mean()),
                        "low": 100 * low, "high": 100 * high, "p": m["p_exact"],
                        "p_adjusted": None, "claim": None,
                        "interval": "95% exact interval over this seed's test images (McNemar)"})  # fmt: skip
        return out
    level = alpha / len(keys)
    raw = []
    for key in keys:
        diffs = _diffs(results, key, reference)
        t = _t(results, key, reference)
        points, low, high = _interval(t, level)
        raw.append(t["p"])
        out.append({"key": key, "points": points, "low": low, "high": high, "p": t["p"],
                    "per_seed": diffs})  # fmt: skip
    for row, adjusted in zip(out, holm(raw), strict=True):
        row["p_adjusted"] = adjusted
        row["claim"] = None
        if adjusted < alpha:
            row["claim"] = "helped" if row["points"] > 0 else "hurt"
        row["interval"] = (
            f"simultaneous {1 - alpha:.0%} t-interval over the paired seeds (Bonferroni, "
            f"{len(keys)} comparisons)"
        )
    return out


def tied_for_best(
    results: Results, keys: list[str], alpha: float = ALPHA_DEFAULT
) -> dict[str, Any]:
    """Every pair of `keys` compared (paired over seeds, Holm over all the pairs): the
    candidates no other one beats measurably are tied for best. With one seed nobody is told
    apart (one seed's test images leave out training noise)."""
    pairs = list(itertools.combinations(keys, 2))
    seeds = min(len(results[k]) for k in keys)
    rows = []
    if seeds >= 2 and pairs:
        raw = [_t(results, a, b)["p"] for a, b in pairs]
        for (a, b), p, adjusted in zip(pairs, raw, holm(raw), strict=True):
            diff = float(np.mean(_diffs(results, a, b)))
            rows.append({"a": a, "b": b, "points": diff, "p": p, "p_adjusted": adjusted,
                         "different": adjusted < alpha})  # fmt: skip
    beaten = {r["b"] if r["points"] > 0 else r["a"] for r in rows if r["different"]}
    tied = sorted((k for k in keys if k not in beaten), key=lambda k: -mean_points(results, k))
    return {"tied": tied, "pairs": rows, "claimed_pairs": [r for r in rows if r["different"]]}


def per_class_change(
    results: Results, labels_by_seed: dict[int, np.ndarray], key: str, reference: str, classes: int
) -> list[float]:
    """Per class, the test accuracy change of `key` against `reference` (points, mean over the
    seeds)."""
    changes = []
    for seed in sorted(set(results[key]) & set(results[reference])):
        label = labels_by_seed[seed]
        a, b = results[key][seed], results[reference][seed]
        n = np.maximum(np.bincount(label, minlength=classes), 1)
        da = np.bincount(label[a], minlength=classes) / n
        db = np.bincount(label[b], minlength=classes) / n
        changes.append(100 * (da - db))
    return np.mean(changes, axis=0).round(3).tolist()


def claim_text(row: dict[str, Any], subject: str) -> str:
    """One finalist's effect in words."""
    span = f"{points_text(row['low'])} to {points_text(row['high'])}"
    if row.get("p_adjusted") is None:
        return (
            f"{subject}: {points_text(row['points'])} points on this seed's test images (95% "
            f"interval {span}); one seed: not a verdict"
        )
    effect = f"{points_text(row['points'])} points (simultaneous 95% CI {span}, Holm p "
    effect += f"{row['p_adjusted']:.2g})"
    if row["claim"]:
        return f"{subject} {row['claim']}: {effect}"
    return f"{subject}: no measurable effect at this budget, {effect}"


def under_rated(epochs: int, specs: dict[str, dict | None], labels: dict[str, str]) -> str:
    """The short-schedule caution, naming the strong candidates it concerns."""
    if epochs >= SHORT_SCHEDULE_EPOCHS:
        return ""
    strong = [
        labels[k]
        for k, spec in specs.items()
        if spec and any(s["transform"] in POLICY_STEPS and s.get("enabled", True)
                        for s in spec["steps"])
    ]  # fmt: skip
    who = f" ({', '.join(strong)})" if strong else ""
    return (
        f"the last rung trained {epochs} epochs: heavy augmentation often costs accuracy in short "
        f"runs and pays off in long ones, so strong candidates{who} may be under-rated at this "
        "budget"
    )


def spread_points(results: Results, reference: str, keys: list[str]) -> float | None:
    """The pooled standard deviation of the per-seed differences against `reference`: the
    training noise the detectable difference is computed from (at least one evaluation
    image's worth, as every test here takes it: stats.spread)."""
    residuals, dof = 0.0, 0
    for key in keys:
        if key == reference:
            continue
        d = np.asarray(_diffs(results, key, reference))
        if len(d) >= 2:
            residuals += float(((d - d.mean()) ** 2).sum())
            dof += len(d) - 1
    return max(math.sqrt(residuals / dof), resolution(results)) if dof else None
