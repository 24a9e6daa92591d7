"""What a model expects of its validation and test images, as the Export tab writes it: the
values `pipelines.export.eval_transform_source` takes, read from the model's declaration
(`playground.training.models.preprocess`: its weights' own `transforms()`)."""

from __future__ import annotations

from typing import Any

from playground.training import models


def eval_for(model: str) -> dict[str, Any]:
    """`model`'s eval_transform values: model, resize, crop, mean, std, interpolation (mean and
    std None for the CIFAR-style ResNet-18, which uses its training images' own statistics).
    An unknown name raises models.ModelError."""
    return {"model": models.entry(model).name, **models.preprocess(model).to_dict()}
