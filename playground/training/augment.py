"""Training batches for one rank: ordered from (seed, epoch), augmented, normalised, on the device.

Everything random here is a function of (seed, rank, epoch, step): the data order of an epoch,
and the augmentation draws of each batch. A run resumed at any step therefore sees exactly the
batches the uninterrupted run would have seen, and under DDP every rank draws differently.

Two paths, chosen per pipeline:
- batched: the whole training set sits on the device as one uint8 tensor and each batch goes
  through `pipelines.batched` there, a different draw per image;
- fallback: a pipeline with a transform that has no batched kernel runs per image through
  torchvision in DataLoader workers (and says so in the log).

Mixing steps (CutMix, MixUp) then act on each whole batch on the device, as the exported
`batch_transform` does: `training` yields the mixed images, their soft targets (N, classes) for
the loss, and the true labels for accuracy.
"""

from __future__ import annotations

import hashlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader
from torchvision.transforms.v2.functional import resize

from pipelines.batched import BatchedPipeline, fallback
from pipelines.build import build, build_batch
from pipelines.spec import PipelineSpec
from playground.training.data import Dataset

Batch = tuple[torch.Tensor, torch.Tensor]
MIX_STREAM = 1  # the last part of a mixing step's seed: apart from every image's own seed


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (stable across runs, processes and Python versions)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def epoch_order(n: int, seed: int, epoch: int, steps: int, batch: int) -> torch.Tensor:
    """(steps, batch) indices: global step s takes the s-th row (`batch` is the global batch;
    rank r takes its part of each row, `rank_part`)."""
    gen = torch.Generator().manual_seed(mix_seed(seed, epoch))
    order = torch.randperm(n, generator=gen)[: steps * batch]
    return order.view(steps, batch)


