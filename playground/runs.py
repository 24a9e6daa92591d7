"""Reading run folders: the only source of truth about training runs.

A run folder (one per run under the checkpoints root) holds what the training process writes
(`config.json`, `metrics.jsonl`, `status.json`, `last.pt`, `best.pt`, and `pipeline.json`: the
pipeline as the run applies it), what the launcher writes (`launch.json`,
`pipeline-original.json`: the pipeline as given, `log.txt`, `stop.json`) and what a person wrote about
the run in the Train tab (`notes.json`: its name and note). Nothing here is kept in memory
between calls except a cache of parsed metrics keyed by file size, so the UI shows the same
thing after a page reload or an app restart.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground import budget

ROOT_ENV = "PLAYGROUND_CHECKPOINTS"
DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "checkpoints"
LIVE_STATES = ("starting", "running")
# The training loss blew up and the run stopped itself (status.json says at which step, the
# loss and the lr). An end state like finished, but not resumable: the same weights, data order
# and schedule would diverge again; a new run with a lower lr is the way on.
DIVERGED = "diverged"
# A dead pid with a live state: the process was killed, crashed or the machine restarted.
INTERRUPTED = "interrupted"
# A run of a several-seed experiment waiting for the pairs before it (playground.jobs.advance).
QUEUED = "queued"
LOG_NAME = "log.txt"
APPLIED_PIPELINE = "pipeline.json"  # as the run applies it (fitted), what a download offers
ASKED_PIPELINE = "pipeline-original.json"  # as it was given, before it was fitted
# A launch.json that marks a run live before its process exists (the start lock is held while
# the process is spawned) stops counting after this long: the app died between the two.
SPAWN_TIMEOUT_S = 60.0


def checkpoints_root() -> Path:
    """The folder holding one sub-folder per run (PLAYGROUND_CHECKPOINTS overrides it)."""
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT).resolve()


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None if it is missing, half-written or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically (temp file + os.replace), so a reader never sees half a file."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    """Atomically; on a full or read-only disk the OSError rises and nothing is left behind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:  # a full or read-only disk: leave no half-written temp file
        tmp.unlink(missing_ok=True)
        raise


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def _is_training_process(pid: int) -> bool:
    """Guard against pid reuse after a restart: on Linux, the process must look like training."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return True  # no /proc (macOS) or no permission: trust os.kill
    if not cmdline:
        return True  # a process just started reads empty for a moment: trust os.kill
    return any(word in cmdline for word in (b"playground", b"torchrun", b"torch.distributed"))


def pid_alive(pid: Any) -> bool:
    """Whether `pid` is a live (not zombie) process that looks like a training process."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _is_zombie(pid) and _is_training_process(pid)


@dataclass(frozen=True)
class Run:
    """A snapshot of one run folder, with its state resolved against the live processes."""

    path: Path
    state: str  # starting | running | finished | stopped | failed | interrupted | diverged
    status: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    launch: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    sweep: str = ""  # the sweep folder's name, for a sweep's trial (its folder is inside it)

    @property
    def name(self) -> str:
        """The folder's name; a sweep's trial is named "SWEEP/TRIAL" (unique: every sweep has
        trials called r0-c00-none-s0)."""
        return f"{self.sweep}/{self.path.name}" if self.sweep else self.path.name

    @property
    def file_name(self) -> str:
        """The name as one folder or file name (downloads): "SWEEP--TRIAL" for a trial."""
        return self.name.replace("/", "--")

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def pid(self) -> int | None:
        launched = self.launch.get("pid")
        if self.status and _launched_after(self.launch, self.status) and isinstance(launched, int):
            return launched  # a resume under way: status.json still holds the last process's pid
        pid = self.status.get("pid") or launched
        return pid if isinstance(pid, int) else None

    @property
    def job(self) -> str:
        """Runs started together (a run and its no-augmentation baseline) share a job id."""
        return str(self.launch.get("job") or self.name)

    @property
    def owner(self) -> str | None:
        return self.launch.get("owner")

    @property
    def resumable(self) -> bool:
        """Stopped, interrupted or failed with a checkpoint; never finished or diverged."""
        return self.state in ("stopped", INTERRUPTED, "failed") and (self.path / "last.pt").exists()

    @property
    def started(self) -> float:
        for value in (
            self.launch.get("created"),  # kept across resumes
            self.launch.get("started"),
            self.status.get("updated"),
        ):
            if isinstance(value, (int, float)):
                return float(value)
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0


