"""The UI's flat list of control values <-> PipelineSpec, derived from the catalogue.

For every catalogue transform the Augment tab shows one on/off switch followed by one control
per parameter, in catalogue order. `FIELDS` lists them; the callbacks receive their values in
that order and turn them into a validated spec here, so the UI code never names a transform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from pipelines.catalogue import CATALOGUE, Param, TransformDef
from pipelines.spec import PipelineSpec, StepSpec, validate


@dataclass(frozen=True)
class Field:
    transform: TransformDef
    param: Param | None  # None: the transform's on/off switch

    @property
    def elem_id(self) -> str:
        if self.param is None:
            return f"{self.transform.key}-enabled"
        return self.transform.elem_id(self.param.name)


FIELDS: tuple[Field, ...] = tuple(
    f for t in CATALOGUE for f in (Field(t, None), *(Field(t, p) for p in t.params))
)


def _coerce(param: Param, value: Any) -> Any:
    """Gradio hands numbers back as floats (or None for an emptied box); the spec wants types."""
    if value is None:
        return param.default
    if param.kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def spec_from_values(values: Sequence[Any], base: PipelineSpec | None = None) -> PipelineSpec:
    """A validated spec from the controls' values; raises SpecError with a readable message.

    With `base` (a loaded pipeline), its step order is kept and only the first step of each
    transform is edited; transforms it lacks are appended, in catalogue order.
    """
    if len(values) != len(FIELDS):
        raise ValueError(f"expected {len(FIELDS)} control values, got {len(values)}")
    enabled: dict[str, bool] = {}
    params: dict[str, dict[str, Any]] = {t.name: {} for t in CATALOGUE}
    for field, value in zip(FIELDS, values, strict=True):
        if field.param is None:
            enabled[field.transform.name] = bool(value)
        else:
            params[field.transform.name][field.param.name] = _coerce(field.param, value)
    steps = list(base.steps) if base is not None else []
    edited: set[str] = set()
    for i, step in enumerate(steps):
        if step.transform not in edited:
            edited.add(step.transform)
            steps[i] = replace(step, params=params[step.transform], enabled=enabled[step.transform])
    for t in CATALOGUE:
        if t.name not in edited:
            steps.append(StepSpec(t.name, params[t.name], enabled[t.name]))
    return validate(PipelineSpec(tuple(steps)))


def values_from_spec(spec: PipelineSpec) -> list[Any]:
    """The controls' values showing `spec` (its first step of each transform; absent ones off)."""
    first: dict[str, StepSpec] = {}
    for step in spec.steps:
        first.setdefault(step.transform, step)
    values: list[Any] = []
    for field in FIELDS:
        step = first.get(field.transform.name)
        if field.param is None:
            values.append(step.enabled if step else False)
        else:
            values.append(step.params[field.param.name] if step else field.param.default)
    return values
