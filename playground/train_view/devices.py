"""What this server can train on (GPUs, CPUs, ZeroGPU, a Space) and the banner that says so."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from playground import budget


@lru_cache(maxsize=1)
def detect_devices() -> dict[str, Any]:
    """What this server can train on. Counting GPUs does not create a CUDA context here."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    names = _gpu_names(count)
    return {
        "gpus": count,
        "names": names,
        "cpus": os.cpu_count() or 1,
        "zero_gpu": _env_true("SPACES_ZERO_GPU"),
        "space": budget.on_space(),
    }


def _env_true(name: str) -> bool:
    """An environment flag as Spaces sets them ("true", "1"); "false" or unset is off."""
    return os.environ.get(name, "").strip().lower() in ("1", "t", "true", "yes")


def _gpu_names(count: int) -> list[str]:
    if not count:
        return []
    import subprocess

    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        names = [line.strip() for line in out.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        names = []
    return names[:count] or ["GPU"] * count


def device_banner(info: dict[str, Any]) -> str:
    if info["zero_gpu"]:
        return (
            "**ZeroGPU Space:** a GPU is lent only for the length of one call, and a training "
            "run lives longer than that, so **background training here runs on the CPU**. Use "
            "the quick CPU run, or duplicate this Space onto dedicated GPU hardware for full runs."
        )
    if info["gpus"]:
        kinds = sorted(set(info["names"]))
        many = "GPUs" if info["gpus"] > 1 else "GPU"
        extra = (
            " (several GPUs: the run uses torchrun, one process per GPU)"
            if info["gpus"] > 1
            else ""
        )
        return f"**Devices:** {info['gpus']} {many}: {', '.join(kinds)}{extra}."
    return (
        f"**No GPU here: training runs on the CPU ({info['cpus']} cores).** A full CIFAR-10 run "
        "takes hours on a CPU. **Quick CPU run** trains on at most 10,000 images (CIFAR-10's "
        "first 10,000; the synthetic set has 5,000), with a narrower ResNet-18 and five "
        "epochs, which finish in a few minutes; **Preview & estimate** says how long before "
        "you start."
    )
