"""The sweep itself: plan, train each rung's trials, promote, report; everything it decides is
kept in the sweep folder's sweep.json (written atomically after every step), so a stopped or
interrupted sweep resumes where it was (`--resume OUT`) and the app reads its progress from
the folder alone.

Folder layout: `sweep.json`, `summary.txt` (the report in words), `candidates/<key>.json` (the
pipelines as entered), `probe/` (a one-epoch run that measured the cost; `probe-2/` when the
plan from it was over the budget and it measured again), and one ordinary run folder per
trial, `r<rung>-<candidate key>-s<seed>`.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from playground.training import settings
from playground.training.checkpoints import atomic_write_bytes, atomic_write_json
from playground.training.loop import FINAL_PREDICTIONS
from playground.training.sweep import decide
from playground.training.sweep.candidates import Candidate, write_pipelines
from playground.training.sweep.executors import STOPPED, TRAIN_LOG, Trial
from playground.training.sweep.plan import (
    FINALISTS,
    Cost,
    Plan,
    binomial_spread_points,
    detectable_points,
    fit,
    rung_sizes,
)
from playground.training.sweep.report import summary_text

SWEEP_JSON, SUMMARY_TXT = "sweep.json", "summary.txt"
PROBE = "probe"
PROBE_AGAIN = "probe-2"  # the probe measured again, for a plan over the budget
VALIDATION_SHARE, VALIDATION_MAX = 0.2, 5000  # held out when --validation is not given
AUG_SEED_STRIDE = 1_000_000  # candidate i draws with aug seed = seed + i x this
# Exit statuses of the command: stopped (Stop, SIGTERM) and failed (a trial failed).
EXIT_STOPPED, EXIT_FAILED = 3, 1


class SweepError(ValueError):
    """The sweep cannot start or go on; the message says why."""


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_state(folder: Path) -> dict[str, Any] | None:
    return _read(Path(folder) / SWEEP_JSON)


def save_state(folder: Path, state: dict[str, Any]) -> None:
    state["updated"] = time.time()
    atomic_write_json(Path(folder) / SWEEP_JSON, state)


def earlier_s(state: dict[str, Any]) -> float:
    """The seconds a sweep took before this session: what its clean end (stopped, failed)
    wrote, else (killed outright: no clean end) the elapsed time of its last save."""
    before = float(state.get("elapsed_before_s") or 0.0)
    if state.get("state") in ("stopped", "failed", "finished"):
        return before
    return max(before, float(state.get("elapsed_s") or 0.0))


def new_state(
    candidates: list[Candidate],
    train_args: list[str],
    seeds: int,
    budget_s: float,
    executor: str,
    finalists: int = FINALISTS,
    first_seed: int = 0,
    first_epochs: int | None = None,
    trials_per_device: int = 1,
) -> dict[str, Any]:
    return {
        "version": 1,
        "created": time.time(),
        "state": "starting",
        "message": "",
        "candidates": [c.to_dict() for c in candidates],
        "train_args": list(train_args),
        "seeds": seeds,
        "first_seed": first_seed,  # seeds first_seed ... first_seed + seeds - 1
        "budget_s": budget_s,  # None with first_epochs: a fixed schedule
        "first_epochs": first_epochs,
        "executor": executor,
        "trials_per_device": trials_per_device,  # local: trials at a time per device (resume)
        "finalists": finalists,
        "elapsed_before_s": 0.0,
        "plan": None,
        "cost": None,
        "rungs": [],
        "report": None,
    }


# ---- what the trials are -------------------------------------------------------------------


def flag(name: str) -> str:
    return settings.by_name(name).flag


def data_facts(train_args: list[str], pipeline: Path) -> dict[str, Any]:
    """The training command's resolved config for these flags (sizes, classes), in-process."""
    from playground.training import cli

    try:
        args = cli.parser().parse_args([*train_args, "--pipeline", str(pipeline)])
        cfg = cli.resolve(args)
    except cli.UsageError as err:
        raise SweepError(f"the training flags: {err}") from None
    return cfg


def validation_size(train_size: int, classes: int) -> int:
    return max(classes, min(VALIDATION_MAX, round(VALIDATION_SHARE * train_size)))


