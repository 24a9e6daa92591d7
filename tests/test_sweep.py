"""The sweep's rules: its statistics, promotions, schedule and candidates, checked without
training; and one tiny sweep trained end to end, stopped and resumed."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from playground.training.stats import T975, holm, paired_t, t_quantile, t_sf
from playground.training.sweep import decide
from playground.training.sweep.__main__ import main as sweep_main
from playground.training.sweep.candidates import CandidateError, make_candidates
from playground.training.sweep.plan import Cost, detectable_points, fit, rung_sizes

# ---- statistics ----------------------------------------------------------------------------


def test_t_quantiles_are_students():
    for df, value in enumerate(T975, start=1):
        assert t_quantile(0.975, df) == pytest.approx(value, abs=1.5e-3)
    assert t_quantile(0.995, 2) == pytest.approx(9.925, abs=1e-3)
    assert t_quantile(0.9875, 4) == pytest.approx(3.495, abs=1e-3)
    assert t_sf(0.0, 3) == pytest.approx(0.5)
    assert t_sf(-2.0, 10) == pytest.approx(1 - t_sf(2.0, 10))


def test_holm_adjusts_step_down_and_never_lowers_a_p_value():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    raw = list(np.random.default_rng(0).uniform(size=12))
    adjusted = holm(raw)
    assert all(a >= r for a, r in zip(adjusted, raw, strict=True))
    order = np.argsort(raw)
    assert all(np.diff(np.asarray(adjusted)[order]) >= 0)


def test_a_paired_t_with_no_spread_is_a_tie_or_a_certainty():
    assert paired_t([1.0, 1.0, 1.0])["p"] == 0.0
    assert paired_t([0.0, 0.0])["p"] == 1.0
    assert paired_t([1.0, 2.0, 3.0])["p"] == pytest.approx(0.0742, abs=1e-4)


def test_seeds_that_agree_to_the_image_are_not_a_certainty():
    # two seeds each 6 of 80 validation images worse: 7.5 points, equal but for a rounding error
    diffs = [100 * (0.5 - 0.575), 100 * (0.6 - 0.675)]
    assert diffs[0] != diffs[1] and paired_t(diffs)["p"] < 1e-12  # the sample's own: "certain"
    floored = paired_t(diffs, resolution=100 / 80)  # spread at least one image: 1.25 points
    assert floored["se"] == pytest.approx(1.25 / np.sqrt(2))
    assert 0.05 < floored["p"] < 0.1  # t 8.5 with one degree of freedom
    rng = np.random.default_rng(0)
    base = {s: rng.random(80) < 0.5 for s in (0, 1)}
    worse = {s: base[s].copy() for s in base}
    for s in worse:  # the same 6 more images wrong in both seeds
        worse[s][np.flatnonzero(worse[s])[:6]] = False
    results = {"none": base, "b": worse}
    (row,) = decide.effects_against(results, "none", ["none", "b"])
    assert row["points"] == pytest.approx(-7.5) and row["claim"] is None
    assert row["low"] < -7.5 - 10 and row["high"] > 0  # an interval, not -7.5 to -7.5
    assert decide.spread_points(results, "none", ["b"]) == pytest.approx(1.25)


def _simulated(rng, true_points: dict[str, float], seeds: int, images: int, noise: float):
    """Right/wrong arrays per candidate and seed: each run's accuracy is its true accuracy plus
    training noise (sd `noise` points), its mistakes drawn on `images` shared test images."""
    results: decide.Results = {}
    hardness = rng.uniform(size=(seeds, images))  # the same images are hard for every run
    for key, points in true_points.items():
        results[key] = {}
        for s in range(seeds):
            acc = (points + rng.normal(0, noise)) / 100
            results[key][s] = hardness[s] < acc + rng.normal(0, 0.05, images)
    return results


def test_an_a_a_sweep_claims_no_difference_in_at_least_95_percent_of_repeats():
    """Three copies of one pipeline and no augmentation (really worse): a claim between two
    copies is false; Holm over every pair keeps such claims at or under 5%."""
    rng = np.random.default_rng(1)
    false = 0
    repeats = 300
    for _ in range(repeats):
        truth = {"none": 60.0, "a": 65.0, "b": 65.0, "c": 65.0}
        results = _simulated(rng, truth, seeds=3, images=500, noise=1.5)
        tied = decide.tied_for_best(results, list(truth))
        false += any({p["a"], p["b"]} <= {"a", "b", "c"} for p in tied["claimed_pairs"])
    assert false / repeats <= 0.05


def test_simultaneous_intervals_cover_every_true_effect_together_at_95_percent():
    rng = np.random.default_rng(2)
    truth = {"none": 60.0, "a": 62.0, "b": 60.0, "c": 57.0}
    covered = 0
    repeats = 300
    for _ in range(repeats):
        results = _simulated(rng, truth, seeds=4, images=400, noise=1.0)
        rows = decide.effects_against(results, "none", list(truth))
        covered += all(r["low"] <= truth[r["key"]] - 60 <= r["high"] for r in rows)
    assert covered / repeats >= 0.93


def test_a_large_effect_is_claimed_and_one_seed_never_claims():
    rng = np.random.default_rng(3)
    truth = {"none": 50.0, "strong": 70.0}
    results = _simulated(rng, truth, seeds=4, images=1000, noise=0.5)
    (row,) = decide.effects_against(results, "none", list(truth))
    assert row["claim"] == "helped" and row["low"] > 0
    assert decide.claim_text(row, "strong").startswith("strong helped: +")
    one = {k: {0: v[0]} for k, v in results.items()}
    (row,) = decide.effects_against(one, "none", list(truth))
    assert row["claim"] is None and "not a verdict" in decide.claim_text(row, "strong")
    assert decide.tied_for_best(one, list(truth))["tied"] == ["strong", "none"]


def test_promotion_keeps_the_least_evidently_worse_and_always_the_baseline():
    rng = np.random.default_rng(4)
    truth = {"none": 40.0, "good": 70.0, "close": 69.0, "bad": 50.0, "worse": 45.0}
    results = _simulated(rng, truth, seeds=3, images=800, noise=0.5)
    labels = {k: k for k in truth}
    decision = decide.promote(results, "none", keep=2, labels=labels, epochs=3)
    assert decision["best"] == "good"
    assert set(decision["kept"]) == {"none", "good", "close"}
    why = {r["key"]: r.get("why", "") for r in decision["rows"]}
    assert why["bad"].startswith("-") and "against good on validation at 3 epochs" in why["bad"]
    assert "2 of 4 went on" in why["worse"]


# ---- the schedule --------------------------------------------------------------------------


def test_rungs_halve_down_to_the_finalists():
    assert rung_sizes(5) == [5, 3, 2]
    assert rung_sizes(24, 2) == [24, 12, 6, 3, 2]
    assert rung_sizes(2) == [2]
    assert rung_sizes(7, 1) == [7, 4, 2, 1]


def test_the_schedule_doubles_and_fits_the_budget():
    cost = Cost(epoch_s=2.0, start_s=5.0)
    plan = fit(5, seeds=2, budget_s=1200, cost=cost)
    assert plan.fits and plan.predicted_s <= 1200
    assert plan.epochs == [plan.epochs[0] * 2**k for k in range(3)]
    longer = fit(5, seeds=2, budget_s=1200, cost=cost, done_epochs=None)
    assert fit(5, 2, 2400, cost).epochs[0] > plan.epochs[0] == longer.epochs[0]
    assert not fit(5, 2, 10, cost).fits
    refit = fit(5, 2, 300, cost, after=1, done_epochs=[4])
    assert refit.epochs[0] == 4 and refit.epochs[1] >= 5
    assert fit(3, 2, 100, cost, slots=2).predicted_s < fit(3, 2, 100, cost, slots=1).predicted_s


def test_more_seeds_detect_smaller_differences():
    values = [detectable_points(s, 3, spread_points=2.0) for s in (2, 3, 5, 10)]
    assert values == sorted(values, reverse=True)
    assert detectable_points(1, 3, 2.0) is None
    assert detectable_points(10, 1, 2.0) < detectable_points(10, 5, 2.0)


# ---- candidates ----------------------------------------------------------------------------


def test_candidates_start_with_the_baseline_and_number_repeats():
    found = make_candidates(["cifar-standard", "none", "cifar-standard", "randaugment"])
    assert [c.label for c in found] == [
        "no augmentation",
        "cifar-standard",
        "cifar-standard (2)",
        "randaugment",
    ]
    assert found[0].baseline and len({c.key for c in found}) == 4


def test_a_ladder_varies_one_parameter_of_the_pipeline(tmp_path):
    found = make_candidates(["d2l-color"], ["ColorJitter.brightness=0,0.2,0.8"])
    ladder = [c for c in found if c.source.startswith("ladder")]
    assert [c.spec["steps"][0]["params"]["brightness"] for c in ladder] == [0.0, 0.2, 0.8]
    assert ladder[1].label == "d2l-color · ColorJitter brightness 0.2"
    with pytest.raises(CandidateError, match="has no parameter 'bright'"):
        make_candidates(["d2l-color"], ["ColorJitter.bright=0,1"])
    with pytest.raises(CandidateError, match="no active RandAugment"):
        make_candidates(["d2l-color"], ["RandAugment.magnitude=5,9"])
    with pytest.raises(CandidateError, match=r"ColorJitter.brightness=7"):
        make_candidates(["d2l-color"], ["ColorJitter.brightness=0.2,7"])
    with pytest.raises(CandidateError, match="not a number"):
        make_candidates(["d2l-color"], ["ColorJitter.brightness=0.2,much"])
    with pytest.raises(CandidateError, match="no candidates"):
        make_candidates(["none"])


# ---- a sweep, trained ----------------------------------------------------------------------

TINY = ["--dataset", "synthetic", "--synthetic-size", "160", "--width", "4", "--device", "cpu"]


def _sweep(*args: str) -> list[str]:
    return [sys.executable, "-m", "playground.training.sweep", *args]


def test_bad_sweep_commands_are_one_error_line(tmp_path, capsys):
    for args, words in (
        (["--candidates", "randaugment", "--out", str(tmp_path / "a")], "--budget-minutes"),
        (["--candidates", "randaugment", "--budget-minutes", "1", "--seed", "3",
          "--out", str(tmp_path / "b")], "set per trial"),
        (["--candidates", "nosuch", "--budget-minutes", "1", "--out", str(tmp_path / "c")],
         "candidate 'nosuch'"),
    ):  # fmt: skip
        try:
            code = sweep_main([*args, *TINY])
        except SystemExit as exit:
            code = exit.code
        assert code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "c").exists()  # nothing written for a refused sweep


def test_the_ray_executor_without_ray_is_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as where it is not installed
    monkeypatch.delitem(sys.modules, "playground.training.sweep.ray_executor", raising=False)
    code = sweep_main(["--executor", "ray", "--candidates", "randaugment", "--budget-minutes", "1",
                       "--out", str(tmp_path / "r"), *TINY])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "requirements-ray.txt" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def _wait(predicate, timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_sweep_trains_promotes_stops_resumes_and_reports(tmp_path):
    """The one real sweep: 10 trials (each seconds of process start for a fraction of a second
    of training), two at a time (--trials-per-device 2), stopped after its first trial ends
    and resumed."""
    out = tmp_path / "sweep"
    args = ["--candidates", "cifar-standard", "d2l-flip", "--seeds", "2", "--finalists", "1"]
    args += ["--first-epochs", "1", "--trials-per-device", "2", "--out", str(out), *TINY]
    proc = subprocess.Popen(_sweep(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = out / "r0-c00-none-s0"

    def first_finished() -> bool:
        try:
            return json.loads((first / "status.json").read_text())["state"] == "finished"
        except (OSError, ValueError, KeyError):
            return False

    _wait(first_finished)
    kept = (first / "predictions.npz").stat().st_mtime_ns
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 3, proc.stdout.read().decode()
    assert json.loads((out / "sweep.json").read_text())["state"] == "stopped"

    done = subprocess.run(_sweep("--resume", str(out)), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (first / "predictions.npz").stat().st_mtime_ns == kept  # finished: kept, not retrained
    state = json.loads((out / "sweep.json").read_text())
    assert state["state"] == "finished"
    assert state["trials_per_device"] == 2 and state["plan"]["slots"] == 2
    assert state["elapsed_s"] > 0
    first_rung, last_rung = state["rungs"]
    assert len(first_rung["keys"]) == 3 and len(last_rung["keys"]) == 2
    assert (first_rung["epochs"], last_rung["epochs"]) == (1, 2)
    assert "c00-none" in last_rung["keys"]  # the baseline is carried forward
    dropped = [r for r in first_rung["decision"]["rows"] if not r["kept"]]
    assert len(dropped) == 1 and "on validation" in dropped[0]["why"]
    report = state["report"]
    assert report["evaluated_on"].startswith("the test set (32 images)")
    assert set(report["test_acc_points"]) == set(last_rung["keys"])
    (effect,) = report["vs_none"]
    assert math.isfinite(effect["low"]) and effect["low"] <= effect["points"] <= effect["high"]
    assert len(report["per_class"][effect["key"]]) == len(report["classes"]) == 10
    assert report["dropped"][0]["key"] == dropped[0]["key"]
    assert report["caution"]  # a 2-epoch last rung is short
    summary = (out / "summary.txt").read_text()
    assert "tied for best" in summary and "final report on the test set" in summary
    for trial in last_rung["trials"]:  # ordinary runs, evaluated on the held-out images
        config = json.loads((out / trial / "config.json").read_text())
        assert config["validation"] == state["validation"] and config["epochs"] == 2


class Killed(BaseException):
    """The sweep's process killed outright (SIGKILL): nothing of it runs after."""


