"""What the model will see: the first training batch exactly as the run's pipeline feeds it."""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from pipelines.spec import from_dict
from playground.training import data
from playground.training.augment import TrainBatches


def to_pil(image: torch.Tensor) -> Image.Image:
    """A float [0, 1] CHW image as an RGB PIL image."""
    pixels = image.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(pixels)


def first_batch_preview(config: dict[str, Any], count: int = 32) -> list[Image.Image]:
    """The first `count` images of rank 0's first batch, augmented (and mixed, with CutMix or
    MixUp), at training resolution.

    `config` is a run's resolved config (config.json, or `--check`'s output). The batch is
    drawn on the run's device type where there is one: CUDA and CPU generators give different
    numbers for the same seed, so on another device the draws differ but follow the same law.
    """
    dataset = data.load(config)
    world = config.get("world_size", 1)
    cuda = config.get("device") == "cuda" and torch.cuda.is_available()
    batches = TrainBatches(
        dataset,
        from_dict(config["train_pipeline"]),
        batch=config["batch_size"],
        seed=config["seed"],
        device=torch.device("cuda" if cuda else "cpu"),
        world=world,
        workers=0,
        log=lambda message: None,
    )
    images, _, _ = next(batches.training(0))  # mixed, where the pipeline mixes
    return [to_pil(image) for image in images[:count]]
