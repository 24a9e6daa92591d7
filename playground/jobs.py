"""Starting, stopping and resuming the background training process; one job at a time per server.

The training command (`python -m playground.train`) runs as a separate process in a session of
its own, at lower CPU priority, with stdout/stderr going to the run's log.txt. Everything this
module knows about runs it reads back from the run folders (playground.runs), so a page reload
or an app restart changes nothing. Who started a run is recorded in launch.json; only that
owner may stop or resume it unless the app runs locally for a single user.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.spec import PipelineSpec, SpecError, validate
from playground import budget, owners, runs
from playground.runs import ASKED_PIPELINE, Run
from playground.training import folders
from playground.training import settings as run_settings
from playground.training.settings import RunSettings

REPO = Path(__file__).resolve().parents[1]
TRAIN_MODULE = "playground.train"
# Training runs at this niceness so the UI keeps the CPU when both want it (docs/benchmarks.md,
# "UI responsiveness during training"); PLAYGROUND_TRAIN_NICE=0 is the comparison there.
NICE = int(os.environ.get("PLAYGROUND_TRAIN_NICE", "10"))
STOP_GRACE_S = 20.0
CHECK_TIMEOUT_S = 120.0
DATASETS = ("cifar10", "synthetic", "folder")
DATA_ROOT_ENV = "PLAYGROUND_DATA_ROOT"
# Where torchvision fetches CIFAR-10 from (playground.training.data.CIFAR10_URL; not imported
# from there, which would import torch into every caller of this module).
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
NO_CIFAR10 = "CIFAR-10 is not on this server"  # how such a message starts (the page offers
# the synthetic set when it sees it)
REACH_TIMEOUT_S = 5.0
REACH_CACHE_S = 60.0
_REACHABLE: dict[str, tuple[float, bool]] = {}
_START_LOCK = threading.Lock()  # one start at a time in this process; a file lock across processes


class JobError(Exception):
    """A start/stop/resume that cannot go ahead; the message is shown to the user as is."""


@dataclass(frozen=True)
class Limits:
    """What one run may take on this server. A run started through the HTTP API, or by a
    browser that has gone, is owned by nobody who is still there, so on a Space each run is
    bounded by default; elsewhere nothing is, unless the operator sets the variables."""

    max_epochs: int | None
    max_train_images: int | None
    max_minutes: float | None  # wall-clock training time per run, summed over its resumes

    ENV = {
        "max_epochs": "PLAYGROUND_MAX_EPOCHS",
        "max_train_images": "PLAYGROUND_MAX_TRAIN_IMAGES",
        "max_minutes": "PLAYGROUND_MAX_RUN_MINUTES",
    }
    SPACE_DEFAULTS = {
        "max_epochs": run_settings.by_name("epochs").space_high,
        "max_train_images": run_settings.by_name("subset").space_high,
        "max_minutes": 120.0,
    }


def server_limits() -> Limits:
    """The limits in force: PLAYGROUND_MAX_* (0 = none), else a Space's defaults, else none."""
    on_space = budget.on_space()
    values: dict[str, Any] = {}
    for key, env in Limits.ENV.items():
        raw = os.environ.get(env, "").strip()
        try:
            value = float(raw) if raw else (Limits.SPACE_DEFAULTS[key] if on_space else 0)
        except ValueError:
            raise JobError(f"{env}={raw!r} is not a number (the server's settings)") from None
        values[key] = (value if key == "max_minutes" else int(value)) if value > 0 else None
    return Limits(**values)


def hardware_processes() -> int:
    """How many training processes this machine has room for: one per GPU, one on a CPU (and
    on ZeroGPU, where background runs use the CPU)."""
    if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true", "yes"):
        return 1
    import torch  # here only: importing this module must not import torch

    return max(1, torch.cuda.device_count() if torch.cuda.is_available() else 0)


