"""How long an epoch will take, before a run starts: from a comparable earlier run's logged
images/s, else by timing a few steps of a throw-away synthetic run on this device (never while
a run is training: the two would share the device and the estimate would be wrong).
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from playground import runs
from playground.jobs import (
    JobError,
    Settings,
    active_runs,
    first_error,
    flags,
    run_quietly,
    train_command,
)
from playground.runs import Run

MEASURE_STEPS = 5
MEASURE_TIMEOUT_S = 180.0
CPU_MEASURE_BATCH = 64  # on a CPU images/s hardly depends on the batch; small keeps it quick
_MEASURED: dict[tuple, float] = {}  # this app's measurements, by what the throughput depends on
_MEASURE_LOCK = threading.Lock()


# what the images/s of a run depend on, with the value a config from before the setting
# existed means (runs from before models were added trained the CIFAR ResNet-18, all of it)
THROUGHPUT = {
    "device": None,
    "world_size": None,
    "model": "resnet18",
    "finetune": "all",
    "width": None,
    "batch_size": None,
    "amp_dtype": None,
    "batched": None,
    "image_size": None,
}


def _throughput_key(cfg: dict[str, Any]) -> tuple:
    return tuple(cfg.get(k, default) for k, default in THROUGHPUT.items())


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def run_images_per_s(run: Run) -> float | None:
    """A run's typical training images/s: the median of its logged intervals but the first."""
    rates = [
        r["images_per_s"]
        for r in runs.read_metrics(run.path)
        if r.get("type") == "train" and isinstance(r.get("images_per_s"), (int, float))
    ]
    rates = rates[1:] if len(rates) > 2 else rates  # the first interval includes warm-up
    return _median(rates) if rates else None


def _from_previous_runs(cfg: dict[str, Any], root: Path | None) -> tuple[float, str] | None:
    key = _throughput_key(cfg)
    for run in runs.list_runs(root):
        if (
            run.config
            and _throughput_key({**run.config, "device": run.config.get("device")}) == key
        ):
            rate = run_images_per_s(run)
            if rate:
                return rate, f"the median images/s of run {run.name} (same device and settings)"
    return None


def measure_images_per_s(settings: Settings, pipeline: Path, cfg: dict[str, Any]) -> float:
    """Train a few steps of a throw-away synthetic run with these settings; its images/s."""
    batch = (
        cfg["batch_size"] if cfg["device"] == "cuda" else min(cfg["batch_size"], CPU_MEASURE_BATCH)
    )
    batch = max(batch, cfg.get("world_size") or 1)  # the global batch: processes split it
    # the weights' values do not change the speed: a probe downloads no ImageNet weights
    probe = replace(
        settings,
        dataset="synthetic",
        synthetic_size=batch * MEASURE_STEPS,
        subset=None,
        epochs=1,
        batch_size=batch,
        weights="none",
    )
    with tempfile.TemporaryDirectory(prefix="playground-measure-") as tmp:
        out = Path(tmp) / "run"
        cmd = train_command("--pipeline", str(pipeline), *flags(probe), "--out", str(out))
        try:
            code, _, err = run_quietly(cmd, MEASURE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise JobError(f"measuring the speed took over {MEASURE_TIMEOUT_S:.0f} s") from None
        rate = run_images_per_s(runs.read_run(out)) if out.is_dir() else None
        if code != 0 or not rate:
            raise JobError(f"measuring the speed failed: {first_error(err or '')}")
        return rate


def _training(root: Path | None) -> bool:
    """A run, or a sweep (between its trials too), is training on this server."""
    return bool(active_runs(root) or runs.live_sweeps(root))


def estimate_epoch(
    settings: Settings, pipeline: Path, cfg: dict[str, Any], root: Path | None = None
) -> tuple[float, str]:
    """(seconds per epoch, how that was estimated): from a comparable earlier run if there is
    one, else by timing a few steps on this device; never while a run is training."""
    found = _from_previous_runs(cfg, root)
    key = _throughput_key(cfg)
    if found is None and key in _MEASURED:
        found = _MEASURED[key], "a few training steps timed earlier on this device"
    if found is None:
        if _training(root):
            raise JobError("no estimate while a run is training (timing steps now would be wrong)")
        with _MEASURE_LOCK:
            rate = measure_images_per_s(settings, pipeline, cfg)
        if _training(root):  # started while the steps were timed: they shared the device
            raise JobError("a run started while a few steps were timed, so they say too little")
        _MEASURED[key] = rate
        found = rate, f"{MEASURE_STEPS} training steps of a short synthetic run timed just now"
    rate, how = found
    train_s = cfg["train_size"] / rate
    eval_s = cfg["test_size"] / (3 * rate)  # a forward pass is about a third of a training step
    return train_s + eval_s, f"{rate:,.0f} images/s, from {how}"
