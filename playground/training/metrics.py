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
    """The run's metrics.jsonl. It keeps the lines it wrote, so if the file is deleted or cut
    short while the run trains (by hand, by a clean-up job), the next append restores the
    whole history instead of starting the curves over from that step."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lines: list[str] | None = None  # what the file holds, as far as we know
        self._size = 0  # its size in bytes
        self.restored = 0  # how many times the file had to be restored

    def _known_lines(self) -> list[str]:
        if self._lines is None:
            self._set_lines([json.dumps(r) + "\n" for r in self.records()])
        return self._lines

    def _set_lines(self, lines: list[str]) -> None:
        self._lines, self._size = lines, sum(len(x) for x in lines)  # json.dumps: ASCII

    def append(self, record: dict[str, Any]) -> None:
        lines = self._known_lines()
        line = json.dumps(_round(record)) + "\n"
        try:
            size = self.path.stat().st_size
        except OSError:
            size = 0 if not self._size else -1  # a first line creates the file
        if size != self._size:  # deleted, truncated or rewritten behind our back
            self.restored += 1
            print(
                f"warning: {self.path.name} was deleted or changed during the run; rewritten "
                f"from the {len(lines)} lines this run wrote",
                flush=True,
            )
            self._set_lines([*lines, line])
            atomic_write_bytes(self.path, "".join(self._lines).encode())
            return
        with open(self.path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        lines.append(line)
        self._size += len(line)

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
        self._set_lines([json.dumps(r) + "\n" for r in kept])
        atomic_write_bytes(self.path, "".join(self._lines).encode())


def write_status(path: str | os.PathLike[str], **fields: Any) -> None:
    """status.json: the run's state for the UI, replaced atomically."""
    atomic_write_json(path, {**_round(fields), "updated": time.time()})
