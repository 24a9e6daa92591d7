"""A quick CPU fine-tune of mobilenet_v3_small on 1,000 images at 224 px, timed, against what
the Train tab's estimate (playground.estimate, the named baseline) says for the same settings,
in the same run.

The images: real CIFAR-10 training images (../shared/data/cifar10-train-subset.npz, for
measurements only) scaled up to `--side` x 3/4 `--side` and saved as JPEG (quality 90), files
of the size and kind a user uploads; `--train` per run in train/ and a quarter of that in test/
(equal classes), zipped and kept as an uploaded data set (`dataset_upload.upload`, the page's
path). The weights: a state dict saved from a randomly initialised torchvision
mobilenet_v3_small (ImageNet weights cannot be downloaded here; the time does not depend on the
values, and no accuracy of this run means anything). Otherwise the training command's
defaults: the Augment tab's default pipeline (flip, RandomResizedCrop, ColorJitter), the
weights' 224 px crop (store: shorter side 256), the fitted batch and rate, fine-tune all.

    PYTHONPATH=. nice -n 10 python bench/finetune_cpu.py --data ../shared/data/cifar10-train-subset.npz

The estimate: the one the Train tab's Preview & estimate shows (`describe_estimate`: the
training command's `--check`, then 5 steps of a throw-away synthetic run with these settings
timed on this CPU); the run: `python -m playground.train` with these settings, its wall time,
its CPU time (user + system, all threads), the decoding and the trainer's own elapsed time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.spec import default_spec  # noqa: E402
from playground import estimate, jobs, runs, train_view  # noqa: E402
from playground.training import datasets  # noqa: E402

MODEL = "mobilenet_v3_small"


def write_zip(path: Path, npz: str, train: int, side: int) -> None:
    """train/<class>/ with `train` images, test/<class>/ with a quarter of that, equal classes."""
    arrays = np.load(npz, allow_pickle=False)
    x, y, classes = arrays["x"], arrays["y"], [str(c) for c in arrays["classes"]]
    per_class = {"train": train // len(classes), "test": train // 4 // len(classes)}
    size = (side, side * 3 // 4)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for k, name in enumerate(classes):
            mine = np.flatnonzero(y == k)
            picks = {"train": mine[: per_class["train"]]}
            picks["test"] = mine[per_class["train"] : per_class["train"] + per_class["test"]]
            for split, indices in picks.items():
                for i in indices:
                    image = Image.fromarray(x[i].transpose(1, 2, 0))
                    buffer = io.BytesIO()
                    image.resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
                    zf.writestr(f"{split}/{name}/{i}.jpg", buffer.getvalue())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/cifar10-train-subset.npz")
    p.add_argument("--train", type=int, default=1000)
    p.add_argument("--side", type=int, default=400)
    p.add_argument("--epochs", type=int, default=1)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        tmp = Path(tmp)
        os.environ[runs.ROOT_ENV] = str(tmp / "checkpoints")
        upload = tmp / "photos.zip"
        write_zip(upload, args.data, args.train, args.side)
        message, name = jobs_upload(upload)
        print(f"upload ({upload.stat().st_size / 2**20:.1f} MB): {message}")
        torch.manual_seed(0)
        weights = tmp / f"{MODEL}-random.pt"
        torch.save(torchvision.models.get_model(MODEL).state_dict(), weights)
        pipeline = tmp / "pipeline.json"
        pipeline.write_text(default_spec().to_json())
        settings = jobs.Settings(
            dataset=f"upload:{name}", model=MODEL, weights=str(weights), epochs=args.epochs,
            device="cpu",
        )  # fmt: skip

        # the baseline: what the Train tab's Preview & estimate says for these settings
        started = time.perf_counter()
        cfg = jobs.check(settings, pipeline)
        text, _ = train_view.describe_estimate(settings, cfg, pipeline)
        epoch_s, _ = estimate.estimate_epoch(settings, pipeline, cfg, tmp / "checkpoints")
        estimate_wall = time.perf_counter() - started
        predicted = epoch_s * args.epochs
        print(f"estimate ({estimate_wall:.0f} s to make): {text}")

        # the run, as the Train tab starts it (the same flags), timed from outside
        out = tmp / "run"
        cmd = jobs.train_command("--pipeline", str(pipeline), *jobs.flags(settings))
        cmd += ["--out", str(out)]
        print("$", " ".join(cmd))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=os.environ.copy())
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        config = json.loads((out / "config.json").read_text())
        status = json.loads((out / "status.json").read_text())
        log = (out / "train.log").read_text()
        manifest = datasets.read_manifest(datasets.default_root(), name)
        store = manifest["stores"].get("store-256-224", {})
        rate = estimate.run_images_per_s(runs.read_run(out))
        print(log, end="")
        found = re.search(r"finished: .*, (\d+) s", log)
        result = {
            "train_images": config["train_size"],
            "test_images": config["test_size"],
            "image_size": config["image_size"],
            "batch_size": config["batch_size"],
            "steps": config["total_steps"],
            "estimate_s": round(predicted, 1),
            "run_wall_s": round(wall, 1),
            "run_cpu_s": round(cpu, 1),
            "trainer_elapsed_s": status.get("elapsed_s"),
            "trainer_finished_line_s": int(found.group(1)) if found else None,
            "decode_s": store.get("decode_seconds"),
            "median_images_per_s": rate,
            "elapsed_over_estimate": round(status["elapsed_s"] / predicted, 2),
            "wall_over_estimate": round(wall / predicted, 2),
        }
        print(json.dumps(result, indent=1))


def jobs_upload(path: Path) -> tuple[str, str]:
    from playground import dataset_upload

    message, name = dataset_upload.upload(path)
    if name is None:
        raise SystemExit(message)
    return message, name


if __name__ == "__main__":
    main()
