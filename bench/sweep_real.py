"""The sweep on real images (CPU): what it concludes within its budget, and how often an A/A
sweep (one pipeline entered several times) claims a difference that cannot be there.

Reads the 5,085 real CIFAR-10 training images (default: ../shared/data/cifar10-train-subset.npz
from the project's root; nothing in the project depends on it) and writes them as an
ImageFolder tree: 1,000 test images (100 per class, fixed seed) and 4,085 training images, of
which the sweep holds out its own validation split (20%, stratified, seeded).

    python bench/sweep_real.py sweep [--budget-minutes 20]   # 6 candidates, width 16, 3 seeds
    python bench/sweep_real.py aa --repeats 20               # A/A: 3 copies + none, per repeat

The first's baseline is its budget: it prints the wall time against it (the ratio) and the
summary. The second runs `--repeats` small sweeps with other seeds (--first-seed) and counts
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
    p.add_argument("what", choices=("sweep", "aa"))
    p.add_argument("--npz", default=str(DEFAULT_NPZ))
    p.add_argument("--work", help="where the image folder and the sweeps go (default: temp)")
    p.add_argument("--budget-minutes", type=float, default=20.0)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--aa-epochs", type=int, default=3, help="each A/A sweep's (fixed) epochs")
    args = p.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="sweep-real-"))
    data = work / "data"
    if not (data / "train").is_dir():
        write_folder(Path(args.npz), data)
    flags = ["--dataset", f"folder:{data}", "--device", "cpu"]
    if args.what == "sweep":
        color = _pipeline_file(work, "colorjitter-0.4", COLOR_04)
        trivial = _pipeline_file(work, "trivialaugment", TRIVIAL)
        candidates = ["cifar-standard", trivial, "randaugment", color, "d2l-combined"]
        state, seconds = sweep(
            ["--candidates", *candidates, "--budget-minutes", str(args.budget_minutes),
             "--seeds", "3", "--width", "16", *flags],
            work / "sweep",
        )  # fmt: skip
        budget = 60 * args.budget_minutes
        print(f"wall {seconds / 60:.1f} min against a budget of {budget / 60:.0f} min: ratio "
              f"{seconds / budget:.2f}")  # fmt: skip
        print((work / "sweep" / "summary.txt").read_text())
        return 0
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


def _upper(k: int, n: int, level: float = 0.95) -> float:
    low, high = k / n, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        tail = sum(math.comb(n, i) * mid**i * (1 - mid) ** (n - i) for i in range(k + 1))
        low, high = (mid, high) if tail > 1 - level else (low, mid)
    return high


if __name__ == "__main__":
    raise SystemExit(main())
