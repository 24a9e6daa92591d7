"""bench/sweep_real.py's `gpu24` candidates (the issue's "24 candidates on one GPU"), checked
without a GPU: 24 distinct pipelines the sweep accepts, every one on the batched path (a
per-image fallback would make the GPU measurement one of DataLoader workers)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import sweep_real  # noqa: E402

from pipelines.batched import unsupported  # noqa: E402
from pipelines.spec import load  # noqa: E402
from playground.training.sweep.candidates import make_candidates  # noqa: E402


def test_gpu24_candidates_are_24_distinct_batched_pipelines(tmp_path):
    files = [
        sweep_real._pipeline_file(tmp_path, name, sweep_real.FLIP_CROP + steps)
        for name, steps in sweep_real.GPU24_EXTRA.items()
    ]
    sources = [*sweep_real.GPU24_PRESETS, *files]
    assert len(sources) == 24
    specs = [load(s) for s in sources]
    assert len({s.to_json() for s in specs}) == 24  # no candidate entered twice
    fallbacks = {Path(s).stem: unsupported(spec) for s, spec in zip(sources, specs, strict=True)}
    assert {name: steps for name, steps in fallbacks.items() if steps} == {}
    candidates = make_candidates(sources, [], None)
    assert len(candidates) == 25 and candidates[0].spec is None  # no augmentation, always in
