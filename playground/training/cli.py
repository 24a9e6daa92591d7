"""python -m playground.train: arguments, validation, the resolved config, and the run itself.

Bad input (an unknown preset, a bad pipeline file, a missing or empty folder, 0 epochs, a batch
larger than the training set, an unknown run to resume...) prints one line starting with
"error: " on stderr and exits 2 before anything is written. `--check` validates everything,
prints the resolved config as one JSON line and exits 0 without training.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import torch
import torchvision

from pipelines.batched import unsupported
from pipelines.catalogue import PRESETS
from pipelines.spec import PipelineSpec, SpecError, from_dict, load
from playground.runs import APPLIED_PIPELINE, ASKED_PIPELINE
from playground.training import data, dist, models, recipes
from playground.training import settings as run_settings
from playground.training.checkpoints import (
    CheckpointError,
    atomic_write_bytes,
    atomic_write_json,
    load_checkpoint,
)
from playground.training.loop import Run, quiet_warnings
from playground.training.metrics import write_status
from playground.training.preview import first_batch_preview  # noqa: F401  (the UI imports it here)
from playground.training.stop import StopFlag

# Every run setting comes from its declaration (playground.training.settings); --out is the
# command's own.
DEFAULTS: dict[str, Any] = {**run_settings.defaults(), "out": None}
# The exit status of a run stopped because its loss diverged (status.json says why).
EXIT_DIVERGED = 3
# What --resume may change: where and how fast it runs, not what it computes.
RESUME_OVERRIDES = run_settings.resume_overrides()

EPILOG = """\
multi-node: run torchrun yourself on every node, e.g.
  torchrun --nnodes 2 --node-rank R --master-addr HOST --master-port 29500 \\
      --nproc-per-node 8 -m playground.train --pipeline P --out checkpoints/RUN
(the run folder must be on a shared filesystem for --resume).
stop a run: send SIGTERM (or Ctrl-C) to the pid in RUN/status.json; it checkpoints and exits 0.
a run whose loss diverges stops with state "diverged" in RUN/status.json and exits 3.
"""


class UsageError(Exception):
    """Bad input: reported as one `error: ` line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m playground.train",
        description="Train d2l's ResNet-18 with an augmentation pipeline.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=None,
        allow_abbrev=False,  # every flag as declared: `--seed` is never taken for another
    )
    a = p.add_argument
    a("--pipeline", help=f"pipeline JSON file or preset ({', '.join(PRESETS)})")
    run_settings.add_arguments(p)
    a("--out", help="run folder (default checkpoints/<timestamp>-<pipeline name>)")
    a("--resume", metavar="RUN", help="continue RUN with its saved settings")
    a("--check", action="store_true", help="validate everything, print the resolved config, exit")
    return p


# ---- resolution ----------------------------------------------------------------------------


def _check(cfg: dict[str, Any], name: str) -> None:
    """cfg[name] against its declaration (as resolved: after "auto" was filled in)."""
    declared = run_settings.by_name(name)
    try:
        run_settings.check_value(declared, cfg[name], declared.flag)
    except run_settings.SettingError as err:
        raise UsageError(str(err)) from None


def _pipeline(source: str | None) -> tuple[PipelineSpec, str]:
    if not source:
        raise UsageError("--pipeline is required (a pipeline JSON file or a preset name)")
    try:
        spec = load(source)
    except SpecError as err:
        raise UsageError(f"pipeline {source!r}: {err}") from None
    name = source if source in PRESETS else Path(source).stem
    return spec, re.sub(r"[^A-Za-z0-9._-]+", "-", name) or "pipeline"


