"""Training throughput of each model a run can fine-tune (playground.training.models), at its
input size, with the pipeline applied per batch by pipelines.batched (on the training device)
against the same pipeline applied per image by torchvision in DataLoader workers (the
trainer's fallback path), and without augmentation (the model's own ceiling), in one run.

Every arm is the trainer's own `Run.train_step` (AMP bf16 on CUDA, channels_last, the fast
recipe); weights `none` (random: throughput does not depend on the weights, and ImageNet
weights cannot be downloaded everywhere). The data: synthetic images at the shorter side the
model's evaluation transform resizes to (256 for a 224 px model); the pipeline is
RandomResizedCrop to the model's crop + flip + ColorJitter (d2l's combined preset).

    python bench/model_throughput.py                                  # GPU, every model
    python bench/model_throughput.py --device cpu --models resnet18-imagenet mobilenet_v3_small \
        --size 64 --batch-size 16 --warmup 1 --steps 3 --d2l-workers 2      # the CPU rows
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.train_throughput import ours, per_image  # noqa: E402
from pipelines.spec import PipelineSpec, load  # noqa: E402
from playground.training import models  # noqa: E402
from playground.training.data import SYNTHETIC_CLASSES, Dataset, make_synthetic  # noqa: E402
from playground.training.settings import MODEL_NAMES  # noqa: E402


def measure(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    pre = models.preprocess(name)
    x, y = make_synthetic(args.size, pre.resize, seed=1)
    data = Dataset(x, y, x[:64], y[:64], list(SYNTHETIC_CLASSES))
    spec = load(args.pipeline).with_output_size(pre.crop)
    run_args = argparse.Namespace(**{**vars(args), "model": name})
    row: dict[str, Any] = {"model": name, "input": pre.crop, "stored": pre.resize}
    for key, arm in (
        ("batched", lambda: ours(data, spec, run_args, device)),
        ("per_image", lambda: per_image(data, spec, run_args, device)),
        ("no_augmentation", lambda: ours(data, PipelineSpec(), run_args, device)),
    ):
        row[key] = arm()
    row["batched_over_per_image"] = row["batched"] / row["per_image"]
    row["share_of_no_augmentation"] = row["batched"] / row["no_augmentation"]
    return row


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    p.add_argument("--pipeline", default="d2l-combined")
    p.add_argument("--size", type=int, default=2048, help="synthetic training images")
    p.add_argument("--width", type=int, default=64, help="the CIFAR network's width")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--amp", choices=("bf16", "fp16", "off"), default=None)
    p.add_argument("--d2l-workers", type=int, default=8, help="per-image arm's workers")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    args.amp = args.amp or ("bf16" if cuda else "off")
    args.compile, args.compile_mode = False, None
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    print(f"device {name}, batch {args.batch_size}, amp {args.amp}, pipeline {args.pipeline}")
    print("| model | input | batched img/s | per-image img/s | ratio | no augmentation img/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for model in args.models:
        row = measure(model, args, device)
        rows.append(row)
        print(
            f"| {model} | {row['input']} | {row['batched']:,.0f} | {row['per_image']:,.0f} | "
            f"{row['batched_over_per_image']:.2f}x | {row['no_augmentation']:,.0f} |",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
