"""BatchedPipeline(compile=True): the faster of its two ways, measured per device and batch
shape (torch.compile replaced by the identity: the choice, not the compiler, is under test)."""

from __future__ import annotations

import pytest
import torch

from pipelines.batched import BatchedPipeline
from pipelines.spec import make, preset

# ---- compile=True: the faster of two ways, measured per device and batch shape -------------


def _fake_compile(monkeypatch, times: dict[str, float]) -> list[str]:
    """torch.compile as the identity (the choice, not the compiler, is under test) and each
    way's measured time as given; returns the ways measured, in order."""
    from pipelines import batched
    from pipelines.batched import pipeline

    measured: list[str] = []

    def seconds(run, x, drawn):
        way = batched.ALL_OPS if run.__name__ == "_apply" else batched.GROUPED
        measured.append(way)
        return times[way]

    monkeypatch.setattr(torch, "compile", lambda f, **_: f)
    monkeypatch.setattr(pipeline, "_seconds", seconds)  # where BatchedPipeline looks it up
    return measured


@pytest.mark.parametrize("faster", ["compiled, all ops", "grouped, the rest compiled"])
def test_compile_keeps_the_faster_way_and_says_so(faster, monkeypatch):
    from pipelines.batched import ALL_OPS, GROUPED

    slower = GROUPED if faster == ALL_OPS else ALL_OPS
    measured = _fake_compile(monkeypatch, {faster: 0.001, slower: 0.002})
    lines: list[str] = []
    spec = make([("RandomCrop", {"size": 8, "padding": 2}), ("TrivialAugmentWide", {})])
    pipeline = BatchedPipeline(spec, compile=True, log=lines.append)
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    out = pipeline(images, torch.Generator().manual_seed(1))
    again = pipeline(images, torch.Generator().manual_seed(1))
    eager = BatchedPipeline(spec)(images, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out, eager, atol=1e-6, rtol=0)
    assert torch.equal(out, again)
    assert len(measured) == 2 * BatchedPipeline.TIMED_RUNS  # the first batch only
    assert lines == [
        f"batched augmentation on cpu: {faster} (1.0 ms a batch of 16 against 2.0 ms "
        f"{slower}, measured on the first batch)"
    ]
    assert pipeline.plan == lines[0].split(": ", 1)[1]
    pipeline(torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8), torch.Generator())
    assert len(lines) == 2  # another batch shape is measured again


def test_a_pipeline_without_grouped_kernels_compiles_whole(monkeypatch):
    measured = _fake_compile(monkeypatch, {})
    lines: list[str] = []
    pipeline = BatchedPipeline(preset("cifar-standard"), compile=True, log=lines.append)
    for _ in range(2):
        pipeline(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8), torch.Generator())
    assert measured == [] and lines == ["batched augmentation on cpu: compiled"]


def test_eager_plan_is_said_once():
    lines: list[str] = []
    pipeline = BatchedPipeline(make([("TrivialAugmentWide", {})]), log=lines.append)
    for _ in range(2):
        pipeline(torch.rand(4, 3, 8, 8), torch.Generator())
    assert lines == ["batched augmentation on cpu: eager, grouped"]
