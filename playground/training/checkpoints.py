"""Files of a run that must never be half-written: checkpoints, config.json, status.json.

Every write goes to a temporary file in the same folder, is fsynced, then renamed over the
target (os.replace is atomic on POSIX), and the folder is fsynced so the rename survives a
power cut. A reader therefore sees the old file or the new one, never a mix. Checkpoints are
read with `torch.load(weights_only=True)` only: a checkpoint can never run code.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "playground-checkpoint"
VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that is missing, truncated, or not one of ours."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def write_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Save `state` (tensors, numbers, strings, lists and dicts only) atomically."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _reason(err: Exception) -> str:
    """The informative line of a torch.load error (weights_only errors are long essays)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    picked = next((line for line in lines if "Unsupported global" in line), None)
    return (picked or (lines[0] if lines else type(err).__name__))[:200]


def load_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu") -> dict[str, Any]:
    """A checkpoint written by `write_checkpoint`, or a CheckpointError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(
            f"{str(path)!r} is truncated, corrupt or not a checkpoint of this program "
            f"({_reason(err)})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a checkpoint of this program")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{str(path)!r} has checkpoint version {state.get('version')!r}")
    return state
