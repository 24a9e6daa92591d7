"""With vs without augmentation as a measurement: a paired experiment and its statistics.

    python -m playground.training.compare --pipeline cifar-standard --out checkpoints/EXP \\
        [--seeds N] [--against PIPELINE|none] [training flags: --dataset, --epochs ...]
    python -m playground.training.compare --summarize checkpoints/EXP
    python -m playground.training.compare --aa --pipeline P --repeats K --out EXP [flags]

The first trains, for each seed, the pipeline (the augmented arm) and the same command with
`--no-augment` (the baseline; or another pipeline, `--against`), each as its own training
process, then writes `summary.json` and `summary.txt` into the experiment folder. The second
only (re)writes the summary. The third is the A/A check (`playground.training.aa_check`).

The arms are paired: the same seed gives the same initial weights (a weights file's, with the
new head drawn from the seed, for a pretrained model) and the same data order
(`augment.epoch_order` depends on the seed, the epoch and the batch, never on the pipeline),
and the same data and epochs give the same fitted batch, hence the same number of steps. Each
run's log says where it started (digests of both); the summary lists arms that did not. What
differs is the augmentation alone, so the difference is measured per seed (and per test image)
rather than between two noisy numbers:

- several seeds: the mean of the per-seed differences with a 95% t-interval over them. Each
  seed retrains both arms, so the interval covers the training noise (weights, data order,
  augmentation draws) as well as the test images: this is the verdict;
- one seed: McNemar's exact test (and its mid-p) on the images one arm gets right and the
  other wrong, with the exact interval that agrees with it. It covers this seed's test images
  only, not the training noise: the A/A check (two runs of one pipeline that differ only in
  the augmentation draws) is what shows how far apart such runs land. One seed is therefore
  reported as "this seed only", never as "helped" or "hurt".

Nothing here imports gradio or the training loop: it reads run folders. The statistics
themselves are in `playground.training.stats`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from playground.training import settings
from playground.training.checkpoints import atomic_write_bytes, atomic_write_json
from playground.training.stats import (
    confusion_matrix,
    mcnemar,
    mcnemar_interval,
    t_interval,
    verdict,
)

PREDICTIONS = "predictions.npz"
SUMMARY_JSON, SUMMARY_TXT = "summary.json", "summary.txt"
# ---- run folders ---------------------------------------------------------------------------


@dataclass
class Arm:
    """What one finished run contributes to the comparison."""

    path: Path
    seed: int
    no_augment: bool
    test_acc: float
    train_acc: float
    train_acc_kind: str
    per_class: list[float]
    pred: np.ndarray
    label: np.ndarray
    classes: list[str]
    total_steps: int | None
    batch_size: int | None
    name: str = ""  # the pipeline's name (a preset or the file's stem)
    pipeline: dict[str, Any] | None = None
    start: str | None = None  # the log's start line: initial weights and data order digests


def load_arm(path: Path) -> Arm:
    """A finished run: its config, final evaluation and per-image test predictions."""
    path = Path(path)
    status = json.loads((path / "status.json").read_text())
    if status.get("state") != "finished":
        why = status.get("message") or "see its log"
        raise ValueError(f"{path.name} is {status.get('state')}, not finished: {why}")
    config = json.loads((path / "config.json").read_text())
    evals = [
        json.loads(line)
        for line in (path / "metrics.jsonl").read_text().splitlines()
        if '"eval"' in line
    ]
    last = evals[-1]
    with np.load(path / PREDICTIONS) as saved:
        pred, label = saved["pred"], saved["label"]
    clean = "train_eval_acc" in last
    return Arm(
        path=path,
        seed=int(config["seed"]),
        no_augment=bool(config.get("no_augment")),
        test_acc=float((pred == label).mean()),
        train_acc=float(last["train_eval_acc" if clean else "train_acc"]),
        train_acc_kind="un-augmented training images" if clean else "augmented training batches",
        per_class=list(last.get("test_acc_per_class") or []),
        pred=pred,
        label=label,
        classes=list(config["classes"]),
        total_steps=config.get("total_steps"),
        batch_size=config.get("batch_size"),
        name=str(config.get("name") or ""),
        pipeline=config.get("pipeline"),
        start=start_of(path),
    )


START = re.compile(r"start: (initial weights \w+, data order of epoch 1 \w+)")


def start_of(path: Path) -> str | None:
    """What the run's log says it started from (`cli.start_line`, written when it started, not
    when resumed), or None for a run from before that line was logged."""
    try:
        found = START.search((path / "train.log").read_text(errors="replace"))
    except OSError:
        return None
    return found.group(1) if found else None


def _pairs(augmented: list[Arm], baseline: list[Arm]) -> tuple[list[tuple[Arm, Arm]], list[str]]:
    """Arms matched by seed, and what makes the experiment less than paired."""
    base = {b.seed: b for b in baseline}
    pairs = [(a, base[a.seed]) for a in augmented if a.seed in base]
    problems = []
    if len(pairs) < max(len(augmented), len(baseline)):
        problems.append("some runs have no partner with the same seed; they are left out")
    for a, b in pairs:
        if not np.array_equal(a.label, b.label):
            raise ValueError(f"{a.path.name} and {b.path.name} were tested on different images")
        if a.start and b.start and a.start != b.start:
            problems.append(
                f"seed {a.seed}: the arms did not start alike ({a.start}; against {b.start}): "
                "not the same weights or data order"
            )
        if (a.total_steps, a.batch_size) != (b.total_steps, b.batch_size):
            problems.append(
                f"seed {a.seed}: {a.total_steps} steps of batch {a.batch_size} against "
                f"{b.total_steps} of {b.batch_size}: not the same training budget"
            )
    if not pairs:
        raise ValueError("no augmented run has a baseline with the same seed")
    return pairs, problems


def summarize(augmented: list[Path], baseline: list[Path]) -> dict[str, Any]:
    """The comparison of the augmented arm with the baseline (no augmentation, or another
    pipeline), as plain data."""
    pairs, problems = _pairs([load_arm(p) for p in augmented], [load_arm(p) for p in baseline])
    aug, base = [a for a, _ in pairs], [b for _, b in pairs]
    subject = _subject(aug[0], base[0])
    diffs = [100 * (a.test_acc - b.test_acc) for a, b in pairs]
    summary: dict[str, Any] = {"seeds": [a.seed for a in aug], "problems": problems}
    if len(pairs) > 1:
        # the seeds' spread at least one test image's worth (stats.spread)
        points, low, high = t_interval(diffs, 100 / len(aug[0].label))
        summary["interval"] = "95% t-interval over the paired seeds' differences"
        summary["covers"] = "training noise and test images: one difference per seed"
    else:
        points = diffs[0]
        test = mcnemar(_ok(aug[0]), _ok(base[0]))
        images = len(aug[0].label)
        low, high = (
            100 * v for v in mcnemar_interval(test["only_augmented"], test["only_baseline"], images)
        )
        summary["interval"] = "95% exact interval over the test images (McNemar), this seed only"
        summary["covers"] = "this seed's test images only, not training noise"
        summary["mcnemar"] = test
    summary.update(effect_points=points, ci_low=low, ci_high=high, per_seed_points=diffs)
    summary["claim"], summary["verdict"] = verdict(points, low, high, len(pairs), subject)
    classes = aug[0].classes
    summary["classes"] = classes
    summary["arms"] = {
        name: _arm_summary(arms, classes) for name, arms in (("augmented", aug), ("baseline", base))
    }
    per_class = zip(
        summary["arms"]["augmented"]["per_class_acc"],
        summary["arms"]["baseline"]["per_class_acc"],
        strict=True,
    )
    summary["per_class_change_points"] = [100 * (a - b) for a, b in per_class]
    return summary


def _subject(a: Arm, b: Arm) -> str:
    """What the verdict is about: augmentation, or one pipeline instead of another."""
    if b.no_augment:
        return "augmentation"
    if a.pipeline == b.pipeline:
        return f"{a.name or 'the pipeline'} against itself"
    if a.name and b.name and a.name != b.name:
        return f"{a.name} instead of {b.name}"
    return "this pipeline instead of the other"


def _ok(arm: Arm) -> np.ndarray:
    return arm.pred == arm.label


def _arm_summary(arms: list[Arm], classes: list[str]) -> dict[str, Any]:
    k = len(classes)
    matrix = sum(confusion_matrix(a.pred, a.label, k) for a in arms)
    per_class = (np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)).tolist()
    test = float(np.mean([a.test_acc for a in arms]))
    train = float(np.mean([a.train_acc for a in arms]))
    return {
        "runs": [a.path.name for a in arms],
        "test_acc": test,
        "test_acc_per_seed": [a.test_acc for a in arms],
        "train_acc": train,
        "train_acc_measured_on": arms[0].train_acc_kind,
        "overfitting_gap_points": 100 * (train - test),
        "per_class_acc": per_class,
        "confusion_matrix": matrix.tolist(),  # summed over seeds: rows true, columns predicted
        "total_steps": arms[0].total_steps,
    }


def text_table(summary: dict[str, Any]) -> str:
    """A short plain-text report of `summarize`'s result."""
    aug, base = summary["arms"]["augmented"], summary["arms"]["baseline"]
    seeds = len(summary["seeds"])
    lines = [
        f"{seeds} seed{'s' if seeds > 1 else ''} per arm, {aug['total_steps']} steps per run; "
        f"interval: {summary['interval']}",
        f"{'':18}{'augmented':>10}{'baseline':>10}{'change':>10}",
        f"{'test accuracy':18}{aug['test_acc']:>10.1%}{base['test_acc']:>10.1%}"
        f"{summary['effect_points']:>+10.1f}",
        f"{'train accuracy':18}{aug['train_acc']:>10.1%}{base['train_acc']:>10.1%}",
        f"{'over-fitting gap':18}{aug['overfitting_gap_points']:>+10.1f}"
        f"{base['overfitting_gap_points']:>+10.1f}   (points: train - test accuracy)",
    ]
    if "mcnemar" in summary:
        m = summary["mcnemar"]
        lines.append(
            f"McNemar: {m['only_augmented']} test images right only with augmentation, "
            f"{m['only_baseline']} only without; exact p {m['p_exact']:.3g}, mid-p {m['p_mid']:.3g}"
        )
    lines.append(f"verdict: {summary['verdict']}")
    lines.append(f"per class (test accuracy){'':4}{'augmented':>10}{'baseline':>10}{'change':>10}")
    for name, a, b, d in zip(
        summary["classes"],
        aug["per_class_acc"],
        base["per_class_acc"],
        summary["per_class_change_points"],
        strict=True,
    ):
        lines.append(f"  {name[:26]:27}{a:>10.1%}{b:>10.1%}{d:>+10.1f}")
    lines += [f"warning: {p}" for p in summary["problems"]]
    return "\n".join(lines) + "\n"


