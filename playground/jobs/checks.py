"""Whether a run can get its data and its settings hold, before anything starts: the folder
data set's path, CIFAR-10 on disk or reachable, a model's ImageNet weights cached or reachable,
and the training command's own `--check`."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from playground import budget, runs
from playground.jobs import process
from playground.jobs.errors import JobError
from playground.jobs.process import REPO, Settings, first_error, flags, run_quietly
from playground.training import folders
from playground.training import settings as run_settings

CHECK_TIMEOUT_S = 120.0
DATA_ROOT_ENV = "PLAYGROUND_DATA_ROOT"
# Where torchvision fetches CIFAR-10 from (playground.training.data.CIFAR10_URL; not imported
# from there, which would import torch into every caller of this module).
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
NO_CIFAR10 = "CIFAR-10 is not on this server"  # how such a message starts (the page offers
# the synthetic set when it sees it)
REACH_TIMEOUT_S = 5.0
REACH_CACHE_S = 60.0
_REACHABLE: dict[str, tuple[float, bool]] = {}


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


def cifar10_reachable(url: str = CIFAR10_URL) -> bool:
    """Whether this server can download CIFAR-10 now."""
    return url_reachable(url)


def url_reachable(url: str) -> bool:
    """Whether this server can download `url` now (a HEAD request; the answer is kept a
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


NO_WEIGHTS = "The ImageNet weights of"  # how such a message starts


def no_weights_words(model: str, folder: str, file: str, why: str) -> str:
    """The page's words for ImageNet weights this server does not have and cannot download:
    the cache folder and the file to put there, or what to choose instead."""
    folder = runs.shown(folder)
    weights = run_settings.by_name("weights")
    return (
        f"{NO_WEIGHTS} {model} are not on this server (it looks in {folder}) and {why}. Choose "
        f'"none" under {weights.label} to train from scratch, or ask the server\'s operator to '
        f"put {file} into {folder}"
    )


def weights_problem(cfg: dict[str, Any]) -> str | None:
    """Why the run could not get its ImageNet weights, in the page's words, before anything
    starts: they are not in the torch hub cache (`--check` says where, `imagenet_download`) and
    cannot be downloaded from here. None if it can, or if it needs none."""
    where = cfg.get("imagenet_download")
    if cfg.get("weights") != "imagenet" or not where or where.get("cached"):
        return None
    if url_reachable(where["url"]):
        return None
    host = where["url"].split("/")[2]
    why = f"this server cannot download them (no connection to {host})"
    return no_weights_words(cfg["model"], where["folder"], where["file"], why)


def weights_note(cfg: dict[str, Any]) -> str | None:
    """The preview's note when the run will download its ImageNet weights as it starts."""
    where = cfg.get("imagenet_download")
    if cfg.get("weights") != "imagenet" or not where or where.get("cached"):
        return None
    size = f" ({where['mb']:,.0f} MB)" if where.get("mb") else ""
    return (
        f"The ImageNet weights of {cfg['model']} are not in {runs.shown(where['folder'])} yet: "
        f"the run downloads {where['file']}{size} when it starts."
    )


def check(settings: Settings, pipeline: Path, out: Path | None = None) -> dict[str, Any]:
    """The training command's own validation (`--check`): its resolved config, or a JobError."""
    cmd = process.train_command("--pipeline", str(pipeline), *flags(settings), "--check")
    if out is not None:
        cmd += ["--out", str(out)]
    return _run_check(cmd)


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
