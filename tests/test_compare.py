"""The statistics of the paired experiment, stated as the rules they follow (coverage of the
intervals in simulation with fixed seeds, the quantile's definition, when a verdict may claim),
and the experiment's summary of run folders."""

import json
import math
import re

import numpy as np
import pytest

from playground.training import compare, stats


def test_t975_is_the_975_quantile_of_students_t():
    """Exact where the distribution function has a closed form (1 and 2 degrees of freedom),
    in simulation beyond (the table and the expansion past it alike), and falling towards the
    normal quantile."""
    assert 0.5 + math.atan(stats.t975(1)) / math.pi == pytest.approx(0.975, abs=1e-5)
    t = stats.t975(2)
    assert 0.5 + t / (2 * math.sqrt(2 + t * t)) == pytest.approx(0.975, abs=1e-5)
    rng = np.random.default_rng(0)
    for df in (3, 5, 9, 20, 30, 31, 45, 120):
        below = float((rng.standard_t(df, size=400_000) <= stats.t975(df)).mean())
        assert below == pytest.approx(0.975, abs=0.0015), df  # sd of the fraction: 0.00025
    quantiles = [stats.t975(df) for df in range(1, 300)]
    assert all(a > b for a, b in zip(quantiles, quantiles[1:], strict=False))
    assert quantiles[-1] == pytest.approx(1.96, abs=0.01)
    with pytest.raises(ValueError):
        stats.t975(0)


def test_the_t_interval_covers_the_true_mean_95_percent_of_the_time():
    """Paired differences drawn around a known effect: the interval holds it in 95% of
    experiments, with 2, 3 or 10 seeds (a normal quantile in place of t's would cover 70% with
    2 and 87% with 3)."""
    rng = np.random.default_rng(1)
    for seeds in (2, 3, 10):
        held = 0
        for _ in range(4000):
            mean, low, high = stats.t_interval(list(rng.normal(1.5, 2.0, size=seeds)))
            assert low <= mean <= high and mean - low == pytest.approx(high - mean)
            held += low <= 1.5 <= high
        assert held / 4000 == pytest.approx(0.95, abs=0.012), seeds  # sd 0.0034


def _outcomes(only_a, only_b, both=50, neither=20):
    a = [1] * only_a + [0] * only_b + [1] * both + [0] * neither
    b = [0] * only_a + [1] * only_b + [1] * both + [0] * neither
    return np.array(a, bool), np.array(b, bool)


def test_mcnemar_exact_and_mid_p():
    m = stats.mcnemar(*_outcomes(10, 0))
    assert (m["only_augmented"], m["only_baseline"]) == (10, 0)
    assert m["p_exact"] == pytest.approx(2 / 2**10) and m["p_mid"] == pytest.approx(1 / 2**10)
    m = stats.mcnemar(*_outcomes(3, 5))  # X ~ Binomial(8, 1/2), the smaller count 3
    tail, at = sum(math.comb(8, i) for i in range(4)) / 2**8, math.comb(8, 3) / 2**8
    assert m["p_exact"] == pytest.approx(2 * tail)
    assert m["p_mid"] == pytest.approx(2 * (tail - at / 2))
    assert stats.mcnemar(*_outcomes(4, 4))["p_exact"] == 1.0
    assert stats.mcnemar(*_outcomes(0, 0))["p_mid"] == 1.0
    big = stats.mcnemar(*_outcomes(600, 400, both=5000))  # large counts stay finite
    assert 0 < big["p_mid"] < big["p_exact"] < 1e-9


def test_paired_bootstrap_interval():
    same = np.array([1, 0, 1, 1, 0], bool)
    assert stats.paired_bootstrap(same, same) == (0.0, 0.0)
    assert stats.paired_bootstrap(np.ones(50, bool), np.zeros(50, bool)) == (1.0, 1.0)
    a, b = _outcomes(300, 100, both=500, neither=100)  # a true difference of 0.2 on 1,000
    low, high = stats.paired_bootstrap(a, b)
    sd = np.sqrt((400 / 1000 - 0.2**2) / 1000)  # sd of the mean paired difference
    assert low == pytest.approx(0.2 - 1.96 * sd, abs=0.006)
    assert high == pytest.approx(0.2 + 1.96 * sd, abs=0.006)