class FakeExecutor:
    """Trains nothing: writes each trial's folder as a finished run would, its right/wrong
    answers drawn from a true accuracy per candidate (the key's last part) and the trial's
    seed, and its in-process seconds from a cost per epoch."""

    name, slots = "fake", 1

    def __init__(self, truth: dict[str, float], epoch_s: float = 2.0, probe_s=()) -> None:
        self.truth, self.epoch_s, self.trained = truth, epoch_s, []
        self.probe_s = list(probe_s)  # the probes' seconds per epoch, one after another
        self.spent = 0.0  # the fake clock: every trial's seconds
        self.kill_after: int | None = None  # trials trained before the process is killed

    def run(self, trials, on_done=None):
        for t in trials:
            if self.kill_after is not None and len(self.trained) >= self.kill_after:
                raise Killed
            flags = dict(zip(t.args, t.args[1:], strict=False))
            epochs, seed = int(flags["--epochs"]), int(flags["--seed"])
            epoch_s = self.probe_s.pop(0) if t.rung < 0 and self.probe_s else self.epoch_s
            acc = self.truth[t.key.split("-", 1)[1]] / 100
            t.out.mkdir(parents=True, exist_ok=True)
            for name, n, offset in (("predictions.npz", 300, 0), ("test-predictions.npz", 200, 7)):
                rng = np.random.default_rng([seed, offset, epochs])
                label = rng.integers(0, 10, n)
                right = rng.uniform(size=n) < acc + np.random.default_rng(len(t.key)).normal(
                    0, 0.01
                )
                np.savez(t.out / name, pred=np.where(right, label, (label + 1) % 10), label=label)
            summary = {"type": "summary", "elapsed_s": epochs * epoch_s}
            (t.out / "metrics.jsonl").write_text(json.dumps(summary) + "\n")
            (t.out / "status.json").write_text(json.dumps({"state": "finished"}))
            t.wall_s += epochs * epoch_s + 1.0
            self.spent += epochs * epoch_s + 1.0
            self.trained.append((t.rung, t.key, epochs))
            if on_done is not None:
                on_done()
        return [0] * len(trials)

    def stop(self):
        pass


