"""metrics.jsonl (one JSON object per line, appended and flushed) and status.json.

The UI only reads these files. On resume, lines after the checkpoint's step are dropped first
(an atomic rewrite), so a line is never lost or doubled whatever moment the run was killed at.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from playground.training.checkpoints import atomic_write_bytes, atomic_write_json


def _number(v: Any) -> Any:
    if not isinstance(v, float):
        return v
    # NaN and infinity are not JSON: a diverged loss is written as null
    return round(v, 6) if math.isfinite(v) else None


def _round(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _number(v) for k, v in record.items()}


class MetricsLog:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(_round(record)) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def records(self) -> list[dict[str, Any]]:
        """Every complete line; a last line cut short by a kill is skipped."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def truncate_after(self, step: int) -> None:
        """Keep the train/eval lines up to and including `step` (and no summary)."""
        kept = [
            r
            for r in self.records()
            if r.get("type") in ("train", "eval") and r.get("step", step + 1) <= step
        ]
        atomic_write_bytes(self.path, "".join(json.dumps(r) + "\n" for r in kept).encode())


def write_status(path: str | os.PathLike[str], **fields: Any) -> None:
    """status.json: the run's state for the UI, replaced atomically."""
    atomic_write_json(path, {**_round(fields), "updated": time.time()})
