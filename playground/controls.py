"""The pipeline editor's logic, as plain functions of a PipelineSpec (no Gradio here).

The Augment tab shows the pipeline as an ordered list of steps; every step shows its on/off
switch, its step probability (only where the transform has no `p` of its own) and one control
per catalogue parameter. Each edit below returns a new validated spec, or raises SpecError with
a message naming the step and the parameter.

Element ids: the first step of a transform uses the catalogue key, `{key}-{param}` (hflip-p,
rrc-scale-min, jitter-hue, ...); the n-th step of the same transform (n >= 2) uses
`{key}{n}-{param}` (jitter2-hue). Per step: `{prefix}-enabled`, `{prefix}-step-p`,
`{prefix}-up`, `{prefix}-down`, `{prefix}-duplicate`, `{prefix}-remove` and `{prefix}-note` (why
the last edit was refused or a typed number clamped), where prefix is `{key}` or `{key}{n}`.
Around the grid: `grid-view` (display size or training resolution), `share` and `share-link`.

Typed numbers: a value outside a parameter's declared range (`low`..`high`; the seed's in SEED,
a step probability's in catalogue.STEP_P) is clamped to it, and the box shows the value used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from pipelines.catalogue import BY_NAME, CATALOGUE, GROUPS, STEP_P, Param, TransformDef
from pipelines.spec import MAX_STEPS, PipelineSpec, SpecError, StepSpec, validate


@dataclass(frozen=True)
class StepView:
    """What the editor shows for one step."""

    index: int  # position in spec.steps
    step: StepSpec
    prefix: str  # element-id prefix: the catalogue key, then key2, key3, ... for repeats

    @property
    def tdef(self) -> TransformDef:
        return self.step.definition

    def elem_id(self, name: str) -> str:
        return f"{self.prefix}-{name.replace('_', '-')}"

    @property
    def title(self) -> str:
        title = f"{self.index + 1}. {self.tdef.label} · {self.tdef.name}"
        return f"{title} · {ON_THE_BATCH}" if self.tdef.batch else title


# Said on a mixing step (CutMix, MixUp): it mixes the whole batch after every per-image step, so
# the editor keeps it at the end of the list, where it runs.
ON_THE_BATCH = "on the batch, after every per-image step"


def step_views(spec: PipelineSpec) -> Iterator[StepView]:
    seen: dict[str, int] = {}
    for i, step in enumerate(spec.steps):
        n = seen.get(step.transform, 0) + 1
        seen[step.transform] = n
        key = BY_NAME[step.transform].key
        yield StepView(i, step, key if n == 1 else f"{key}{n}")


def picker_choices() -> list[tuple[str, str]]:
    """(label, transform) for the add-step picker, grouped and in catalogue order."""
    return [
        (f"{GROUPS[group]} · {t.label} ({t.name})", t.name)
        for group in GROUPS
        for t in CATALOGUE
        if t.group == group
    ]


# The preview's seed, declared like a catalogue parameter so its box clamps like theirs.
SEED = Param("seed", "int", 0, "Seed", 0, 2**31 - 1, 1)


def clamp(param: Param, value: Any) -> Any:
    """A typed number brought into `param`'s declared range (anything else as it is: the
    spec's checks explain it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return value
    clamped = min(max(value, param.low), param.high)
    return int(clamped) if param.kind == "int" and float(clamped).is_integer() else clamped


def slider_bounds(param: Param, value: Any) -> tuple[float, float]:
    """The slider's ends: its track (or declared range), widened to show `value` when it lies
    outside the track but inside the range (a pipeline file may hold it)."""
    low, high = param.slider_range
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and param.low <= value <= param.high:
        return min(low, value), max(high, value)
    return low, high


def range_note(param: Param, value: Any, pending: bool = False) -> str:
    """Why a typed number changed (or will change, while still being typed), in the screen's
    words: the parameter's label, its range, the value typed and what it becomes."""
    where = f"{param.label} goes from {_number(param.low)} to {_number(param.high)}"
    typed, used = _number(value), _number(clamp(param, value))
    if pending:
        return (
            f"⚠️ {where}: {typed} becomes {used} when you leave the box. "
            "The grid shows the last valid settings."
        )
    return f"⚠️ {where}: {typed} was set to {used}."


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}"


def seed_note(typed: Any, used: int) -> str:
    """Why the seed box changed what was typed: out of range (clamped) or not whole (rounded),
    said the same way for both."""
    where = f"{SEED.label} is a whole number from {_number(SEED.low)} to {_number(SEED.high)}"
    return f"⚠️ {where}: {_number(typed)} was set to {_number(used)}."


def typed_seed(value: Any) -> int:
    """The seed box's number as the seed: whole, within 0..SEED.high (clamped: see
    playground.ui.editing.on_seed)."""
    try:
        return int(clamp(SEED, round(value)))
    except (TypeError, ValueError, OverflowError):
        return 0


def out_of_range(param: Param, value: Any) -> bool:
    return clamp(param, value) != value


_WHERE = re.compile(r"^step \d+ \(([A-Za-z0-9]+)\), ")


def step_note(err: SpecError) -> str:
    """A refused edit's message for the step's own note, in the screen's words: which step it
    is goes without saying there, and parameters go by their labels, not their names."""
    text = str(err)
    match = _WHERE.match(text)
    if match and match.group(1) in BY_NAME:
        text = text[match.end() :].replace("step probability 'p'", f"'{STEP_P.label}'")
        for p in BY_NAME[match.group(1)].params:
            text = text.replace(f"parameter '{p.name}'", f"'{p.label}'")
            text = text.replace(f"'{p.name}'", f"'{p.label}'")
    return f"⚠️ {text[:1].upper()}{text[1:]}. The grid shows the last valid settings."


