"""What one run and one Start may take on this server: the limits in force, each setting's
upper bound, the seeds per Start, and the checks of a Start or Resume against them (images,
memory, training minutes)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from playground import budget
from playground.jobs.errors import JobError
from playground.jobs.process import job_runs
from playground.runs import Run
from playground.training import settings as run_settings


@dataclass(frozen=True)
class Limits:
    """What one run may take on this server. A run started through the HTTP API, or by a
    browser that has gone, is owned by nobody who is still there, so on a Space each run is
    bounded by default; elsewhere nothing is, unless the operator sets the variables."""

    max_epochs: int | None
    max_train_images: int | None
    max_minutes: float | None  # wall-clock training time per run, summed over its resumes

    ENV = {
        "max_epochs": "PLAYGROUND_MAX_EPOCHS",
        "max_train_images": "PLAYGROUND_MAX_TRAIN_IMAGES",
        "max_minutes": "PLAYGROUND_MAX_RUN_MINUTES",
    }
    SPACE_DEFAULTS = {
        "max_epochs": run_settings.by_name("epochs").space_high,
        "max_train_images": run_settings.by_name("subset").space_high,
        "max_minutes": 120.0,
    }


def server_limits() -> Limits:
    """The limits in force: PLAYGROUND_MAX_* (0 = none), else a Space's defaults, else none."""
    on_space = budget.on_space()
    values: dict[str, Any] = {}
    for key, env in Limits.ENV.items():
        raw = os.environ.get(env, "").strip()
        try:
            value = float(raw) if raw else (Limits.SPACE_DEFAULTS[key] if on_space else 0)
        except ValueError:
            raise JobError(f"{env}={raw!r} is not a number (the server's settings)") from None
        values[key] = (value if key == "max_minutes" else int(value)) if value > 0 else None
    return Limits(**values)


def hardware_processes() -> int:
    """How many training processes this machine has room for: one per GPU, one on a CPU (and
    on ZeroGPU, where background runs use the CPU)."""
    if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true", "yes"):
        return 1
    import torch  # here only: importing this module must not import torch

    return max(1, torch.cuda.device_count() if torch.cuda.is_available() else 0)


def setting_highs() -> dict[str, float]:
    """Each setting's upper bound on this server where it is narrower than its declaration:
    on a Space the declared `space_high` and the hardware's processes; PLAYGROUND_MAX_EPOCHS
    and PLAYGROUND_MAX_TRAIN_IMAGES anywhere."""
    highs: dict[str, float] = {}
    if budget.on_space():
        highs = {d.name: d.space_high for d in run_settings.declared() if d.space_high}
        highs["nproc"] = hardware_processes()
    limits = server_limits()
    for name, value in (
        ("epochs", limits.max_epochs),
        ("subset", limits.max_train_images),
        ("synthetic_size", limits.max_train_images),
    ):
        highs.pop(name, None)
        if value:
            highs[name] = value
    return highs


def start_budget() -> budget.StartBudget:
    try:
        return budget.start_budget()
    except ValueError as err:
        raise JobError(str(err)) from None


# seeds per arm of one Start, as declared
MIN_SEEDS, MAX_SEEDS = int(run_settings.SEEDS.low), int(run_settings.SEEDS.high)


