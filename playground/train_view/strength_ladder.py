"""The Sweep panel's strength-ladder pickers, computed without Gradio: which steps of the
current pipeline can be laddered, which of a step's parameters, a ladder of values prefilled
for one, and the "STEP.PARAM=v1,v2,..." text they make. That text is what the command line's
--ladder takes: the sweep parses and validates it once (playground.training.sweep.candidates
`ladder`), whichever way it was entered."""

from __future__ import annotations

import math
from typing import Any

from pipelines.catalogue import BY_NAME, Param
from pipelines.spec import CLASSES_PARAM, PipelineSpec, SpecError
from playground.controls import step_views

NO_LADDER = ""  # the Step picker's value for "no ladder"
NO_LADDER_LABEL = "no ladder"
RUNGS = 4  # values spread over a range in thirds


def laddered(param: Param) -> bool:
    """A parameter a ladder can vary: a number the pipeline sets (not the output side, which
    training replaces by its own resolution, nor a mixing step's number of classes, which it
    sets from the data set), with a range to spread values over."""
    return (
        param.kind in ("int", "float")
        and not param.is_size
        and param.name != CLASSES_PARAM
        and param.low is not None
        and param.high is not None
        and param.low < param.high
    )


def _steps(spec: PipelineSpec) -> list[tuple[str, str, str]]:
    """(ladder name, transform, editor title) of each active step: "ColorJitter" for the first
    active one of its transform, "ColorJitter#1" for the second (as the ladder names them)."""
    seen: dict[str, int] = {}
    out = []
    for view in step_views(spec):
        if not view.step.enabled:
            continue
        name = view.step.transform
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append((name if n == 0 else f"{name}#{n}", name, view.title))
    return out


def step_choices(spec: PipelineSpec) -> list[tuple[str, str]]:
    """The Step picker's (label, value) choices: no ladder, then each active step with a
    parameter to ladder, labelled as the Augment tab's editor titles it."""
    return [(NO_LADDER_LABEL, NO_LADDER)] + [
        (title, step)
        for step, name, title in _steps(spec)
        if any(laddered(p) for p in BY_NAME[name].params)
    ]


def picked_step(spec: PipelineSpec, step: Any) -> str:
    """`step` if the pipeline still has it, else no ladder (the step was removed or switched
    off in the Augment tab)."""
    return step if step in {value for _, value in step_choices(spec)} else NO_LADDER


def _transform(spec: PipelineSpec, step: Any) -> str | None:
    return next((name for s, name, _ in _steps(spec) if s == step), None)


def param_choices(spec: PipelineSpec, step: Any) -> list[tuple[str, str]]:
    """The Parameter picker's (label, name) choices for a step: its numeric parameters, as the
    catalogue declares and labels them; none for no ladder or a step the pipeline lacks."""
    name = _transform(spec, step)
    if name is None:
        return []
    return [(f"{p.label} · {p.name}", p.name) for p in BY_NAME[name].params if laddered(p)]


def _on_step(value: float, param: Param) -> float | int:
    """`value` in the slider's range, on the parameter's step (odd where it must be)."""
    low, high = param.slider_range
    value = min(max(value, low), high)
    if param.step:
        value = low + round((value - low) / param.step) * param.step
    if param.kind == "int":
        value = int(math.floor(value + 0.5))
        if param.odd and value % 2 == 0:
            value += 1 if value + 1 <= high else -1
        return value
    decimals = max(0, -math.floor(math.log10(param.step))) if param.step else 6
    return round(value, decimals)


def _text(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def ladder_values(spec: PipelineSpec, step: Any, param: Any) -> str:
    """A ladder prefilled for `param` of `step`, weakest first: the slider range's low end,
    half the current value, the current value and double it (ColorJitter's brightness 0.5
    gives 0,0.25,0.5,1; RandAugment's magnitude 9 gives 0,4,9,18), each within the range and
    on the parameter's step; a current value at an end of the range, or a range below zero,
    gives the range in thirds and the current value. Values the pipeline would refuse (a
    minimum above its maximum) are left out. Empty when the step or parameter is not one to
    ladder."""
    name = _transform(spec, step)
    declared = next(
        (p for p in (BY_NAME[name].params if name else ()) if p.name == param and laddered(p)),
        None,
    )
    if declared is None:
        return ""
    key = step if "#" in step else f"{step}#0"
    current = dict(zip(spec.step_keys(), spec.active, strict=True))[key].params[param]
    low, high = declared.slider_range
    if 0 <= low < current < high:
        spread = [low, current / 2, current * 2]
    else:  # at an end of the range, or a signed parameter (a mean): the range in thirds
        spread = [low + (high - low) * k / (RUNGS - 1) for k in range(RUNGS)]
    values: list[float | int] = []
    for value in [current, *(_on_step(v, declared) for v in spread)]:
        if value in values:
            continue
        try:
            spec.with_key_params(key, **{param: value})
        except SpecError:
            continue
        values.append(value)
    return ",".join(_text(v) for v in sorted(values))


def ladder_text(step: Any, param: Any, values: Any) -> str:
    """The pickers as the --ladder text, "STEP.PARAM=v1,v2,..."; empty for no ladder."""
    step = str(step or "").strip()
    if not step:
        return ""
    return f"{step}.{str(param or '').strip()}={str(values or '').strip()}"
