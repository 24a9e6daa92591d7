"""The batched pipeline against its peers, the augmentation alone: kornia and torchvision.

Arms, for each pipeline, on one batch of uint8 CIFAR-shaped images (the output is float
[0, 1] NCHW for every arm, the conversion included in its time):

- ours: `pipelines.batched.BatchedPipeline`, a draw per image, eager;
- ours --compile: the same with `compile=True` (its first batch measures the compiled
  all-ops graph against the grouped kernels and keeps the faster: the plan is printed);
- kornia: `kornia.augmentation`, per sample (`same_on_batch=False`) for flip -> crop ->
  jitter; its `auto.TrivialAugment`, `auto.RandAugment` and `auto.AutoAugment` for the
  policies, which pick the op(s) once per call for the whole batch (less diverse than the
  per-image draw of torchvision and ours, and cheaper);
- torchvision per image: the same spec built by `pipelines.build`, applied image by image
  (the trainer's fallback, without workers).

kornia is optional, for this benchmark only (`pip install -r bench/requirements-bench.txt`):
without it the kornia arms are left out and said so.

The CPU here is shared with other work: the arms run in alternating rounds and each ratio is
taken between arms of the same round; the table gives the median rate over rounds and the
range of the per-round ratios.

    python bench/peers.py                        # CPU, batch 256, 5 rounds
    python bench/peers.py --threads 1 --clock cpu   # CPU time: steadier on a shared machine
    python bench/peers.py --compile              # adds ours compiled
    python bench/peers.py --profile              # where our time goes, per step
    python bench/peers.py --device cuda --compile   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.batched import BatchedPipeline  # noqa: E402
from pipelines.build import build  # noqa: E402
from pipelines.spec import PipelineSpec, make  # noqa: E402

# real CIFAR-10 images where a developer machine has them (not part of the project)
REAL_FILE = Path(__file__).resolve().parent.parent.parent / "shared/data/cifar10-train-subset.npz"

JITTER = {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1}

# name -> (our spec, kornia's module given kornia, the kornia arm's name)
PIPELINES: dict[str, tuple[PipelineSpec, Callable[[Any, int], Any], str]] = {
    "flip-crop-jitter": (
        make(
            [
                ("RandomHorizontalFlip", {"p": 0.5}),
                ("RandomResizedCrop", {"size": 32}),
                ("ColorJitter", JITTER),
            ]
        ),
        lambda K, size: K.augmentation.AugmentationSequential(
            K.augmentation.RandomHorizontalFlip(p=0.5),
            K.augmentation.RandomResizedCrop((size, size)),
            K.augmentation.ColorJitter(**JITTER, p=1.0),
            same_on_batch=False,
        ),
        "kornia per sample",
    ),
    "trivialaugment": (
        make([("TrivialAugmentWide", {})]),
        lambda K, size: K.augmentation.auto.TrivialAugment(),
        "kornia TrivialAugment (one op per batch)",
    ),
    "randaugment": (
        make([("RandAugment", {"num_ops": 2, "magnitude": 9})]),
        lambda K, size: K.augmentation.auto.RandAugment(n=2, m=9),
        "kornia RandAugment(n=2, m=9) (ops per batch)",
    ),
    "autoaugment": (
        make([("AutoAugment", {"policy": "cifar10"})]),
        lambda K, size: K.augmentation.auto.AutoAugment(policy="cifar10"),
        "kornia AutoAugment(cifar10) (sub-policy per batch)",
    ),
}


def _kornia() -> Any | None:
    try:
        import kornia
    except ImportError:
        return None
    return kornia


def _images(args: argparse.Namespace) -> tuple[torch.Tensor, str]:
    gen = torch.Generator().manual_seed(0)
    if not args.random and args.data.exists():
        x = torch.from_numpy(np.load(args.data)["x"])
        pick = torch.randint(0, len(x), (args.batch,), generator=gen)
        return x[pick].contiguous(), "real CIFAR-10 images"
    shape = (args.batch, 3, args.size, args.size)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen), "random pixels"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _rate(
    run: Callable[[], Any], n: int, seconds: float, device: torch.device, clock: str
) -> float:
    """Images a second of `clock`: calls repeated until `seconds` of it have passed (one at
    least)."""
    now = CLOCKS[clock]
    _sync(device)
    start, calls = now(), 0
    while True:
        run()
        calls += 1
        _sync(device)
        elapsed = now() - start
        if elapsed >= seconds:
            return n * calls / max(elapsed, 1e-9)


def arms(
    name: str, x: torch.Tensor, args: argparse.Namespace, kornia: Any | None
) -> dict[str, Callable[[], Any]]:
    """The arms of one pipeline, each a call that augments x once (warmed up here)."""
    spec, make_kornia, kornia_name = PIPELINES[name]
    out: dict[str, Callable[[], Any]] = {}
    gen = torch.Generator(device=x.device).manual_seed(0)
    ours = BatchedPipeline(spec)
    out["ours"] = lambda: ours(x, gen)
    if args.compile:
        compiled = BatchedPipeline(spec, compile=True)
        start = time.perf_counter()
        compiled(x, gen)  # compiles, and measures its two ways
        print(
            f"  {name}: ours --compile chose {compiled.plan}; first batch {time.perf_counter() - start:.0f} s"
        )
        out["ours --compile"] = lambda: compiled(x, gen)
    if kornia is not None:
        aug = make_kornia(kornia, x.shape[-1]).to(x.device)
        out[kornia_name] = lambda: aug(x.float().div(255))
    per_image = build(spec)
    cpu = x.cpu()
    out["torchvision per image"] = lambda: (
        torch.stack([per_image(img) for img in cpu]).to(x.device).float().div(255)
    )
    for run in out.values():
        run()
    return out


def profile(x: torch.Tensor, args: argparse.Namespace) -> dict[str, float]:
    """Milliseconds (of `--clock`) a batch in each part of ours on flip -> crop -> jitter: the
    draws, the uint8 conversion, each kernel's apply (its own drawn parameters, the input it
    gets in the pipeline); the fastest of `--rounds` runs each."""
    spec = PIPELINES["flip-crop-jitter"][0]
    pipeline = BatchedPipeline(spec)
    gen = torch.Generator(device=x.device).manual_seed(0)
    height, width = x.shape[-2:]
    parts: dict[str, Callable[[], Any]] = {
        "draw": lambda: pipeline.draw_params(x.shape[0], height, width, gen)
    }
    drawn = pipeline.draw_params(x.shape[0], height, width, gen)
    inputs = [x.float().div(255)]
    parts["uint8 -> float"] = lambda: x.float().div(255)
    for step, kernel, params in zip(spec.image_steps, pipeline.kernels, drawn, strict=True):
        given = inputs[-1]
        parts[step.transform] = lambda k=kernel, g=given, p=params: k.apply(g, p)
        inputs.append(kernel.apply(given, params))
    now = CLOCKS[args.clock]
    best = {part: float("inf") for part in parts}
    for _ in range(args.rounds):
        for part, run in parts.items():
            _sync(x.device)
            start = now()
            run()
            _sync(x.device)
            best[part] = min(best[part], (now() - start) * 1e3)
    total = sum(best.values())
    print(
        f"profile, flip -> crop -> jitter, batch {x.shape[0]} on {x.device.type} "
        f"({args.clock} ms, min of {args.rounds}):"
    )
    print("  " + ", ".join(f"{k} {v:.2f} ({v / total:.0%})" for k, v in best.items()))
    return best


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=32, help="image side with --random")
    p.add_argument("--data", type=Path, default=REAL_FILE, help="an .npz with uint8 x (N3HW)")
    p.add_argument("--random", action="store_true", help="random pixels, not real images")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of all arms")
    p.add_argument("--seconds", type=float, default=1.0, help="time per arm and round")
    p.add_argument("--pipelines", default=",".join(PIPELINES), help="comma-separated")
    p.add_argument("--compile", action="store_true", help="also ours with compile=True")
    p.add_argument("--profile", action="store_true", help="only the per-step profile")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="wall: images per second; cpu: images per CPU second of this process (what "
        "the work costs, steadier on a machine shared with other work)",
    )
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    x, source = _images(args)
    x = x.to(device)
    kornia = _kornia()
    print(
        f"batch {tuple(x.shape)} uint8 of {source} on {device.type}, {torch.get_num_threads()} "
        f"threads, {args.clock} clock, torch {torch.__version__}, "
        + (f"kornia {kornia.__version__}" if kornia else "kornia not installed: its arms left out")
    )
    if args.profile:
        return {"profile_ms": profile(x, args)}
    results: dict[str, Any] = {
        "batch": list(x.shape),
        "source": source,
        "clock": args.clock,
        "threads": torch.get_num_threads(),
        "pipelines": {},
    }
    for name in args.pipelines.split(","):
        runs = arms(name, x, args, kornia)
        rates: dict[str, list[float]] = {arm: [] for arm in runs}
        for _ in range(args.rounds):
            for arm, run in runs.items():
                rates[arm].append(_rate(run, x.shape[0], args.seconds, device, args.clock))
        results["pipelines"][name] = _report(name, rates)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def _report(name: str, rates: dict[str, list[float]]) -> dict[str, Any]:
    """Median img/s per arm; each of ours over each peer, round by round (min, median, max)."""
    out: dict[str, Any] = {"img_per_s": {a: statistics.median(r) for a, r in rates.items()}}
    out["ratios"] = {}
    print(f"{name}:")
    for arm, r in rates.items():
        print(f"  {arm:45s} {statistics.median(r):>9,.0f} img/s", flush=True)
    for mine in (a for a in rates if a.startswith("ours")):
        for peer in (a for a in rates if not a.startswith("ours")):
            ratios = [a / b for a, b in zip(rates[mine], rates[peer], strict=True)]
            low, mid, high = min(ratios), statistics.median(ratios), max(ratios)
            out["ratios"][f"{mine} / {peer}"] = [low, mid, high]
            print(f"  {mine} / {peer}: {low:.2f}-{high:.2f}x (median {mid:.2f}x)", flush=True)
    return out


if __name__ == "__main__":
    main()
