"""Training on real images with the command line's defaults: does the recipe learn, and when
does "with vs without augmentation" become a measurable difference?

Reads 5,085 real CIFAR-10 training images from an .npz (x uint8 (N, 3, 32, 32), y, classes),
kept outside the repository (default: ../shared/data/cifar10-train-subset.npz from the
project's root; nothing in the project depends on it). It writes them as an ImageFolder tree in
a temporary folder: 1,000 images (100 per class, fixed seed) as test/<class>/*.png, the rest as
train/<class>/*.png. Then it runs `python -m playground.train --dataset folder:PATH` with every
setting left at its default except those the experiment names, and prints one line per run.

    python bench/real_data_recipe.py --quick             # width 16, 5 epochs, whole subset
    python bench/real_data_recipe.py --small             # 2,000 images, 3 epochs
    python bench/real_data_recipe.py --budgets 3 10      # with vs without augmentation, 2,000 images
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NPZ = ROOT.parent / "shared" / "data" / "cifar10-train-subset.npz"


def write_folder(npz: Path, root: Path, test_per_class: int = 100, seed: int = 0) -> Path:
    """The .npz as root/train/<class>/*.png and root/test/<class>/*.png (stratified split)."""
    arrays = np.load(npz)
    x, y, classes = arrays["x"], arrays["y"], [str(c) for c in arrays["classes"]]
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in range(len(classes)):
        members = np.flatnonzero(y == label)
        test[rng.choice(members, size=min(test_per_class, len(members)), replace=False)] = True
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        folder = root / ("test" if test[i] else "train") / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.transpose(1, 2, 0)).save(folder / f"{i:05d}.png")
    return root


def experiment(
    root: Path, out: Path, pipeline: str, epochs: int, subset: int | None, width: int, device: str
):
    """The paired experiment (pipeline vs --no-augment, seed 0) with the training defaults."""
    cmd = [sys.executable, "-m", "playground.training.compare", "--pipeline", pipeline]
    cmd += ["--out", str(out), "--seeds", "1", "--dataset", f"folder:{root}"]
    cmd += ["--epochs", str(epochs), "--width", str(width), "--device", device]
    cmd += ["--subset", str(subset)] if subset else []
    print("$", " ".join(cmd), flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text())
    config = json.loads((out / "seed0-aug" / "config.json").read_text())
    return summary, config, seconds


def row(name: str, summary: dict, config: dict, seconds: float) -> str:
    aug, base = summary["arms"]["augmented"], summary["arms"]["baseline"]
    return (
        f"| {name} | {config['train_size']:,} | {config['epochs']} | {config['batch_size']} "
        f"({config['total_steps']} steps) | {aug['test_acc']:.1%} | {base['test_acc']:.1%} | "
        f"{summary['effect_points']:+.1f} ({summary['ci_low']:+.1f} to {summary['ci_high']:+.1f}) | "
        f"{aug['overfitting_gap_points']:+.1f} / {base['overfitting_gap_points']:+.1f} | "
        f"{seconds / 60:.0f} min |"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--npz", default=str(DEFAULT_NPZ))
    p.add_argument("--work", help="where the image folder and the runs go (default: a temp dir)")
    p.add_argument("--pipeline", default="cifar-standard")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--quick", action="store_true", help="every training image, 5 epochs")
    p.add_argument("--small", action="store_true", help="2,000 training images, 3 epochs")
    p.add_argument("--budgets", type=int, nargs="*", default=[], help="epochs on 2,000 images")
    args = p.parse_args(argv)
    if not Path(args.npz).is_file():
        print(f"error: no {args.npz}; pass --npz PATH", file=sys.stderr)
        return 2
    work = Path(args.work or tempfile.mkdtemp(prefix="real-data-"))
    root = work / "images"
    if not (root / "test").is_dir():
        write_folder(Path(args.npz), root)
    plan = [("quick", 5, None)] if args.quick else []
    plan += [("small", 3, 2000)] if args.small else []
    plan += [(f"budget-{e}", e, 2000) for e in args.budgets]
    print(
        "| run | training images | epochs | batch (auto) | augmented | baseline | effect, points "
        "(95% CI) | over-fitting gap aug / base | time |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, epochs, subset in plan:
        out = work / f"{name}-{args.pipeline}-w{args.width}-{args.device}"
        if not (out / "summary.json").exists():
            result = experiment(root, out, args.pipeline, epochs, subset, args.width, args.device)
        else:
            result = (*_saved(out), float("nan"))
        print(row(name, *result), flush=True)
        print(f"  verdict: {result[0]['verdict']}", flush=True)
    return 0


def _saved(out: Path) -> tuple[dict, dict]:
    return (
        json.loads((out / "summary.json").read_text()),
        json.loads((out / "seed0-aug" / "config.json").read_text()),
    )


if __name__ == "__main__":
    raise SystemExit(main())
