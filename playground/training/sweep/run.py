"""The sweep itself: plan, train each rung's trials, promote, report; everything it decides is
kept in the sweep folder's sweep.json (`state`: written atomically after every step), so a
stopped or interrupted sweep resumes where it was (`--resume OUT`) and the app reads its
progress from the folder alone. The folder's layout and the trials' flags: `state`; the final
report's data and its words: `report`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from playground.training import settings
from playground.training.checkpoints import atomic_write_bytes
from playground.training.loop import FINAL_PREDICTIONS
from playground.training.sweep import decide
from playground.training.sweep.candidates import Candidate, write_pipelines
from playground.training.sweep.executors import STOPPED, Trial
from playground.training.sweep.plan import Cost, Plan, fit, rung_sizes
from playground.training.sweep.report import final_report, summary_text
from playground.training.sweep.state import (
    PROBE,
    PROBE_AGAIN,
    SUMMARY_TXT,
    SweepError,
    _log_tail,
    _right,
    _summary,
    _without,
    data_facts,
    earlier_s,
    save_state,
    trial_args,
    trial_folder,
    validation_size,
)

# Exit statuses of the command: stopped (Stop, SIGTERM) and failed (a trial failed).
EXIT_STOPPED, EXIT_FAILED = 3, 1


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
        no earlier decision read it): kept in sweep.json, and in words in summary.txt."""
        test = self.results(trials, FINAL_PREDICTIONS)
        labels_by_seed = {t.seed: _right(t.out, FINAL_PREDICTIONS)[1] for t in trials}
        specs = {c.key: c.spec for c in self.candidates}
        report = final_report(self.state, test, labels_by_seed, epochs, baseline=self.baseline,
                              labels=self.labels, specs=specs)  # fmt: skip
        self.state["report"] = report
        self.save()
        text = summary_text(self.state)
        atomic_write_bytes(self.folder / SUMMARY_TXT, text.encode())
        self.log(text.rstrip())
        return report


class _Stopped(Exception):
    pass
