"""Training throughput: the d2l way against ours, same model, same pipeline, same device.

- d2l: a DataLoader of PIL images, the pipeline applied per image by torchvision in worker
  processes (4, d2l's get_dataloader_workers()), fp32, d2l's recipe (Adam, batch 256);
- ours: the training set on the device as one uint8 tensor, the pipeline applied per batch by
  pipelines.batched (a draw per image), AMP, channels_last, the fast recipe (batch 512): the
  very `Run.train_step` of playground.training;
- ours, per image: the same model, recipe, batch and train step, the pipeline applied per
  image by torchvision to the uint8 tensors in `--d2l-workers` DataLoader processes (the
  trainer's fallback path): only the augmentation path differs from "ours";
- ours without augmentation: the same with an empty pipeline, the ceiling the model allows.

torchvision v2 passes PIL images through RandomErasing untouched, so with a pipeline that
erases (trivialaugment-cifar) the d2l row does less work than the others; "ours, per image"
erases.

Data: the synthetic CIFAR-shaped set (32x32, 10 classes), since CIFAR-10 may not be
downloadable. The pipeline defaults to d2l's flip + ColorJitter + RandomResizedCrop (the
d2l-combined preset, its 200 px output set to 32 as training does).

    python bench/train_throughput.py                      # GPU: 50000 images
    python bench/train_throughput.py --device cpu --size 512 --width 8 --steps 4   # CI smoke
    python bench/train_throughput.py --device cpu --pipeline trivialaugment-cifar \
        --size 4096 --width 16 --batch-size 256 --warmup 2 --steps 8   # the CPU comparison
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.batched import BatchedPipeline, unsupported  # noqa: E402
from pipelines.build import build  # noqa: E402
from pipelines.spec import PipelineSpec, load  # noqa: E402
from playground.training import recipes  # noqa: E402
from playground.training.augment import _PerImage  # noqa: E402
from playground.training.data import SYNTHETIC_CLASSES, Dataset, make_synthetic  # noqa: E402
from playground.training.dist import Ranks  # noqa: E402
from playground.training.loop import Run  # noqa: E402
from playground.training.model import resnet18  # noqa: E402
from playground.training.stop import StopFlag  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step, batches, warmup: int, steps: int, batch: int, device: torch.device) -> float:
    """Images per second over `steps` steps after `warmup` untimed ones."""
    for i, item in enumerate(batches):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        step(*item)
        if i == warmup + steps - 1:
            break
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


class _PilImages(torch.utils.data.Dataset):
    def __init__(self, images: list[Image.Image], labels: list[int], transform: Any) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[i]), self.labels[i]


def d2l_way(
    data: Dataset, spec: PipelineSpec, args: argparse.Namespace, device: torch.device
) -> float:
    images = [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in data.train_x]
    transform = v2.Compose([build(spec), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    loader = DataLoader(
        _PilImages(images, data.train_y.tolist(), transform),
        batch_size=256,
        shuffle=True,
        num_workers=args.d2l_workers,
        persistent_workers=args.d2l_workers > 0,
        drop_last=True,
    )
    model = resnet18(10, args.width).to(device)
    opt, _, loss_fn = recipes.make("d2l", model, 1e-3, 1)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def batches():
        while True:
            yield from loader

    return _timed(step, batches(), args.warmup, args.steps, 256, device)


def _run_config(spec: PipelineSpec, args: argparse.Namespace, device: torch.device) -> dict:
    return {
        "batch_size": args.batch_size,
        "train_pipeline": spec.to_dict(),
        "seed": 0,
        "workers": 8,
        "epochs": 1000,
        "normalize": {"mean": [0.5] * 3, "std": [0.25] * 3},
        "classes": list(SYNTHETIC_CLASSES),
        "width": args.width,
        "model": getattr(args, "model", "resnet18"),
        "recipe": "fast",
        "lr": recipes.default_lr("fast", args.batch_size),
        "amp_dtype": args.amp,
        "compile": args.compile,
        "compile_mode": args.compile_mode,
        "device_name": str(device),
    }


def ours(
    data: Dataset, spec: PipelineSpec, args: argparse.Namespace, device: torch.device
) -> float:
    cfg = _run_config(spec, args, device)
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(cfg, data, Path(tmp), Ranks(), device, StopFlag(), log=lambda m: None)
        if not run.batches.batched:
            print(f"note: {args.pipeline} falls back to per-image torchvision: {unsupported(spec)}")

        def batches():
            for epoch in range(1000):
                yield from run.batches.training(epoch)

        return _timed(run.train_step, batches(), args.warmup, args.steps, args.batch_size, device)


def per_image(
    data: Dataset, spec: PipelineSpec, args: argparse.Namespace, device: torch.device
) -> float:
    """Ours with the pipeline applied per image by torchvision instead: the uint8 tensors in a
    DataLoader of `--d2l-workers` processes (the trainer's fallback path), the same model,
    recipe, batch and train step as `ours`, so only the augmentation path differs."""
    cfg = _run_config(PipelineSpec(), args, device)
    dataset = _PerImage(data.train_x, data.train_y, build(spec))
    n, batch = len(data.train_y), args.batch_size

    def sampler():
        gen = torch.Generator().manual_seed(0)
        while True:
            order = torch.randperm(n, generator=gen)
            for start in range(0, n - batch + 1, batch):
                yield [(int(i), int(i) + start) for i in order[start : start + batch]]

    loader = DataLoader(
        dataset,
        batch_sampler=sampler(),
        num_workers=args.d2l_workers,
        persistent_workers=args.d2l_workers > 0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(cfg, data, Path(tmp), Ranks(), device, StopFlag(), log=lambda m: None)

        def batches():
            for x, y in loader:
                y = y.to(device)
                yield x.to(device).float().div_(255), y, y

        return _timed(run.train_step, batches(), args.warmup, args.steps, batch, device)


def augmentation_only(
    data: Dataset, spec: PipelineSpec, args: argparse.Namespace, device: torch.device
) -> float:
    """The batched pipeline alone, on batches of the device-resident uint8 set."""
    pipeline = BatchedPipeline(spec, compile=args.compile)
    images = data.train_x.to(device)
    gen = torch.Generator(device=device).manual_seed(0)

    def batches():
        while True:
            yield images[torch.randint(0, len(images), (args.batch_size,), device=device)], None

    return _timed(
        lambda x, y: pipeline(x, gen), batches(), args.warmup, args.steps, args.batch_size, device
    )


def per_image_augmentation_only(
    data: Dataset, spec: PipelineSpec, args: argparse.Namespace, device: torch.device
) -> float:
    """torchvision alone, per image on the uint8 tensors, in this one process (the pipeline's
    own cost without workers; compare with `augmentation_only`)."""
    transform = build(spec)
    gen = torch.Generator().manual_seed(0)

    def batches():
        while True:
            yield (
                data.train_x[
                    torch.randint(0, len(data.train_x), (args.batch_size,), generator=gen)
                ],
                None,
            )

    def step(x: torch.Tensor, _: Any) -> None:
        torch.stack([transform(img) for img in x]).to(device)

    return _timed(step, batches(), 1, max(1, args.steps // 2), args.batch_size, device)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--pipeline", default="d2l-combined")
    p.add_argument("--size", type=int, default=50000, help="training images (synthetic, 32x32)")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=512, help="ours (d2l's is 256)")
    p.add_argument(
        "--amp",
        choices=("bf16", "fp16", "off"),
        default=None,
        help="default bf16 on CUDA, off on CPU",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile our model")
    p.add_argument(
        "--compile-mode",
        choices=("default", "reduce-overhead", "max-autotune-no-cudagraphs"),
        default=None,
        help="torch.compile mode (reduce-overhead: CUDA graphs)",
    )
    p.add_argument("--d2l-workers", type=int, default=4)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    args.amp = args.amp or ("bf16" if cuda else "off")
    spec = load(args.pipeline).with_output_size(32)
    x, y = make_synthetic(args.size, 32, seed=1)
    data = Dataset(x, y, x[:256], y[:256], list(SYNTHETIC_CLASSES))
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    print(
        f"device {name}, {args.size} images, pipeline {args.pipeline} at 32 px, width {args.width}"
    )
    results: dict[str, Any] = {"device": name}
    arms = (
        ("d2l", lambda: d2l_way(data, spec, args, device)),
        ("ours", lambda: ours(data, spec, args, device)),
        ("ours_per_image", lambda: per_image(data, spec, args, device)),
        ("ours_no_augmentation", lambda: ours(data, PipelineSpec(), args, device)),
        ("augmentation_only", lambda: augmentation_only(data, spec, args, device)),
        (
            "per_image_augmentation_only",
            lambda: per_image_augmentation_only(data, spec, args, device),
        ),
    )
    for key, measure in arms:  # one line each as it comes: a slow machine shows progress
        results[key] = measure()
        print(f"  {key}: {results[key]:,.0f} img/s", flush=True)
    results["speedup"] = results["ours"] / results["d2l"]
    results["batched_over_per_image"] = results["ours"] / results["ours_per_image"]
    results["share_of_no_augmentation"] = results["ours"] / results["ours_no_augmentation"]
    results["augmentation_cost"] = results["ours_no_augmentation"] / results["ours"]
    print(
        f"d2l way (PIL + per-image torchvision, {args.d2l_workers} workers, fp32): {results['d2l']:,.0f} img/s"
    )
    print(
        f"ours (batched on {device.type}, amp {args.amp}, compile {args.compile}): {results['ours']:,.0f} img/s"
    )
    print(
        f"ours, per-image torchvision in {args.d2l_workers} workers instead: "
        f"{results['ours_per_image']:,.0f} img/s"
    )
    print(f"ours without augmentation: {results['ours_no_augmentation']:,.0f} img/s")
    results["augmentation_only_ratio"] = (
        results["augmentation_only"] / results["per_image_augmentation_only"]
    )
    print(
        f"the pipeline alone: batched {results['augmentation_only']:,.0f} img/s, per-image "
        f"torchvision in one process {results['per_image_augmentation_only']:,.0f} img/s "
        f"({results['augmentation_only_ratio']:.1f}x)"
    )
    print(
        f"ratio ours / d2l: {results['speedup']:.1f}x; ours / per-image: "
        f"{results['batched_over_per_image']:.1f}x; ours / no augmentation: "
        f"{results['share_of_no_augmentation']:.2f}x"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({**vars(args), **results}, indent=2))
    return results


if __name__ == "__main__":
    main()
