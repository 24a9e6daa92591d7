"""spec -> torchvision.transforms.v2: the only place that instantiates transforms.

Each step becomes a *recipe* first: the torchvision classes it runs, in order, with their
keyword arguments, and the step's own probability. `build_step` instantiates a recipe and
`pipelines.export` writes the same recipe as source, so the exported code builds what the app
builds by construction (and a test over every catalogue entry checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torchvision.transforms import v2

from pipelines.spec import PipelineSpec, StepSpec


@dataclass(frozen=True)
class Recipe:
    """One step as torchvision calls: `parts` run in order, all of them with chance `p`."""

    parts: tuple[tuple[str, dict[str, Any]], ...]  # (v2 class name, keyword arguments)
    p: float | None  # v2.RandomApply's probability, None when the step always runs


def recipe(step: StepSpec) -> Recipe:
    tdef = step.definition
    parts = [("ToImage", {})] if tdef.needs_tensor else []  # no PIL kernel: make a tensor first
    parts.append((step.transform, tdef.to_kwargs(step.params)))
    return Recipe(tuple(parts), None if step.p >= 1.0 else step.p)


def build_parts(step: StepSpec) -> tuple[list[v2.Transform], float | None]:
    """The step's transforms (the catalogue transform last) and its RandomApply probability."""
    r = recipe(step)
    return [getattr(v2, name)(**kwargs) for name, kwargs in r.parts], r.p


def build_step(step: StepSpec) -> v2.Transform:
    parts, p = build_parts(step)
    if p is not None:
        return v2.RandomApply(parts, p=p)
    return parts[0] if len(parts) == 1 else v2.Compose(parts)


def build(spec: PipelineSpec) -> v2.Compose:
    """The active per-image steps as one v2.Compose; with none, Compose([Identity()])
    (torchvision refuses an empty Compose)."""
    return v2.Compose([build_step(s) for s in spec.image_steps] or [v2.Identity()])


def build_batch(spec: PipelineSpec) -> v2.Compose | None:
    """The active mixing steps (CutMix, MixUp) for `images, labels = batch_transform(images,
    labels)` on a batch of float images; None when the pipeline has none."""
    steps = spec.batch_steps
    return v2.Compose([build_step(s) for s in steps]) if steps else None