def _device(cfg: dict[str, Any]) -> None:
    if cfg["device"] == "auto":
        cfg["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    if cfg["device"] == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{run_settings.by_name('device').flag} cuda: no CUDA GPU is visible")
    gpus = torch.cuda.device_count() if cfg["device"] == "cuda" else 0
    cfg["nproc"] = cfg["nproc"] or max(gpus, 1)
    _check(cfg, "nproc")
    cfg["world_size"] = dist.env_ranks().world if dist.under_torchrun() else cfg["nproc"]
    if cfg["amp"] == "auto":
        cuda = cfg["device"] == "cuda"
        cfg["amp_dtype"] = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "off"
    else:
        cfg["amp_dtype"] = cfg["amp"]
    # CUDA graphs remove the per-step launch overhead that bounds ResNet-18 at 32 px on a GPU.
    cfg["compile_mode"] = "reduce-overhead" if cfg["device"] == "cuda" else None


def _input(cfg: dict[str, Any]) -> None:
    """The training size and the test images' transform, from the model: the CIFAR network
    trains at --image-size (default 32) normalised by the data's own statistics (filled in
    when the data is loaded); a torchvision model at its weights' crop (224) unless
    --image-size says otherwise, normalised by their mean and std. An upload is stored with
    the shorter side resized in the weights' proportion (256 for a 224 crop), then
    centre-cropped; other data is resized to the square."""
    pre = models.preprocess(cfg["model"], cfg["image_size"] or run_settings.DEFAULT_IMAGE_SIZE)
    size = cfg["image_size"] or pre.crop
    resize = pre.resize if size == pre.crop else round(size * pre.resize / pre.crop)
    cfg["image_size"] = size
    upload = cfg["dataset"].startswith(data.UPLOAD)
    cfg["eval_transform"] = {
        "resize": resize if upload else size,
        "crop": size,
        "mean": list(pre.mean) if pre.mean else None,  # None: the training images' own
        "std": list(pre.std) if pre.std else None,
        "how": f"shorter side to {resize} (bicubic), centre crop {size}"
        if upload
        else f"resized to {size} x {size}",
    }
    if pre.mean:
        cfg["normalize"] = {"mean": list(pre.mean), "std": list(pre.std)}


def _model(cfg: dict[str, Any], check: bool = False) -> None:
    """Build the model once: an unknown weights file, one of another architecture, or ImageNet
    weights that cannot be had are refused here, before anything starts (and the weights are
    downloaded once, before several processes would each try to). `--check` downloads nothing:
    it records where the ImageNet weights go (`imagenet_download`: folder, file, url, whether
    cached), and the app says whether this server can get them, as for CIFAR-10."""
    try:
        built = models.build(
            cfg["model"], len(cfg["classes"]), cfg["weights"], cfg["finetune"], cfg["width"],
            download=not check,
        )  # fmt: skip
    except (models.WeightsError, models.ModelError) as err:
        raise UsageError(str(err)) from None
    cfg["model_summary"] = built.summary
    if cfg["weights"] == "imagenet":
        cfg["imagenet_download"] = models.imagenet_download(cfg["model"])


def _data(cfg: dict[str, Any]) -> None:
    _input(cfg)
    try:
        info = data.scan(
            cfg["dataset"], cfg["data_dir"], cfg["synthetic_size"], data.store_size(cfg)
        )
    except data.DataError as err:
        raise UsageError(str(err)) from None
    cfg["classes"] = info["classes"]
    cfg["train_size"] = min(cfg["subset"] or info["train_size"], info["train_size"])
    cfg["test_size"] = info["test_size"]
    held = cfg.get("validation")
    if held:
        if held >= cfg["train_size"]:
            raise UsageError(
                f"{run_settings.by_name('validation').flag} {held}: the training set has "
                f"{cfg['train_size']} images; hold out fewer"
            )
        # the run evaluates on the held-out images; the test set is scored once, at the end
        cfg["train_size"] -= held
        cfg["evaluated_on"] = f"validation: {held} training images held out (split seed "
        cfg["evaluated_on"] += f"{cfg['split_seed']}); the test set at the end only"
        cfg["final_test_size"], cfg["test_size"] = cfg["test_size"], held
    cfg["data_ready"] = info["ready"]


