"""Before a run starts: the check of the Train tab's settings, the first batch and the time
estimate (kept per settings), the batch and learning-rate notes, the pipeline a run is compared
against, and the words Start answers with. Plain values; the Train tab shows them."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pipelines.spec import PipelineSpec, SpecError
from pipelines.spec import load as load_spec
from playground import jobs, runs, train_view
from playground.jobs import JobError

AGAINST_NONE, AGAINST_FILE = "none", "another pipeline file"

_PREVIEWS: dict[tuple[jobs.Settings, str, bool], tuple[Any, str, str, dict]] = {}


def first_batch(cfg: dict[str, Any]) -> list[Any]:
    """The first 32 training images as the pipeline feeds them, captioned with their class."""
    return train_view.first_batch(cfg)


def _key(settings: jobs.Settings, spec: PipelineSpec, baseline: bool) -> tuple:
    return settings, spec.to_json(), bool(baseline)


def is_previewed(settings: jobs.Settings, spec: PipelineSpec, baseline: bool) -> bool:
    """Whether a final preview of these settings is kept (showing it again is quick)."""
    return _key(settings, spec, baseline) in _PREVIEWS


def preview(
    settings: jobs.Settings, spec: PipelineSpec, baseline: bool
) -> tuple[Any, str, str, dict]:
    """(first batch, estimate, message, the checked config) of validated settings; raises
    JobError. An answer without an estimate is not kept: the next one may have one (a run that
    was training has ended)."""
    key = _key(settings, spec, baseline)
    if key in _PREVIEWS:
        return _PREVIEWS[key]
    gallery, estimate, message, cfg, final = _preview(settings, spec, bool(baseline))
    if final:
        if len(_PREVIEWS) >= 16:
            _PREVIEWS.clear()
        _PREVIEWS[key] = gallery, estimate, message, cfg
    return gallery, estimate, message, cfg


def _preview(
    settings: jobs.Settings, spec: PipelineSpec, baseline: bool
) -> tuple[Any, str, str, dict, bool]:
    with tempfile.TemporaryDirectory(prefix="playground-check-") as tmp:
        pipeline = Path(tmp) / "pipeline.json"
        pipeline.write_text(spec.to_json())
        cfg = jobs.check(settings, pipeline)
        problem = jobs.data_problem(cfg) or jobs.weights_problem(cfg)
        if problem:  # said before anything is timed or started
            return None, "", f"⚠️ {problem}.", cfg, False
        estimate, final = train_view.describe_estimate(settings, cfg, pipeline, baseline)
    reason = cfg.get("recipe_reason")
    estimate += f"\n\n**Recipe:** {cfg.get('recipe')}: {reason}." if reason else ""
    # (an upload not yet decoded at the run's size is not ready either: first_batch decodes it)
    if cfg.get("dataset") == "cifar10" and not cfg.get("data_ready", True):
        folder = runs.shown(str(jobs.data_folder(cfg)))
        note = f"CIFAR-10 is not in {folder} yet: the run downloads it (170 MB) when it starts."
        return None, estimate, f"Settings are valid. {note}", cfg, final
    note = jobs.weights_note(cfg)
    if note:
        return first_batch(cfg), estimate, f"Settings are valid. {note}", cfg, final
    return first_batch(cfg), estimate, "Settings are valid. Press **Start** to train.", cfg, final


def auto_notes(cfg: dict[str, Any] | None) -> tuple[str, str | None] | None:
    """What the training command chose for the fields left at 0 ("auto: 64"): the batch and
    learning-rate fields' info lines (None: nothing checked)."""
    if not cfg:
        return None
    auto = cfg.get("auto") or {}
    batch = cfg.get("batch_size")
    steps = cfg.get("steps_per_epoch")
    batch_note = f"auto: {batch}" if auto.get("batch_size") else f"given: {batch}"
    if steps:
        batch_note += f" ({steps} steps per epoch)"
    lr = cfg.get("lr")
    lr_note = (f"auto: {lr:.3g}" if auto.get("lr") else f"given: {lr:.3g}") if lr else ""
    return batch_note, lr_note or None


def against_spec(choice: str | None, path: Any) -> PipelineSpec | None:
    """The pipeline the run is compared against: None for "none" (no augmentation), else the
    uploaded pipeline file, loaded as the Export tab loads one (validated, 64 KB at most)."""
    if choice != AGAINST_FILE:
        return None
    path = getattr(path, "name", path)
    if not path:
        raise JobError("compare against another pipeline file: upload the pipeline file first")
    try:
        return load_spec(str(path))
    except SpecError as err:
        raise JobError(f"the pipeline file to compare against: {err}") from None


def start_message(
    settings: jobs.Settings, names: list[str], baseline: bool, against: bool, pairs: int
) -> str:
    """What Start says once the runs `names` are started: the run, its second arm (the baseline,
    or the pipeline it is compared against), the seeds waiting in the queue, and the CPU note."""
    second = "the other pipeline" if against else "the baseline without augmentation"
    extra = f" and {second}, {names[1]}," if baseline else ""
    message = f"Started {names[0]}{extra} in the background. Curves appear after the first steps."
    if pairs > 1:
        message += (
            f" {len(names) - (2 if baseline else 1)} more runs (seeds {settings.seed + 1} to "
            f"{settings.seed + pairs - 1}) wait in the queue and start one pair at a time."
        )
    if settings.device == "cpu" or not train_view.detect_devices()["gpus"]:
        message += " It trains on the CPU: see the ETA below; **Stop** keeps a checkpoint."
    return message
