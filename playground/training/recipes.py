"""Training recipes: optimiser, learning-rate schedule and loss, by name.

- `d2l` reproduces d2l.ai's chapter 14.1: Adam at lr 0.001, batch 256, plain cross-entropy,
  no schedule (83.6% test accuracy on CIFAR-10 after 10 epochs with flips).
- `fast` (the default) is the usual fast CIFAR recipe: SGD with Nesterov momentum, a one-cycle
  schedule (linear warm-up over the first quarter, then linear decay), label smoothing 0.1,
  weight decay on weights but not on BatchNorm parameters and biases, batch 512, peak lr 0.2
  scaled linearly with the batch size (0.4 made runs spike and recover on an H100).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

DEFAULT_BATCH = {"fast": 512, "d2l": 256}


def default_lr(recipe: str, batch_size: int) -> float:
    return 0.2 * batch_size / 512 if recipe == "fast" else 1e-3


def describe(recipe: str) -> dict[str, Any]:
    """The recipe's fixed settings, recorded in config.json."""
    if recipe == "d2l":
        return {
            "optimizer": "Adam",
            "schedule": "constant",
            "label_smoothing": 0.0,
            "weight_decay": 0.0,
        }
    return {
        "optimizer": "SGD(momentum=0.9, nesterov=True)",
        "schedule": "one-cycle (25% linear warm-up from lr/8, linear decay to lr/1600)",
        "label_smoothing": 0.1,
        "weight_decay": 5e-4,
    }


def one_cycle(total: int, warmup: float = 0.25, start: float = 1 / 8, end: float = 1 / 1600):
    """lr factor per step: linear from `start` up to 1 over the first `warmup` of the steps, then
    linear down to `end`. (torch's OneCycleLR divides by zero when a run has only a few steps.)"""
    rise = max(1, round(total * warmup))

    def factor(step: int) -> float:
        if step < rise:
            return start + (1 - start) * step / rise
        return 1 + (end - 1) * min(1.0, (step - rise) / max(1, total - rise))

    return factor


def make(
    recipe: str, model: nn.Module, lr: float, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, nn.Module]:
    """(optimizer, scheduler stepped once per batch, loss) for `recipe`."""
    spec = describe(recipe)
    criterion = nn.CrossEntropyLoss(label_smoothing=spec["label_smoothing"])
    if recipe == "d2l":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        return opt, torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0), criterion
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": spec["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, one_cycle(total_steps))
    return opt, sched, criterion