EXPERIMENT_JSON = "experiment.json"


def stored_summary(home: Path, augmented: list[Path], baseline: list[Path]) -> dict[str, Any]:
    """`summarize`'s result for these finished runs, computed once and kept in
    home/experiment.json (keyed by the runs and their predictions' times), then read: the app
    redraws its runs table every few seconds and must not recompute it each time."""
    key = [[p.name, (p / PREDICTIONS).stat().st_mtime_ns] for p in sorted([*augmented, *baseline])]
    saved = _read_json(home / EXPERIMENT_JSON) or {}
    if saved.get("key") == key and isinstance(saved.get("summary"), dict):
        return saved["summary"]
    summary = summarize(augmented, baseline)
    atomic_write_json(home / EXPERIMENT_JSON, {"key": key, "summary": summary})
    return summary


def write_summary(folder: Path, augmented: list[Path], baseline: list[Path]) -> dict[str, Any]:
    summary = summarize(augmented, baseline)
    atomic_write_json(folder / SUMMARY_JSON, summary)
    atomic_write_bytes(folder / SUMMARY_TXT, text_table(summary).encode())
    return summary


# ---- the experiment ------------------------------------------------------------------------

ARM_SUFFIXES = ("-aug", "-noaug", "-other")  # the pipeline; no augmentation; --against PIPELINE


