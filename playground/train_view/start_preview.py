"""What a Start will train on, before it starts: the pipeline as code and its heading, the first
batch as the run sees it, the time estimate, and what a trained model learnt from."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pipelines.export import transform_source
from pipelines.spec import PipelineSpec
from playground import estimate
from playground.jobs import JobError, Settings
from playground.train_view.labels import _step_words, fmt_time
from playground.training import settings as run_settings

# the training resolution (CIFAR-10's); size-setting steps are fitted to it
TRAIN_SIZE = run_settings.DEFAULT_IMAGE_SIZE


def pipeline_code(spec: PipelineSpec) -> str:
    """What the run will apply, as code: the Augment tab's pipeline at the training size."""
    fitted = spec.with_output_size(TRAIN_SIZE)
    note = ""
    if spec.output_size() not in (None, TRAIN_SIZE):
        note = f"# output size {spec.output_size()} -> {TRAIN_SIZE}, the training resolution\n"
    return note + transform_source(fitted)


def pipeline_heading(spec: PipelineSpec, refused: str = "") -> str:
    """The line above the read-only pipeline: its steps in order (with step probabilities and
    the training size) and a short fingerprint of what will be applied, so that any change to
    the pipeline, however small, changes this line where it is seen. `refused`: the Augment
    tab's word on a refused value it holds (then nothing can start until it is fixed)."""
    fitted = spec.with_output_size(TRAIN_SIZE)
    steps = [_step_words(s.transform, s.params, s.p) for s in spec.active]
    order = " → ".join(steps) if steps else "no augmentation (every step is off)"
    digest = hashlib.sha256(fitted.to_json().encode()).hexdigest()[:8]
    line = f"**Will train on:** {order} · pipeline `{digest}`"
    return f"{line}\n\n{refused} Start waits until it is fixed." if refused else line


def first_batch(cfg: dict[str, Any], count: int = 32) -> list[tuple[Any, str]]:
    """The first `count` training images as the run will see them, each with its class: drawn
    on the CPU here (the page never takes GPU memory; on a GPU run the draws differ but follow
    the same law), as playground.training.preview draws them."""
    import torch

    from pipelines.spec import from_dict
    from playground.training import data
    from playground.training.augment import TrainBatches
    from playground.training.preview import to_pil

    cfg = {**cfg, "device": "cpu"}
    try:
        dataset = data.load(cfg)
    except data.DataError as err:  # a corrupt image among good ones, say: as Start says it
        raise JobError(str(err)) from None
    world = cfg.get("world_size", 1)
    batches = TrainBatches(
        dataset, from_dict(cfg["train_pipeline"]), batch=cfg["batch_size"],
        seed=cfg["seed"], device=torch.device("cpu"), world=world, workers=0,
        log=lambda message: None,
    )  # fmt: skip
    shown: list[tuple[Any, str]] = []
    for images, targets, _ in batches.training(0):  # a small batch (a folder's) holds fewer
        shown += [
            (to_pil(image), target_caption(target, dataset.classes))
            for image, target in zip(images, targets, strict=True)
        ][: count - len(shown)]
        if len(shown) >= count:
            break
    return shown


def target_caption(target: Any, classes: list[str]) -> str:
    """What the loss is told an image is: its class, or after CutMix/MixUp the classes of the
    mixed soft target with their weights ("cat 0.62 + dog 0.38")."""
    if target.ndim == 0:
        return classes[int(target)]
    weights = [(float(w), classes[i]) for i, w in enumerate(target.tolist()) if w > 0.005]
    weights.sort(reverse=True)
    if len(weights) == 1:
        return weights[0][1]
    return " + ".join(f"{name} {w:.2f}" for w, name in weights[:3])


def trained_on(config: dict[str, Any]) -> str:
    """Which data a model learnt from, and what that means for a photo: a model trained on the
    synthetic shapes knows only those ten classes, so it calls a cat "dots" or "checker"."""
    dataset = str(config.get("dataset") or "?")
    classes = config.get("classes") or []
    size = config.get("train_size")
    images = f" ({size:,} images)" if isinstance(size, int) else ""
    if dataset == "synthetic":
        return (
            f"Trained on the synthetic set{images}: generated shapes and textures in ten classes "
            f"({', '.join(classes)}). It knows nothing else, so a photo of a cat comes out as "
            'one of those, "dots" say: that is expected, not a fault.'
        )
    if dataset.startswith("folder:"):
        return (
            f"Trained on a folder data set{images} of {len(classes)} classes: {', '.join(classes)}."
        )
    if dataset == "cifar10":
        return (
            f"Trained on CIFAR-10{images}: 32 x 32 photos of ten classes "
            f"({', '.join(classes)}); other subjects come out as the nearest of those."
        )
    return f"Trained on {dataset}{images}."


def describe_estimate(
    settings: Settings, cfg: dict[str, Any], pipeline: Path, baseline: bool = False
) -> tuple[str, bool]:
    """(the estimate as text, whether it is one): a "No time estimate: ..." answer is not, and
    is not worth keeping; the next preview may well have one. With the baseline, two runs share
    the device, so the time is that of both."""
    try:
        epoch_s, how = estimate.estimate_epoch(settings, pipeline, cfg)
    except JobError as err:
        return f"No time estimate: {err}.", False
    runs_together = 2 if baseline else 1
    total = epoch_s * settings.epochs * runs_together
    both = " for the run and its baseline, which share the device" if baseline else ""
    text = (
        f"**Estimate:** about {fmt_time(epoch_s * runs_together)} per epoch and "
        f"{fmt_time(total)} for {settings.epochs} epochs{both} on {cfg.get('device', '?')} "
        f"({cfg['train_size']:,} training images; {how})."
    )
    if cfg.get("device") == "cpu" and total > 3600:
        text += " ⚠️ That is long: **Quick CPU run** finishes in a few minutes."
    return text, True
