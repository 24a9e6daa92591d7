"""The training loop: one code path for CPU and GPU, fp32 and AMP, one process and DDP.

AMP is an autocast context that is disabled for fp32 and a GradScaler that is a no-op unless
the dtype is fp16 (timm's pattern), so there is a single loop. Running sums of loss and
accuracy stay on the device and are read (one sync) only at the log points, five per epoch.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from pipelines.spec import from_dict
from playground.training import dist, models, recipes
from playground.training.augment import TrainBatches
from playground.training.checkpoints import (
    atomic_write_bytes,
    load_checkpoint,
    write_checkpoint,
)
from playground.training.data import Dataset
from playground.training.metrics import MetricsLog, write_status
from playground.training.settings import by_name
from playground.training.stop import StopFlag

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
LOGS_PER_EPOCH = 5
# A logged interval whose mean training loss is this many times the first interval's (or is
# not finite) has diverged: the run stops rather than train on and report chance accuracy.
DIVERGED_FACTOR = 4.0
# Training images (un-augmented, as the test images are) that BatchNorm statistics are
# recomputed on before each evaluation; about 1,000 pin them down well (Wu & Johnson 2021).
BN_STATS_IMAGES = 1024
# Un-augmented training images the over-fitting gap's training accuracy is measured on.
GAP_IMAGES = 1024
LR_FLAG = by_name("lr").flag
FINAL_PREDICTIONS = "test-predictions.npz"  # with --validation: the test set, scored at the end


def eval_splits(n: int) -> tuple[slice, slice]:
    """(BatchNorm-statistics images, over-fitting-gap images): disjoint slices of the n training
    images. The gap is measured on images the statistics were not just recomputed on (those
    would flatter the training accuracy): the last min(1024, n/2) images, and the statistics
    on the first min(1024, the rest)."""
    gap = min(GAP_IMAGES, n // 2)
    return slice(0, min(BN_STATS_IMAGES, n - gap)), slice(n - gap, n)


def log_points(steps: int) -> set[int]:
    """The steps (1-based within an epoch) after which a train line is written."""
    return {max(1, round(k * steps / LOGS_PER_EPOCH)) for k in range(1, LOGS_PER_EPOCH + 1)}


class Run:
    def __init__(
        self,
        cfg: dict[str, Any],
        data: Dataset,
        run_dir: Path,
        ranks: dist.Ranks,
        device: torch.device,
        stop: StopFlag,
        log: Any = print,
        pid: int | None = None,
        resume: bool = False,
    ) -> None:
        self.resuming = resume  # the checkpoint gives the weights: no weights file is read
        self.cfg, self.run_dir, self.ranks, self.device = cfg, run_dir, ranks, device
        self.stop, self.log, self.pid = stop, log, pid or os.getpid()
        self.metrics = MetricsLog(run_dir / "metrics.jsonl")
        self.batches = TrainBatches(
            data,
            from_dict(cfg["train_pipeline"]),
            batch=cfg["batch_size"],
            seed=cfg["seed"],
            aug_seed=cfg.get("aug_seed"),
            device=device,
            rank=ranks.rank,
            world=ranks.world,
            workers=cfg["workers"],
            compile=cfg["compile"],
            log=log,
        )
        self.spe = self.batches.steps_per_epoch
        # this rank's part of the global batch (one image more or less than another rank's
        # when the batch does not divide by the processes). DDP averages the ranks' gradients
        # with equal weights, so a rank's mean loss is scaled by its share of the batch: the
        # step is then the mean over the global batch's images, as on one process.
        self.local_batch = self.batches.local_batch
        self.loss_share = self.local_batch * ranks.world / cfg["batch_size"]
        self.log_points = log_points(self.spe)
        self.total_steps = self.spe * cfg["epochs"]
        self.test_x, self.test_y = data.test_x.to(device), data.test_y.to(device)
        self.final_x, self.final_y = data.final_x, data.final_y  # --validation: the test set
        self.evaluated = "test" if self.final_x is None else "validation"
        bn, gap = eval_splits(len(data.train_y))
        self.bn_x = data.train_x[bn].to(device)
        self.gap_x, self.gap_y = data.train_x[gap].to(device), data.train_y[gap].to(device)
        stats = cfg["normalize"]
        self.mean = torch.tensor(stats["mean"], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(stats["std"], device=device).view(1, 3, 1, 1)
        self.memory_format = (
            torch.channels_last if device.type == "cuda" else torch.contiguous_format
        )
        # a constant on the device: a fresh tensor per step would be a host-to-device copy
        self.batch_n = torch.tensor(float(self.local_batch), dtype=torch.float64, device=device)
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
        self._build_model()
        self._reset_counters()

    # ---- set-up ------------------------------------------------------------------------

    def _build_model(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg["seed"])  # the same initial weights on every rank
        built, groups = models.for_run(cfg, self.resuming, progress=self.ranks.main)
        self.model_summary, self.frozen = built.summary, built.summary["frozen"]
        self.model = built.model.to(self.device, memory_format=self.memory_format)
        # runs from before warm-up was fitted to the data keep their quarter-of-the-run warm-up
        self.warmup = cfg.get("warmup_steps")
        if self.warmup is None:
            self.warmup = max(1, round(recipes.WARMUP_FRACTION * self.total_steps))
        self.opt, self.sched, self.criterion = recipes.make(
            cfg["recipe"], self.model, cfg["lr"], self.total_steps, self.warmup, groups
        )
        amp = cfg["amp_dtype"]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=amp == "fp16")
        self.autocast_dtype = AMP_DTYPES.get(amp)
        self.net: torch.nn.Module = self.model
        if self.ranks.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        if cfg["compile"]:
            # "reduce-overhead" replays the step as CUDA graphs: fewer launches per step.
            self.net = torch.compile(self.net, mode=cfg.get("compile_mode"))
        self.cudagraphs = bool(cfg["compile"]) and cfg.get("compile_mode") == "reduce-overhead"

    def _reset_counters(self) -> None:
        self.step = 0
        self.start_loss: float | None = None  # the first logged training loss of the run
        self.diverged = ""  # the reason, once the loss has diverged
        self.best_acc = 0.0
        self.final_acc: float | None = None
        self.elapsed_before = 0.0  # from earlier sessions of a resumed run
        self.train_seconds, self.images_done = 0.0, 0
        self.interval = torch.zeros(3, dtype=torch.float64, device=self.device)  # loss, correct, n
        self.epoch_sums = torch.zeros(3, dtype=torch.float64, device=self.device)

    def autocast(self) -> contextlib.AbstractContextManager:
        enabled = self.autocast_dtype is not None
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=enabled)

    # ---- checkpoints -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        cuda = torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.step / self.spe,
            "step": self.step,
            "rng": {"torch": torch.get_rng_state(), "cuda": cuda},
            "meters": {
                "interval": self.interval.cpu(),
                "epoch": self.epoch_sums.cpu(),
                "best_test_acc": self.best_acc,
                "final_test_acc": self.final_acc,
                "start_loss": self.start_loss,
                "train_seconds": self.train_seconds,
                "images": self.images_done,
            },
            "elapsed_s": self.elapsed(),
            "config": json.loads(json.dumps(self.cfg)),  # plain data: loads with weights_only
        }

    def save(self, best: bool = False) -> None:
        """last.pt (and best.pt) from rank 0; sums of the other ranks are folded in first."""
        self.interval = dist.all_sum(self.interval, self.ranks)
        self.epoch_sums = dist.all_sum(self.epoch_sums, self.ranks)
        dist.sync_buffers(self.model, self.ranks)
        if self.ranks.main:
            state = self.state()
            if best:  # best before last: a kill in between leaves last.pt the older of the two
                write_checkpoint(self.run_dir / "best.pt", state)
            write_checkpoint(self.run_dir / "last.pt", state)
        else:
            self.interval.zero_()
            self.epoch_sums.zero_()

    def restore(self, path: Path) -> None:
        ckpt = load_checkpoint(path, map_location="cpu")
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step = ckpt["step"]
        m = ckpt["meters"]
        self.best_acc, self.final_acc = m["best_test_acc"], m["final_test_acc"]
        self.start_loss = m.get("start_loss")
        self.train_seconds, self.images_done = m["train_seconds"], m["images"]
        self.elapsed_before = ckpt["elapsed_s"]
        if self.ranks.main:  # the saved sums are already totals over all ranks
            self.interval.copy_(m["interval"])
            self.epoch_sums.copy_(m["epoch"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if self.device.type == "cuda" and ckpt["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        if self.ranks.main:
            self.metrics.truncate_after(self.step)
        self.log(f"resumed from {path} at step {self.step} (epoch {self.step / self.spe:.2f})")

    # ---- the loop ----------------------------------------------------------------------

    def train_step(self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor) -> None:
        """One optimizer step. `target` is what the loss learns (the labels, or soft rows after
        CutMix/MixUp); accuracy counts `y`, the true labels of the images."""
        x = ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)
        if self.cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        with self.autocast():
            out = self.net(x)
            loss = self.criterion(out, target)
        self.opt.zero_grad(set_to_none=True)
        scaled = loss if self.loss_share == 1 else loss * self.loss_share
        self.scaler.scale(scaled).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.last_lr = self.lr()  # the rate this step used; the schedule moves on below
        self.sched.step()
        correct = (out.argmax(dim=1) == y).sum()
        stats = torch.stack((loss.detach().double() * len(y), correct.double(), self.batch_n))
        self.interval += stats
        self.epoch_sums += stats

    def run(self) -> str:
        """Train to the end or until stopped; returns the final state: "finished", "stopped" or
        "diverged" (nothing is saved after the loss diverged: last.pt stays the last good one)."""
        self.started = self.interval_started = time.perf_counter()
        self.session_start_step = self.step
        self.status("running")
        for epoch in range(self.step // self.spe, self.cfg["epochs"]):
            start = self.step - epoch * self.spe
            for i, batch in enumerate(self.batches.training(epoch, start), start=start + 1):
                self.train_step(*batch)
                self.step += 1
                if i in self.log_points:
                    self.log_train()
                    if self.diverged:
                        return "diverged"
                if i < self.spe and self.stopping():
                    self.save()
                    return "stopped"
            self.end_epoch(epoch)
            if self.diverged:
                return "diverged"
            if self.stopping():
                return "stopped"
        self.finish()
        return "finished"

    def stopping(self) -> bool:
        return dist.any_rank(self.stop.signal is not None, self.ranks, self.device)

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def log_train(self) -> None:
        loss, correct, n = dist.all_sum(self.interval.clone(), self.ranks).tolist()
        now = time.perf_counter()
        seconds, self.interval_started = now - self.interval_started, now
        self.train_seconds += seconds
        self.images_done += int(n)
        self.interval.zero_()
        self.images_per_s = n / max(seconds, 1e-9)
        self.check_divergence(loss / n, "training loss")
        record = {
            "type": "train",
            "epoch": self.step / self.spe,
            "step": self.step,
            "train_loss": loss / n,
            "train_acc": correct / n,
            "lr": self.last_lr,
            "images_per_s": self.images_per_s,
            "elapsed_s": self.elapsed(),
        }
        if self.ranks.main:
            self.metrics.append(record)
            self.status("running")
            self.log(
                f"epoch {record['epoch']:6.2f}  step {self.step:6d}  loss {record['train_loss']:.4f}"
                f"  acc {record['train_acc']:.4f}  lr {record['lr']:.5f}  {self.images_per_s:,.0f} img/s"
            )

    def lr(self) -> float:
        """The schedule's rate: the head's (a fine-tuned backbone learns at a fraction of it)."""
        return float(max(g["lr"] for g in self.opt.param_groups))

    def check_divergence(self, loss: float, what: str) -> None:
        """Set `self.diverged` to a one-line reason and suggestion if `loss` is not finite or far
        above where the run started. Every rank sees the same summed loss, so all agree."""
        if self.start_loss is None and math.isfinite(loss):
            self.start_loss = loss
        start = self.start_loss
        if math.isfinite(loss) and (start is None or loss <= DIVERGED_FACTOR * start):
            return
        lr = getattr(self, "last_lr", self.lr())
        above = f" ({loss / start:.0f}x its start, {start:.3g})" if math.isfinite(loss) else ""
        peak = self.cfg["lr"]
        self.diverged = (
            f"diverged at step {self.step}: {what} {loss:.4g}{above} at lr {lr:.3g}; "
            f"try a lower peak lr, e.g. {LR_FLAG} {peak / 4:.3g} (this run: {peak:.3g})"
        )
        self.log(self.diverged)

    def _normalized(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() / 255 - self.mean) / self.std
        return x.contiguous(memory_format=self.memory_format)

    @torch.no_grad()
    def refresh_bn_stats(self) -> None:
        """Recompute every BatchNorm's running mean and variance for the current weights, as an
        exact average over BN_STATS_IMAGES training images ("precise BN").

        Why: the running statistics are an exponential average (momentum 0.1) of the batches
        seen. After a few steps they still give the initial values (mean 0, variance 1) most of
        the weight (0.9^3 = 73% after 3 steps), and while a high learning rate grows the
        activations they lag far behind them. In eval mode each layer then divides by a
        variance much too small, the error compounds over 20 layers, and a model whose training
        loss is 14 scored a test loss of 1e23 (a short run of the report: 26,440). Every rank
        uses the same images, so the statistics agree without communication.
        """
        norms = models.batch_norms(self.model, self.frozen)  # frozen ones keep theirs
        if not norms:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches below
        self.model.train()
        try:
            for x in self.bn_x.split(max(64, 2 * self.local_batch)):
                with self.autocast():
                    self.model(self._normalized(x))
        finally:
            for m, momentum in zip(norms, momenta, strict=True):
                m.momentum = momentum

    @torch.no_grad()
    def _predict(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(summed cross-entropy, predicted classes) of the model in eval mode."""
        loss = torch.zeros((), dtype=torch.float64, device=self.device)
        preds = []
        chunk = max(64, 2 * self.local_batch)
        for x, y in zip(images.split(chunk), labels.split(chunk), strict=True):
            with self.autocast():
                out = self.model(self._normalized(x)).float()
            loss += torch.nn.functional.cross_entropy(out, y, reduction="sum").double()
            preds.append(out.argmax(1))
        return loss, torch.cat(preds) if preds else labels.new_empty(0)

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """On the whole test set, each rank taking every world-th image: test loss and accuracy,
        accuracy per class, and the accuracy on un-augmented training images (the
        over-fitting gap is that minus the test accuracy; the running training accuracy is
        measured on augmented batches, so it would understate the gap of an augmented run)."""
        self.refresh_bn_stats()
        dist.sync_buffers(self.model, self.ranks)
        self.model.eval()
        rank, world, k = self.ranks.rank, self.ranks.world, len(self.cfg["classes"])
        y = self.test_y[rank::world]
        loss, pred = self._predict(self.test_x[rank::world], y)
        by = self.gap_y[rank::world]
        _, train_pred = self._predict(self.gap_x[rank::world], by)
        self.model.train()
        right = y[pred == y]
        sums = torch.cat(
            (
                torch.stack((loss, loss.new_tensor(len(y)))),
                torch.stack(((train_pred == by).sum(), by.new_tensor(len(by)))).double(),
                torch.bincount(right, minlength=k).double(),
                torch.bincount(y, minlength=k).double(),
            )
        )
        sums = dist.all_sum(sums, self.ranks).tolist()
        loss, n, train_right, train_n = sums[:4]
        per_class_right, per_class_n = sums[4 : 4 + k], sums[4 + k :]
        return {
            "test_loss": loss / n,
            "test_acc": sum(per_class_right) / n,
            "test_acc_per_class": [
                round(r / max(c, 1), 6) for r, c in zip(per_class_right, per_class_n, strict=True)
            ],
            "train_eval_acc": train_right / max(train_n, 1),
        }

    def save_predictions(self) -> None:
        """predictions.npz: the predicted and true class of every image the run evaluated on,
        in order, so two runs can be compared image by image (a paired test). With
        --validation those are the held-out images, and test-predictions.npz scores the test
        set, once, here."""
        self.model.eval()
        sets = [("predictions.npz", self.test_x, self.test_y)]
        if self.final_x is not None:
            final_y = self.final_y.to(self.device)
            sets.append((FINAL_PREDICTIONS, self.final_x.to(self.device), final_y))
        for name, images, labels in sets:
            _, pred = self._predict(images, labels)
            buffer = io.BytesIO()
            np.savez(
                buffer,
                pred=pred.cpu().numpy().astype(np.int16),
                label=labels.cpu().numpy().astype(np.int16),
            )
            atomic_write_bytes(self.run_dir / name, buffer.getvalue())
            if name == FINAL_PREDICTIONS:
                self.final_set_acc = float((pred == final_y).float().mean())
        self.model.train()

    def end_epoch(self, epoch: int) -> None:
        result = self.evaluate()
        test_loss, test_acc = result["test_loss"], result["test_acc"]
        if not math.isfinite(test_loss):
            self.check_divergence(test_loss, "test loss")
            return
        loss, correct, n = dist.all_sum(self.epoch_sums.clone(), self.ranks).tolist()
        self.epoch_sums.zero_()
        best = test_acc > self.best_acc
        self.best_acc, self.final_acc = max(self.best_acc, test_acc), test_acc
        if self.ranks.main:
            self.metrics.append(
                {
                    "type": "eval",
                    "epoch": float(epoch + 1),
                    "step": self.step,
                    **result,
                    "train_loss": loss / max(n, 1),
                    "train_acc": correct / max(n, 1),
                    "elapsed_s": self.elapsed(),
                }
            )
            self.log(
                f"epoch {epoch + 1} done: {self.evaluated} loss {test_loss:.4f}, "
                f"{self.evaluated} accuracy {test_acc:.4f}"
            )
        self.save(best=best)
        self.interval_started = time.perf_counter()  # evaluation is not training time

    def finish(self) -> None:
        digests = dist.gather_digests(self.model, self.ranks)
        if not self.ranks.main:
            return
        self.save_predictions()
        summary = {
            "type": "summary",
            "epochs": self.cfg["epochs"],
            "final_test_acc": self.final_acc,
            "best_test_acc": self.best_acc,
            "images_per_s": self.images_done / max(self.train_seconds, 1e-9),
            "elapsed_s": self.elapsed(),
        }
        if self.final_x is not None:
            summary["test_set_acc"] = self.final_set_acc  # scored once, here
            self.log(f"the test set, scored once: accuracy {self.final_set_acc:.4f}")
        if self.ranks.world > 1:
            summary["rank_weight_digests"] = digests
        self.metrics.append(summary)
        self.log(
            f"finished: {self.evaluated} accuracy {self.final_acc:.4f} (best {self.best_acc:.4f}), "
            f"{summary['images_per_s']:,.0f} img/s, {summary['elapsed_s']:.0f} s"
        )

    def status(self, state: str, message: str = "") -> None:
        if not self.ranks.main:
            return
        started = getattr(self, "started", None)
        done = self.step - getattr(self, "session_start_step", self.step)
        eta = None
        if started is not None and done > 0:
            eta = (time.perf_counter() - started) / done * (self.total_steps - self.step)
        write_status(
            self.run_dir / "status.json",
            state=state,
            pid=self.pid,
            epoch=self.step / self.spe,
            epochs=self.cfg["epochs"],
            step=self.step,
            total_steps=self.total_steps,
            images_per_s=getattr(self, "images_per_s", 0.0),
            elapsed_s=self.elapsed() if started is not None else self.elapsed_before,
            eta_s=eta if state == "running" else None,
            lr=getattr(self, "last_lr", self.lr()),
            device=self.cfg["device_name"],
            message=message,
        )


def quiet_warnings() -> None:
    # With fp16 the scaler skips the first optimizer steps while it calibrates; the scheduler
    # still steps, which is intended, and torch warns about it.
    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step()`")