def arm_folders(folder: Path) -> tuple[list[Path], list[Path]]:
    """The experiment's finished-or-not runs: (the pipeline's, the baseline's), by folder name
    (the baseline: `-noaug`, or `-other` when compared against another pipeline)."""
    runs = sorted(p for p in folder.iterdir() if (p / "config.json").exists())
    return [p for p in runs if p.name.endswith("-aug")], [
        p for p in runs if p.name.endswith(("-noaug", "-other"))
    ]


# the training flags the experiment sets for each run itself
PER_RUN = ("seed", "no_augment", "aug_seed")


def training_flags(train_args: list[str]) -> argparse.Namespace:
    """The declared settings among `train_args`, read as the training command reads them."""
    return settings.flags_parser().parse_known_args(train_args)[0]


def default_seeds(train_args: list[str]) -> int:
    """The declared seeds rule (settings.default_seeds) for the device among `train_args`."""
    return settings.default_seeds(training_flags(train_args).device or "auto")


def _train(out: Path, args: list[str], quiet: bool = False) -> int:
    """One training process into `out`; a finished run is kept, an unfinished one resumed (so
    a long experiment stopped half-way continues where it was)."""
    state = (_read_json(out / "status.json") or {}).get("state")
    if state == "finished":
        print(f"{out.name}: finished already, kept", flush=True)
        return 0
    if (out / "config.json").exists() and (out / "last.pt").exists() and state != "diverged":
        cmd = [sys.executable, "-m", "playground.train", "--resume", str(out)]
    else:
        if (out / "config.json").exists():
            (out / "config.json").unlink()  # a run that never checkpointed: start it again
        cmd = [sys.executable, "-m", "playground.train", *args, "--out", str(out)]
    print(f"$ {' '.join(cmd)}", flush=True)
    if not quiet:
        return subprocess.call(cmd)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.out", "ab") as log:
        return subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_experiment(
    folder: Path, pipeline: str, seeds: int, train_args: list[str], against: str | None = None
) -> int:
    """Train both arms for each seed (one process per run, one at a time), then summarise.
    The second arm is the same pipeline with --no-augment, or the pipeline `against`."""
    folder.mkdir(parents=True, exist_ok=True)
    second = ("noaug", ["--pipeline", pipeline, settings.by_name("no_augment").flag])
    if against is not None:
        second = ("other", ["--pipeline", against])
    for seed in range(seeds):
        for arm, extra in (("aug", ["--pipeline", pipeline]), second):
            out = folder / f"seed{seed}-{arm}"
            code = _train(out, [*extra, *train_args, settings.by_name("seed").flag, str(seed)])
            if code != 0:
                print(f"error: the run {out.name} ended with status {code}; see {out}/train.log")
                return 1
    summary = write_summary(folder, *arm_folders(folder))
    print(text_table(summary), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m playground.training.compare",
        allow_abbrev=False,  # `--seed` is the training flag, never short for --seeds
        description="A paired experiment: the pipeline against no augmentation (or against "
        "another pipeline), same seeds, data order and steps. With --aa: the pipeline against "
        "itself, to count false claims. Other flags go to the training command.",
    )
    p.add_argument("--pipeline", help="pipeline JSON file or preset (the augmented arm)")
    p.add_argument(
        "--against",
        metavar="PIPELINE|none",
        default="none",
        help=f"the second arm: none (the same runs with {settings.by_name('no_augment').flag}; "
        "default) or another pipeline file or preset",
    )
    p.add_argument("--out", help="experiment folder (one run folder per seed and arm in it)")
    seeds_rule = f"default: {settings.SEEDS_ON_CPU} on a CPU, {settings.SEEDS_ON_GPU} on a GPU"
    p.add_argument(settings.SEEDS.flag, type=int, help=f"{settings.SEEDS.help} ({seeds_rule})")
    p.add_argument("--summarize", metavar="EXP", help="only write the summary of EXP's runs")
    p.add_argument(
        "--aa",
        action="store_true",
        help="A/A check: K pairs of the pipeline against itself, differing only in the "
        "augmentation draws; prints how many verdicts claimed an effect",
    )
    p.add_argument("--repeats", type=int, default=20, help="A/A pairs (default 20)")
    p.add_argument("--jobs", type=int, default=1, help="A/A pairs trained at a time (default 1)")
    args, train_args = p.parse_known_args(argv)
    from playground.training.aa_check import run_aa, write_aa  # it builds on this module

    try:
        if args.summarize:
            folder = Path(args.summarize)
            if args.aa:
                print(write_aa(folder), end="")
                return 0
            summary = write_summary(folder, *arm_folders(folder))
            print(text_table(summary), end="")
            return 0
        if not args.pipeline or not args.out:
            p.error("--pipeline and --out are required (or --summarize EXP)")
        try:
            given = training_flags(train_args)
        except argparse.ArgumentError as err:
            p.error(str(err))
        commands = ("--out", "--resume")  # the training command's own flags
        if any(getattr(given, name) is not None for name in PER_RUN) or any(
            a.split("=", 1)[0] in commands for a in train_args
        ):
            own = [*(settings.by_name(name).flag for name in PER_RUN), *commands]
            p.error(f"{', '.join(own)} are set per run by the experiment")
        if args.aa:
            if args.repeats < 2:
                p.error("--repeats must be at least 2")
            return run_aa(Path(args.out), args.pipeline, args.repeats, train_args, args.jobs)
        if args.seeds is not None and args.seeds < settings.SEEDS.low:
            p.error(f"{settings.SEEDS.flag} must be at least {settings.SEEDS.low:g}")
        seeds = args.seeds or default_seeds(train_args)
        against = None if args.against == "none" else args.against
        return run_experiment(Path(args.out), args.pipeline, seeds, train_args, against)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
