"""The statistics of the paired experiment (playground.training.compare): the t-interval over
paired seeds, McNemar's exact test and the interval that agrees with it for one seed, the paired
bootstrap, the confusion matrix, and the verdict in words. Plain numbers in, plain numbers out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BOOTSTRAP_SAMPLES = 4000
ALPHA_DEFAULT = 0.05  # the level of every claim: 95% intervals
# two-sided 95% quantiles of Student's t, by degrees of freedom (beyond 30: the expansion below)
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError("a t-interval needs at least two paired differences")
    if df <= len(T975):
        return T975[df - 1]
    z = 1.959964  # Cornish-Fisher expansion around the normal quantile (error < 1e-3 here)
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def spread(diffs: list[float], resolution: float = 0.0) -> float:
    """The standard deviation of paired differences (one per seed), taken as at least
    `resolution`: the points one evaluation image is worth (100 / images). Accuracy on n images
    moves in steps of 100 / n points, so seeds that agree to the image (or to a rounding error:
    7.499999999999998 and 7.500000000000001) have not measured "no training noise", only noise
    finer than the measurement resolves; without the floor their t statistic is infinite and a
    two-seed difference of a few images becomes a certain claim. 0: the sample's own spread."""
    return max(float(np.asarray(diffs, dtype=float).std(ddof=1)), resolution)


def t_interval(diffs: list[float], resolution: float = 0.0) -> tuple[float, float, float]:
    """(mean, low, high): the 95% t-interval of the mean of paired differences (their spread
    taken as at least `resolution`, see `spread`)."""
    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean())
    half = t975(len(d) - 1) * spread(diffs, resolution) / math.sqrt(len(d))
    return mean, mean - half, mean + half


def _binom_half_cdf(k: int, n: int) -> tuple[float, float]:
    """(P(X <= k), P(X = k)) for X ~ Binomial(n, 1/2), in log space (n can be thousands)."""

    def pmf(i: int) -> float:
        return math.exp(
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
        )

    return sum(pmf(i) for i in range(k + 1)), pmf(k)


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> dict[str, Any]:
    """McNemar's test on paired right/wrong outcomes: the images only `a` gets right (b10) and
    only `b` gets right (b01); exact two-sided binomial p-value and the mid-p (less
    conservative, closer to nominal level for small counts)."""
    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    if n == 0:
        return {"only_augmented": 0, "only_baseline": 0, "p_exact": 1.0, "p_mid": 1.0}
    tail, at = _binom_half_cdf(min(only_a, only_b), n)
    return {
        "only_augmented": only_a,
        "only_baseline": only_b,
        "p_exact": min(1.0, 2 * tail),
        "p_mid": min(1.0, 2 * (tail - at / 2)),
    }


def paired_bootstrap(
    a_correct: np.ndarray,
    b_correct: np.ndarray,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile interval of accuracy(a) - accuracy(b), resampling test images (both arms
    together, so the pairing is kept).

    A resample's mean difference depends only on how many images of each kind it drew (right
    only with a, right only with b, the rest), so the resamples are drawn as multinomial counts
    of those three kinds: the same distribution as drawing N indices per resample, in memory
    that does not grow with the test set (4,000 x 10,000 indices were 640 MB)."""
    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    n = len(a)
    kinds = np.array([(a & ~b).sum(), (~a & b).sum(), 0], dtype=float)
    kinds[2] = n - kinds[0] - kinds[1]
    counts = np.random.default_rng(seed).multinomial(n, kinds / n, size=samples)
    means = (counts[:, 0] - counts[:, 1]) / n
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def _clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The exact 95% interval of a binomial proportion (k of n), by bisection on the tails."""
    i = np.arange(n + 1)
    log_fact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n + 1)))))
    log_choose = log_fact[n] - log_fact - log_fact[::-1]

    def at_least(m: int, p: float) -> float:  # P(X >= m), growing with p
        j = i[m:]
        return float(np.exp(log_choose[m:] + j * math.log(p) + (n - j) * math.log1p(-p)).sum())

    def solve(m: int, target: float) -> float:  # the p where P(X >= m) = target
        low, high = 0.0, 1.0
        for _ in range(50):
            mid = (low + high) / 2
            low, high = (mid, high) if at_least(m, mid) < target else (low, mid)
        return (low + high) / 2

    lower = 0.0 if k == 0 else solve(k, 0.025)
    upper = 1.0 if k == n else solve(k + 1, 0.975)  # P(X <= k) = 0.025
    return lower, upper


