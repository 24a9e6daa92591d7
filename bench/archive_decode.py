"""Decoding an uploaded .zip into the uint8 store, against today's folder loader on the same
images (the named baseline, in the same run).

Real photos are larger than CIFAR-10's 32 x 32, so the images are CIFAR-10 training images
(../shared/data/cifar10-train-subset.npz, for measurements only) scaled up to `--side` x 3/4
`--side` and saved as JPEG (quality 90): files of the size and kind a user uploads, whose
content does not matter to the cost. Both paths decode every image once and resize it:

  store     playground.training.datasets.import_archive: the zip's checks, pipelines.images'
            safe loader (EXIF, modes, limits), shorter side to --resize, centre crop --crop,
            written as .npy (with the manifest, the kept source.zip and the split);
  baseline  playground.training.data.load(folder:PATH): the same files unpacked as
            train/<class>/ and test/<class>/, squashed to --crop x --crop (Pillow bilinear).

    PYTHONPATH=. python bench/archive_decode.py --images 1000
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from playground.training import data, datasets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/cifar10-train-subset.npz")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--side", type=int, default=400)
    p.add_argument("--resize", type=int, default=256)
    p.add_argument("--crop", type=int, default=224)
    args = p.parse_args()
    arrays = np.load(args.data, allow_pickle=False)
    x, y, classes = arrays["x"][: args.images], arrays["y"][: args.images], arrays["classes"]
    size = (args.side, args.side * 3 // 4)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        files = {}
        for i, (image, label) in enumerate(zip(x, y, strict=True)):
            buffer = io.BytesIO()
            big = Image.fromarray(image.transpose(1, 2, 0)).resize(size, Image.Resampling.BICUBIC)
            big.save(buffer, "JPEG", quality=90)
            split = "test" if i % 5 == 0 else "train"
            files[f"{split}/{classes[label]}/{i:05d}.jpg"] = buffer.getvalue()
        with zipfile.ZipFile(tmp / "photos.zip", "w") as zf:
            for name, blob in files.items():
                zf.writestr(name, blob)
                (tmp / "folder" / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / "folder" / name).write_bytes(blob)
        mb = sum(map(len, files.values())) / 1e6
        print(f"{len(files)} JPEGs {size[0]}x{size[1]}, {mb:.1f} MB "
              f"(made in {time.perf_counter() - started:.1f} s)")  # fmt: skip
        started = time.perf_counter()
        cfg = {"dataset": f"folder:{tmp / 'folder'}", "image_size": args.crop, "subset": None}
        data.load(cfg | {"data_dir": "", "synthetic_size": 0})
        base = time.perf_counter() - started
        started = time.perf_counter()
        manifest = datasets.import_archive(
            tmp / "photos.zip", tmp / "datasets", "photos", args.resize, args.crop
        )
        total = time.perf_counter() - started
        store = manifest["stores"][f"store-{args.resize}-{args.crop}"]
        n = len(files)
        print(
            f"baseline folder loader at {args.crop}x{args.crop}: {base:.2f} s, {n / base:,.0f} images/s"
        )
        print(
            f"store at {args.resize}/{args.crop}: {total:.2f} s in all, decoding "
            f"{store['decode_seconds']:.2f} s, {n / total:,.0f} images/s "
            f"({total / base:.2f}x the baseline's time)"
        )


if __name__ == "__main__":
    main()