def max_seeds(baseline: bool) -> int:
    """Seeds per arm one Start may ask for: MAX_SEEDS, and on a server with a budget of
    training minutes per Start, as many pairs as that budget holds at each run's limit."""
    minutes, per_run = start_budget().minutes, server_limits().max_minutes
    if not minutes or not per_run:
        return MAX_SEEDS
    return max(MIN_SEEDS, min(MAX_SEEDS, int(minutes // ((2 if baseline else 1) * per_run))))


def limits_text() -> dict[str, str]:
    """The server's bounds in words, by form field (and "seeds", "memory"), for the form to show
    next to the fields: a visitor reads them before a Start, not in a refusal."""
    texts = {name: f"at most {high:,g} on this server" for name, high in setting_highs().items()}
    per_start = start_budget()
    per_run = server_limits().max_minutes
    if per_start.minutes and per_run:
        texts["seeds"] = (
            f"at most {max_seeds(False)} ({max_seeds(True)} with the baseline) on this server: "
            f"{per_start.minutes:,.0f} training minutes per Start, {per_run:,.0f} per run"
        )
    highs = large_image_highs()
    if highs:
        small = run_settings.by_name("image_size").space_high
        text = _large_image_text(highs, f"above {small:g} px")
        texts["model"] = text[0].upper() + text[1:] + "."
    if per_start.memory_mb:
        texts["memory"] = (
            f"This server gives one Start at most {per_start.memory_mb:,.0f} MB of memory (the "
            "run and its baseline together), estimated from the settings before anything starts."
        )
    return texts


def large_image_highs() -> dict[str, float]:
    """On a Space, the bounds of a run that trains above image_size's `space_high` (a
    torchvision model at its weights' crop), by setting: the declared `space_high_large`."""
    if not budget.on_space():
        return {}
    return {d.name: d.space_high_large for d in run_settings.declared() if d.space_high_large}


def _large_image_size(cfg: dict[str, Any]) -> int | None:
    """The run's training size where large_image_highs bound it, else None."""
    size = cfg.get("image_size")
    small = run_settings.by_name("image_size").space_high
    return size if isinstance(size, int) and small and size > small else None


def _large_image_text(highs: dict[str, float], where: str) -> str:
    return (
        f"a run {where} (a torchvision model at its weights' size) trains at most "
        f"{highs['subset']:,.0f} images for at most {highs['epochs']:,.0f} epochs on this server"
    )


def _within_limits(cfg: dict[str, Any], limits: Limits) -> None:
    size = cfg.get("train_size")
    if limits.max_train_images and isinstance(size, int) and size > limits.max_train_images:
        raise JobError(
            f"this server trains on at most {limits.max_train_images:,} images per run and "
            f"these settings give {size:,}: set Subset to {limits.max_train_images:,} or less"
        )
    highs, pixels = large_image_highs(), _large_image_size(cfg)
    if not highs or pixels is None:
        return
    epochs = cfg.get("epochs")
    advice = []
    if isinstance(size, int) and size > highs["subset"]:
        advice.append(f"set Subset to {highs['subset']:,.0f} or less")
    if isinstance(epochs, int) and epochs > highs["epochs"]:
        advice.append(f"set Epochs to {highs['epochs']:,.0f} or less")
    if advice:
        raise JobError(
            f"{_large_image_text(highs, f'at {pixels} px')}, and these settings give {size:,} "
            f"images for {epochs} epochs: {' and '.join(advice)}"
        )


def _run_time_limit_s(runs_started: int, limits: Limits) -> float | None:
    """Each run's wall-clock limit: the server's per run, and where only a budget per Start is
    set, that budget split over the Start's runs."""
    if limits.max_minutes:
        return limits.max_minutes * 60
    minutes = start_budget().minutes
    return minutes * 60 / runs_started if minutes else None


def _within_start_minutes(seeds: int, arms: int, limits: Limits) -> None:
    minutes, per_run = start_budget().minutes, limits.max_minutes
    if minutes and per_run and seeds * arms * per_run > minutes:
        most = max_seeds(arms == 2)
        raise JobError(
            f"this server trains at most {minutes:,.0f} minutes per Start ({per_run:,.0f} per "
            f"run), and {seeds} seeds x {arms} arms x {per_run:,.0f} minutes is "
            f"{seeds * arms * per_run:,.0f}: set seeds per arm to {most} or less"
        )


def _within_memory(cfg: dict[str, Any], arms: int) -> None:
    """Refuse, with the numbers, a Start whose runs (trained at once: the run and its
    baseline) would need more memory than this server gives one Start."""
    allowed = start_budget().memory_mb
    if not allowed:
        return
    each = budget.run_memory_mb(cfg)
    if arms * each <= allowed:
        return
    runs_text = f"{arms} runs at once of about {each:,.0f} MB each" if arms > 1 else "one run"
    fits = budget.largest_batch(cfg, allowed, arms)
    advice = f"set the batch size to {fits} or less" if fits else "lower the width or the subset"
    raise JobError(
        f"these settings need about {arms * each:,.0f} MB of memory ({runs_text}: batch "
        f"{cfg.get('batch_size')}, width {cfg.get('width')}, {cfg.get('image_size')} px, "
        f"{cfg.get('world_size') or 1} process(es)) and this server gives one Start at most "
        f"{allowed:,.0f} MB: {advice}"
    )


def _time_left_s(run: Run) -> float | None:
    """The wall-clock training time this run may still use (None: no limit)."""
    limit_s = _run_time_limit_s(len(job_runs(run)), server_limits())
    if not limit_s:
        return None
    limit = limit_s / 60
    used = run.status.get("elapsed_s")
    left = limit_s - (used if isinstance(used, (int, float)) else 0.0)
    if left < 30:
        raise JobError(
            f"{run.name} has used this server's {limit:.0f} minutes per run; start a new run"
        )
    return left