def mcnemar_interval(only_a: int, only_b: int, images: int) -> tuple[float, float]:
    """95% interval of accuracy(a) - accuracy(b) on these test images that agrees with McNemar's
    exact test: it excludes 0 exactly when the exact p is below 0.05.

    Given the images only one arm gets right (n = only_a + only_b), the difference is
    n/images x (2 pi - 1), pi the chance that such an image is one of a's; the interval is
    the exact (Clopper-Pearson) one of pi, carried over. (A bootstrap beside McNemar's p
    could say "helped" while p was 0.065.)"""
    n = only_a + only_b
    if n == 0:
        return 0.0, 0.0
    low, high = _clopper_pearson(only_a, n)
    return n / images * (2 * low - 1), n / images * (2 * high - 1)


def confusion_matrix(pred: np.ndarray, label: np.ndarray, classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    flat = np.asarray(label, np.int64) * classes + np.asarray(pred, np.int64)
    return np.bincount(flat, minlength=classes * classes).reshape(classes, classes)


def points_text(x: float) -> str:
    """A signed number of points with one decimal, or more where one would read as 0.0 (an
    interval from +0.03 must not print "+0.0" beside "helped")."""
    text = f"{x:+.1f}"
    if x != 0 and float(text) == 0:
        text = f"{x:+.2g}" if abs(x) >= 0.001 else f"{x:+.1e}"
    return text


# A verdict ("helped", "hurt") needs an interval over training runs: the t-interval over paired
# seeds. One seed's interval covers the test images only, and the A/A check
# (`--aa`, docs/benchmarks.md) measured how often it excludes 0 between two runs of the same
# pipeline; one seed is therefore reported as that seed's result, not as a verdict.
MIN_SEEDS_FOR_VERDICT = 2


def verdict(
    points: float, low: float, high: float, seeds: int, subject: str = "augmentation"
) -> tuple[str | None, str]:
    """(claim, the effect in plain words): claim is "helped" or "hurt" when the interval over
    the paired seeds excludes 0, else None. One seed never claims: its interval is over the test
    images only and leaves out training noise (another seed, another augmentation draw)."""
    interval = f"95% CI {points_text(low)} to {points_text(high)}"
    effect = f"{points_text(points)} points ({interval})"
    if seeds < MIN_SEEDS_FOR_VERDICT:
        return None, (
            f"this seed only: {points_text(points)} points on these test images (95% interval "
            f"over the test images, {points_text(low)} to {points_text(high)}); not a verdict: "
            "it leaves out training noise (another seed or augmentation draw moves the result "
            "too). A second seed measures that noise; with 2 or more the interval covers it"
        )
    if high - low <= 0:
        return None, (
            f"no verdict: all {seeds} seeds gave {points_text(points)} points, so their spread "
            "(the training noise) cannot be estimated; more seeds"
        )
    if low > 0:
        return "helped", f"{subject} helped: {effect}"
    if high < 0:
        return "hurt", f"{subject} hurt: {effect}"
    more = "more seeds" if seeds == 2 else "more seeds or train longer"
    return None, f"no measurable effect at this budget: {effect}; {more}"


# ---- Student's t at any level, and Holm's adjustment (the sweep's many comparisons) ---------


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom."""
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t (0 < p < 1), by bisection on t_sf."""
    if not 0 < p < 1:
        raise ValueError("a quantile needs 0 < p < 1")
    low, high = -1.0, 1.0
    while t_sf(low, df) < 1 - p:
        low *= 2
    while t_sf(high, df) > 1 - p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if t_sf(mid, df) > 1 - p else (low, mid)
        if high - low < 1e-12 * max(1.0, abs(mid)):
            break
    return (low + high) / 2


def paired_t(diffs: list[float], resolution: float = 0.0) -> dict[str, float]:
    """The paired t-test of differences (one per seed) against 0: mean, standard error, df and
    the two-sided p-value; their spread taken as at least `resolution` (see `spread`). No spread
    at all (resolution 0 only): p is 1 for a zero mean, else 0."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    if n < 2:
        raise ValueError("a paired t-test needs at least two differences")
    mean, se = float(d.mean()), spread(diffs, resolution) / math.sqrt(n)
    if se == 0:
        return {"mean": mean, "se": 0.0, "df": n - 1, "p": 1.0 if mean == 0 else 0.0}
    return {"mean": mean, "se": se, "df": n - 1, "p": min(1.0, 2 * t_sf(abs(mean) / se, n - 1))}


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (in the given order): a family of comparisons in
    which a claim needs its adjusted p below the level keeps the chance of any false claim at
    or under that level, whichever hypotheses are true."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
