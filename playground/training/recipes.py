"""Training recipes: optimiser, learning-rate schedule and loss, by name, and the rule that fits
batch size, peak lr and warm-up to the data (`fit`).

- `d2l` reproduces d2l.ai's chapter 14.1: Adam at lr 0.001, batch 256, plain cross-entropy,
  no schedule (83.6% test accuracy on CIFAR-10 after 10 epochs with flips).
- `fast` (the default) is the usual fast CIFAR recipe: SGD with Nesterov momentum, a one-cycle
  schedule (linear warm-up, then linear decay), label smoothing 0.1, weight decay on weights
  but not on BatchNorm parameters and biases. On CIFAR-10 (50,000 images) that is batch 512
  and peak lr 0.2 (0.4 made runs spike and recover on an H100); on less data `fit` picks a
  smaller batch so that the run still takes enough optimizer steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from playground.training.settings import by_name

RECIPES = ("fast", "d2l")
FAST_MAX_BATCH = 512
FAST_PEAK_LR = 0.2  # at batch 512; scaled linearly with the batch (Goyal et al., 2017), never above
D2L_BATCH, D2L_LR = 256, 1e-3
MIN_STEPS_PER_EPOCH = 32
MIN_STEPS_PER_RUN = 100
MIN_BATCH = 16
WARMUP_FRACTION = 0.25
MIN_WARMUP_STEPS = 50


@dataclass(frozen=True)
class Fit:
    """What `fit` chose: the values, whether each was chosen automatically, and why."""

    batch_size: int
    lr: float
    warmup_steps: int
    steps_per_epoch: int
    total_steps: int
    batch_auto: bool
    lr_auto: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FitError(ValueError):
    """A run that cannot be scheduled as asked; the message names only what was given."""


def _power_of_two_at_most(x: float) -> int:
    return 1 << max(0, int(x).bit_length() - 1) if x >= 1 else 1


def _auto_batch(recipe: str, train_size: int, epochs: int) -> int:
    """The global batch, from the data and the epochs alone (the processes split it)."""
    if recipe == "d2l":
        batch = D2L_BATCH
    else:
        # the largest power of two that still gives MIN_STEPS_PER_EPOCH steps per epoch and
        # MIN_STEPS_PER_RUN per run, within [16, 512]
        room = min(train_size / MIN_STEPS_PER_EPOCH, train_size * epochs / MIN_STEPS_PER_RUN)
        batch = max(MIN_BATCH, min(_power_of_two_at_most(room), FAST_MAX_BATCH))
    return min(batch, train_size)  # a training set smaller than that: all of it per step


def _warmup(recipe: str, total_steps: int) -> int:
    if recipe == "d2l":
        return 0
    # a fraction alone is too short for short runs: 25% of 9 steps reached lr 0.2 after 2
    # steps and blew the loss up. At least 50 steps, but at most half the run, which must
    # still decay.
    return max(
        1, min(max(round(WARMUP_FRACTION * total_steps), MIN_WARMUP_STEPS), total_steps // 2)
    )


def split(batch: int, world: int) -> list[int]:
    """How `world` processes split a global batch: as evenly as whole images allow."""
    return [(r + 1) * batch // world - r * batch // world for r in range(world)]


def fit(
    recipe: str,
    train_size: int,
    epochs: int,
    world_size: int = 1,
    batch_size: int | None = None,
    lr: float | None = None,
) -> Fit:
    """Batch size, peak learning rate and warm-up (in steps) for a run, from how much data it
    has and for how many epochs. The number of processes only splits the batch: the schedule
    (batch, steps, lr, warm-up) is the same on 1 process as on 8. An explicit `batch_size` or
    `lr` wins; None or 0 means automatic, as in the Train tab's form.

    Why: a fixed batch of 512 gives 2,000 images 3 optimizer steps per epoch; with a schedule
    that warms up over a quarter of the run the peak lr is reached after one or two steps, the
    loss blows up, and what the curves then show is the recipe, not the augmentation. So
    - the `fast` batch is the largest power of two that leaves at least 32 steps per epoch and
      100 per run, between 16 and 512 images (512 is the CIFAR-10 recipe: a larger training
      set keeps 512 and simply takes more steps). It is global: 8 processes take 2 images
      each of a batch of 16 rather than 16 each, which would leave 500 images 3 steps per
      epoch; a batch that does not divide by the processes is split as evenly as it can be;
    - the peak lr follows the batch linearly, 0.2 at 512 (the linear scaling rule; it is what
      keeps the noise of one step about the same as the batch shrinks), and never exceeds
      0.2, also for a larger batch given by hand (1.6 at 4,096 diverges);
    - the warm-up is a quarter of the run but at least 50 steps (at most half the run), so a
      short run does not jump to the peak lr while the BatchNorm statistics and the weights
      are still far from settled;
    - `d2l` keeps d2l's own values: Adam, lr 0.001, batch 256, no warm-up (only a training
      set smaller than 256 images gets a smaller batch, since the batch cannot exceed it).
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}")
    batch_auto, lr_auto = not batch_size, not lr
    if batch_auto and train_size < world_size:
        raise FitError(
            f"{train_size:,} training images cannot be split over {world_size} processes "
            "(each needs at least one image per step): use fewer processes or more images"
        )
    batch = _auto_batch(recipe, train_size, epochs) if batch_auto else int(batch_size)
    if batch < world_size:
        raise FitError(
            f"{by_name('batch_size').flag} {batch} cannot be split over {world_size} processes "
            "(each needs at least one image per step)"
        )
    peak = default_lr(recipe, batch) if lr_auto else float(lr)
    steps = train_size // batch
    total = steps * epochs
    return Fit(
        batch_size=batch,
        lr=peak,
        warmup_steps=_warmup(recipe, total),
        steps_per_epoch=steps,
        total_steps=total,
        batch_auto=batch_auto,
        lr_auto=lr_auto,
        reason=_reason(recipe, train_size, world_size, batch, batch_auto, peak, lr_auto),
    )