def _batch(cfg: dict[str, Any]) -> None:
    """Batch size, peak lr and warm-up from recipes.fit (explicit values win), and why."""
    world, given = cfg["world_size"], cfg["batch_size"]
    _check(cfg, "batch_size")
    try:
        chosen = recipes.fit(
            cfg["recipe"], cfg["train_size"], cfg["epochs"], world, given, cfg["lr"]
        )
    except recipes.FitError as err:
        raise UsageError(str(err)) from None
    batch = chosen.batch_size
    if given and batch > cfg["train_size"]:
        raise UsageError(
            f"{run_settings.by_name('batch_size').flag} {batch} is larger than the training set "
            f"({cfg['train_size']} images)"
        )
    cfg.update(batch_size=batch, lr=chosen.lr, warmup_steps=chosen.warmup_steps)
    # what the Train tab shows next to its fields ("auto: 64") and the log prints
    cfg["auto"] = {"batch_size": chosen.batch_auto, "lr": chosen.lr_auto}
    cfg["steps_per_epoch"], cfg["total_steps"] = chosen.steps_per_epoch, chosen.total_steps
    cfg["recipe_reason"] = chosen.reason
    cfg["recipe_details"] = recipes.describe(cfg["recipe"])


def _check_batch(cfg: dict[str, Any]) -> None:
    """On resume the saved batch stays; only its split over the processes may change."""
    world, batch = cfg["world_size"], cfg["batch_size"]
    if batch < world:
        raise UsageError(
            f"the run's batch of {batch} cannot be split over {world} processes "
            "(each needs at least one image per step)"
        )


def _augmentation(cfg: dict[str, Any], spec: PipelineSpec) -> None:
    size = cfg["image_size"]
    train = PipelineSpec() if cfg["no_augment"] else spec.with_output_size(size)
    cfg["pipeline"] = spec.to_dict()
    cfg["pipeline_output_size"] = spec.output_size()
    cfg["train_pipeline"] = train.to_dict()
    cfg["fallback"] = unsupported(train)
    cfg["batched"] = not cfg["fallback"]
    if cfg["workers"] is None:
        cfg["workers"] = min(8, os.cpu_count() or 1) if cfg["fallback"] else 0


def _out(cfg: dict[str, Any], name: str) -> None:
    if not cfg["out"]:
        cfg["out"] = str(Path("checkpoints") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}")
    out = Path(cfg["out"])
    if dist.env_ranks().main and (out / "config.json").exists():
        raise UsageError(
            f"{cfg['out']!r} already holds a run; continue it with --resume {cfg['out']}"
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {cfg['out']!r} exists and is not a folder")


def resolve(args: argparse.Namespace) -> dict[str, Any]:
    """Every setting checked and filled in: the config a run is started from."""
    given = {k: v for k, v in vars(args).items() if v is not None and k in DEFAULTS}
    cfg = {**DEFAULTS, **given, "pipeline_source": args.pipeline}
    for declared in run_settings.declared():
        if declared.auto and cfg[declared.name] == 0 and (declared.low or 0) > 0:
            cfg[declared.name] = None  # 0 means automatic, as in the Train tab's form
        try:
            run_settings.check_value(declared, cfg[declared.name], declared.flag)
        except run_settings.SettingError as err:
            raise UsageError(str(err)) from None
    spec, name = _pipeline(args.pipeline)
    cfg["name"] = name
    _device(cfg)
    _data(cfg)
    _model(cfg, bool(args.check))
    _batch(cfg)
    _augmentation(cfg, spec)
    _out(cfg, name)
    return cfg


def resolve_resume(args: argparse.Namespace) -> dict[str, Any]:
    """The saved config of the run to continue, with the few settings that may change."""
    run = Path(args.resume)
    try:
        state = json.loads((run / "status.json").read_text()).get("state")
    except (OSError, ValueError, AttributeError):
        state = None
    if state == "diverged":
        # the same weights, data order and schedule would diverge again
        raise UsageError(
            f"--resume {args.resume!r}: the run diverged; start a new run with a lower "
            + run_settings.by_name("lr").flag
        )
    try:
        cfg = json.loads((run / "config.json").read_text())
        load_checkpoint(run / "last.pt")
    except (OSError, json.JSONDecodeError) as err:
        raise UsageError(f"--resume {args.resume!r}: no run there ({err})") from None
    except CheckpointError as err:
        raise UsageError(f"--resume {args.resume!r}: {err}") from None
    changed = [
        k
        for k, v in vars(args).items()
        if v is not None and k in DEFAULTS and k not in RESUME_OVERRIDES
    ]
    if changed or args.pipeline:
        flag = "--" + (changed[0] if changed else "pipeline").replace("_", "-")
        raise UsageError(
            f"{flag} cannot change when resuming; --resume uses the run's own settings"
        )
    for key in RESUME_OVERRIDES:
        value = getattr(args, key)
        if value is not None:
            cfg[key] = value
    cfg["nproc"] = args.nproc  # None: all visible GPUs again
    cfg["device"] = args.device or "auto"
    cfg["out"] = str(run)
    _device(cfg)
    _check_batch(cfg)
    return cfg


# ---- running -------------------------------------------------------------------------------


def versions() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # TorchVersion would not load with weights_only
        "torchvision": str(torchvision.__version__),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
    }