def setting_highs() -> dict[str, float]:
    """Each setting's upper bound on this server where it is narrower than its declaration:
    on a Space the declared `space_high` and the hardware's processes; PLAYGROUND_MAX_EPOCHS
    and PLAYGROUND_MAX_TRAIN_IMAGES anywhere."""
    highs: dict[str, float] = {}
    if budget.on_space():
        highs = {d.name: d.space_high for d in run_settings.declared() if d.space_high}
        highs["nproc"] = hardware_processes()
    limits = server_limits()
    for name, value in (
        ("epochs", limits.max_epochs),
        ("subset", limits.max_train_images),
        ("synthetic_size", limits.max_train_images),
    ):
        highs.pop(name, None)
        if value:
            highs[name] = value
    return highs


def start_budget() -> budget.StartBudget:
    try:
        return budget.start_budget()
    except ValueError as err:
        raise JobError(str(err)) from None


def max_seeds(baseline: bool) -> int:
    """Seeds per arm one Start may ask for: MAX_SEEDS, and on a server with a budget of
    training minutes per Start, as many pairs as that budget holds at each run's limit."""
    minutes, per_run = start_budget().minutes, server_limits().max_minutes
    if not minutes or not per_run:
        return MAX_SEEDS
    return max(1, min(MAX_SEEDS, int(minutes // ((2 if baseline else 1) * per_run))))


def limits_text() -> dict[str, str]:
    """The server's bounds in words, by form field (and "seeds", "memory"), for the form to show
    next to the fields: a visitor reads them before a Start, not in a refusal."""
    texts = {name: f"at most {high:,g} on this server" for name, high in setting_highs().items()}
    per_start = start_budget()
    per_run = server_limits().max_minutes
    if per_start.minutes and per_run:
        texts["seeds"] = (
            f"at most {max_seeds(False)} ({max_seeds(True)} with the baseline) on this server: "
            f"{per_start.minutes:,.0f} training minutes per Start, {per_run:,.0f} per run"
        )
    if per_start.memory_mb:
        texts["memory"] = (
            f"This server gives one Start at most {per_start.memory_mb:,.0f} MB of memory (the "
            "run and its baseline together), estimated from the settings before anything starts."
        )
    return texts


def data_root() -> Path | None:
    """Where folder data sets may live. Set PLAYGROUND_DATA_ROOT; on a Space folder data sets
    are off without it, so that the folder field tells no visitor what exists on the server."""
    root = os.environ.get(DATA_ROOT_ENV, "").strip()
    return Path(root).resolve() if root else None


def _check_folder(folder: str) -> Path:
    """The folder, resolved and checked as the training command checks it (one function,
    playground.training.folders), and inside the data root where the server has one."""
    root = data_root()
    if root is None and budget.on_space():
        raise JobError(
            "folder data sets are off on this server (its operator can allow a folder with "
            f"{DATA_ROOT_ENV}); use CIFAR-10 or the synthetic set"
        )
    try:
        path = folders.resolve(folder)
        if root is not None and not path.is_relative_to(root):
            raise JobError(f"folder data sets on this server must lie inside {root}")
        return folders.existing(path, folder)
    except folders.FolderError as err:
        raise JobError(str(err)) from None


Settings = RunSettings  # what a run is started with (declared in playground.training.settings)


def _who(declared: run_settings.Declared) -> str:
    """A setting as the form names it, for messages: "batch size", not "--batch-size"."""
    return re.sub(r"\s*\(.*\)$", "", declared.label or declared.name).lower()


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    """A whole number from a form box, or a JobError naming the box."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise JobError(f"{name} must be a whole number, got {value!r}") from None
    if number != number or number != int(number):
        raise JobError(f"{name} must be a whole number, got {value!r}")
    if not low <= number <= high:
        raise JobError(f"{name} must be between {low} and {high}, got {int(number)}")
    return int(number)


def make_settings(values: dict[str, Any]) -> Settings:
    """Settings from the Train tab's raw values, by name (the form's fields, and `folder` for
    the folder data set), checked against their declarations and this server's limits. A 0 or
    an empty box in a setting the training command resolves by itself means "auto"."""
    values = dict(values)
    dataset = str(values.pop("dataset", "cifar10") or "cifar10").lower()
    dataset = {"cifar-10": "cifar10", "folder path": "folder"}.get(dataset, dataset)
    folder = str(values.pop("folder", "") or "").strip()
    if dataset not in DATASETS:
        raise JobError(f"unknown data set {dataset!r} (choose CIFAR-10, a folder or synthetic)")
    if dataset == "folder":
        if not folder:
            raise JobError("give the path of the image folder (it must hold train/ and test/)")
        dataset = f"folder:{_check_folder(folder)}"  # absolute: the trainer runs elsewhere
    checked: dict[str, Any] = {"dataset": dataset}
    limits = setting_highs()
    for name, value in values.items():
        try:
            declared = run_settings.by_name(name)
        except StopIteration:
            raise JobError(f"unknown setting {name!r}") from None
        if declared.default is None and value in (0, "", None):
            continue  # auto
        try:
            checked[name] = run_settings.check_value(
                declared, value, _who(declared), limits.get(name)
            )
        except run_settings.SettingError as err:
            raise JobError(str(err)) from None
    if checked.get("device") == "cpu":
        checked.pop("nproc", None)  # one process on a CPU unless asked on the command line
    return Settings(**checked)


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


def cifar10_reachable(url: str = CIFAR10_URL) -> bool:
    """Whether this server can download CIFAR-10 now (a HEAD request; the answer is kept a
    minute, so a page that previews often does not ask every time)."""
    import urllib.request

    now = time.monotonic()
    cached = _REACHABLE.get(url)
    if cached and now - cached[0] < REACH_CACHE_S:
        return cached[1]
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=REACH_TIMEOUT_S) as response:
            ok = response.status < 400
    except (OSError, ValueError):
        ok = False
    _REACHABLE[url] = (now, ok)
    return ok


def data_folder(cfg: dict[str, Any]) -> Path:
    """The data folder as the training process sees it (it runs in the repository)."""
    return (REPO / str(cfg.get("data_dir") or "./data")).resolve()


def data_problem(cfg: dict[str, Any]) -> str | None:
    """Why the run could not get its data, in the page's words, before anything starts: the
    CIFAR-10 files are missing and cannot be downloaded from here. None if it can."""
    if cfg.get("dataset") != "cifar10" or cfg.get("data_ready", True):
        return None
    if cifar10_reachable():
        return None
    folder = runs.shown(str(data_folder(cfg)))
    return (
        f"{NO_CIFAR10} (it looks in {folder}) and this server cannot download it (no "
        f"connection to {CIFAR10_URL.split('/')[2]}). Train on the synthetic set instead, or "
        f"ask the server's operator to put cifar-10-python.tar.gz into {folder}"
    )


def check(settings: Settings, pipeline: Path, out: Path | None = None) -> dict[str, Any]:
    """The training command's own validation (`--check`): its resolved config, or a JobError."""
    cmd = train_command("--pipeline", str(pipeline), *flags(settings), "--check")
    if out is not None:
        cmd += ["--out", str(out)]
    return _run_check(cmd)


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


def _run_check(cmd: list[str]) -> dict[str, Any]:
    try:
        code, out, err = run_quietly(cmd, CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise JobError(f"checking the settings took over {CHECK_TIMEOUT_S:.0f} s") from None
    if code != 0:
        raise JobError(first_error(err))
    for line in reversed(out.strip().splitlines()):
        try:
            resolved = json.loads(line)
        except ValueError:
            continue
        if isinstance(resolved, dict):
            return resolved
    raise JobError(f"the settings check printed no summary: {out.strip()[-200:]!r}")


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


def _refuse_if_busy(root: Path) -> None:
    active = active_runs(root)
    if active:
        raise JobError(busy_message(active))


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
    run_dir: Path, cmd: list[str], owner: str, job: str, action: str, time_limit_s: float | None
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


def validated(spec: Any) -> PipelineSpec:
    """The Augment tab's pipeline, re-checked: a spec that does not validate never starts."""
    if not isinstance(spec, PipelineSpec):
        raise JobError("no pipeline: set one in the Augment tab")
    try:
        return validate(spec)
    except SpecError as err:
        raise JobError(f"the pipeline from the Augment tab does not validate: {err}") from None


MAX_SEEDS = 10


def start(
    settings: Settings,
    spec: PipelineSpec,
    owner: str,
    baseline: bool = False,
    root: Path | None = None,
    seeds: int = 1,
    against: PipelineSpec | None = None,
) -> list[Path]:
    """Validate, then start the run (and its no-augmentation baseline); refuse if one is running.

    With `against` (another pipeline) the second arm trains that pipeline instead of none: the
    same seeds, data order and steps, so the two pipelines are compared directly.

    With several `seeds` (seed, seed+1, ...) the job is a paired experiment run one pair at a
    time: the first pair starts now, the others wait in the queue (launch.json "queued") and
    `advance` starts each when nothing is training."""
    root = runs.checkpoints_root() if root is None else root
    spec = validated(spec)
    if against is not None:
        against, baseline = validated(against), True
    try:
        return _start(settings, spec, owner, baseline, root, seeds, against)
    except OSError as err:  # the checkpoints folder is full or read-only
        raise JobError(_disk_message(err, root)) from None


def _disk_message(err: OSError, root: Path) -> str:
    return (
        f"could not write the run's folder under the checkpoints folder ({err.strerror or err}); "
        "nothing was started. The server's disk may be full or read-only: tell its operator"
        + ("" if budget.on_space() else f" ({root})")
    )


def _start(
    settings: Settings,
    spec: PipelineSpec,
    owner: str,
    baseline: bool,
    root: Path,
    seeds: int,
    against: PipelineSpec | None = None,
) -> list[Path]:
    if not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise JobError(f"seeds per arm must be between 1 and {MAX_SEEDS}, got {seeds!r}")
    limits = server_limits()
    arms = 2 if baseline else 1
    _within_start_minutes(seeds, arms, limits)
    time_limit_s = _run_time_limit_s(seeds * arms, limits)
    with _root_lock(root):
        _refuse_if_busy(root)
        variants = [False, True] if baseline else [False]
        plan = [
            (replace(settings, seed=settings.seed + k), no_aug)
            for k in range(seeds)
            for no_aug in variants
        ]
        tag = (lambda s: f"-s{s.seed}") if seeds > 1 else (lambda s: "")
        suffix = "-noaug" if against is None else "-other"
        made: list[Path] = []
        try:
            # the pipeline as given; the trainer writes pipeline.json beside it, as applied
            for s, second in plan:
                made.append(_new_run_dir(root, s, second, tag(s), suffix))
                arm = against if second and against is not None else spec
                runs.write_text(made[-1] / ASKED_PIPELINE, arm.to_json())
                role = {"no_augment": second and against is None, "baseline": second}
                runs.write_json(made[-1] / "settings.json", {**asdict(s), **role})
            cfg = check(settings, made[0] / ASKED_PIPELINE, made[0])
            _within_limits(cfg, limits)
            _within_memory(cfg, arms)
            problem = data_problem(cfg)
            if problem:
                raise JobError(problem)
        except (JobError, OSError):  # nothing half-made stays behind
            for folder in made:
                _remove_run_dir(folder)
            raise
        job = made[0].name
        for order, (folder, (run_settings_k, no_aug)) in enumerate(zip(made, plan, strict=True)):
            cmd = train_command(
                "--pipeline", str(folder / ASKED_PIPELINE), *flags(run_settings_k),
                "--out", str(folder),
            )  # fmt: skip
            no_augment = no_aug and against is None
            if no_augment:
                cmd.append("--no-augment")
            if run_settings_k.seed == settings.seed:
                _spawn(folder, cmd, owners.owner_id(owner), job, "start", time_limit_s)
            else:
                _queue(folder, cmd, owners.owner_id(owner), job, order, run_settings_k.seed)
    return made


def _queue(folder: Path, cmd: list[str], owner: str, job: str, order: int, seed: int) -> None:
    now = time.time()
    runs.write_json(
        folder / "launch.json",
        {"pid": None, "queued": True, "order": order, "seed": seed, "owner": owner,
         "job": job, "action": "start", "command": cmd, "started": now, "created": now},
    )  # fmt: skip


def advance(root: Path | None = None) -> list[Path]:
    """When nothing is training, start the next queued pair (the same job and seed) of a
    several-seed experiment. Returns the folders started. The app calls this every few seconds
    (`start_queue_worker`); a queue outlives app restarts, since it lives in the run folders."""
    root = runs.checkpoints_root() if root is None else root
    with _root_lock(root):
        all_runs = runs.list_runs(root)
        queued = [r for r in all_runs if r.state == runs.QUEUED]
        if not queued or any(r.live for r in all_runs):
            return []
        first = min(queued, key=lambda r: (r.started, r.launch.get("order", 0)))
        pair = [
            r
            for r in queued
            if r.job == first.job and r.launch.get("seed") == first.launch.get("seed")
        ]
        job = [r for r in all_runs if r.job == first.job]
        limit_s = _run_time_limit_s(len(job), server_limits())
        for run in pair:
            cmd = [str(x) for x in run.launch.get("command") or []]
            _spawn(run.path, cmd, run.owner or "", run.job, "start", limit_s)
        return [r.path for r in pair]


_QUEUE_WORKER: list[threading.Thread] = []


def start_queue_worker(interval_s: float = 2.0) -> None:
    """One thread per app process that keeps several-seed experiments moving."""
    if _QUEUE_WORKER:
        return

    def work() -> None:
        while True:
            with suppress(Exception):  # a bad folder must not stop the queue for everyone
                advance()
            time.sleep(interval_s)

    _QUEUE_WORKER.append(threading.Thread(target=work, daemon=True, name="run-queue"))
    _QUEUE_WORKER[0].start()


def _within_limits(cfg: dict[str, Any], limits: Limits) -> None:
    size = cfg.get("train_size")
    if limits.max_train_images and isinstance(size, int) and size > limits.max_train_images:
        raise JobError(
            f"this server trains on at most {limits.max_train_images:,} images per run and "
            f"these settings give {size:,}: set Subset to {limits.max_train_images:,} or less"
        )


def _run_time_limit_s(runs_started: int, limits: Limits) -> float | None:
    """Each run's wall-clock limit: the server's per run, and where only a budget per Start is
    set, that budget split over the Start's runs."""
    if limits.max_minutes:
        return limits.max_minutes * 60
    minutes = start_budget().minutes
    return minutes * 60 / runs_started if minutes else None


def _within_start_minutes(seeds: int, arms: int, limits: Limits) -> None:
    minutes, per_run = start_budget().minutes, limits.max_minutes
    if minutes and per_run and seeds * arms * per_run > minutes:
        most = max_seeds(arms == 2)
        raise JobError(
            f"this server trains at most {minutes:,.0f} minutes per Start ({per_run:,.0f} per "
            f"run), and {seeds} seeds x {arms} arms x {per_run:,.0f} minutes is "
            f"{seeds * arms * per_run:,.0f}: set seeds per arm to {most} or less"
        )


def _within_memory(cfg: dict[str, Any], arms: int) -> None:
    """Refuse, with the numbers, a Start whose runs (trained at once: the run and its
    baseline) would need more memory than this server gives one Start."""
    allowed = start_budget().memory_mb
    if not allowed:
        return
    each = budget.run_memory_mb(cfg)
    if arms * each <= allowed:
        return
    runs_text = f"{arms} runs at once of about {each:,.0f} MB each" if arms > 1 else "one run"
    fits = budget.largest_batch(cfg, allowed, arms)
    advice = f"set the batch size to {fits} or less" if fits else "lower the width or the subset"
    raise JobError(
        f"these settings need about {arms * each:,.0f} MB of memory ({runs_text}: batch "
        f"{cfg.get('batch_size')}, width {cfg.get('width')}, {cfg.get('image_size')} px, "
        f"{cfg.get('world_size') or 1} process(es)) and this server gives one Start at most "
        f"{allowed:,.0f} MB: {advice}"
    )


def _time_left_s(run: Run) -> float | None:
    """The wall-clock training time this run may still use (None: no limit)."""
    limit_s = _run_time_limit_s(len(job_runs(run)), server_limits())
    if not limit_s:
        return None
    limit = limit_s / 60
    used = run.status.get("elapsed_s")
    left = limit_s - (used if isinstance(used, (int, float)) else 0.0)
    if left < 30:
        raise JobError(
            f"{run.name} has used this server's {limit:.0f} minutes per run; start a new run"
        )
    return left


def _remove_run_dir(folder: Path) -> None:
    with suppress(OSError):
        for child in folder.iterdir():
            child.unlink(missing_ok=True)
        folder.rmdir()


def may_control(run: Run, owner: str | None) -> bool:
    return owners.may_control(run.owner, owner)


def job_runs(run: Run, root: Path | None = None) -> list[Run]:
    """The run and the runs started with it (its baseline)."""
    return [r for r in runs.list_runs(root) if r.job == run.job] or [run]


def _run_to_control(name: str, owner: str | None, root: Path | None, action: str) -> Run:
    """The named run, if this owner may control it; otherwise a message saying why not."""
    run = runs.find_run(name, root)
    if run is None:
        raise JobError(f"no run called {name!r}")
    if not may_control(run, owner):
        raise JobError(
            f"{run.name} was started by another session; only that session can {action}."
        )
    return run


def delete(name: str, owner: str | None, root: Path | None = None) -> str:
    """Delete a run folder (its checkpoints too) for good; never a run that is training."""
    run = _run_to_control(name, owner, root, "delete it")
    try:
        with _root_lock(runs.checkpoints_root() if root is None else root):
            run = runs.find_run(name, root) or run
            if run.live:
                raise JobError(f"{run.name} is {run.state}: stop it before deleting it")
            runs.remove_run(run)
    except OSError as err:  # a read-only checkpoints folder
        raise JobError(f"could not delete {run.name} ({err.strerror or err})") from None
    return f"Deleted {run.name}."


def stop(
    name: str, owner: str | None, root: Path | None = None, grace_s: float = STOP_GRACE_S
) -> str:
    """SIGTERM the run (and its baseline): the training process checkpoints and exits."""
    run = _run_to_control(name, owner, root, "stop it (everyone can watch it)")
    job = job_runs(run, root)
    targets = [r for r in job if r.live]
    waiting = [r for r in job if r.state == runs.QUEUED]
    if not targets and not waiting:
        raise JobError(f"{run.name} is not running ({run.state})")
    for target in targets + waiting:  # the queued pairs of the experiment stop too
        runs.write_json(target.path / "stop.json", {"requested": time.time()})
    for target in targets:
        _terminate(target, grace_s)
    names = ", ".join(t.name for t in targets) or run.name
    later = f" ({len(waiting)} queued runs will not start)" if waiting else ""
    return f"Stopping {names}: it writes a checkpoint and stops within a few seconds{later}."


def _terminate(run: Run, grace_s: float, wait: bool = False) -> None:
    """SIGTERM; SIGKILL after the grace period if the run is still there (in a thread, or
    here if `wait`)."""
    pid = run.pid
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    pgid = run.launch.get("pid")
    grace_s = max(grace_s, 3 * _step_seconds(run))
    if wait:
        _escalate(pid, pgid, grace_s)
        return
    threading.Thread(
        target=_escalate, args=(pid, pgid, grace_s), daemon=True, name=f"stop-{pid}"
    ).start()


def operator_stop(
    names: list[str] | None, root: Path | None = None, wait: bool = False
) -> list[str]:
    """Stop live runs whoever started them (`names` None: all of them): the operator's way to
    free the server's training slot. Returns the names of the runs stopped."""
    every = runs.list_runs(root)
    live = [r for r in every if r.live]
    if names is not None:
        unknown = set(names) - {r.name for r in live}
        if unknown:
            raise JobError(f"not training: {', '.join(sorted(unknown))}")
        live = [r for r in live if r.name in names]
    jobs_stopped = {r.job for r in live}
    # the queued pairs of those experiments stop too (all of them with `names` None), or the
    # queue would start the next pair within seconds
    waiting = [
        r for r in every if r.state == runs.QUEUED and (names is None or r.job in jobs_stopped)
    ]
    for run in live + waiting:
        runs.write_json(run.path / "stop.json", {"requested": time.time(), "by": "operator"})
    threads = [threading.Thread(target=_terminate, args=(run, STOP_GRACE_S, wait)) for run in live]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r.name for r in live]


def _step_seconds(run: Run) -> float:
    """How long one training step takes (the run stops after its current step): a full-size
    batch on a CPU can take longer than the usual grace period."""
    rate, batch = run.status.get("images_per_s"), run.config.get("batch_size")
    if isinstance(rate, (int, float)) and rate > 0 and isinstance(batch, int):
        return batch / rate
    return 0.0


def _escalate(pid: int, pgid: Any, grace_s: float) -> None:
    """SIGKILL the whole process group only if SIGTERM did not end the run in time."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not runs.pid_alive(pid):
            return
        time.sleep(0.2)
    for kill in (
        lambda: os.killpg(pgid, signal.SIGKILL) if isinstance(pgid, int) else None,
        lambda: os.kill(pid, signal.SIGKILL),
    ):
        with suppress(ProcessLookupError, PermissionError):
            kill()


def resume(name: str, owner: str | None, root: Path | None = None) -> list[Path]:
    """Continue a stopped (or interrupted) run and its stopped baseline from last.pt."""
    root = runs.checkpoints_root() if root is None else root
    run = _run_to_control(name, owner, root, "resume it")
    if run.state == "finished":
        raise JobError(f"{run.name} has finished; start a new run to train more")
    if run.state == runs.DIVERGED:  # the same weights, data order and schedule diverge again
        raise JobError(f"{run.name} diverged ({run.message}); start a new run instead")
    _refuse_if_resumed(run)
    if not run.resumable:
        raise JobError(f"{run.name} cannot be resumed: it is {run.state} and has no last.pt yet")
    left_s = _time_left_s(run)
    with _root_lock(root):
        _refuse_if_resumed(runs.find_run(run.name, root) or run)  # as it is now, in the lock
        _refuse_if_busy(root)
        job = job_runs(run, root)
        for waiting in job:  # queued pairs stopped before their turn: back in the queue
            if waiting.launch.get("queued") and not waiting.resumable:
                (waiting.path / "stop.json").unlink(missing_ok=True)
        targets = [r for r in job if r.resumable]
        for target in targets:
            (target.path / "stop.json").unlink(missing_ok=True)
            _spawn(
                target.path,
                train_command("--resume", str(target.path)),
                run.owner or owners.owner_id(owner or ""),
                run.job,
                "resume",
                left_s,
            )
    return [t.path for t in targets]


def _refuse_if_resumed(run: Run) -> None:
    """Another request (a double click, a second tab) resumed the run first: say so, rather
    than that it cannot be resumed."""
    if run.live:
        doing = "being resumed already" if run.launch.get("action") == "resume" else run.state
        raise JobError(f"{run.name} is {doing}: watch it in the Runs list")


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


if __name__ == "__main__":
    sys.exit(main())
