"""What one Start may cost on this server: each setting's upper bound, the memory of the runs
it starts (estimated from their settings before anything starts) and their training time.

On a Hugging Face Space anyone can call `/train_start` without the page, so a Space narrows
the declared ranges (`space_high` in playground.training.settings; the processes to what the
hardware has) and bounds the memory and the minutes of one Start. Elsewhere nothing is
bounded unless the operator sets the variables (0 lifts a bound).

No torch here (the app imports this at start-up); the memory model's constants were measured
(docs/benchmarks.md, "What one Start may cost").
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from playground.training import settings as run_settings

MEMORY_ENV = "PLAYGROUND_MAX_START_MEMORY_MB"
START_MINUTES_ENV = "PLAYGROUND_MAX_START_MINUTES"
SPACE_START_MINUTES = 240.0  # one Start on a Space: at most 4 hours of training in all
SPACE_MEMORY_SHARE = 0.5  # of the machine's memory, for the runs one Start trains at once

# A CPU trainer's resident memory, measured as peak RSS of `python -m playground.train` on
# synthetic data (600 images): width 16 batch 64 -> 917 MB, width 32 batch 128 -> 1,248 MB,
# width 64 batch 128 -> 1,711 MB, width 64 batch 256 -> 2,252 MB. The batch's activations kept
# for the backward pass grow as batch x width x pixels: 4.2 MB per 32 x 32 image at width 64,
# i.e. 64 bytes per image, channel and pixel; the rest is the process (torch, allocator).
PROCESS_MB = 1100.0  # the largest measured base, 994 MB, and a tenth more
ACTIVATION_BYTES = 64.0  # per image x first-stage channel x pixel
PARAMS_AT_WIDTH_64 = 11.2e6  # ResNet-18; parameters grow as width squared
PARAM_COPIES = 4  # weights, gradients, momentum, and a spare (the optimizer's step)
WORKER_MB = 250.0  # a DataLoader worker of the per-image fallback (a forked trainer)
MB = 2**20


def on_space() -> bool:
    return bool(os.environ.get("SPACE_ID"))


def machine_memory_mb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MB
    except (ValueError, OSError, AttributeError):
        return 0.0


def _env_number(name: str) -> float | None:
    """An operator's variable: None when unset, 0 when it lifts the bound."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number (the server's settings)") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={raw!r} must be 0 (no bound) or more")
    return value


@dataclass(frozen=True)
class StartBudget:
    """What one Start may take: memory of the runs it trains at once, and training minutes of
    all its runs (seeds x arms x each run's time limit). None: unbounded."""

    memory_mb: float | None
    minutes: float | None


def start_budget() -> StartBudget:
    memory = _env_number(MEMORY_ENV)
    if memory is None:
        memory = SPACE_MEMORY_SHARE * machine_memory_mb() if on_space() else 0
    minutes = _env_number(START_MINUTES_ENV)
    if minutes is None:
        minutes = SPACE_START_MINUTES if on_space() else 0
    return StartBudget(memory or None, minutes or None)


def run_memory_mb(cfg: dict[str, Any]) -> float:
    """The host memory one run needs at its peak, from its resolved config (`--check`'s):
    every process holds the data, the model and its optimizer; on a CPU the batch's
    activations too (on a GPU they are on the GPU). The model is not read: every network is
    estimated as ResNet-18 at `width` (the one measured); a torchvision `model` counts only
    through its larger training size (data and activations), not its own parameters."""
    size = int(cfg.get("image_size") or run_settings.DEFAULT_IMAGE_SIZE)
    width = int(cfg.get("width") or run_settings.by_name("width").default)
    batch = int(cfg.get("batch_size") or 512)
    procs = max(1, int(cfg.get("world_size") or cfg.get("nproc") or 1))
    images = int(cfg.get("train_size") or 0) + int(cfg.get("test_size") or 0)
    data_mb = 2 * images * 3 * size * size / MB  # uint8, and a copy while loading
    params_mb = PARAMS_AT_WIDTH_64 * (width / 64) ** 2 * 4 * PARAM_COPIES / MB
    per_process = PROCESS_MB + data_mb + params_mb + WORKER_MB * int(cfg.get("workers") or 0)
    activations = 0.0
    if cfg.get("device", "cpu") == "cpu":
        activations = ACTIVATION_BYTES * batch * width * size * size / MB
    return procs * per_process + activations


def largest_batch(cfg: dict[str, Any], memory_mb: float, arms: int) -> int:
    """The largest batch (a power of two, at least 1) whose runs fit `memory_mb`; 0 if none."""
    batch = 0
    b = 1
    while (
        b <= run_settings.by_name("batch_size").high
        and arms * run_memory_mb({**cfg, "batch_size": b}) <= memory_mb
    ):
        batch, b = b, b * 2
    return batch