def _reason(
    recipe: str, n: int, world: int, batch: int, batch_auto: bool, peak: float, lr_auto: bool
) -> str:
    steps = n // batch if batch else 0
    if not batch_auto:
        how = f"batch {batch} as given"
    elif recipe == "d2l" and batch == D2L_BATCH:
        how = f"batch {batch}: d2l's recipe"
    else:
        how = f"batch {batch} for {n:,} images"
    how += f": {steps} steps per epoch"
    if world > 1:
        shares = sorted(set(split(batch, world)), reverse=True)
        how += f", {' or '.join(map(str, shares))} per process"
    if not lr_auto:
        how += "; lr as given"
    elif recipe == "d2l":
        how += "; lr 0.001: d2l's recipe"
    elif batch > FAST_MAX_BATCH:
        how += f"; peak lr {peak:g}: 0.2 x batch/512, capped at 0.2"
    else:
        how += "; peak lr 0.2 x batch/512"
    return how


def default_lr(recipe: str, batch_size: int) -> float:
    """The automatic peak lr: 0.2 x batch/512, at most 0.2 (fast); 0.001 (d2l)."""
    if recipe == "d2l":
        return D2L_LR
    return FAST_PEAK_LR * min(batch_size, FAST_MAX_BATCH) / FAST_MAX_BATCH


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
        "schedule": "one-cycle (linear warm-up from lr/8 over warmup_steps, linear decay to lr/1600)",
        "label_smoothing": 0.1,
        "weight_decay": 5e-4,
    }


def one_cycle(total: int, rise: int | None = None, start: float = 1 / 8, end: float = 1 / 1600):
    """lr factor per step: linear from `start` up to 1 over the first `rise` steps (a quarter of
    the run if not given), then linear down to `end`. (torch's OneCycleLR divides by zero when a
    run has only a few steps.)"""
    rise = max(1, round(total * WARMUP_FRACTION) if rise is None else rise)

    def factor(step: int) -> float:
        if step < rise:
            return start + (1 - start) * step / rise
        return 1 + (end - 1) * min(1.0, (step - rise) / max(1, total - rise))

    return factor


def make(
    recipe: str,
    model: nn.Module,
    lr: float,
    total_steps: int,
    warmup_steps: int | None = None,
    groups: list[dict[str, Any]] | None = None,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, nn.Module]:
    """(optimizer, scheduler stepped once per batch, loss) for `recipe`. `groups`: parameter
    groups ({"name", "params", "lr_scale"}, playground.training.models.param_groups) that
    learn at `lr_scale` times the schedule's rate (a fine-tuned backbone slower than its
    head; frozen parameters left out); None: every parameter of `model` at the rate."""
    spec = describe(recipe)
    criterion = nn.CrossEntropyLoss(label_smoothing=spec["label_smoothing"])
    if groups is not None:
        opt = _grouped(recipe, spec, lr, groups)
    elif recipe == "d2l":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        decay = [p for p in model.parameters() if p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.ndim <= 1]
        opt = torch.optim.SGD(
            [
                {"params": decay, "weight_decay": spec["weight_decay"]},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=lr,
            momentum=0.9,
            nesterov=True,
        )
    if recipe == "d2l":
        return opt, torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0), criterion
    # LambdaLR scales each group's own starting rate, so the groups keep their ratio
    sched = torch.optim.lr_scheduler.LambdaLR(opt, one_cycle(total_steps, warmup_steps))
    return opt, sched, criterion


def _grouped(
    recipe: str, spec: dict[str, Any], lr: float, groups: list[dict[str, Any]]
) -> torch.optim.Optimizer:
    """The recipe's optimizer over `groups`, each at lr x its lr_scale (and, for `fast`, split
    into weights with decay and BatchNorm parameters and biases without, as above)."""
    if recipe == "d2l":
        return torch.optim.Adam(
            [{"params": g["params"], "lr": lr * g["lr_scale"], "name": g["name"]} for g in groups],
            lr=lr,
        )
    split_groups = []
    for g in groups:
        for decays in (True, False):
            params = [p for p in g["params"] if (p.ndim > 1) == decays]
            if params:
                split_groups.append(
                    {
                        "params": params,
                        "lr": lr * g["lr_scale"],
                        "weight_decay": spec["weight_decay"] if decays else 0.0,
                        "name": g["name"] + ("" if decays else " (no decay)"),
                    }
                )
    return torch.optim.SGD(split_groups, lr=lr, momentum=0.9, nesterov=True)
