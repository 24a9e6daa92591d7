"""Stopping a run cleanly: SIGTERM or SIGINT (the app's Stop, Ctrl-C), or the wall-clock limit
a server may set per launch; the training loop polls the flag between steps."""

from __future__ import annotations

import os
import signal


class StopFlag:
    """Set by SIGTERM/SIGINT, or by the wall-clock limit the launching server may set
    (PLAYGROUND_TIME_LIMIT_S, seconds this launch may train); the loop finishes its step,
    checkpoints and exits 0."""

    TIME_LIMIT_ENV = "PLAYGROUND_TIME_LIMIT_S"

    def __init__(self) -> None:
        self.signal: int | None = None
        self.limit_s: float | None = None

    def install(self) -> None:
        self.previous = {
            sig: signal.signal(sig, self._set)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)
        }
        try:
            limit = float(os.environ.get(self.TIME_LIMIT_ENV) or 0)
        except ValueError:
            limit = 0.0
        if limit > 0:
            self.limit_s = limit
            signal.setitimer(signal.ITIMER_REAL, limit)

    def uninstall(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in getattr(self, "previous", {}).items():
            signal.signal(sig, handler)

    def _set(self, signum: int, frame: object) -> None:
        self.signal = signum

    @property
    def reason(self) -> str:
        if self.signal == signal.SIGALRM:
            return (
                f"stopped: this server's time limit per run ({self.limit_s / 60:.0f} min) "
                "was reached; the checkpoint is kept"
            )
        return f"stopped by {signal.Signals(self.signal).name}" if self.signal else ""
