"""The Train tab's Predict: an uploaded image (or the Augment tab's) through the watched run's
best.pt and its own test-time preprocessing, top-5 classes."""

from __future__ import annotations

from typing import Any

from playground import predictor, runs, train_view
from playground.images import ImageLoadError, load_image


def on_predict(watched: str | None, image_path: str | None) -> tuple[Any, Any, str]:
    """(top-5 classes, the image as loaded, note) through the run's own test-time
    preprocessing. The upload is a plain file decoded by the app's safe loader (size and
    pixel limits, EXIF, odd modes), never by Gradio's image component."""
    if not image_path:
        return None, None, "⚠️ Upload an image, or use the Augment tab's image."
    try:
        image = load_image(image_path)
    except ImageLoadError as err:
        return None, None, f"⚠️ {err}"
    run = runs.find_run(watched) if watched else None
    if run is None:
        return None, image, "⚠️ Select a run in the Runs list first."
    if not (run.path / "best.pt").exists():
        return None, image, f"⚠️ {run.name} has no best.pt yet (it is {run.state})."
    try:
        top = predictor.predict_top5(run.path, image)
    except Exception as err:  # a checkpoint that does not load must not take the page down
        return None, image, f"⚠️ Could not predict with {run.name}: {err}"
    note = "" if run.state == "finished" else f" ({run.name} is {run.state}; its best.pt so far)"
    data = train_view.trained_on(run.config)
    return {name: float(p) for name, p in top}, image, f"Top-5 from {run.name}{note}. {data}"


def use_augment_image(image: Any) -> Any:
    """The Augment tab's current image, as a file the Predict box can show and send."""
    return predictor.image_file(image)
