"""What a run is called and what it trained with, in the page's words: its name, whether it is
a baseline, its pipeline's steps, its data, a duration."""

from __future__ import annotations

import math
from typing import Any

from playground import runs
from playground.runs import Run


def fmt_time(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def is_baseline(run: Run) -> bool:
    """The second arm of a pair: no augmentation, or the other pipeline it is compared with."""
    settings = runs.read_json(run.path / "settings.json") or {}
    return bool(
        settings.get("no_augment") or settings.get("baseline") or run.config.get("no_augment")
    )


def is_other_pipeline(run: Run) -> bool:
    """A second arm that trains another pipeline ("compare against: another pipeline file")."""
    return is_baseline(run) and not (
        (runs.read_json(run.path / "settings.json") or {}).get("no_augment")
        or run.config.get("no_augment")
    )


Step = tuple[str, dict[str, Any], float]  # transform, parameters, step probability


def pipeline_steps(run: Run) -> list[Step]:
    """The run's pipeline as (transform, params, step p) of its enabled steps, as given (the
    launcher's pipeline-original.json; older runs: pipeline.json, else config.json). A
    baseline's pipeline is the one it was compared with, not applied."""
    spec = (
        runs.read_json(run.path / runs.ASKED_PIPELINE)
        or runs.read_json(run.path / runs.APPLIED_PIPELINE)
        or run.config.get("pipeline")
        or {}
    )
    steps = spec.get("steps") if isinstance(spec, dict) else None
    return [
        (str(step.get("transform")), dict(step.get("params") or {}), _probability(step))
        for step in steps or []
        if isinstance(step, dict) and step.get("enabled", True)
    ]


def _probability(step: dict[str, Any]) -> float:
    p = step.get("p", 1.0)
    return float(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else 1.0


def steps_summary(steps: list[Step], most: int = 4) -> str:
    """ "Crop, HorizontalFlip, GaussianBlur (p 0.7)": the steps' names without "Random" (and
    their step probability where below 1), at most `most` of them."""
    if not steps:
        return "none"
    names = [_step_words(t.removeprefix("Random") or t, {}, p) for t, _, p in steps]
    extra = f" +{len(names) - most}" if len(names) > most else ""
    return ", ".join(names[:most]) + extra


def display_name(run: Run) -> str:
    """What a person called the run, else its folder's name."""
    return runs.read_notes(run.path)["name"] or run.name


def augment_label(run: Run, all_runs: list[Run] | None = None) -> str:
    """The pipeline's steps, and for a run and its baseline, that they are a pair."""
    pair = [r for r in all_runs or [] if r.job == run.job and r.name != run.name]
    if is_other_pipeline(run):
        main = next((r for r in pair if not is_baseline(r)), None)
        against = f" (compared with {display_name(main)})" if main else ""
        return steps_summary(pipeline_steps(run)) + against
    if is_baseline(run):
        main = next((r for r in pair if not is_baseline(r)), None)
        return f"none: baseline of {display_name(main)}" if main else "none (baseline)"
    summary = steps_summary(pipeline_steps(run))
    return f"{summary} (baseline: {display_name(pair[0])})" if pair else summary


def data_label(run: Run) -> str:
    """The data set and how many images the run trains on (what it really has, not the subset
    asked for: a 10,000 subset of the 5,000 synthetic images is 5,000)."""
    settings = runs.read_json(run.path / "settings.json") or {}
    data = str(run.config.get("dataset") or settings.get("dataset", "?"))
    data = data.split(":", 1)[0] if data.startswith("folder:") else data
    size = run.config.get("train_size")
    return f"{data} ({size:,} images)" if isinstance(size, int) else data


def _step_words(transform: str, params: dict[str, Any], p: float) -> str:
    """A step as the runs table and Compare name it: "GaussianBlur (p 0.7)"."""
    return transform if p >= 1 else f"{transform} (p {p:g})"