def test_the_budget_sets_the_schedule_from_a_probe_and_refits_after_each_rung(tmp_path):
    from playground.training.sweep.run import Sweep
    from playground.training.sweep.state import new_state

    truth = {"none": 40.0, "cifar-standard": 60.0, "d2l-flip": 45.0, "randaugment": 59.0}
    candidates = make_candidates(["cifar-standard", "d2l-flip", "randaugment"])
    tiny = ["--dataset", "synthetic", "--synthetic-size", "500", "--device", "cpu"]
    state = new_state(candidates, tiny, seeds=3, budget_s=600, executor="fake", finalists=2)
    fake = FakeExecutor(truth)

    class FakeClock(Sweep):  # the sweep's clock is the fake trials' seconds
        def elapsed_s(self) -> float:
            return self.before_s + sum(e * 2.0 + 1.0 for _, _, e in fake.trained)

    assert FakeClock(tmp_path, state, fake, log=lambda m: None).run() == 0
    state = json.loads((tmp_path / "sweep.json").read_text())
    assert fake.trained[0] == (-1, "c00-none", 1)  # the probe: one epoch, no augmentation
    assert state["cost"]["epoch_s"] == pytest.approx(2.0)
    assert state["validation"] == 100 and state["train_size"] == 400  # 20% of 500 held out
    sizes, epochs = state["plan"]["sizes"], state["plan"]["epochs"]
    assert sizes == [3, 2] and epochs[1] > epochs[0] >= 1
    spent = sum(e * 2.0 + 1.0 for _, _, e in fake.trained)
    assert spent <= 600  # the schedule fitted the budget with the measured cost
    assert fit(3, 3, 600 - 3.0, Cost(2.0, 1.0)).epochs[0] == epochs[0]
    # after the first rung the rest is fitted again to what is left, from the next rung on
    first_rung = 3 + (3 + 1) * 3 * (epochs[0] * 2.0 + 1.0)
    refit = fit(3, 3, 600 - first_rung, Cost(2.0, 1.0), after=1, done_epochs=epochs[:1])
    assert epochs[1] == refit.epochs[1]
    assert fit(3, 3, 60, Cost(2.0, 1.0), after=2, done_epochs=epochs).epochs == epochs  # done
    kept = state["rungs"][0]["decision"]["kept"]
    assert "c02-d2l-flip" not in kept and "c00-none" in kept
    report = state["report"]
    assert report["best"] == "c01-cifar-standard"
    assert {r["key"]: r["claim"] for r in report["vs_none"]} == {
        "c01-cifar-standard": "helped",
        "c03-randaugment": "helped",
    }
    assert "c00-none" not in report["tied"] and "c01-cifar-standard" in report["tied"]


