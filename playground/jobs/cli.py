"""`python -m playground.jobs`: the operator's shell (list the runs; stop anyone's)."""

from __future__ import annotations

import sys

from playground import runs
from playground.jobs.control import operator_stop
from playground.jobs.errors import JobError


def main(argv: list[str] | None = None) -> int:
    """`python -m playground.jobs list` / `stop RUN... | stop --all`: the operator's shell."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m playground.jobs", description=main.__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every run, newest first, with its state")
    stop_p = sub.add_parser("stop", help="stop runs whoever started them (checkpoint kept)")
    stop_p.add_argument("runs", nargs="*", help="run names")
    stop_p.add_argument("--all", action="store_true", help="every run that is training")
    args = p.parse_args(argv)
    if args.command == "list":
        for run in runs.list_runs():
            print(f"{run.name}\t{run.state}\t{run.message}")
        return 0
    if not args.runs and not args.all:
        p.error("name the runs to stop, or pass --all")
    try:
        stopped = operator_stop(None if args.all else args.runs, wait=True)
    except JobError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"stopped: {', '.join(stopped)}" if stopped else "no run is training")
    return 0
