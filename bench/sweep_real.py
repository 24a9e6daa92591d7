"""The sweep on real images (CPU): what it concludes within its budget, and how often an A/A
sweep (one pipeline entered several times) claims a difference that cannot be there.

Reads the 5,085 real CIFAR-10 training images (default: ../shared/data/cifar10-train-subset.npz
from the project's root; nothing in the project depends on it) and writes them as an
ImageFolder tree: 1,000 test images (100 per class, fixed seed) and 4,085 training images, of
which the sweep holds out its own validation split (20%, stratified, seeded).

    python bench/sweep_real.py sweep [--budget-minutes 20]   # 6 candidates, width 16, 3 seeds
    python bench/sweep_real.py aa --repeats 20               # A/A: 3 copies + none, per repeat
    python bench/sweep_real.py gpu24 --device cuda --budget-minutes 5 \
        --sweep-flags --trials-per-device 4                 # 24 candidates, width 64, one GPU

The first's baseline is its budget: it prints the wall time against it (the ratio) and the
summary. `gpu24` is the same with 24 candidates (the CIFAR presets, and flip + crop with one
more step each, among them strength ladders of RandAugment, ColorJitter and RandomErasing) at
the network's full width: the issue's "24 candidates in at most 5 minutes on one GPU"; on a
CPU, `gpu24 --device cpu --width 4 --budget-minutes 10` runs the same candidates as a check
that they are valid. The second runs `--repeats` small sweeps with other seeds (--first-seed) and counts
the sweeps whose report told two copies apart (a false discovery), with its 95% interval.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_data_recipe import DEFAULT_NPZ, ROOT, write_folder  # noqa: E402

# (transform, params) steps; the catalogue fills in the rest
COLOR_04 = (("ColorJitter", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.0}),)
TRIVIAL = (("TrivialAugmentWide", {}),)
FLIP_CROP = (("RandomCrop", {"size": 32, "padding": 4}), ("RandomHorizontalFlip", {"p": 0.5}))
# the 24 candidates of `gpu24`: presets by name, else flip + crop + these steps
GPU24_PRESETS = ("cifar-standard", "trivialaugment-cifar", "autoaugment-cifar10", "randaugment",
                 "d2l-flip", "d2l-color", "d2l-combined")  # fmt: skip
GPU24_EXTRA = {
    **{f"randaugment-m{m}": (("RandAugment", {"magnitude": m}),) for m in (5, 9, 14)},
    **{
        f"colorjitter-{v}": (
            ("ColorJitter", {"brightness": v, "contrast": v, "saturation": v, "hue": 0.0}),
        )
        for v in (0.1, 0.2, 0.4, 0.8)
    },  # fmt: skip
    **{f"erasing-p{p}": (("RandomErasing", {"p": p}),) for p in (0.25, 0.5)},
    "trivialaugment": TRIVIAL,
    "perspective": (("RandomPerspective", {}),),
    "grayscale": (("RandomGrayscale", {"p": 0.2}),),
    "blur": (("GaussianBlur", {}),),
    "rotation-15": (("RandomRotation", {"degrees": 15.0}),),
    "affine": (("RandomAffine", {}),),
    "cutmix": (("CutMix", {}),),
    "mixup": (("MixUp", {}),),
}


def _pipeline_file(work: Path, name: str, steps: tuple) -> str:
    sys.path.insert(0, str(ROOT))
    from pipelines.spec import make

    path = work / f"{name}.json"
    path.write_text(make(steps).to_json())
    return str(path)


def sweep(args: list[str], out: Path) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "playground.training.sweep", *args, "--out", str(out)]
    print("$", " ".join(cmd), flush=True)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"the sweep failed ({done.returncode}): {done.stderr or done.stdout[-2000:]}"
        )
    return json.loads((out / "sweep.json").read_text()), seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("sweep", "aa", "gpu24"))
    p.add_argument("--npz", default=str(DEFAULT_NPZ))
    p.add_argument("--work", help="where the image folder and the sweeps go (default: temp)")
    p.add_argument("--budget-minutes", type=float, default=20.0)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--aa-epochs", type=int, default=3, help="each A/A sweep's (fixed) epochs")
    p.add_argument("--device", default="cpu", help="the trials' (gpu24: cuda on a GPU)")
    p.add_argument("--width", type=int, help="the network's (default: 16; gpu24: 64)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--sweep-flags", nargs=argparse.REMAINDER, default=[],
                   help="the rest goes to the sweep command (e.g. --trials-per-device 4)")  # fmt: skip
    args = p.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="sweep-real-"))
    data = work / "data"
    if not (data / "train").is_dir():
        write_folder(Path(args.npz), data)
    flags = ["--dataset", f"folder:{data}", "--device", args.device, *args.sweep_flags]
    if args.what == "gpu24":
        extra = [_pipeline_file(work, k, FLIP_CROP + v) for k, v in GPU24_EXTRA.items()]
        candidates = [*GPU24_PRESETS, *extra]
        assert len(candidates) == 24, len(candidates)
        return _timed_sweep(
            ["--candidates", *candidates, "--budget-minutes", str(args.budget_minutes),
             "--seeds", str(args.seeds), "--width", str(args.width or 64), *flags],
            work / "gpu24", args.budget_minutes,
        )  # fmt: skip
    if args.what == "sweep":
        color = _pipeline_file(work, "colorjitter-0.4", COLOR_04)
        trivial = _pipeline_file(work, "trivialaugment", TRIVIAL)
        candidates = ["cifar-standard", trivial, "randaugment", color, "d2l-combined"]
        return _timed_sweep(
            ["--candidates", *candidates, "--budget-minutes", str(args.budget_minutes),
             "--seeds", str(args.seeds), "--width", str(args.width or 16), *flags],
            work / "sweep", args.budget_minutes,
        )  # fmt: skip
    false = 0
    for k in range(args.repeats):
        state, seconds = sweep(
            ["--candidates", "cifar-standard", "cifar-standard", "cifar-standard",
             "--finalists", "3", "--seeds", "3", "--first-seed", str(100 * k),
             "--first-epochs", str(args.aa_epochs), "--width", "8",
             "--subset", "1500", *flags],
            work / f"aa{k:02d}",
        )  # fmt: skip
        report = state["report"]
        copies = {c["key"] for c in state["candidates"][1:]}
        claimed = [pr for pr in report["claimed_pairs"] if {pr["a"], pr["b"]} <= copies]
        false += bool(claimed)
        effects = ", ".join(f"{r['points']:+.1f}" for r in report["vs_none"])
        print(f"A/A sweep {k + 1}: {seconds:.0f} s, epochs {state['plan']['epochs']}, copies vs "
              f"none {effects}; tied: {len(report['tied'])} of 4; copies told apart: "
              f"{'yes' if claimed else 'no'}", flush=True)  # fmt: skip
    n = args.repeats
    rate = false / n
    # the exact (Clopper-Pearson) upper 95% bound of the rate, one-sided
    upper = 1.0 if false == n else _upper(false, n)
    print(f"A/A: {false} of {n} sweeps told two copies apart: rate {rate:.0%} (95% upper bound "
          f"{upper:.0%})")  # fmt: skip
    return 0


def _timed_sweep(args: list[str], out: Path, budget_minutes: float) -> int:
    """One sweep against its budget (the named baseline): the wall time, the ratio, the plan
    it made and its summary."""
    state, seconds = sweep(args, out)
    budget = 60 * budget_minutes
    print(f"wall {seconds / 60:.1f} min against a budget of {budget / 60:.0f} min: ratio "
          f"{seconds / budget:.2f}")  # fmt: skip
    print(f"plan: {json.dumps(state.get('plan'))}")
    print((out / "summary.txt").read_text())
    return 0


def _upper(k: int, n: int, level: float = 0.95) -> float:
    low, high = k / n, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        tail = sum(math.comb(n, i) * mid**i * (1 - mid) ** (n - i) for i in range(k + 1))
        low, high = (mid, high) if tail > 1 - level else (low, mid)
    return high


if __name__ == "__main__":
    raise SystemExit(main())
