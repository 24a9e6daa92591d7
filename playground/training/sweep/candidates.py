"""The sweep's candidates: the no-augmentation baseline, pipelines (presets or files) and
strength ladders of one parameter ("ColorJitter.brightness=0,0.2,0.4,0.8"), each a pipeline
file in the sweep folder so that every trial trains exactly what was entered."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.catalogue import BY_NAME, PRESETS
from pipelines.spec import PipelineSpec, SpecError, from_dict, load

BASELINE = "none"  # the no-augmentation candidate, always in, always carried forward
BASELINE_LABEL = "no augmentation"
LADDER = re.compile(r"^(?P<step>[A-Za-z0-9]+(?:#\d+)?)\.(?P<param>[a-z_]+)=(?P<values>.+)$")


class CandidateError(ValueError):
    """A candidate or ladder that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Candidate:
    key: str  # folder-safe and unique: "c00-none", "c03-cifar-standard"
    label: str  # what a person reads: "cifar-standard", "ColorJitter brightness 0.4"
    source: str  # where it came from: "preset ...", "file ...", "ladder ...", "baseline"
    spec: dict[str, Any] | None  # the pipeline as a dict; None for the baseline

    @property
    def baseline(self) -> bool:
        return self.spec is None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "source": self.source, "spec": self.spec}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Candidate:
        return Candidate(data["key"], data["label"], data["source"], data.get("spec"))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:40] or "pipeline"


def _spec(source: str) -> tuple[PipelineSpec, str, str]:
    """(spec, label, where from) of a preset name or a pipeline file."""
    try:
        spec = load(source)
    except (OSError, SpecError, ValueError) as err:
        raise CandidateError(f"candidate {source!r}: {err}") from None
    if source in PRESETS:
        return spec, source, f"preset {source}"
    return spec, Path(source).stem, f"file {Path(source).name}"


def _ladder_value(spec: PipelineSpec, step: str, param: str, text: str) -> Any:
    name = step.split("#")[0]
    if name not in BY_NAME:
        raise CandidateError(f"ladder {step}.{param}: no transform called {name!r}")
    declared = next((p for p in BY_NAME[name].params if p.name == param), None)
    if declared is None:
        names = ", ".join(p.name for p in BY_NAME[name].params) or "none"
        raise CandidateError(f"ladder {step}.{param}: {name} has no parameter {param!r} ({names})")
    text = text.strip()
    try:
        if declared.kind == "int":
            return int(text)
        if declared.kind == "float":
            return float(text)
    except ValueError:
        raise CandidateError(f"ladder {step}.{param}: {text!r} is not a number") from None
    if declared.kind == "bool":
        if text.lower() not in ("true", "false"):
            raise CandidateError(f"ladder {step}.{param}: {text!r} is not true or false")
        return text.lower() == "true"
    return text


def ladder(base: PipelineSpec, base_label: str, text: str) -> list[tuple[PipelineSpec, str]]:
    """The pipelines of a ladder "STEP.PARAM=v1,v2,..." on `base`: STEP is a transform of the
    pipeline (its first active one, or "Name#k" for the k-th), each value validated as the
    editor validates it."""
    match = LADDER.match(text.strip())
    if not match:
        raise CandidateError(
            f"ladder {text!r}: write STEP.PARAM=v1,v2,... (say ColorJitter.brightness=0,0.2,0.4)"
        )
    step, param = match["step"], match["param"]
    key = step if "#" in step else f"{step}#0"
    if key not in base.step_keys():
        raise CandidateError(f"ladder {text!r}: the pipeline {base_label!r} has no active {step}")
    out = []
    for raw in match["values"].split(","):
        value = _ladder_value(base, step, param, raw)
        try:
            spec = base.with_key_params(key, **{param: value})
        except SpecError as err:
            raise CandidateError(f"ladder {step}.{param}={raw.strip()}: {err}") from None
        out.append((spec, f"{base_label} · {step.split('#')[0]} {param} {raw.strip()}"))
    if len(out) < 2:
        raise CandidateError(f"ladder {text!r}: give at least two values")
    return out


def make_candidates(
    sources: list[str], ladders: list[str] = (), ladder_base: str | None = None
) -> list[Candidate]:
    """The baseline, then each source (a preset, a pipeline file; "none" is the baseline,
    already in), then each ladder's rungs on `ladder_base` (default: the first source).
    Labels entered twice (an A/A sweep: one pipeline N times) are numbered."""
    entries: list[tuple[PipelineSpec, str, str]] = []
    for source in sources:
        if source == BASELINE:
            continue
        entries.append(_spec(source))
    if ladders:
        base_source = ladder_base or next((s for s in sources if s != BASELINE), None)
        if base_source is None:
            raise CandidateError("a ladder needs a pipeline to vary: give a candidate first")
        base, base_label, _ = _spec(base_source)
        for text in ladders:
            entries += [
                (spec, label, f"ladder {text}") for spec, label in ladder(base, base_label, text)
            ]
    if not entries:
        raise CandidateError("no candidates: give at least one pipeline besides none")
    out = [Candidate(f"c00-{BASELINE}", BASELINE_LABEL, "baseline", None)]
    seen: dict[str, int] = {}
    for i, (spec, label, source) in enumerate(entries, start=1):
        seen[label] = seen.get(label, 0) + 1
        shown = label if seen[label] == 1 else f"{label} ({seen[label]})"
        out.append(Candidate(f"c{i:02d}-{_slug(shown)}", shown, source, spec.to_dict()))
    return out


def write_pipelines(folder: Path, candidates: list[Candidate]) -> dict[str, Path]:
    """Each candidate's pipeline file under folder/candidates/ (the baseline trains with the
    first candidate's file and --no-augment): what every trial's --pipeline names."""
    home = folder / "candidates"
    home.mkdir(parents=True, exist_ok=True)
    paths = {}
    for c in candidates:
        if c.baseline:
            continue
        path = home / f"{c.key}.json"
        text = json.dumps(from_dict(c.spec).to_dict(), indent=2) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        paths[c.key] = path
    first = next(c for c in candidates if not c.baseline)
    paths[candidates[0].key] = paths[first.key]
    return paths
