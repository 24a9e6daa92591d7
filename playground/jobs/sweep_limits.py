"""The bounds on one sweep on this server (a Space's by default, PLAYGROUND_MAX_SWEEP_*
elsewhere): what they are (`sweep_limits`) and say (`limits_text`), the minutes a sweep has
trained over all its starts and resumes (`used_s`), and the stop of a live sweep that trained
longer than they allow (`enforce_limits`, called by the queue worker). `sweeps` checks a start
and a resume against them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground import budget, runs
from playground.jobs.errors import JobError


@dataclass(frozen=True)
class SweepLimits:
    """What one sweep may ask for on this server: its budget and its candidates (no
    augmentation not counted). On a Space bounded by default; elsewhere only if set."""

    max_minutes: float | None
    max_candidates: int | None

    ENV = {
        "max_minutes": "PLAYGROUND_MAX_SWEEP_MINUTES",
        "max_candidates": "PLAYGROUND_MAX_SWEEP_CANDIDATES",
    }
    SPACE_DEFAULTS = {"max_minutes": 60.0, "max_candidates": 6}


def sweep_limits() -> SweepLimits:
    """PLAYGROUND_MAX_SWEEP_* (0 = none), else a Space's defaults, else none."""
    values: dict[str, Any] = {}
    for key, env in SweepLimits.ENV.items():
        raw = os.environ.get(env, "").strip()
        try:
            value = (
                float(raw) if raw else (SweepLimits.SPACE_DEFAULTS[key] if budget.on_space() else 0)
            )
        except ValueError:
            raise JobError(f"{env}={raw!r} is not a number (the server's settings)") from None
        values[key] = (value if key == "max_minutes" else int(value)) if value > 0 else None
    return SweepLimits(**values)


def limits_text() -> str:
    """The server's bounds on a sweep in words ("" where there are none)."""
    limits = sweep_limits()
    parts = []
    if limits.max_minutes:
        parts.append(f"at most {limits.max_minutes:,.0f} minutes")
    if limits.max_candidates:
        parts.append(f"at most {limits.max_candidates} candidates besides no augmentation")
    return f"This server allows one sweep {' and '.join(parts)}." if parts else ""


def _number(value: Any) -> float:
    """A number read from sweep.json or launch.json; 0 where it is none (`sweeps.read` too)."""
    return float(value) if isinstance(value, (int, float)) else 0.0


def used_s(sweep: dict[str, Any], now: float | None = None) -> float:
    """The seconds the sweep has trained, over all its starts and resumes: what sweep.json
    says of the earlier ones, and the live process's time since its launch."""
    data = sweep.get("data") or {}
    before = _number(data.get("elapsed_before_s"))
    if not sweep.get("live"):
        return max(before, _number(data.get("elapsed_s")))
    started = _number((runs.read_json(sweep["path"] / "launch.json") or {}).get("started"))
    return before + max(0.0, (time.time() if now is None else now) - started) if started else before


def over_time_text(limits: SweepLimits) -> str:
    return (
        f"stopped by this server's limit of {limits.max_minutes:,.0f} minutes per sweep "
        "(its schedule ran over its budget); start a smaller one: fewer candidates or seeds"
    )


def enforce_limits(root: Path | None = None, grace_s: float | None = None) -> list[str]:
    """Stop each live sweep that has trained longer than this server allows one sweep (a sweep
    refuses a plan over its budget, but its rungs can still run over: slower than measured, or
    a re-fitted rung that must stay longer than the last). The app's queue worker calls this
    every few seconds; returns the names stopped. Each is stopped as `sweeps.stop` does, given
    `grace_s` (`sweeps.STOP_GRACE_S` by default) before its process group is killed."""
    from playground.jobs import sweeps  # here: sweeps imports this module for its checks

    grace_s = sweeps.STOP_GRACE_S if grace_s is None else grace_s
    limits = sweep_limits()
    if not limits.max_minutes:
        return []
    stopped = []
    for folder in runs.live_sweeps(root):
        sweep = sweeps.read(folder)
        if sweep["state"] in ("stopping", *sweeps.ENDED) or (folder / "stop.json").exists():
            continue
        if used_s(sweep) > limits.max_minutes * 60:
            sweeps._send_stop(sweep, grace_s, over_time_text(limits))
            stopped.append(folder.name)
    return stopped
