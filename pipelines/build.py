"""spec -> torchvision.transforms.v2.Compose: the only place that instantiates transforms."""

from __future__ import annotations

from torchvision.transforms import v2

from pipelines.spec import PipelineSpec, StepSpec


def build_step(step: StepSpec) -> v2.Transform:
    cls = getattr(v2, step.transform)
    return cls(**step.definition.to_kwargs(step.params))


def build(spec: PipelineSpec) -> v2.Compose:
    """The active steps as one v2.Compose (an empty Compose is the identity)."""
    return v2.Compose([build_step(s) for s in spec.active])
