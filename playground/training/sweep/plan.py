"""The sweep's schedule: successive halving over rungs, fitted to a time budget, and what that
budget can detect.

Rung r trains each remaining candidate (and the baseline, always) from scratch for
`epochs[r]` epochs with `seeds` paired seeds; the better half (by a paired test against the
rung's best, `decide.promote`) goes on to rung r + 1, whose schedule is twice as long:
epochs[r] = first x 2^r. Halving stops once `FINALISTS` or fewer candidates besides the
baseline are left, so the last rung compares a few candidates on a long schedule. `first` is
the largest whole number of epochs whose predicted cost fits the budget.

The cost model: a trial costs `start_s + epochs x epoch_s`, and a rung of T trials over
`slots` slots costs ceil(T / slots) trials one after another. The first plan is fitted with
the probe's cost: one trial alone on the machine (with K > 1, alone but with its share of the
CPU threads, as each trial has). When several trials share a device (`--trials-per-device K`:
slots = K per GPU, or K on the CPU) each of them can train slower than the probe did (the
others' epochs on the same GPU, memory bandwidth), so the first plan can be optimistic, by up
to K where they saturate the device; that slowdown is not guessed at. After each rung the rest of the schedule is fitted again (`fit(...,
after=, done_epochs=)`) to the budget left by the clock, with the cost measured on that
rung's trials as they ran (`run.Sweep.remeasured`: each trial's own wall time, start to exit,
and its in-process seconds per epoch), which includes the slowdown of sharing, so the later
rungs are planned with what sharing really costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from playground.training.stats import t_quantile

FINALISTS = 2  # candidates besides the baseline on the last rung (fewer if fewer entered)
ALPHA = 0.05
POWER = 0.8


def rung_sizes(candidates: int, finalists: int = FINALISTS) -> list[int]:
    """How many candidates besides the baseline each rung trains: halved (rounded up) until
    `finalists` or fewer are left."""
    sizes = [candidates]
    while sizes[-1] > finalists:
        sizes.append(max(finalists, math.ceil(sizes[-1] / 2)))
    return sizes


@dataclass(frozen=True)
class Cost:
    """What one trial costs: seconds per epoch (training and its evaluation) and per start
    (process start, data loading, the final scoring)."""

    epoch_s: float
    start_s: float

    def trial_s(self, epochs: int) -> float:
        return self.start_s + epochs * self.epoch_s


@dataclass(frozen=True)
class Plan:
    sizes: list[int]  # candidates besides the baseline, per rung
    epochs: list[int]  # per rung
    seeds: int
    slots: int  # trials that run at a time
    predicted_s: float
    fits: bool  # False: even one epoch on the first rung does not fit the budget

    def trials(self) -> int:
        return sum((n + 1) * self.seeds for n in self.sizes)

    def to_dict(self) -> dict:
        return {
            "sizes": self.sizes,
            "epochs": self.epochs,
            "seeds": self.seeds,
            "slots": self.slots,
            "predicted_s": self.predicted_s,
            "fits": self.fits,
            "trials": self.trials(),
        }


def predicted_s(sizes: list[int], epochs: list[int], seeds: int, cost: Cost, slots: int) -> float:
    """Seconds for these rungs: each rung's trials shared over `slots` (rounded up: a rung
    waits for its slowest slot)."""
    total = 0.0
    for n, e in zip(sizes, epochs, strict=True):
        total += math.ceil((n + 1) * seeds / slots) * cost.trial_s(e)
    return total


def fit(
    candidates: int,
    seeds: int,
    budget_s: float,
    cost: Cost,
    slots: int = 1,
    finalists: int = FINALISTS,
    after: int = 0,
    done_epochs: list[int] | None = None,
) -> Plan:
    """The longest doubling schedule whose predicted time fits `budget_s`. With `done_epochs`
    (rungs already trained), only the rungs from `after` on are fitted, each still longer than
    the last one done (a re-plan with the measured cost)."""
    sizes = rung_sizes(candidates, finalists)
    done = list(done_epochs or [])[:after]
    rest = sizes[after:]
    floor = (done[-1] + 1) if done else 1

    def schedule(first: int) -> list[int]:
        return done + [first * 2**k for k in range(len(rest))]

    def cost_of(first: int) -> float:
        return predicted_s(rest, schedule(first)[after:], seeds, cost, slots)

    if not rest:  # nothing left to fit (and no cost to grow: the loop below would not end)
        return Plan(sizes, done, seeds, slots, 0.0, True)
    first = floor
    fits = cost_of(first) <= budget_s
    while fits and cost_of(first + 1) <= budget_s:
        first += 1
    epochs = schedule(first)
    return Plan(sizes, epochs, seeds, slots, cost_of(first), fits)


def detectable_points(
    seeds: int, comparisons: int, spread_points: float, alpha: float = ALPHA, power: float = POWER
) -> float | None:
    """The smallest true difference (accuracy points) that a paired t-test over `seeds`
    differences, Holm/Bonferroni-adjusted over `comparisons`, finds with probability `power`,
    when the per-seed differences spread by `spread_points` (their standard deviation). None
    with one seed: no test over seeds."""
    if seeds < 2:
        return None
    df = seeds - 1
    level = alpha / max(1, comparisons)
    critical = t_quantile(1 - level / 2, df) + t_quantile(power, df)
    return critical * spread_points / math.sqrt(seeds)


def binomial_spread_points(accuracy: float, images: int) -> float:
    """The spread (points) of the difference between two runs' accuracies on the same `images`
    from the images alone, if their mistakes were independent: a floor for the per-seed spread
    (training noise adds to it; paired runs that share mistakes spread less)."""
    p = min(max(accuracy, 0.05), 0.95)
    return 100 * math.sqrt(2 * p * (1 - p) / max(1, images))