def _launched_after(launch: dict | None, status: dict) -> bool:
    """Whether launch.json was written after status.json: a resume under way, whose trainer has
    not written its first status yet (the old status.json still says how the last launch ended).
    """
    started, updated = (launch or {}).get("started"), status.get("updated")
    return isinstance(started, (int, float)) and (
        not isinstance(updated, (int, float)) or started > updated
    )


def _launching(launch: dict | None) -> bool:
    """launch.json marks a process as live while it is being spawned (before its pid is known,
    inside the start lock) and while that pid runs."""
    if launch is None:
        return False
    if launch.get("pid") is None and launch.get("spawning"):
        started = launch.get("started")
        return isinstance(started, (int, float)) and time.time() - started < SPAWN_TIMEOUT_S
    return pid_alive(launch.get("pid"))


def _resolve(path: Path, status: dict | None, launch: dict | None, stop: dict | None):
    """(state, message) from what the folder says and whether its process is still alive."""
    if status is not None and _launched_after(launch, status) and _launching(launch):
        return "starting", f"{launch.get('action') or 'start'}: starting the training process"
    if status is not None:
        state = str(status.get("state", "failed"))
        message = str(status.get("message") or "")
        if state in LIVE_STATES and not pid_alive(status.get("pid")):
            if stop is not None:
                return "stopped", "stopped (killed before it could write a checkpoint)"
            error = error_line(path)
            if error:  # it died of an exception it could not report in status.json
                return "failed", error
            return INTERRUPTED, (
                "the training process ended without writing a final status (killed, out of "
                "memory, or the app's machine restarted); resume continues from last.pt"
            )
        if state == "failed" and not message:
            message = error_line(path) or "the run failed; see its log"
        if state == "stopped" and message.startswith(SIGNALLED):
            message = stopped_by(stop, message, (path / "last.pt").exists())
        return state, message
    if launch is not None:
        if _launching(launch):
            return "starting", "starting the training process"
        if launch.get("queued") and launch.get("pid") is None:
            if stop is not None:
                return "stopped", "stopped before its turn came (resume puts it back in the queue)"
            return QUEUED, "waits for the runs before it: several seeds train one pair at a time"
        if stop is not None:
            return "stopped", "stopped before training began"
        return "failed", error_line(path) or "the training process exited before it started"
    return "failed", "not a run folder (no status.json or launch.json)"


SIGNALLED = "stopped by SIG"  # the trainer's words for a signal it was sent ("... SIGTERM")


def stopped_by(stop: dict | None, message: str, checkpoint: bool) -> str:
    """Who stopped a run, in a person's words: the trainer knows only the signal it got;
    stop.json says whether the app sent it for a person (Stop) or for the operator."""
    kept = "Resume continues from its last checkpoint" if checkpoint else "no checkpoint yet"
    if stop is None:
        signal_name = message.removeprefix("stopped by ").split()[0]
        return f"stopped from outside the app (the process got {signal_name}); {kept}"
    if stop.get("by") == "operator":
        return f"stopped by the server's operator; {kept}"
    return f"stopped by the user (Stop); {kept}"


def read_run(path: Path, sweep: str = "") -> Run:
    path = Path(path)
    status = read_json(path / "status.json")
    launch = read_json(path / "launch.json")
    stop = read_json(path / "stop.json")
    state, message = _resolve(path, status, launch, stop)
    return Run(
        path=path,
        state=state,
        status=status or {},
        config=read_json(path / "config.json") or {},
        launch=launch or {},
        message=message,
        sweep=sweep,
    )


# A sweep folder (playground.training.sweep; started from the app by playground.jobs.sweeps)
# holds sweep.json, or, before the sweep process wrote it, a launch.json of kind "sweep"; its
# trials are ordinary run folders inside it.
SWEEP_JSON = "sweep.json"
SWEEP_KIND = "sweep"


def is_sweep_folder(path: Path) -> bool:
    if not path.is_dir():
        return False
    if (path / SWEEP_JSON).exists():
        return True
    return (read_json(path / "launch.json") or {}).get("kind") == SWEEP_KIND


def is_run_folder(path: Path) -> bool:
    return (
        path.is_dir()
        and any((path / name).exists() for name in ("status.json", "launch.json", "config.json"))
        and not is_sweep_folder(path)
    )