def trial_args(state: dict[str, Any], key: str, seed: int, epochs: int, pipelines: dict) -> list:
    """The training flags of one trial: the sweep's flags, its validation split, the rung's
    epochs, the seed (the same initial weights and data order for every candidate of a seed)
    and the candidate's own augmentation draws."""
    index = [c["key"] for c in state["candidates"]].index(key)
    args = ["--pipeline", str(pipelines[key]), *state["train_args"]]
    args += [flag("validation"), str(state["validation"])]
    args += [flag("split_seed"), str(state["split_seed"])]
    args += [flag("epochs"), str(epochs), flag("seed"), str(seed)]
    if index == 0:
        args.append(flag("no_augment"))
    else:
        args += [flag("aug_seed"), str(seed + index * AUG_SEED_STRIDE)]
    return args


def trial_folder(folder: Path, rung: int, key: str, seed: int) -> Path:
    return folder / f"r{rung}-{key}-s{seed}"


def _right(run: Path, name: str = "predictions.npz") -> tuple[np.ndarray, np.ndarray]:
    with np.load(run / name) as saved:
        return saved["pred"] == saved["label"], saved["label"].astype(np.int64)


def _summary(run: Path) -> dict[str, Any]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if '"summary"' in line]
    return records[-1] if records else {}


def _log_tail(run: Path) -> str:
    try:
        lines = (run / TRAIN_LOG).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    errors = [line for line in lines if line.startswith("error")]
    return (errors or lines or ["no output"])[-1][:300]


# ---- the sweep -----------------------------------------------------------------------------