def device_name(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)} x{world}"
    return "cpu" if world == 1 else f"cpu x{world}"


def _say(ranks: dist.Ranks, run_dir: Path | None):
    def log(message: str) -> None:
        if ranks.main:
            print(message, flush=True)
            if run_dir is not None and run_dir.is_dir():
                with open(run_dir / "train.log", "a") as f:
                    f.write(message + "\n")

    return log


def write_pipelines(run_dir: Path, cfg: dict[str, Any], classes: int) -> None:
    """The run's pipeline as applied (sizes fitted to the training images, mixing steps to the
    data's classes; a baseline's is empty) and, beside it, the pipeline as it was given."""
    applied = from_dict(cfg["train_pipeline"]).with_num_classes(classes)
    atomic_write_bytes(run_dir / APPLIED_PIPELINE, applied.to_json().encode())
    asked = from_dict(cfg["pipeline"]).to_json().encode()
    atomic_write_bytes(run_dir / ASKED_PIPELINE, asked)


def train(cfg: dict[str, Any], resume: bool) -> int:
    """One process of a run (the only one, or one rank under torchrun)."""
    ranks, device = dist.init(cfg["device"], cfg["dist_backend"])
    try:
        dataset = data.load(cfg)
    except data.DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    mean, std = dataset.channel_stats()
    cfg.setdefault("normalize", {"mean": mean, "std": std})
    if "eval_transform" in cfg:  # the CIFAR network's: the data's own statistics
        cfg["eval_transform"].update(cfg["normalize"])
    cfg.update(
        device_name=device_name(device, ranks.world), versions=versions(), world_size=ranks.world
    )
    stop = StopFlag()
    stop.install()
    run_dir = Path(cfg["out"])
    if ranks.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            atomic_write_json(run_dir / "config.json", cfg)
            write_pipelines(run_dir, cfg, len(dataset.classes))
    # the pid the UI signals: ours, or the launcher's / torchrun's, which forward SIGTERM
    own = os.getppid() if ranks.world > 1 else os.getpid()
    pid = int(os.environ.get("PLAYGROUND_LAUNCHER_PID", own))
    run_info = (run_dir, ranks, device, stop, _say(ranks, run_dir), pid)
    return _run(cfg, dataset, run_info, resume)


