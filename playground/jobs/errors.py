"""The one error of this package: a start, stop or resume that cannot go ahead."""

from __future__ import annotations


class JobError(Exception):
    """A start/stop/resume that cannot go ahead; the message is shown to the user as is."""
