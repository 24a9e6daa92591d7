"""Starting a run: the pipeline re-checked, the run folders made (a baseline or another
pipeline as the second arm, several seeds), the settings checked against the data and the
server's limits, then the first pair spawned and the others queued."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from pipelines.spec import PipelineSpec, SpecError, validate
from playground import budget, owners, runs
from playground.jobs import checks, process
from playground.jobs.checks import data_problem, weights_problem
from playground.jobs.errors import JobError
from playground.jobs.limits import (
    MAX_SEEDS,
    MIN_SEEDS,
    _run_time_limit_s,
    _within_limits,
    _within_memory,
    _within_start_minutes,
    server_limits,
)
from playground.jobs.process import (
    Settings,
    _new_run_dir,
    _refuse_if_busy,
    _remove_run_dir,
    _root_lock,
    _spawn,
    flags,
)
from playground.jobs.run_queue import _queue
from playground.runs import ASKED_PIPELINE
from playground.training import settings as run_settings


def validated(spec: Any) -> PipelineSpec:
    """The Augment tab's pipeline, re-checked: a spec that does not validate never starts."""
    if not isinstance(spec, PipelineSpec):
        raise JobError("no pipeline: set one in the Augment tab")
    try:
        return validate(spec)
    except SpecError as err:
        raise JobError(f"the pipeline from the Augment tab does not validate: {err}") from None


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
    if not isinstance(seeds, int) or not MIN_SEEDS <= seeds <= MAX_SEEDS:
        raise JobError(f"seeds per arm must be between {MIN_SEEDS} and {MAX_SEEDS}, got {seeds!r}")
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
            cfg = checks.check(settings, made[0] / ASKED_PIPELINE, made[0])
            _within_limits(cfg, limits)
            _within_memory(cfg, arms)
            problem = data_problem(cfg) or weights_problem(cfg)
            if problem:
                raise JobError(problem)
        except (JobError, OSError):  # nothing half-made stays behind
            for folder in made:
                _remove_run_dir(folder)
            raise
        job = made[0].name
        for order, (folder, (run_settings_k, no_aug)) in enumerate(zip(made, plan, strict=True)):
            cmd = process.train_command(
                "--pipeline", str(folder / ASKED_PIPELINE), *flags(run_settings_k),
                "--out", str(folder),
            )  # fmt: skip
            no_augment = no_aug and against is None
            if no_augment:
                cmd.append(run_settings.by_name("no_augment").flag)
            if run_settings_k.seed == settings.seed:
                _spawn(folder, cmd, owners.owner_id(owner), job, "start", time_limit_s)
            else:
                _queue(folder, cmd, owners.owner_id(owner), job, order, run_settings_k.seed)
    return made