def _run(cfg: dict[str, Any], dataset: data.Dataset, run_info: tuple, resume: bool) -> int:
    """Train; on an unhandled exception mark the run failed and exit 1 with the traceback."""
    run_dir, ranks, device, stop, log, pid = run_info
    run = None
    try:
        size, given = cfg["image_size"], cfg["pipeline_output_size"]
        if given and given != size and not cfg["no_augment"]:
            log(f"training at {size}x{size}: the pipeline's output size {given} is set to {size}")
        run = Run(cfg, dataset, run_dir, ranks, device, stop, log, pid, resume=resume)
        how = f"batched augmentation on {device.type}" if cfg["batched"] else "per-image fallback"
        log(
            f"run {run_dir}: {cfg['train_size']} images, {run.spe} steps/epoch, "
            f"{cfg['device_name']}, amp {cfg['amp_dtype']}, {how}"
        )
        if "recipe_reason" in cfg:
            log(f"recipe {cfg['recipe']}: {cfg['recipe_reason']}, warm-up {run.warmup} steps")
        log(models.describe(cfg.get("model_summary") or run.model_summary))
        if not resume and ranks.main:
            log(start_line(run))
        if resume:
            run.restore(run_dir / "last.pt")
        state = run.run()
        run.status(state, run.diverged or stop.reason)
        return EXIT_DIVERGED if state == "diverged" else 0
    except Exception as err:
        traceback.print_exc()
        if ranks.main and run_dir.is_dir():
            message = f"{type(err).__name__}: {err}".splitlines()[0]
            if run is not None:
                run.status("failed", message)
            else:
                write_status(run_dir / "status.json", state="failed", pid=pid, message=message)
        return 1
    finally:
        stop.uninstall()
        dist.close()


def start_line(run: Run) -> str:
    """The run's starting point in one log line: the initial weights and the first epoch's data
    order, each as 16 hex digits of a sha256. The arms of a paired experiment print the same
    (the same seed, weights file and data; only the augmentation differs)."""
    weights = dist.weight_digest(run.model)[:16]
    return (
        f"start: initial weights {weights}, data order of epoch 1 {run.batches.order_digest(0)} "
        "(sha256)"
    )


def _worker_argv(argv: list[str], out: str, resume: bool) -> list[str]:
    """Our arguments for the workers: without --nproc (torchrun's argparse would take it for an
    abbreviation of its own --nproc-per-node) and with the resolved --out."""
    nproc = run_settings.by_name("nproc").flag
    kept, skip = [], False
    for arg in argv:
        if skip or arg.startswith(nproc + "="):
            skip = False
        elif arg == nproc:
            skip = True
        else:
            kept.append(arg)
    return kept if resume else [*kept, "--out", out]


def _launch(cfg: dict[str, Any], argv: list[str], resume: bool) -> int:
    """Several processes: torchrun runs this same command in each; we wait and report."""
    code, asked_to_stop = dist.launch(cfg["nproc"], _worker_argv(argv, cfg["out"], resume))
    status = Path(cfg["out"]) / "status.json"
    try:
        state = json.loads(status.read_text())["state"]
    except (OSError, ValueError, KeyError):
        state = None
    if state in ("finished", "stopped"):
        return 0
    if state == "diverged":
        return EXIT_DIVERGED
    if asked_to_stop and state != "failed" and Path(cfg["out"]).is_dir():
        # stopped while the workers were still starting (importing, loading data): before
        # their own handler was in place the signal ended them, which is a stop, not a failure
        message = "stopped during start-up, before the first step"
        write_status(status, state="stopped", pid=os.getpid(), message=message)
        return 0
    if state != "failed" and Path(cfg["out"]).is_dir():
        message = f"workers exited with status {code}"
        write_status(status, state="failed", pid=os.getpid(), message=message)
    return code or 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    quiet_warnings()
    try:
        args = parser().parse_args(argv)
        cfg = resolve_resume(args) if args.resume else resolve(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        print(json.dumps(cfg))
        return 0
    if cfg["nproc"] > 1 and not dist.under_torchrun():
        try:
            data.ensure_downloaded(cfg)
        except data.DataError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return _launch(cfg, argv, bool(args.resume))
    return train(cfg, resume=bool(args.resume))