def coerce(param: Param, value: Any) -> Any:
    """Gradio hands numbers back as floats (or None for an emptied box); the spec wants types."""
    if value is None:
        return param.default
    if param.kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _replace_step(spec: PipelineSpec, index: int, check: bool, **changes: Any) -> PipelineSpec:
    steps = list(spec.steps)
    steps[index] = replace(steps[index], **changes)
    new = PipelineSpec(tuple(steps))
    return validate(new) if check else new


# `check=False` returns the edited pipeline unchecked: the editor's draft, which holds what the
# boxes show even while a value is refused (see `refused`), so that a later edit builds on it.
def set_param(
    spec: PipelineSpec, index: int, name: str, value: Any, check: bool = True
) -> PipelineSpec:
    step = spec.steps[index]
    value = coerce(step.definition.param(name), value)
    return _replace_step(spec, index, check, params={**step.params, name: value})


def set_enabled(spec: PipelineSpec, index: int, enabled: Any, check: bool = True) -> PipelineSpec:
    return _replace_step(spec, index, check, enabled=bool(enabled))


def set_probability(spec: PipelineSpec, index: int, p: Any, check: bool = True) -> PipelineSpec:
    return _replace_step(spec, index, check, p=1.0 if p is None else p)


def changed_step(before: PipelineSpec, after: PipelineSpec) -> int | None:
    """The first step an edit changed (None: the steps both pipelines have are all the same)."""
    pairs = zip(before.steps, after.steps, strict=False)
    return next((i for i, (a, b) in enumerate(pairs) if a != b), None)


def refused_step(err: SpecError) -> int | None:
    """The index of the step a refusal names ("step 2 (RandomResizedCrop), ..." -> 1)."""
    match = re.match(r"^step (\d+)\b", str(err))
    return int(match.group(1)) - 1 if match else None


def refused_summary(err: SpecError, spec: PipelineSpec) -> str:
    """The line above the grid while the editor holds a refused value: which step, and that
    nothing uses the boxes' values until it is fixed."""
    index = refused_step(err)
    where = "A step"
    if index is not None and index < len(spec.steps):
        where = f"Step {index + 1} ({spec.steps[index].definition.label})"
    return (
        f"⚠️ {where} has a refused value (see the note under its title). Until it is fixed, the "
        "grid, the Export tab and the Train tab use the last valid pipeline, not the boxes."
    )


def add_step(spec: PipelineSpec, transform: str) -> PipelineSpec:
    """`transform` with its defaults, after the per-image steps (mixing steps stay last)."""
    if not transform:
        raise SpecError('choose a step in "Add a step" first, then press Add')
    if transform not in BY_NAME:
        raise SpecError(f"there is no step called {transform!r} to add")
    if len(spec.steps) >= MAX_STEPS:
        raise SpecError(f"a pipeline holds at most {MAX_STEPS} steps")
    tdef = BY_NAME[transform]
    steps = list(spec.steps)
    at = len(steps)
    if not tdef.batch:
        while at > 0 and steps[at - 1].definition.batch:
            at -= 1
    steps.insert(at, StepSpec(transform, tdef.defaults()))
    return validate(PipelineSpec(tuple(steps)))


def remove_step(spec: PipelineSpec, index: int) -> PipelineSpec:
    steps = list(spec.steps)
    del steps[index]
    return validate(PipelineSpec(tuple(steps)))


def move_step(spec: PipelineSpec, index: int, delta: int) -> PipelineSpec:
    """Move a step up (-1) or down (+1); at either end it stays. A mixing step never goes above
    a per-image step (nor one below it): mixing runs on the batch, after them all."""
    target = index + delta
    if not 0 <= target < len(spec.steps):
        return spec
    moved, other = spec.steps[index].definition, spec.steps[target].definition
    if moved.batch != other.batch:
        mixing = moved if moved.batch else other
        raise SpecError(
            f"{mixing.name} mixes the whole batch after every per-image step, so mixing steps "
            "stay at the end of the list, where they run"
        )
    steps = list(spec.steps)
    steps[index], steps[target] = steps[target], steps[index]
    return validate(PipelineSpec(tuple(steps)))


def mixing_last(spec: PipelineSpec) -> PipelineSpec:
    """The same pipeline listed as it runs: per-image steps in their order, then the mixing
    steps in theirs (a file may list CutMix earlier; it runs last all the same)."""
    steps = sorted(spec.steps, key=lambda s: s.definition.batch)  # stable: order kept within
    return PipelineSpec(tuple(steps))


def duplicate_step(spec: PipelineSpec, index: int) -> PipelineSpec:
    if len(spec.steps) >= MAX_STEPS:
        raise SpecError(f"a pipeline holds at most {MAX_STEPS} steps")
    steps = list(spec.steps)
    steps.insert(index + 1, steps[index])
    return validate(PipelineSpec(tuple(steps)))


def refused_note(draft: PipelineSpec | None) -> str:
    """ "" while the Augment tab's boxes show the pipeline in use (no draft, see on_edit); else
    why they do not, for the tabs that use the pipeline to say so."""
    if draft is None:
        return ""
    try:
        validate(draft)
    except SpecError as err:
        return refused_summary(err, draft)
    return ""