def rank_part(batch: int, world: int, rank: int) -> slice:
    """Rank `rank`'s columns of a global batch split over `world` processes as evenly as whole
    images allow (recipes.split): batch // world or one more."""
    return slice(rank * batch // world, (rank + 1) * batch // world)


class _PerImage(torch.utils.data.Dataset):
    """Items are (index, seed): each image is augmented under its own seed, so the result does
    not depend on how many workers there are or which one runs it.

    A step can change an image's size (Pad, RandomZoomOut, RandomResize, RandomRotation with
    expand): such an output is resized back to the training size, so that a batch stacks."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable) -> None:
        self.images, self.labels, self.transform = images, labels, transform
        self.size = list(images.shape[-2:])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]) -> Batch:
        index, seed = item
        rng = torch.default_generator
        saved = rng.get_state()  # with workers=0 this runs in the training process
        rng.manual_seed(seed)
        try:
            out = self.transform(self.images[index])
        finally:
            rng.set_state(saved)
        if list(out.shape[-2:]) != self.size:
            out = resize(out, self.size, antialias=True)
        return out, self.labels[index]


def _quiet_worker(_: int) -> None:
    # Ctrl-C reaches the whole process group; the training process handles it, workers must not
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class TrainBatches:
    def __init__(
        self,
        data: Dataset,
        spec: PipelineSpec,
        *,
        batch: int,
        seed: int,
        device: torch.device,
        aug_seed: int | None = None,
        rank: int = 0,
        world: int = 1,
        workers: int = 0,
        compile: bool = False,
        log: Callable[[str], Any] = print,
    ) -> None:
        # `batch` is the global batch; this rank takes its part of each (rank_part)
        self.batch, self.seed, self.device, self.rank, self.world = batch, seed, device, rank, world
        self.part = rank_part(batch, world, rank)
        self.local_batch = self.part.stop - self.part.start
        # the data order follows `seed`; the augmentation draws follow `aug_seed` (the same
        # unless given): two runs that differ only in it differ only in what the pipeline drew
        self.aug_seed = seed if aug_seed is None else aug_seed
        self.n = len(data.train_y)
        self.steps_per_epoch = self.n // batch
        missing = fallback(spec)
        self.batched = not missing
        self.workers = workers
        if self.batched:
            self.images = data.train_x.to(device)
            self.labels = data.train_y.to(device)
            self.pipeline = BatchedPipeline(spec, compile=compile, log=log)
            self.gen = torch.Generator(device=device)
        else:
            self.images, self.labels = data.train_x, data.train_y
            self.dataset = _PerImage(self.images, self.labels, build(spec))
            verb = "has" if len(missing) == 1 else "have"
            names = ", ".join(name for name, _ in missing)
            why = "; ".join(f"{name}: {reason}" for name, reason in missing)
            log(
                f"fallback: {names} {verb} no batched kernel ({why}); "
                f"using per-image torchvision in {workers} workers for the whole pipeline; "
                f"an image a step resized is resized back to {self.images.shape[-1]} px"
            )
        classes = len(data.classes)
        self.classes = classes
        self.mix = build_batch(spec.with_num_classes(classes))
        if self.mix is not None:
            names = " then ".join(s.transform for s in spec.batch_steps)
            log(
                f"mixing: {names} per batch of {self.local_batch}, soft targets over {classes} "
                "classes for the loss; training accuracy counts the true labels"
            )

    def order_digest(self, epoch: int = 0) -> str:
        """The data order of `epoch` (the global batches, every rank's part) as 16 hex digits of
        its sha256: two runs of the same seed, data and batch print the same, whatever their
        pipelines (the paired experiment's arms)."""
        order = epoch_order(self.n, self.seed, epoch, self.steps_per_epoch, self.batch)
        return hashlib.sha256(order.numpy().astype("<i8").tobytes()).hexdigest()[:16]

    def _order(self, epoch: int) -> torch.Tensor:
        order = epoch_order(self.n, self.seed, epoch, self.steps_per_epoch, self.batch)
        return order[:, self.part]

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Steps `start`.. of `epoch`: (images float [0, 1] NCHW, labels), on the device."""
        order = self._order(epoch)
        if self.batched:
            order = order.to(self.device)
            for step in range(start, self.steps_per_epoch):
                yield self._batched(order[step], epoch, step)
        else:
            yield from self._fallback(order, epoch, start)

    def training(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        """Steps `start`.. of `epoch` as the loop trains on them: (images, targets, labels).
        Without mixing steps the targets are the labels; with them, the images are mixed and
        the targets are soft (N, classes) float rows, while the labels stay the true ones."""
        for step, (x, y) in enumerate(self.epoch(epoch, start), start=start):
            x, target = self.mixed(x, y, epoch, step)
            yield x, target, y

    def mixed(self, x: torch.Tensor, y: torch.Tensor, epoch: int, step: int) -> Batch:
        """The batch through the mixing steps, drawn from (seed, rank, epoch, step) alone.

        Targets are always soft rows when the pipeline mixes (also when a step with p < 1 did
        not run), so that the loss sees one shape and dtype every step."""
        if self.mix is None:
            return x, y
        with torch.random.fork_rng(devices=[]):  # torchvision draws on the global CPU generator
            torch.manual_seed(mix_seed(self.aug_seed, self.rank, epoch, step, MIX_STREAM))
            x, target = self.mix(x, y)
        if target.ndim == 1:
            target = torch.nn.functional.one_hot(target, self.classes).float()
        return x, target

    def _batched(self, index: torch.Tensor, epoch: int, step: int) -> Batch:
        self.gen.manual_seed(mix_seed(self.aug_seed, self.rank, epoch, step))
        return self.pipeline(self.images[index], self.gen), self.labels[index]

    def _fallback(self, order: torch.Tensor, epoch: int, start: int) -> Iterator[Batch]:
        sampler = [
            [
                (int(i), mix_seed(self.aug_seed, self.rank, epoch, step, j))
                for j, i in enumerate(row)
            ]
            for step, row in enumerate(order.tolist())
        ][start:]
        loader = DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_quiet_worker if self.workers else None,
            prefetch_factor=4 if self.workers else None,
        )
        for x, y in loader:
            x = x.to(self.device, non_blocking=True)
            yield x.float().div_(255), y.to(self.device, non_blocking=True)
