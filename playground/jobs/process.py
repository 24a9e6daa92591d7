"""The training command as a detached process: its command line and environment, the start
lock, the run folders a Start makes, spawning (launch.json), and who is training now.

The training command (`python -m playground.train`) runs as a separate process in a session of
its own, at lower CPU priority, with stdout/stderr going to the run's log.txt.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

from playground import runs
from playground.jobs.errors import JobError
from playground.runs import Run
from playground.training import settings as run_settings
from playground.training.settings import RunSettings

REPO = Path(__file__).resolve().parents[2]
TRAIN_MODULE = "playground.train"
# Training runs at this niceness so the UI keeps the CPU when both want it (docs/benchmarks.md,
# "UI responsiveness during training"); PLAYGROUND_TRAIN_NICE=0 is the comparison there.
NICE = int(os.environ.get("PLAYGROUND_TRAIN_NICE", "10"))
_START_LOCK = threading.Lock()  # one start at a time in this process; a file lock across processes
Settings = RunSettings  # what a run is started with (declared in playground.training.settings)


def flags(settings: Settings) -> list[str]:
    return run_settings.to_flags(settings)


def train_command(*args: str) -> list[str]:
    return [sys.executable, "-m", TRAIN_MODULE, *args]


TIME_LIMIT_ENV = "PLAYGROUND_TIME_LIMIT_S"  # read by the training loop's StopFlag


def _child_env(time_limit_s: float | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(TIME_LIMIT_ENV, None)
    if time_limit_s is not None:
        env[TIME_LIMIT_ENV] = f"{time_limit_s:.0f}"
    env["PYTHONUNBUFFERED"] = "1"  # log.txt fills line by line, so the UI can show it
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return lines[-1] if lines else "the training command failed without a message"


def run_quietly(cmd: list[str], timeout: float) -> tuple[int, str, str]:
    """Run a short helper command at the training processes' lower priority."""
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _lower_priority(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return proc.returncode, out, err


@contextmanager
def _root_lock(root: Path) -> Iterator[None]:
    """Serialise starts: across threads of this app and across app processes sharing the root."""
    root.mkdir(parents=True, exist_ok=True)
    with _START_LOCK, open(root / ".start.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def active_runs(root: Path | None = None) -> list[Run]:
    return [r for r in runs.list_runs(root) if r.live]


def busy_message(active: list[Run]) -> str:
    names = ", ".join(f"{r.name} ({r.state}, epoch {r.status.get('epoch', 0):.2f})" for r in active)
    return (
        f"A run is already training on this server: {names}. One run at a time; everyone can "
        "watch it in the Runs list, and its owner can stop it."
    )


def sweep_busy_message(names: list[str]) -> str:
    return (
        f"A sweep is training on this server: {', '.join(names)}. One training at a time; "
        "watch it in the Sweep panel, and its owner can stop it there."
    )


def _refuse_if_busy(root: Path) -> None:
    """One training at a time: a run (or a sweep's trial), or a sweep between its trials."""
    active = active_runs(root)
    if active:
        raise JobError(busy_message(active))
    sweeps = runs.live_sweeps(root)
    if sweeps:
        raise JobError(sweep_busy_message([p.name for p in sweeps]))


def _new_run_dir(
    root: Path, settings: Settings, baseline: bool, tag: str = "", suffix: str = "-noaug"
) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    kind = settings.dataset.split(":", 1)[0]  # folder:PATH -> folder
    base = f"{stamp}-{kind}{tag}" + (suffix if baseline else "")
    path, n = root / base, 1
    while path.exists():
        n += 1
        path = root / f"{base}-{n}"
    path.mkdir(parents=True)
    return path


def _lower_priority(pid: int) -> None:
    """Right after the fork, before the child imports torch and starts threads or workers, so
    everything it starts inherits the lower priority (no preexec_fn: the app has threads)."""
    with suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, NICE)


def _spawn(
    run_dir: Path,
    cmd: list[str],
    owner: str,
    job: str,
    action: str,
    time_limit_s: float | None,
    kind: str | None = None,
) -> int:
    """Start `cmd` detached (own session, lower priority, output -> log.txt); record launch.json.

    Called with the start lock held. launch.json marks the run live *before* the process
    exists, so another Start or Resume that takes the lock next sees it as starting even
    though its old status.json still says "stopped" (two trainers in one folder otherwise)."""
    previous = runs.read_json(run_dir / "launch.json") or {}
    now = time.time()
    launch = {
        "pid": None,
        "spawning": True,
        "owner": owner,
        "job": job,
        "action": action,
        "command": cmd,
        "started": now,
        "created": previous.get("created") or previous.get("started") or now,
    }
    if kind:  # "sweep": a sweep folder (playground.jobs.sweeps), not a run
        launch["kind"] = kind
    runs.write_json(run_dir / "launch.json", launch)
    try:
        with open(run_dir / runs.LOG_NAME, "ab") as log:
            log.write(f"\n$ {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=_child_env(time_limit_s),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C or restart of the app does not reach the run
            )
    except OSError as err:
        runs.write_json(run_dir / "launch.json", {**launch, "spawning": False})
        raise JobError(f"could not start the training process: {err}") from None
    _lower_priority(proc.pid)
    # reap it when it exits, so a finished run is never mistaken for a live (zombie) pid
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{proc.pid}").start()
    runs.write_json(run_dir / "launch.json", {**launch, "pid": proc.pid, "spawning": False})
    return proc.pid


def _remove_run_dir(folder: Path) -> None:
    with suppress(OSError):
        for child in folder.iterdir():
            child.unlink(missing_ok=True)
        folder.rmdir()


def job_runs(run: Run, root: Path | None = None) -> list[Run]:
    """The run and the runs started with it (its baseline)."""
    return [r for r in runs.list_runs(root) if r.job == run.job] or [run]