def _children(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError:
        return []


def list_runs(root: Path | None = None) -> list[Run]:
    """Every run folder under the root, newest first, and the trials inside each sweep folder
    (named "SWEEP/TRIAL"), kept together under their sweep (its start's place in the list)."""
    root = checkpoints_root() if root is None else root
    found: list[tuple[float, Run]] = []
    for path in _children(root):
        try:
            if is_sweep_folder(path):
                trials = [read_run(p, path.name) for p in _children(path) if is_run_folder(p)]
                try:
                    since = path.stat().st_ctime
                except OSError:
                    since = 0.0
                launched = (read_json(path / "launch.json") or {}).get("created")
                since = float(launched) if isinstance(launched, (int, float)) else since
                found += [(since, r) for r in trials]
            elif is_run_folder(path):
                run = read_run(path)
                found.append((run.started, run))
        except OSError:
            continue
    found.sort(key=lambda pair: (pair[0], pair[1].started, pair[1].name), reverse=True)
    return [run for _, run in found]


def sweep_folders(root: Path | None = None) -> list[Path]:
    """The sweep folders under the root, newest first."""
    root = checkpoints_root() if root is None else root
    found = [p for p in _children(root) if is_sweep_folder(p)]
    return sorted(found, key=lambda p: p.stat().st_mtime if p.exists() else 0.0, reverse=True)


def sweep_live(path: Path) -> bool:
    """Whether the sweep's process (launch.json, written by playground.jobs.sweeps) is running
    or being started."""
    return _launching(read_json(Path(path) / "launch.json"))


def live_sweeps(root: Path | None = None) -> list[Path]:
    return [p for p in sweep_folders(root) if sweep_live(p)]


def _bare(name: str) -> bool:
    """A single folder name: no separators, no '..', no hidden name."""
    return (
        bool(name)
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
        and ("\0" not in name and len(name.encode()) <= 255)
    )


def find_run(name: str | None, root: Path | None = None) -> Run | None:
    """The run called `name` under the root: a bare folder name, or "SWEEP/TRIAL" for a trial
    inside a sweep folder (two bare names; no other paths, no '..')."""
    if not isinstance(name, str) or not name:
        return None
    parts = name.split("/")
    if len(parts) > 2 or not all(_bare(p) for p in parts):
        return None
    root = checkpoints_root() if root is None else root
    path = root.joinpath(*parts)
    try:
        if len(parts) == 2 and not is_sweep_folder(root / parts[0]):
            return None
        return read_run(path, parts[0] if len(parts) == 2 else "") if is_run_folder(path) else None
    except OSError:
        return None


# --- the notebook: a run's name and note ---------------------------------------------------

NOTES_NAME = "notes.json"  # written by the app only; the training process never touches it
MAX_NAME = 80
MAX_NOTE = 2000


def read_notes(path: Path) -> dict[str, str]:
    """{"name", "note"} a person gave the run ("" where none)."""
    data = read_json(Path(path) / NOTES_NAME) or {}
    return {key: str(data.get(key) or "") for key in ("name", "note")}


def write_notes(path: Path, name: str, note: str) -> dict[str, str]:
    """Keep a run's name and note (trimmed to their limits), atomically."""
    notes = {
        "name": " ".join(str(name or "").split())[:MAX_NAME],
        "note": str(note or "").strip()[:MAX_NOTE],
    }
    write_json(Path(path) / NOTES_NAME, {**notes, "updated": time.time()})
    return notes


def remove_run(run: Run) -> None:
    """Delete a run folder and the download copies made from it."""
    shutil.rmtree(run.path)
    shutil.rmtree(downloads_root() / run.file_name, ignore_errors=True)
    with _METRICS_LOCK:
        _METRICS_CACHE.pop(run.path / "metrics.jsonl", None)


# --- metrics -------------------------------------------------------------------------------

_METRICS_CACHE: dict[Path, tuple[int, int, list[dict[str, Any]]]] = {}
_METRICS_LOCK = threading.Lock()


def _parse_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Records from complete lines, and how many bytes they took (a half-written tail waits)."""
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records, end


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Every record of a run's metrics.jsonl; reads only what was appended since the last call."""
    file = Path(path) / "metrics.jsonl"
    try:
        stat = file.stat()
    except OSError:
        return []
    with _METRICS_LOCK:
        inode, offset, records = _METRICS_CACHE.get(file, (stat.st_ino, 0, []))
        if inode != stat.st_ino or stat.st_size < offset:  # replaced or truncated: start over
            offset, records = 0, []
        if stat.st_size > offset:
            with open(file, "rb") as fh:
                fh.seek(offset)
                new, used = _parse_lines(fh.read(stat.st_size - offset))
            records = records + new
            offset += used
        _METRICS_CACHE[file] = (stat.st_ino, offset, records)
        return list(records)


def final_test_acc(records: list[dict[str, Any]]) -> float | None:
    """The last evaluation's test accuracy."""
    accs = [r["test_acc"] for r in records if r.get("type") == "eval" and "test_acc" in r]
    return accs[-1] if accs else None


def best_test_acc(records: list[dict[str, Any]]) -> float | None:
    accs = [r["test_acc"] for r in records if r.get("type") == "eval" and "test_acc" in r]
    return max(accs) if accs else None


# --- log -----------------------------------------------------------------------------------


APP_FOLDER = Path(__file__).resolve().parents[1]


def shown(text: str) -> str:
    """`text` as a visitor may read it: on a Space (SPACE_ID set) the server's own paths are
    said relative to the app's folders (`checkpoints/RUN`, `data`, `python`); elsewhere the
    person reading is the one who runs the server, and the paths stay as they are."""
    if not budget.on_space():
        return text
    for path, name in (
        (str(checkpoints_root()), "checkpoints"),
        (sys.executable, "python"),
        (str(APP_FOLDER) + os.sep, ""),
        (str(APP_FOLDER), "."),
    ):
        text = text.replace(path, name)
    return text


def log_tail(path: Path, lines: int = 30, max_bytes: int = 64 * 1024) -> str:
    """The last lines of the run's log (what the training process printed)."""
    file = Path(path) / LOG_NAME
    try:
        with open(file, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace").replace("\r", "\n")
    return shown("\n".join(text.splitlines()[-lines:]))


def error_line(path: Path) -> str:
    """The reason the last launch failed, as its log states it: an "error: " line or an
    exception line printed after the launch's `$ command` line (not an earlier launch's)."""
    tail = [line.strip() for line in log_tail(path, lines=200).splitlines() if line.strip()]
    launches = [i for i, line in enumerate(tail) if line.startswith("$ ")]
    tail = tail[launches[-1] + 1 :] if launches else tail
    for line in reversed(tail):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    for line in reversed(tail):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Interrupt")) and " " not in head:
            return line
    return ""


def age_s(run: Run) -> float | None:
    updated = run.status.get("updated")
    return time.time() - updated if isinstance(updated, (int, float)) else None


# --- downloads -----------------------------------------------------------------------------


def downloads_root() -> Path:
    return Path(tempfile.gettempdir()) / "playground-downloads"


def _download_path(run: Run, filename: str, stat: os.stat_result, name: str) -> Path:
    """One folder per source-file version; the copy is named after the run."""
    folder = downloads_root() / run.file_name / filename
    return folder / f"{stat.st_mtime_ns}-{stat.st_size}" / f"{run.file_name}-{name}"


def _drop_older(dest: Path) -> None:
    for old in dest.parent.parent.iterdir():
        if old != dest.parent:
            shutil.rmtree(old, ignore_errors=True)


def metrics_csv(run: Run) -> str | None:
    """The run's metrics as CSV (`RUN-metrics.csv`, one row per record, a column per field) in
    the temporary folder, for a download button; one per version of metrics.jsonl."""
    import csv

    source = run.path / "metrics.jsonl"
    try:
        stat = source.stat()
    except OSError:
        return None
    dest = _download_path(run, "metrics.jsonl", stat, "metrics.csv")
    if not dest.exists():
        records = read_metrics(run.path)
        columns = ["type", "epoch", "step"]
        for record in records:
            columns += [k for k in record if k not in columns and not isinstance(record[k], dict)]
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(records)
        os.replace(tmp, dest)
        _drop_older(dest)
    return str(dest)


def download_copy(run: Run, filename: str) -> str | None:
    """A copy of one of the run's files for a download button, named after the run
    (`RUN-best.pt`), in the temporary folder: the checkpoints folder itself is never served.

    A hard link where the file system allows (free; the trainer replaces best.pt by rename, so
    the link keeps the version it was made from), else a copy; one per file version, the
    previous one removed."""
    source = run.path / filename
    try:
        stat = source.stat()
    except OSError:
        return None
    dest = _download_path(run, filename, stat, filename)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            os.link(source, tmp)
        except OSError:
            try:
                shutil.copyfile(source, tmp)
            except OSError:
                return None
        os.replace(tmp, dest)
        _drop_older(dest)
    return str(dest)
