"""Predict with a run's best.pt: the model loaded once per file version, the top-5 classes, and
an image kept as a file for the Predict box."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

_MODELS: dict[Path, tuple[float, Any, dict[str, Any]]] = {}


def predict_top5(run_dir: Path, image: Any) -> list[tuple[str, float]]:
    """The run's best.pt on the CPU (loaded once per file version), top-5 (class, probability)."""
    from playground.training.predict import load_model, predict

    mtime = (run_dir / "best.pt").stat().st_mtime
    cached = _MODELS.get(run_dir)
    if cached is None or cached[0] != mtime:
        model, config = load_model(run_dir, device="cpu")
        _MODELS.clear()  # one model in memory at a time
        _MODELS[run_dir] = cached = (mtime, model, config)
    return predict(cached[1], cached[2], image, topk=5)


def image_file(image: Any) -> str | None:
    """`image` (a PIL image) as a PNG file in a new temporary folder, for a file box to show and
    send."""
    if image is None:
        return None
    path = Path(tempfile.mkdtemp(prefix="predict-")) / "image.png"
    image.save(path)
    return str(path)
