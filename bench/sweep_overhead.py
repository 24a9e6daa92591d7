"""The sweep executors' overhead: the same trials run by hand against the executors.

A small sweep's first rung (two candidates and no augmentation, x --seeds seeds, one epoch on
the tiny synthetic set) is built with the sweep's own code (`Sweep.rung_trials`), in a fresh
folder for each way of running it:

- by hand (the baseline): each trial's training command (`trial_command`) run one after
  another with subprocess, its output to the run folder's train.out;
- local: `LocalExecutor.run` (on the CPU: one trial at a time);
- ray: `RayExecutor.run` on a local Ray that runs one trial at a time (each trial holds all
  CPUs), so it does the same work in the same order as by hand; Ray's start-up (`ray.init`,
  once per sweep) is timed apart. Skipped when ray is not installed, or with --no-ray;
- local xK (with --per-device K > 1): `LocalExecutor(per_device=K).run`, K trials at a time,
  each with its share of the cores (`--trials-per-device K`): not an overhead but what
  overlapping the trials' starts saves (its time outside the trials is not defined: they
  overlap).

The ways alternate, --repeats times (each way first in one repeat), and the medians are
compared; the ratio against by hand is the overhead (the target: at most 1.10). Each way also
times its trials' processes (start to exit), so the seconds per trial spent outside them (the
executor's own: Tune's scheduling and records, a worker's start) are printed too: on a busy
machine the trials' own seconds vary more than the ratio's target, and this part does not.
Each trial is a fresh Python process that imports torch, so a tiny trial is mostly start-up:
the overhead measured here is per trial, and larger trials dilute it.

    nice python bench/sweep_overhead.py                 # 2 candidates + baseline x 2 seeds
    nice python bench/sweep_overhead.py --no-ray --per-device 2   # one at a time against two
    nice python bench/sweep_overhead.py --repeats 5 --synthetic-size 1000 --width 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playground.training.sweep.candidates import make_candidates  # noqa: E402
from playground.training.sweep.executors import (  # noqa: E402
    TRAIN_LOG,
    LocalExecutor,
    Trial,
    trial_command,
)
from playground.training.sweep.run import Sweep  # noqa: E402
from playground.training.sweep.state import new_state  # noqa: E402

CANDIDATES = ["d2l-flip", "cifar-standard"]


class _Null:
    name, slots = "none", 1

    def stop(self) -> None:
        pass


def trials_in(folder: Path, args: argparse.Namespace) -> list[Trial]:
    """The first rung of a sweep of CANDIDATES, one epoch, in `folder`."""
    train = ["--dataset", "synthetic", "--synthetic-size", str(args.synthetic_size),
             "--width", str(args.width), "--device", "cpu"]  # fmt: skip
    candidates = make_candidates(CANDIDATES, [], None)
    state = new_state(candidates, train, args.seeds, 600.0, "bench")
    folder.mkdir(parents=True)
    sweep = Sweep(folder, state, _Null(), log=lambda m: None)
    sweep.prepare()
    return sweep.rung_trials(0, [c.key for c in candidates], 1)


def by_hand(trials: list[Trial]) -> list[int]:
    codes = []
    for t in trials:
        cmd = trial_command(t)
        t.out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(t.out / TRAIN_LOG, "ab") as log:
            codes.append(subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode)
        t.wall_s += time.perf_counter() - started
    return codes


def timed(run, trials: list[Trial]) -> tuple[float, float]:
    """The seconds the way took, and of them the seconds outside the trials' own processes
    (each way times its trials' processes, start to exit, in `Trial.wall_s`)."""
    started = time.perf_counter()
    codes = run(trials)
    took = time.perf_counter() - started
    if any(codes):
        bad = [t.name for t, c in zip(trials, codes, strict=True) if c]
        raise SystemExit(f"trials failed: {bad} (see their {TRAIN_LOG})")
    return took, took - sum(t.wall_s for t in trials)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--synthetic-size", type=int, default=200)
    p.add_argument("--width", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-ray", action="store_true", help="skip the Ray executor")
    p.add_argument("--per-device", type=int, default=1, metavar="K",
                   help="also the local executor with K trials at a time (K > 1)")  # fmt: skip
    args = p.parse_args()

    ways = {"by hand": by_hand, "local": LocalExecutor().run}
    together = f"local x{args.per_device}"
    if args.per_device > 1:
        ways[together] = LocalExecutor(per_device=args.per_device).run
    ray_start = None
    try:
        if args.no_ray:
            raise ImportError("--no-ray")
        from playground.training.sweep.ray_executor import RayExecutor
    except ImportError as err:
        print(f"the Ray executor is skipped ({err})")
    else:
        started = time.perf_counter()
        ray_exec = RayExecutor(None, gpus_per_trial=0, cpus_per_trial=os.cpu_count() or 1)
        ray_start = time.perf_counter() - started
        assert ray_exec.slots == 1
        ways["ray"] = ray_exec.run

    times: dict[str, list[float]] = {name: [] for name in ways}
    outside: dict[str, list[float]] = {name: [] for name in ways}
    n = 0
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as tmp:
        for r in range(args.repeats):
            names = list(ways)
            for name in names[r % len(names) :] + names[: r % len(names)]:  # each way first once
                trials = trials_in(Path(tmp, f"{r}-{name.replace(' ', '-')}"), args)
                n = len(trials)
                took, out = timed(ways[name], trials)
                times[name].append(took)
                outside[name].append(out)
                aside = "" if name == together else f" ({out:.1f} s outside the trials)"
                print(f"  repeat {r + 1}, {name}: {took:.1f} s{aside}", flush=True)

    base = statistics.median(times["by hand"])
    print(f"\n{n} trials (3 candidates x {args.seeds} seeds, 1 epoch, synthetic "
          f"{args.synthetic_size} images, width {args.width}), one at a time"
          f"{f' (local x{args.per_device}: {args.per_device} at a time)' if together in ways else ''}; "
          f"median of {args.repeats}")  # fmt: skip
    print(f"{'way':12}{'seconds':>10}{'per trial':>11}{'vs by hand':>12}{'outside/trial':>15}")
    for name, ts in times.items():
        t = statistics.median(ts)
        o = statistics.median(outside[name])
        shown = "-" if name == together else f"{o / n:.2f}"  # overlapping trials: undefined
        print(f"{name:12}{t:>10.1f}{t / n:>11.2f}{t / base:>11.3f}x{shown:>15}")
    if ray_start is not None:
        with_start = statistics.median(times["ray"]) + ray_start
        print(f"{'ray + start':12}{with_start:>10.1f}{with_start / n:>11.2f}"
              f"{with_start / base:>11.3f}x   (ray.init: {ray_start:.1f} s, once per sweep)")  # fmt: skip


if __name__ == "__main__":
    main()