def test_the_bootstrap_draws_counts_not_indices():
    """The multinomial bootstrap has the index bootstrap's distribution, without N x 4,000
    indices: its samples spread as the mean paired difference's sampling sd says."""
    a, b = _outcomes(3000, 2000, both=4000, neither=1000)  # 10,000 test images
    low, high = stats.paired_bootstrap(a, b, samples=20_000)
    sd = np.sqrt((5000 / 10_000 - 0.1**2) / 10_000)
    assert (low, high) == pytest.approx((0.1 - 1.96 * sd, 0.1 + 1.96 * sd), abs=0.001)


def test_the_one_seed_interval_agrees_with_mcnemar():
    """It excludes 0 exactly when McNemar's exact p is below 0.05: "9 vs 2 of 1,000" (p 0.065)
    no longer reads as an interval above 0."""
    for n in (1, 6, 11, 17, 30):
        for only_a, only_b in ((k, n - k) for k in range(n + 1)):
            m = stats.mcnemar(*_outcomes(only_a, only_b, both=500, neither=300))
            low, high = stats.mcnemar_interval(only_a, only_b, 800 + only_a + only_b)
            assert (m["p_exact"] < 0.05) == (low > 0 or high < 0), (only_a, only_b)
            assert low <= (only_a - only_b) / (800 + only_a + only_b) <= high
    m = stats.mcnemar(*_outcomes(9, 2, both=600, neither=389))
    assert m["p_exact"] == pytest.approx(0.065, abs=0.001)
    low, high = stats.mcnemar_interval(9, 2, 1000)
    assert low < 0 < high
    assert stats.mcnemar_interval(0, 0, 100) == (0.0, 0.0)


def test_the_one_seed_interval_covers_the_difference_on_these_images_95_percent_of_the_time():
    """It is an interval over these test images: of the n images only one arm gets right, each
    is arm a's with chance pi, so the difference on them is n/images x (2 pi - 1). Drawn with a
    known pi (an effect, and none), the exact interval holds it in at least 95% of draws
    (exact intervals err on the safe side) and claims an effect where there is none in at most
    5%."""
    rng = np.random.default_rng(2)
    images, n = 400, 36
    for pi in (2 / 3, 0.5):
        held = 0
        for _ in range(1000):
            only_a = int(rng.binomial(n, pi))
            low, high = stats.mcnemar_interval(only_a, n - only_a, images)
            held += low <= n / images * (2 * pi - 1) <= high
        assert held / 1000 >= 0.95 - 0.015, pi  # sd of the fraction at 95%: 0.007


def test_a_verdict_claims_exactly_when_the_interval_over_seeds_excludes_0():
    """With 2 or more seeds: "helped" when the whole interval is above 0, "hurt" when below,
    and no claim ("no measurable effect") when it holds 0; one seed never claims."""
    for low, high in ((0.1, 3.0), (-3.0, -0.1), (-1.0, 2.0), (-2.0, 0.0), (0.0, 2.0)):
        points = (low + high) / 2
        for seeds in (2, 3, 10):
            claim, text = stats.verdict(points, low, high, seeds)
            expected = "helped" if low > 0 else "hurt" if high < 0 else None
            assert claim == expected, (low, high, seeds)
            if expected is None:
                assert text.startswith("no measurable effect"), text
            else:
                assert text.startswith(f"augmentation {expected}: ")
        assert stats.verdict(points, low, high, 1)[0] is None


def test_confusion_matrix_and_verdicts():
    m = stats.confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert stats.verdict(4.1, 2.3, 5.9, 3) == (
        "helped",
        "augmentation helped: +4.1 points (95% CI +2.3 to +5.9)",
    )
    claim, text = stats.verdict(-3.0, -5.0, -1.0, 3)
    assert claim == "hurt" and text.startswith("augmentation hurt: -3.0 points")
    assert stats.verdict(0.5, -1.2, 2.2, 3) == (
        None,
        "no measurable effect at this budget: +0.5 points (95% CI -1.2 to +2.2); "
        "more seeds or train longer",
    )


def test_one_seed_is_never_a_verdict_and_says_what_it_covers():
    claim, text = stats.verdict(-2.0, -3.0, -1.1, 1)
    assert claim is None and "helped" not in text and "hurt" not in text
    assert text.startswith("this seed only: -2.0 points on these test images")
    assert "not a verdict" in text and "training noise" in text and "second seed" in text