class Sweep:
    def __init__(self, folder: Path, state: dict[str, Any], executor: Any, log: Any = print):
        self.folder, self.state, self.executor, self.log = Path(folder), state, executor, log
        self.candidates = [Candidate.from_dict(c) for c in state["candidates"]]
        self.labels = {c.key: c.label for c in self.candidates}
        self.baseline = self.candidates[0].key
        self.session_start = time.time()
        self.before_s = earlier_s(state)
        state["elapsed_before_s"] = self.before_s
        self.stopping = False
        self._saving = threading.Lock()  # executors report finished trials from their threads

    def seeds(self) -> range:
        first = self.state.get("first_seed", 0)
        return range(first, first + self.state["seeds"])

    def elapsed_s(self) -> float:
        """The seconds this sweep has taken, over all its sessions."""
        return self.before_s + (time.time() - self.session_start)

    def save(self, **changes: Any) -> None:
        """sweep.json with `changes` and the elapsed time so far (atomically): after every
        step, and after every trial that ends (`executor.run(..., on_done=self.save)`), so a
        sweep killed outright (SIGKILL, a power cut) loses no more than its running trials'
        time when it is resumed."""
        with self._saving:
            self.state.update(changes)
            self.state["elapsed_s"] = self.elapsed_s()
            save_state(self.folder, self.state)

    def stop(self) -> None:
        self.stopping = True
        self.executor.stop()

    # -- set-up --------------------------------------------------------------------------

    def prepare(self) -> None:
        self.pipelines = write_pipelines(self.folder, self.candidates)
        if self.state.get("validation") is None:
            cfg = data_facts(self.state["train_args"], self.pipelines[self.baseline])
            given = cfg.get("validation")
            held = given or validation_size(cfg["train_size"], len(cfg["classes"]))
            if given:  # the training flags held some out already: those are the validation set
                self.state["train_args"] = _without(self.state["train_args"], "validation")
            self.state["validation"] = held
            self.state["split_seed"] = cfg["split_seed"]
            self.state["train_args"] = _without(self.state["train_args"], "split_seed")
            self.state["classes"] = cfg["classes"]
            self.state["train_size"] = cfg["train_size"] - (0 if given else held)
            self.state["test_size"] = cfg["test_size"] if not given else cfg["final_test_size"]
            self.save()

    def probe(self, name: str) -> Cost:
        """One epoch of the baseline (no augmentation) on the sweep's data, in the run folder
        `name`: seconds per epoch and per start. Each probe's cost is kept in sweep.json."""
        out = self.folder / name
        first = self.seeds()[0]
        args = trial_args(self.state, self.baseline, first, 1, self.pipelines)
        trial = Trial(-1, self.baseline, first, out, args)
        self.log("measuring the cost of an epoch (a one-epoch run without augmentation)")
        (code,) = self.executor.run([trial])
        if self.stopping or code == STOPPED:
            raise _Stopped()
        if code != 0:
            raise SweepError(f"the one-epoch probe run failed: {_log_tail(out)} (see {out})")
        inside = float(_summary(out).get("elapsed_s") or 0.0)
        wall = trial.wall_s or inside
        cost = Cost(epoch_s=max(inside, 1e-3), start_s=max(wall - inside, 0.0))
        probes = self.state.setdefault("probes", [])
        probes.append({"folder": name, "epoch_s": cost.epoch_s, "start_s": cost.start_s})
        self.save()
        return cost

    def measure_cost(self) -> Cost:
        """The probe's cost (`probe`), the sweep's cost until its first rung measures one. Kept
        in sweep.json (a resumed sweep does not measure again)."""
        if self.state.get("cost"):
            return Cost(**self.state["cost"])
        cost = self.probe(PROBE)
        self.save(cost={"epoch_s": cost.epoch_s, "start_s": cost.start_s})
        return cost

    def planned(self, cost: Cost | None) -> dict[str, Any]:
        """The schedule: a fixed one (`first_epochs`), or the one `fit` makes of the budget
        left with the probe's cost. A plan over the budget measures the probe again once (the
        machine may have been busy: other work slows an epoch several times over) and is
        fitted with the faster of the two probes; still over the budget, the sweep stops
        before training a rung (a SweepError: state "failed", its message saying by how much
        and what to change)."""
        plan = self.state.get("plan")
        if plan:
            return plan
        n = len(self.candidates) - 1
        if self.state.get("first_epochs"):
            first = self.state["first_epochs"]
            sizes = rung_sizes(n, self.state["finalists"])
            epochs = [first * 2**k for k in range(len(sizes))]
            plan = Plan(sizes, epochs, self.state["seeds"], self.executor.slots, 0.0, True)
            plan = {**plan.to_dict(), "fixed": True, "predicted_s": None}
            self.save(plan=plan)
            self.log(self.plan_line(plan))
            return plan
        cost = cost or self.measure_cost()  # a budget: the probe measures it

        def fitted_now(cost: Cost) -> tuple[Plan, float]:
            left = max(0.0, self.state["budget_s"] - self.elapsed_s())
            return fit(n, self.state["seeds"], left, cost, self.executor.slots,
                       self.state["finalists"]), left  # fmt: skip

        fitted, left = fitted_now(cost)
        measured = [p["folder"] for p in self.state.get("probes") or []]
        if not fitted.fits and PROBE_AGAIN not in measured:
            self.log(f"the plan from the probe takes {fitted.predicted_s / 60:.1f} min, over the "
                     f"{left / 60:.1f} min left of the budget: measuring again (the machine may "
                     "have been busy)")  # fmt: skip
            again = self.probe(PROBE_AGAIN)
            cost = min(cost, again, key=lambda c: c.trial_s(1))
            self.save(cost={"epoch_s": cost.epoch_s, "start_s": cost.start_s})
            fitted, left = fitted_now(cost)
        if not fitted.fits:
            raise SweepError(self.over_budget(fitted, left, cost))
        plan = fitted.to_dict()
        self.save(plan=plan)
        self.log(self.plan_line(plan))
        return plan

    def over_budget(self, fitted: Plan, left: float, cost: Cost) -> str:
        """Why a sweep over its budget does not start, and what to change, in one line."""
        probes = len(self.state.get("probes") or [])
        return (
            f"over the budget: even the shortest schedule ({', '.join(map(str, fitted.epochs))} "
            f"epochs per rung, {fitted.trials()} trials) is predicted to take "
            f"{fitted.predicted_s / 60:.1f} min, over the {left / 60:.1f} min left of the "
            f"{self.state['budget_s'] / 60:g} min budget (an epoch {cost.epoch_s:.1f} s and a "
            f"start {cost.start_s:.1f} s, the faster of {probes} probes); no rung was trained. "
            f"Give it a larger budget (--budget-minutes), fewer candidates or seeds "
            f"({settings.SEEDS.flag}), or a fixed schedule (--first-epochs N)"
        )

    @staticmethod
    def plan_line(plan: dict[str, Any]) -> str:
        return (
            f"plan: rungs of {', '.join(str(s + 1) for s in plan['sizes'])} candidates (the "
            f"baseline included) x {plan['seeds']} seeds, {', '.join(map(str, plan['epochs']))} "
            + (f"epochs; predicted {plan['predicted_s'] / 60:.1f} min" if plan["predicted_s"]
               else "epochs (a fixed schedule)")
        )  # fmt: skip

    # -- rungs ---------------------------------------------------------------------------

    def rung_trials(self, rung: int, keys: list[str], epochs: int) -> list[Trial]:
        return [
            Trial(rung, key, seed, trial_folder(self.folder, rung, key, seed),
                  trial_args(self.state, key, seed, epochs, self.pipelines))
            for seed in self.seeds()
            for key in keys
        ]  # fmt: skip

    def results(self, trials: list[Trial], name: str = "predictions.npz") -> decide.Results:
        out: decide.Results = {}
        for t in trials:
            out.setdefault(t.key, {})[t.seed] = _right(t.out, name)[0]
        return out

    def run_rung(self, rung: int, keys: list[str], epochs: int) -> list[Trial]:
        trials = self.rung_trials(rung, keys, epochs)
        record = self.state["rungs"][rung]
        record.update(state="running", trials=[t.name for t in trials])
        self.save()
        self.log(f"rung {rung + 1}: {len(keys)} candidates x {self.state['seeds']} seeds, "
                 f"{epochs} epochs")  # fmt: skip
        codes = self.executor.run(trials, on_done=self.save)
        if self.stopping or STOPPED in codes:
            raise _Stopped()
        failed = [(t, c) for t, c in zip(trials, codes, strict=True) if c != 0]
        if failed:
            t, c = failed[0]
            raise SweepError(f"the trial {t.name} ended with status {c}: {_log_tail(t.out)}")
        record["wall_s"] = sum(t.wall_s for t in trials)
        record["epoch_s"] = (
            float(np.mean([_summary(t.out).get("elapsed_s", 0) for t in trials])) / epochs
        )
        return trials

    def remeasured(self, trials: list[Trial], epochs: int, cost: Cost | None) -> Cost:
        """The cost measured on this rung's trials (augmented ones cost more per epoch than
        the probe's baseline; trials sharing a device train slower than the probe did alone):
        what the rest of the plan is fitted with. Each trial's own seconds, as it ran beside
        the others: its in-process seconds per epoch, and its wall time less those."""
        inside = [float(_summary(t.out).get("elapsed_s") or 0) for t in trials]
        walls = [t.wall_s for t in trials if t.wall_s > 0]
        epoch_s = float(np.mean(inside)) / epochs
        start_s = cost.start_s if cost else 0.0
        if walls and len(walls) == len(trials):
            start_s = max(0.0, float(np.mean([w - i for w, i in zip(walls, inside, strict=True)])))
        return Cost(epoch_s=max(epoch_s, 1e-3), start_s=start_s)

    def run(self) -> int:
        try:
            self.save(state="running", message="")
            self.prepare()
            # a fixed schedule needs no probe: the first rung measures the cost for the ETA
            cost = None if self.state.get("first_epochs") else self.measure_cost()
            plan = self.planned(cost)
            if cost is not None:  # the faster probe, if it measured again
                cost = Cost(**self.state["cost"])
            keys = [c.key for c in self.candidates]
            rung = 0
            while True:
                if rung >= len(self.state["rungs"]):
                    self.state["rungs"].append({"index": rung, "epochs": plan["epochs"][rung],
                                                "keys": keys, "state": "waiting"})  # fmt: skip
                record = self.state["rungs"][rung]
                keys, epochs = record["keys"], record["epochs"]
                trials = self.run_rung(rung, keys, epochs)
                results = self.results(trials)
                last = rung == len(plan["sizes"]) - 1
                if last:
                    record["state"] = "finished"
                    self.report(trials, epochs)
                    break
                decision = decide.promote(results, self.baseline, plan["sizes"][rung + 1],
                                          self.labels, epochs)  # fmt: skip
                effects = decide.effects_against(results, self.baseline, keys)
                record.update(state="finished", decision=decision, vs_none=effects)
                for row in decision["rows"]:
                    if not row["kept"]:
                        self.log(f"  dropped {self.labels[row['key']]}: {row['why']}")
                cost = self.remeasured(trials, epochs, cost)
                self.state["cost"] = {"epoch_s": cost.epoch_s, "start_s": cost.start_s}
                keys = [k for k in keys if k in decision["kept"]]
                rung += 1
                if plan.get("fixed"):
                    self.save()
                    continue
                left = self.state["budget_s"] - self.elapsed_s()
                refit = fit(len(self.candidates) - 1, self.state["seeds"], left, cost,
                            self.executor.slots, self.state["finalists"], after=rung,
                            done_epochs=plan["epochs"][:rung])  # fmt: skip
                plan["epochs"] = refit.epochs
                plan["predicted_left_s"] = refit.predicted_s
                self.save(plan=plan)
            self.save(state="finished", message="")
            return 0
        except _Stopped:
            self.save(state="stopped", message="stopped: resume it to continue where it was",
                      elapsed_before_s=self.elapsed_s())  # fmt: skip
            self.log("stopped")
            return EXIT_STOPPED
        except (SweepError, OSError, ValueError, KeyError) as err:
            self.save(state="failed", message=str(err), elapsed_before_s=self.elapsed_s())
            self.log(f"error: {err}")
            return EXIT_FAILED

    # -- the report ----------------------------------------------------------------------

    def report(self, trials: list[Trial], epochs: int) -> dict[str, Any]:
        """The final report, on the test set (each last-rung trial scored it once, at its end;
        no earlier decision read it)."""
        test = self.results(trials, FINAL_PREDICTIONS)
        labels_by_seed = {t.seed: _right(t.out, FINAL_PREDICTIONS)[1] for t in trials}
        keys = list(test)
        classes = self.state["classes"]
        vs_none = decide.effects_against(test, self.baseline, keys)
        means = {k: decide.mean_points(test, k) for k in keys}
        best = max(keys, key=lambda k: (means[k], k == self.baseline))
        vs_best = decide.effects_against(test, best, keys)
        tied = decide.tied_for_best(test, keys)
        for row in vs_none:
            row["label"] = self.labels[row["key"]]
            row["words"] = decide.claim_text(row, row["label"])
        for row in vs_best:
            row["label"] = self.labels[row["key"]]
        seeds = self.state["seeds"]
        spread = decide.spread_points(test, self.baseline, keys)
        if spread is None:
            base_acc = means[self.baseline] / 100
            spread = binomial_spread_points(base_acc, len(next(iter(labels_by_seed.values()))))
        comparisons = max(1, len(keys) - 1)
        dropped = []
        for record in self.state["rungs"][:-1]:
            decision = record.get("decision") or {}
            effects = {r["key"]: r for r in record.get("vs_none") or []}
            for row in decision.get("rows", []):
                if row["kept"]:
                    continue
                effect = effects.get(row["key"], {})
                dropped.append({
                    "key": row["key"], "label": self.labels[row["key"]],
                    "rung": record["index"], "epochs": record["epochs"], "why": row["why"],
                    "points": effect.get("points"), "low": effect.get("low"),
                    "high": effect.get("high"),
                })  # fmt: skip
        tied_labels = [self.labels[k] for k in tied["tied"]]
        if len(tied["tied"]) > 1:
            tied_words = (f"these {len(tied_labels)} cannot be told apart at this budget: "
                          f"{', '.join(tied_labels)}")  # fmt: skip
        else:
            tied_words = f"{tied_labels[0]} is measurably better than every other finalist"
        if seeds < 2:
            tied_words += " (one seed: no candidates are told apart; a second seed measures "
            tied_words += "the training noise)"
        use = next((k for k in tied["tied"] if k != self.baseline), None)
        specs = {c.key: c.spec for c in self.candidates}
        report = {
            "rung": len(self.state["rungs"]) - 1,
            "epochs": epochs,
            "seeds": seeds,
            "evaluated_on": f"the test set ({len(next(iter(labels_by_seed.values())))} images), "
            "scored once by each last-rung trial at its end; promotions used the validation "
            f"split ({self.state['validation']} training images held out)",
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
                k: decide.per_class_change(test, labels_by_seed, k, self.baseline, len(classes))
                for k in keys
                if k != self.baseline
            },
            "spread_points": spread,
            "detectable_points": detectable_points(seeds, comparisons, spread),
            "caution": decide.under_rated(epochs, specs, self.labels),
        }
        self.state["report"] = report
        self.save()
        text = summary_text(self.state)
        atomic_write_bytes(self.folder / SUMMARY_TXT, text.encode())
        self.log(text.rstrip())
        return report


class _Stopped(Exception):
    pass


def _without(args: list[str], name: str) -> list[str]:
    """`args` without the flag `name` and its value (either spelling)."""
    spelt, out, skip = flag(name), [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == spelt:
            skip = True
            continue
        if a.startswith(spelt + "="):
            continue
        out.append(a)
    return out
