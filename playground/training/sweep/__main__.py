"""python -m playground.training.sweep: see the package's docstring."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from playground.training import settings
from playground.training.sweep.candidates import CandidateError, make_candidates
from playground.training.sweep.executors import LocalExecutor, visible_gpus
from playground.training.sweep.plan import FINALISTS
from playground.training.sweep.report import summary_text
from playground.training.sweep.run import Sweep
from playground.training.sweep.state import (
    SWEEP_JSON,
    SweepError,
    load_state,
    new_state,
    save_state,
)

DEFAULT_SEEDS = 3  # with 2 the 95% t multiplier is 12.7 (one degree of freedom); with 3, 4.3
# the training flags a sweep sets per trial itself
PER_TRIAL = ("seed", "aug_seed", "no_augment", "epochs")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m playground.training.sweep",
        allow_abbrev=False,
        description="Rank augmentation pipelines by their measured effect: successive halving "
        "over paired trials, promoted on a validation split, reported on the test set with "
        "simultaneous intervals. Other flags go to every trial's training command.",
    )
    p.add_argument("--candidates", nargs="+", default=[], metavar="PIPELINE",
                   help="pipeline files or presets (no augmentation is always in)")  # fmt: skip
    p.add_argument("--ladder", action="append", default=[], metavar="STEP.PARAM=v1,v2,...",
                   help="one candidate per value of a parameter of --ladder-base (repeatable)")  # fmt: skip
    p.add_argument("--ladder-base", metavar="PIPELINE",
                   help="the pipeline a ladder varies (default: the first candidate)")  # fmt: skip
    p.add_argument("--budget-minutes", type=float, help="the time the sweep may take")
    p.add_argument("--first-epochs", type=int, metavar="N",
                   help="a fixed schedule instead of a budget: N epochs on the first rung, "
                   "doubled on each next one (repeatable sweeps, e.g. the A/A check)")  # fmt: skip
    p.add_argument(settings.SEEDS.flag, type=int, default=DEFAULT_SEEDS,
                   help=f"paired seeds per candidate and rung (default {DEFAULT_SEEDS})")  # fmt: skip
    p.add_argument("--first-seed", type=int, default=0,
                   help="the trials' seeds are this and the next ones (default 0); repeated "
                   "sweeps with other first seeds measure how much their results vary")  # fmt: skip
    p.add_argument("--finalists", type=int, default=FINALISTS,
                   help=f"candidates besides no augmentation on the last rung (default {FINALISTS})")  # fmt: skip
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this machine, one trial per GPU or one on the CPU (see "
                   "--trials-per-device); ray: a Ray "
                   "cluster (pip install -r requirements-ray.txt)")  # fmt: skip
    p.add_argument("--trials-per-device", type=int, default=1, metavar="K",
                   help="local: K trials at a time on each GPU (or K on the CPU, their threads "
                   "sharing the cores); more than 1 hides each trial's start behind the "
                   "others' training (default 1)")  # fmt: skip
    p.add_argument("--address", help="Ray: the cluster's address (default: start a local Ray)")
    p.add_argument("--gpus-per-trial", type=float, default=1.0,
                   help="Ray: GPUs per trial, fractional for small models (default 1)")  # fmt: skip
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="Ray: CPUs per trial")
    p.add_argument("--out", help="the sweep folder")
    p.add_argument("--resume", metavar="SWEEP", help="continue a stopped or interrupted sweep")
    p.add_argument("--summarize", metavar="SWEEP", help="print a sweep's summary")
    return p


def executor_for(args: argparse.Namespace, train_args: list[str]):
    if args.executor == "ray":
        try:
            from playground.training.sweep.ray_executor import RayExecutor
        except ImportError as err:
            raise SweepError(
                f"--executor ray needs Ray ({err.msg}): "
                "pip install -r requirements-ray.txt -c constraints.txt"
            ) from None
        return RayExecutor(args.address, args.gpus_per_trial, args.cpus_per_trial)
    device = settings.flags_parser().parse_known_args(train_args)[0].device or "auto"
    return LocalExecutor(visible_gpus(device), args.trials_per_device)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args, train_args = p.parse_known_args(argv)
    try:
        if args.summarize:
            state = load_state(Path(args.summarize))
            if state is None:
                p.error(f"{args.summarize}: no {SWEEP_JSON} there")
            print(summary_text(state), end="")
            return 0
        if args.resume:
            folder = Path(args.resume)
            state = load_state(folder)
            if state is None:
                p.error(f"--resume {args.resume}: no {SWEEP_JSON} there")
            if state.get("state") == "finished":
                print(summary_text(state), end="")
                return 0
            ns = argparse.Namespace(**{**vars(args), "executor": state["executor"],
                                       "trials_per_device": state.get("trials_per_device", 1)})  # fmt: skip
            executor = executor_for(ns, state["train_args"])
        else:
            if not args.out or not (args.candidates or args.ladder):
                p.error("--candidates (or --ladder) and --out are required (or --resume SWEEP)")
            if args.first_epochs is not None:
                if args.first_epochs < 1 or args.budget_minutes is not None:
                    p.error("--first-epochs N (N >= 1) replaces --budget-minutes; give one")
            elif args.budget_minutes is None or args.budget_minutes <= 0:
                p.error("--budget-minutes (positive) or --first-epochs must be given")
            if args.seeds < settings.SEEDS.low:
                p.error(f"{settings.SEEDS.flag} must be at least {settings.SEEDS.low:g}")
            if args.finalists < 1:
                p.error("--finalists must be at least 1")
            if args.trials_per_device < 1:
                raise SweepError("--trials-per-device must be at least 1")
            if args.trials_per_device != 1 and args.executor == "ray":
                raise SweepError("--trials-per-device is for the local executor; on Ray, "
                                 "--gpus-per-trial and --cpus-per-trial place the trials")  # fmt: skip
            folder = Path(args.out)
            if (folder / SWEEP_JSON).exists():
                p.error(f"{args.out} holds a sweep already; continue it with --resume {args.out}")
            try:
                given = settings.flags_parser().parse_known_args(train_args)[0]
            except argparse.ArgumentError as err:
                p.error(str(err))
            own = [n for n in PER_TRIAL if getattr(given, n) not in (None, False)]
            if own or any(
                a.split("=")[0] in ("--out", "--resume", "--pipeline") for a in train_args
            ):
                flags = ", ".join(settings.by_name(n).flag for n in PER_TRIAL)
                p.error(f"{flags}, --pipeline and --out are set per trial by the sweep")
            candidates = make_candidates(args.candidates, args.ladder, args.ladder_base)
            executor = executor_for(args, train_args)
            budget_s = None if args.first_epochs else 60 * args.budget_minutes
            state = new_state(candidates, train_args, args.seeds, budget_s, args.executor,
                              args.finalists, args.first_seed, args.first_epochs,
                              args.trials_per_device)  # fmt: skip
            folder.mkdir(parents=True, exist_ok=True)
            save_state(folder, state)
        sweep = Sweep(folder, state, executor, log=lambda m: print(m, flush=True))
        signal.signal(signal.SIGTERM, lambda *_: sweep.stop())
        signal.signal(signal.SIGINT, lambda *_: sweep.stop())
        return sweep.run()
    except (CandidateError, SweepError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