def test_two_seeds_advise_more_seeds_and_no_verdict_without_spread():
    claim, text = stats.verdict(1.0, -8.0, 10.0, 2)
    assert claim is None and text.endswith("; more seeds") and "train longer" not in text
    claim, text = stats.verdict(2.0, 2.0, 2.0, 3)  # three equal differences: zero width
    assert claim is None and "helped" not in text and "cannot be estimated" in text


def test_no_bound_prints_as_zero_beside_a_claim():
    zero = re.compile(r"[+-]0\.0(?!\d)")
    claim, text = stats.verdict(1.0, 0.03, 2.0, 4)
    assert claim == "helped" and not zero.search(text) and "+0.03 to +2.0" in text
    claim, text = stats.verdict(-1.0, -2.0, -0.004, 4)
    assert claim == "hurt" and not zero.search(text) and "to -0.004)" in text
    assert stats.points_text(0.0) == "+0.0" and stats.points_text(-1.26) == "-1.3"


def _run(folder, seed, no_augment, pred, label, steps=100, train_acc=0.9):
    folder.mkdir(parents=True)
    config = {"seed": seed, "no_augment": no_augment, "classes": ["a", "b"], "total_steps": steps}
    (folder / "config.json").write_text(json.dumps({**config, "batch_size": 32}))
    (folder / "status.json").write_text(json.dumps({"state": "finished"}))
    pred, label = np.array(pred), np.array(label)
    per_class = [float((pred[label == k] == k).mean()) for k in (0, 1)]
    record = {"type": "eval", "test_acc": float((pred == label).mean()), "train_acc": 0.5}
    record.update(train_eval_acc=train_acc, test_acc_per_class=per_class)
    (folder / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    np.savez(folder / compare.PREDICTIONS, pred=pred, label=label)
    return folder


def test_summary_of_one_seed(tmp_path):
    label = [0] * 50 + [1] * 50
    aug_pred = [0] * 45 + [1] * 5 + [1] * 40 + [0] * 10  # 85%
    base_pred = [0] * 35 + [1] * 15 + [1] * 40 + [0] * 10  # 75%: 10 images of class a differ
    aug = _run(tmp_path / "seed0-aug", 0, False, aug_pred, label, train_acc=0.9)
    base = _run(tmp_path / "seed0-noaug", 0, True, base_pred, label, train_acc=1.0)
    summary = compare.write_summary(tmp_path, [aug], [base])
    assert summary["effect_points"] == pytest.approx(10.0)
    assert summary["mcnemar"]["only_augmented"] == 10 and summary["mcnemar"]["only_baseline"] == 0
    assert summary["ci_low"] > 0 and summary["claim"] is None  # one seed: not a verdict
    assert summary["verdict"].startswith("this seed only: +10.0 points")
    assert summary["covers"] == "this seed's test images only, not training noise"
    arms = summary["arms"]
    assert arms["augmented"]["overfitting_gap_points"] == pytest.approx(5.0)
    assert arms["baseline"]["overfitting_gap_points"] == pytest.approx(25.0)
    assert arms["augmented"]["confusion_matrix"] == [[45, 5], [10, 40]]
    assert summary["per_class_change_points"] == pytest.approx([20.0, 0.0])
    text = (tmp_path / compare.SUMMARY_TXT).read_text()
    assert "verdict: this seed only" in text and "over-fitting gap" in text
    assert json.loads((tmp_path / compare.SUMMARY_JSON).read_text())["seeds"] == [0]


def test_summary_of_several_seeds_uses_the_t_interval(tmp_path):
    label = [0] * 50 + [1] * 50
    aug, base = [], []
    for seed, extra in enumerate((2, 4, 6)):  # differences of 2, 4 and 6 points
        aug_pred = [0] * (40 + extra) + [1] * (10 - extra) + [1] * 50
        aug.append(_run(tmp_path / f"seed{seed}-aug", seed, False, aug_pred, label))
        base.append(_run(tmp_path / f"seed{seed}-noaug", seed, True, [0] * 40 + [1] * 60, label))
    assert compare.arm_folders(tmp_path) == (aug, base)
    summary = compare.summarize(aug, base)
    half = stats.t975(2) * 2 / np.sqrt(3)  # sd 2 of three differences
    assert summary["per_seed_points"] == pytest.approx([2.0, 4.0, 6.0])
    assert (summary["effect_points"], summary["ci_low"], summary["ci_high"]) == pytest.approx(
        (4.0, 4.0 - half, 4.0 + half)
    )
    assert summary["verdict"].startswith("no measurable effect at this budget: +4.0 points")
    assert summary["claim"] is None and "mcnemar" not in summary


def test_seeds_that_agree_to_the_image_get_an_interval_not_a_certainty(tmp_path):
    label = [0] * 50 + [1] * 50
    aug, base = [], []
    for seed, (start, pred_base) in enumerate(((40, 35), (45, 40))):  # +5 points in each seed
        aug_pred = [0] * start + [1] * (50 - start) + [1] * 50
        base_pred = [0] * pred_base + [1] * (50 - pred_base) + [1] * 50
        aug.append(_run(tmp_path / f"seed{seed}-aug", seed, False, aug_pred, label))
        base.append(_run(tmp_path / f"seed{seed}-noaug", seed, True, base_pred, label))
    summary = compare.summarize(aug, base)
    assert summary["per_seed_points"] == pytest.approx([5.0, 5.0])
    half = stats.t975(1) * 1.0 / np.sqrt(2)  # the spread taken as one image of 100: 1 point
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((5 - half, 5 + half))
    assert summary["claim"] is None  # 5 +- 9.0: two seeds cannot tell it from 0


def test_unpaired_or_unfinished_runs_are_reported(tmp_path):
    label = [0, 1] * 10
    aug = _run(tmp_path / "seed0-aug", 0, False, label, label, steps=100)
    base = _run(tmp_path / "seed0-noaug", 0, True, label, label, steps=50)
    assert "not the same training budget" in compare.summarize([aug], [base])["problems"][0]
    other = _run(tmp_path / "seed1-noaug", 1, True, label, label)
    with pytest.raises(ValueError, match="same seed"):
        compare.summarize([aug], [other])
    (base / "status.json").write_text(json.dumps({"state": "diverged", "message": "boom"}))
    with pytest.raises(ValueError, match="diverged, not finished: boom"):
        compare.summarize([aug], [base])


def test_default_seeds():
    assert compare.default_seeds(["--device", "cpu"]) == 1
    assert compare.default_seeds(["--device=cuda"]) == 3


def test_against_another_pipeline_trains_it_as_the_second_arm(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        compare, "_train", lambda out, args, quiet=False: calls.append((out, args)) or 0
    )
    monkeypatch.setattr(compare, "write_summary", lambda *a: {})
    monkeypatch.setattr(compare, "text_table", lambda summary: "")
    argv = ["--pipeline", "cifar-standard", "--out", str(tmp_path), "--seeds", "2"]
    assert compare.main([*argv, "--against", "d2l-flip", "--epochs", "1"]) == 0
    assert [out.name for out, _ in calls] == [
        "seed0-aug",
        "seed0-other",
        "seed1-aug",
        "seed1-other",
    ]
    for out, args in calls:
        pipeline = args[args.index("--pipeline") + 1]
        assert pipeline == ("d2l-flip" if out.name.endswith("-other") else "cifar-standard")
        assert "--no-augment" not in args and args[args.index("--seed") + 1] == out.name[4]
    calls.clear()
    assert compare.main([*argv, "--against", "none"]) == 0  # the default: no augmentation
    assert [out.name for out, _ in calls][:2] == ["seed0-aug", "seed0-noaug"]
    assert "--no-augment" in calls[1][1]
    label = [0, 1] * 10
    aug = _run(tmp_path / "x" / "seed0-aug", 0, False, label, label)
    other = _run(tmp_path / "x" / "seed0-other", 0, False, label, label)
    assert compare.arm_folders(tmp_path / "x") == ([aug], [other])


@pytest.mark.parametrize(
    "flags",
    [["--seed=4"], ["--seed", "4"], ["--aug-seed=7"], ["--no-augment"], ["--resume", "RUN"]],
)
def test_the_flags_set_per_run_are_refused_however_spelt(tmp_path, monkeypatch, capsys, flags):
    """--seed=N as well as --seed N; and --seed is never read as an abbreviation of --seeds
    (it was: `--seed 4` ran four seeds from 0)."""
    started = []
    monkeypatch.setattr(compare, "run_experiment", lambda *a: started.append(a) or 0)
    with pytest.raises(SystemExit) as exit_:
        compare.main(["--pipeline", "cifar-standard", "--out", str(tmp_path), *flags])
    assert exit_.value.code == 2 and not started
    assert "are set per run by the experiment" in capsys.readouterr().err
    assert compare.main(["--pipeline", "p", "--out", str(tmp_path), "--seeds", "2"]) == 0
    assert started[0][2] == 2
