"""bench/peers.py runs: ours and torchvision per image always, kornia's arms only where kornia
is installed (an optional install for the benchmark: bench/requirements-bench.txt)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from peers import PIPELINES, main  # noqa: E402

HAVE_KORNIA = importlib.util.find_spec("kornia") is not None


def test_peer_benchmark_smoke():
    results = main(
        [
            "--batch",
            "8",
            "--random",
            "--rounds",
            "2",
            "--seconds",
            "0",
            "--threads",
            "1",
            "--clock",
            "cpu",
        ]
    )
    assert set(results["pipelines"]) == set(PIPELINES)
    for name, result in results["pipelines"].items():
        rates = result["img_per_s"]
        assert rates["ours"] > 0 and rates["torchvision per image"] > 0
        kornia_arm = PIPELINES[name][2]
        assert (kornia_arm in rates) == HAVE_KORNIA
        assert len(result["ratios"]) == (2 if HAVE_KORNIA else 1)
        assert all(low <= mid <= high for low, mid, high in result["ratios"].values())


def test_peer_benchmark_profile_smoke():
    profile = main(["--batch", "8", "--random", "--rounds", "1", "--profile"])["profile_ms"]
    assert list(profile) == [
        "draw",
        "uint8 -> float",
        "RandomHorizontalFlip",
        "RandomResizedCrop",
        "ColorJitter",
    ]
    assert all(ms > 0 for ms in profile.values())