# ---- several trials at a time on one device ------------------------------------------------

# A fake trial: writes the environment it was given, says it is here, and waits (at most
# 30 s) until `n` trials of its batch are here at once; exits 1 if they never are.
MEET = """
import json, os, sys, time
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
json.dump({k: os.environ.get(k) for k in keys}, open(os.path.join(out, "env.json"), "w"))
open(os.path.join(os.path.dirname(out), "here-" + os.path.basename(out)), "w").close()
end = time.time() + 30
while sum(f.startswith("here-") for f in os.listdir(os.path.dirname(out))) < n:
    if time.time() > end:
        sys.exit(1)
    time.sleep(0.02)
"""


def _met(folder, n: int, gpus, per_device: int):
    from playground.training.sweep.executors import LocalExecutor, Trial

    executor = LocalExecutor(gpus, per_device, command=lambda t: [sys.executable, "-c", MEET,
                                                                  str(t.out), str(n)])  # fmt: skip
    trials = [Trial(0, f"c{i}", 0, folder / f"t{i}", []) for i in range(n)]
    codes = executor.run(trials)
    return executor, codes, [json.loads((t.out / "env.json").read_text()) for t in trials]


def test_the_local_executor_runs_k_trials_at_a_time_on_a_device(tmp_path, monkeypatch):
    from playground.training.sweep.executors import LocalExecutor, cpu_cores

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    # the CPU, 2 at a time: both run at once, each with its half of the cores
    executor, codes, envs = _met(tmp_path / "cpu", 2, [], 2)
    assert executor.slots == 2 and codes == [0, 0]
    share = str(max(1, cpu_cores() // 2))
    assert all(e == {"OMP_NUM_THREADS": share, "MKL_NUM_THREADS": share,
                     "CUDA_VISIBLE_DEVICES": None} for e in envs)  # fmt: skip
    # two GPUs, 2 each: four at once, two per GPU, a quarter of the cores each
    executor, codes, envs = _met(tmp_path / "gpus", 4, [0, 1], 2)
    assert executor.slots == 4 and codes == [0] * 4
    assert sorted(e["CUDA_VISIBLE_DEVICES"] for e in envs) == ["0", "0", "1", "1"]
    assert {e["OMP_NUM_THREADS"] for e in envs} == {str(max(1, cpu_cores() // 4))}
    # two trials on two GPUs with room for 2 each: one per GPU before any shares
    _, codes, envs = _met(tmp_path / "spread", 2, [0, 1], 2)
    assert codes == [0, 0] and {e["CUDA_VISIBLE_DEVICES"] for e in envs} == {"0", "1"}
    # one at a time (the default): the threads are left as they were
    executor, codes, envs = _met(tmp_path / "one", 1, [], 1)
    assert executor.slots == 1 and executor.threads is None
    assert codes == [0] and envs[0]["OMP_NUM_THREADS"] is None
    assert LocalExecutor([0, 1, 2]).slots == 3
    with pytest.raises(ValueError, match="at least 1"):
        LocalExecutor([], 0)


def test_trials_per_device_is_checked_kept_in_the_sweep_and_used_on_resume(
    tmp_path, capsys, monkeypatch
):
    from playground.training.sweep import __main__ as cli

    code = sweep_main(["--candidates", "randaugment", "--budget-minutes", "1",
                       "--trials-per-device", "0", "--out", str(tmp_path / "z"), *TINY])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--trials-per-device must be at least 1" in err
    assert not (tmp_path / "z").exists()

    used = []

    class Ran:  # the sweep as the command builds it, not trained
        def __init__(self, folder, state, executor, log):
            used.append(executor)

        def stop(self):
            pass

        def run(self):
            return 0

    monkeypatch.setattr(cli, "Sweep", Ran)
    monkeypatch.setattr(cli.signal, "signal", lambda *_: None)  # leave pytest's handlers be
    out = tmp_path / "k"
    args = ["--candidates", "randaugment", "--budget-minutes", "1", "--trials-per-device", "3"]
    assert sweep_main([*args, "--out", str(out), *TINY]) == 0
    assert json.loads((out / "sweep.json").read_text())["trials_per_device"] == 3
    assert sweep_main(["--resume", str(out)]) == 0  # without the flag: the sweep's own K
    assert [(e.per_device, e.slots) for e in used] == [(3, 3), (3, 3)]


def _clocked(fake: FakeExecutor):
    """A sweep whose clock is the fake trials' seconds."""
    from playground.training.sweep.run import Sweep

    class FakeClock(Sweep):
        def elapsed_s(self) -> float:
            return self.before_s + fake.spent - self.spent_at_start

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.spent_at_start = fake.spent

    return FakeClock


def _fake_sweep(tmp_path, probe_s, budget_s=600.0):
    from playground.training.sweep.state import new_state

    truth = {"none": 40.0, "cifar-standard": 60.0, "d2l-flip": 45.0, "randaugment": 59.0}
    candidates = make_candidates(["cifar-standard", "d2l-flip", "randaugment"])
    tiny = ["--dataset", "synthetic", "--synthetic-size", "500", "--device", "cpu"]
    state = new_state(candidates, tiny, seeds=3, budget_s=budget_s, executor="fake")
    fake = FakeExecutor(truth, probe_s=probe_s)
    lines: list[str] = []
    return _clocked(fake)(tmp_path, state, fake, log=lines.append), fake, lines


def test_a_plan_over_the_budget_measures_the_probe_again_and_plans_from_the_faster(tmp_path):
    # a busy machine: the first probe took 400 s an epoch (nothing fits 600 s); the second 2 s
    sweep, fake, lines = _fake_sweep(tmp_path, probe_s=[400.0, 2.0])
    assert sweep.run() == 0
    state = json.loads((tmp_path / "sweep.json").read_text())
    assert [t for t in fake.trained if t[0] < 0] == [(-1, "c00-none", 1)] * 2
    assert (tmp_path / "probe").is_dir() and (tmp_path / "probe-2").is_dir()
    assert [p["epoch_s"] for p in state["probes"]] == [400.0, 2.0]
    assert state["plan"]["fits"] and "over_budget" not in state["plan"]
    # fitted with the second probe's cost to the budget left after both probes (the first
    # rung's epochs; the later ones are re-fitted after it)
    first = fit(3, 3, 600 - 401.0 - 3.0, Cost(2.0, 1.0)).epochs[0]
    assert first == state["rungs"][0]["epochs"] == state["plan"]["epochs"][0]
    assert state["state"] == "finished" and state["report"]
    assert any("measuring again" in line for line in lines)


def test_a_plan_still_over_the_budget_stops_before_training_a_rung(tmp_path):
    sweep, fake, lines = _fake_sweep(tmp_path, probe_s=[300.0, 200.0])
    assert sweep.run() == 1  # failed
    assert all(rung < 0 for rung, _, _ in fake.trained) and len(fake.trained) == 2
    state = json.loads((tmp_path / "sweep.json").read_text())
    assert state["state"] == "failed" and state["rungs"] == [] and state["plan"] is None
    assert state["cost"]["epoch_s"] == 200.0  # the faster of the two
    # its time: the two probes', once (not the earlier sessions' counted twice)
    assert state["elapsed_s"] == pytest.approx(state["elapsed_before_s"]) == fake.spent == 502
    message = state["message"]
    assert "\n" not in message and message.startswith("over the budget")
    # the predicted minutes, the budget and what to change
    assert "min, over the" in message and "of the 10 min budget" in message
    for words in ("--budget-minutes", "fewer candidates", "--seeds", "--first-epochs N"):
        assert words in message
    assert lines[-1] == f"error: {message}"
    # resumed, it does not probe a third time and refuses the same way
    again = _clocked(fake)(tmp_path, state, fake, log=lambda m: None)
    assert again.run() == 1 and len(fake.trained) == 2


def test_a_sweep_killed_outright_keeps_its_elapsed_time_when_resumed(tmp_path):
    sweep, fake, _ = _fake_sweep(tmp_path, probe_s=[2.0])
    fake.kill_after = 5  # the probe and 4 trials of the first rung, then SIGKILL
    with pytest.raises(Killed):
        sweep.run()
    state = json.loads((tmp_path / "sweep.json").read_text())
    assert state["state"] == "running" and state["elapsed_before_s"] == 0  # no clean end
    first_epochs = state["rungs"][0]["epochs"]
    spent = 3.0 + 4 * (first_epochs * 2.0 + 1.0)
    assert fake.spent == spent and state["elapsed_s"] == pytest.approx(spent)  # saved per trial
    fake.kill_after = None
    resumed = _clocked(fake)(tmp_path, state, fake, log=lambda m: None)
    assert resumed.before_s == pytest.approx(spent)  # the killed session's time counts
    assert resumed.run() == 0
    final = json.loads((tmp_path / "sweep.json").read_text())
    assert final["state"] == "finished"
    assert final["elapsed_s"] == pytest.approx(fake.spent)  # both sessions, each once
