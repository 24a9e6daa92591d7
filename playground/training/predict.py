"""Classify an image with a finished (or running) run's model, as the Train tab does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from playground.training import archive, data, models
from playground.training.checkpoints import CheckpointError, load_checkpoint


def load_model(run_dir: str | Path, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The run's best.pt model (last.pt if there is no best yet), in eval mode, and its config."""
    run_dir = Path(run_dir)
    path = run_dir / "best.pt"
    if not path.is_file():
        path = run_dir / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"{str(run_dir)!r} has no checkpoint yet")
    ckpt = load_checkpoint(path, map_location=device)
    config = ckpt["config"]
    config_file = run_dir / "config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text())
    # the run's architecture (resnet18 for runs from before models were added); the weights
    # are the checkpoint's, so none are read or downloaded here
    model = models.build(
        config.get("model", models.DEFAULT_MODEL), len(config["classes"]), "none",
        config.get("finetune", "all"), config["width"], progress=False,
    ).model  # fmt: skip
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), config


def as_tested(image: Image.Image, config: dict[str, Any]) -> torch.Tensor:
    """The picture as uint8 CHW, made as the run's test images were: an upload's store has the
    shorter side resized and the centre cropped (archive.fit); other data were resized to the
    training size's square."""
    if not str(config.get("dataset", "")).startswith(data.UPLOAD):
        return data.pil_to_uint8(image, config["image_size"])
    resize, crop = data.store_size(config)
    return torch.from_numpy(archive.fit(image, image.size, resize, crop).copy())


@torch.no_grad()
def predict(
    model: nn.Module, config: dict[str, Any], image: Image.Image, topk: int = 5
) -> list[tuple[str, float]]:
    """The `topk` most likely classes and their probabilities, with the run's test-time
    preprocessing: resized as its test images were (`as_tested`), normalised, no
    augmentation."""
    device = next(model.parameters()).device
    x = as_tested(image, config).float().div(255).unsqueeze(0).to(device)
    stats = config["normalize"]
    mean = torch.tensor(stats["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(stats["std"], device=device).view(1, 3, 1, 1)
    probs = model((x - mean) / std).softmax(dim=1)[0]
    values, indices = probs.topk(min(topk, len(config["classes"])))
    return [
        (config["classes"][i], float(p))
        for p, i in zip(values.tolist(), indices.tolist(), strict=True)
    ]
