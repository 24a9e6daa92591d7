"""PipelineSpec: an ordered list of steps with a versioned JSON form, validated against the catalogue.

The JSON form (version 2):

    {"format": "augmentation-pipeline", "version": 2,
     "steps": [{"transform": "RandomHorizontalFlip", "enabled": true, "p": 1.0,
                "params": {"p": 0.5}}, ...]}

Steps run in list order and a transform may appear any number of times. A step's "p" is the
chance it runs at all (v2.RandomApply); it stays 1.0 for transforms with a probability of their
own. Mixing steps (CutMix, MixUp) act on a whole batch, after every per-image step.

Every step names a catalogue transform and gives every one of its parameters; nothing is
evaluated, only parsed and checked. Version 1 files (no per-step "p", and without the parameters
added since) still load: the missing values take their defaults, which reproduce version 1.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipelines.catalogue import BY_NAME, CATALOGUE, PRESETS, STEP_P, TransformDef

FORMAT = "augmentation-pipeline"
VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_STEPS = 32
MAX_FILE_BYTES = 64 * 1024

CLASSES_PARAM = "num_classes"  # a mixing step's; training sets it from the data set


class SpecError(ValueError):
    """A pipeline that does not validate; the message names the step and parameter."""


@dataclass(frozen=True)
class StepSpec:
    transform: str
    params: dict[str, Any]
    enabled: bool = True
    p: float = 1.0  # chance the step runs at all (v2.RandomApply around it when below 1)

    @property
    def definition(self) -> TransformDef:
        return BY_NAME[self.transform]


@dataclass(frozen=True)
class PipelineSpec:
    steps: tuple[StepSpec, ...] = field(default_factory=tuple)

    @property
    def active(self) -> tuple[StepSpec, ...]:
        """The steps that run: enabled ones, in order."""
        return tuple(s for s in self.steps if s.enabled)

    @property
    def image_steps(self) -> tuple[StepSpec, ...]:
        """The active steps that transform one image at a time (what `build` composes)."""
        return tuple(s for s in self.active if not s.definition.batch)

    @property
    def batch_steps(self) -> tuple[StepSpec, ...]:
        """The active steps that mix a batch (CutMix, MixUp), in order."""
        return tuple(s for s in self.active if s.definition.batch)

    def step(self, transform: str, occurrence: int = 0) -> StepSpec:
        """The `occurrence`-th step (enabled or not) of `transform`: tests and callers name
        steps instead of counting positions."""
        matches = [s for s in self.steps if s.transform == transform]
        if occurrence >= len(matches):
            raise SpecError(f"the pipeline has no {transform} step number {occurrence + 1}")
        return matches[occurrence]

    def step_keys(self) -> list[str]:
        """Stable ids of the active steps ("ColorJitter#0"), used to seed each step on its own."""
        seen: dict[str, int] = {}
        keys = []
        for step in self.active:
            n = seen.get(step.transform, 0)
            seen[step.transform] = n + 1
            keys.append(f"{step.transform}#{n}")
        return keys

    def with_key_params(self, key: str, **params: Any) -> PipelineSpec:
        """A copy with the active step `key` ("ColorJitter#1", see step_keys) updated and
        validated."""
        keyed = dict(zip(self.step_keys(), map(id, self.active), strict=True))
        if key not in keyed:
            raise SpecError(f"the pipeline has no active step {key}")
        steps = tuple(
            replace(s, params={**s.params, **params}) if id(s) == keyed[key] else s
            for s in self.steps
        )
        return validate(PipelineSpec(steps))

    def output_size(self) -> int | None:
        """The side of the square the last size-setting step produces, or None if none does."""
        size = None
        for step in self.active:
            for p in step.definition.params:
                if p.is_size:
                    size = step.params[p.name]
        return size

    def with_output_size(self, size: int) -> PipelineSpec:
        """The same pipeline producing `size`-pixel outputs (how training fits it to 32x32 data)."""
        steps = []
        for step in self.steps:
            params = dict(step.params)
            for p in step.definition.params:
                if p.is_size:
                    params[p.name] = size
            steps.append(replace(step, params=params))
        return PipelineSpec(tuple(steps))

    def with_num_classes(self, classes: int) -> PipelineSpec:
        """The same pipeline with its mixing steps set to `classes` classes (how training fits
        CutMix and MixUp to the data set's labels)."""
        steps = tuple(
            replace(s, params={**s.params, CLASSES_PARAM: classes}) if s.definition.batch else s
            for s in self.steps
        )
        return PipelineSpec(steps)

    def with_params(self, transform: str, **params: Any) -> PipelineSpec:
        """A copy with the first `transform` step's parameters updated (and validated)."""
        steps = list(self.steps)
        for i, step in enumerate(steps):
            if step.transform == transform:
                steps[i] = replace(step, params={**step.params, **params})
                return validate(PipelineSpec(tuple(steps)))
        raise SpecError(f"the pipeline has no {transform} step")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "steps": [
                {
                    "transform": s.transform,
                    "enabled": s.enabled,
                    "p": s.p,
                    "params": dict(s.params),
                }
                for s in self.steps
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def _where(index: int, transform: str, param: str | None = None) -> str:
    where = f"step {index + 1} ({transform})"
    return f"{where}, parameter '{param}'" if param else where


def _check_value(index: int, tdef: TransformDef, name: str, value: Any) -> Any:
    p = tdef.param(name)
    where = _where(index, tdef.name, name)
    if p.kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(f"{where}: expected true or false, got {value!r}")
        return value
    if p.kind == "choice":
        if value not in p.choices:
            raise SpecError(f"{where}: expected one of {', '.join(p.choices)}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise SpecError(f"{where}: must be a finite number, got {value!r}")
    if p.kind == "int":
        if float(value) != int(value):
            raise SpecError(f"{where}: expected a whole number, got {value!r}")
        value = int(value)
        if p.odd and value % 2 == 0:
            raise SpecError(f"{where}: must be odd, got {value}")
    else:
        value = float(value)
    if not (p.low <= value <= p.high):
        raise SpecError(f"{where}: {value} is outside the range {p.low:g} to {p.high:g}")
    return value


def _check_probability(index: int, tdef: TransformDef, value: Any) -> float:
    where = f"{_where(index, tdef.name)}, step probability 'p'"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    if not (STEP_P.low <= value <= STEP_P.high):  # also refuses NaN
        raise SpecError(
            f"{where}: {value!r} is outside the range {STEP_P.low:g} to {STEP_P.high:g}"
        )
    if tdef.own_p and value != 1.0:
        raise SpecError(
            f"{where}: {tdef.name} has a probability of its own; set its parameter 'p' instead"
        )
    return float(value)


def _check_order(index: int, tdef: TransformDef, checked: Mapping[str, Any]) -> None:
    for order in tdef.ordered_pairs:
        if not order.holds(checked):
            low, high = checked[order.low], checked[order.high]
            rule = "less than" if order.strict else "at most"
            raise SpecError(
                f"{_where(index, tdef.name, order.low)}: {low:g} is greater than "
                f"{'or equal to ' if order.strict and low == high else ''}"
                f"'{order.high}' ({high:g}); it must be {rule} '{order.high}'"
            )


def _check_step(index: int, raw: Any, version: int = VERSION) -> StepSpec:
    if not isinstance(raw, Mapping):
        raise SpecError(f"step {index + 1}: expected an object, got {type(raw).__name__}")
    keys = {"transform", "enabled", "params"} | ({"p"} if version >= 2 else set())
    unknown = set(raw) - keys
    if unknown:
        raise SpecError(f"step {index + 1}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    name = raw.get("transform")
    if not isinstance(name, str) or name not in BY_NAME:  # [] or {} are not even hashable
        known = ", ".join(t.name for t in CATALOGUE)
        raise SpecError(f"step {index + 1}: unknown transform {name!r} (known: {known})")
    tdef = BY_NAME[name]
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SpecError(f"{_where(index, name)}: 'enabled' must be true or false")
    params = raw.get("params", {})
    if not isinstance(params, Mapping):
        raise SpecError(f"{_where(index, name)}: 'params' must be an object")
    expected = {p.name for p in tdef.params}
    params = {**{p.name: p.default for p in tdef.params if p.since > version}, **params}
    unknown = set(params) - expected
    if unknown:
        raise SpecError(f"{_where(index, name, sorted(map(str, unknown))[0])}: unknown parameter")
    missing = expected - set(params)
    if missing:
        raise SpecError(f"{_where(index, name, sorted(missing)[0])}: missing")
    checked = {p.name: _check_value(index, tdef, p.name, params[p.name]) for p in tdef.params}
    _check_order(index, tdef, checked)
    probability = _check_probability(index, tdef, raw.get("p", 1.0))
    return StepSpec(name, checked, enabled, probability)


def _check_mixing(steps: tuple[StepSpec, ...]) -> None:
    """Mixing steps share one batch of labels, so they must agree on the number of classes."""
    classes = {}
    for i, step in enumerate(steps):
        if step.enabled and step.definition.batch:
            classes.setdefault(step.params["num_classes"], i)
    if len(classes) > 1:
        (first, _), (other, i) = sorted(classes.items(), key=lambda kv: kv[1])[:2]
        raise SpecError(
            f"{_where(i, steps[i].transform, 'num_classes')}: {other} differs from the "
            f"{first} classes of an earlier mixing step; mixing steps share one batch of labels"
        )


def from_dict(data: Any) -> PipelineSpec:
    """Validate a parsed JSON document against the catalogue."""
    if not isinstance(data, Mapping):
        raise SpecError("a pipeline file must hold a JSON object")
    if data.get("format") != FORMAT:
        raise SpecError(f"not a pipeline file: 'format' must be {FORMAT!r}")
    version = data.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        readable = " and ".join(map(str, READABLE_VERSIONS))
        raise SpecError(
            f"unsupported pipeline version {version!r} (this app reads versions {readable})"
        )
    unknown = set(data) - {"format", "version", "steps"}
    if unknown:
        raise SpecError(f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}")
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise SpecError("'steps' must be a list")
    if len(steps) > MAX_STEPS:
        raise SpecError(f"too many steps: {len(steps)} (the limit is {MAX_STEPS})")
    checked = tuple(_check_step(i, raw, version) for i, raw in enumerate(steps))
    _check_mixing(checked)
    return PipelineSpec(checked)


def validate(spec: PipelineSpec) -> PipelineSpec:
    """Re-check a spec built in code (UI controls) the same way a file is checked."""
    return from_dict(spec.to_dict())


def _reject_constant(token: str) -> Any:
    raise SpecError(f"{token} is not allowed in a pipeline file")


_MAX_INT_DIGITS = 30  # no parameter needs more; Python refuses over 4,300 with a ValueError


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
        raise SpecError(f"a number in the file has {len(digits.lstrip('-')):,} digits")
    return int(digits)


def from_json(text: str | bytes) -> PipelineSpec:
    if len(text) > MAX_FILE_BYTES:
        raise SpecError(
            f"the pipeline file is too large ({len(text)} bytes; limit {MAX_FILE_BYTES})"
        )
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SpecError(f"not valid JSON: {err}") from None
    except RecursionError:
        raise SpecError("not valid JSON: nested too deeply") from None
    return from_dict(data)


def load(source: str | os.PathLike[str]) -> PipelineSpec:
    """A pipeline from a preset name or a JSON file path."""
    if isinstance(source, str) and source in PRESETS:
        return preset(source)
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(
                f"the pipeline file is too large ({size} bytes; limit {MAX_FILE_BYTES})"
            )
        text = path.read_bytes()
    except OSError as err:
        presets = ", ".join(PRESETS)
        raise SpecError(
            f"cannot read {str(source)!r}: {err.strerror} (presets: {presets})"
        ) from None
    return from_json(text)


def make(
    steps: Iterable[tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], float]],
    enabled: bool = True,
) -> PipelineSpec:
    """A validated spec from (transform, params[, step p]) tuples; missing params take
    catalogue defaults."""
    raw = [
        {
            "transform": name,
            "enabled": enabled,
            "p": rest[0] if rest else 1.0,
            "params": {**BY_NAME[name].defaults(), **params},
        }
        for name, params, *rest in steps
    ]
    return from_dict({"format": FORMAT, "version": VERSION, "steps": raw})


def preset(name: str) -> PipelineSpec:
    if name not in PRESETS:
        raise SpecError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return make(PRESETS[name].steps)


def default_spec() -> PipelineSpec:
    """What the editor opens on: flip -> RandomResizedCrop -> ColorJitter, the mission's steps
    (the catalogue entries marked default_enabled), in that order."""
    return make((t.name, {}) for t in CATALOGUE if t.default_enabled)
