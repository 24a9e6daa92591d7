"""DistributedDataParallel plumbing: one process per GPU under torchrun, or one process alone.

`--nproc N` (N > 1) makes the command a small launcher: it starts
`python -m torch.distributed.run --standalone --nproc_per_node N -m playground.train ...` in a
session of its own, passes SIGTERM/SIGINT on once to the workers (each checkpoints and exits 0,
and torchrun then exits 0 as for a finished run), and exits with torchrun's code. Multi-node
runs use torchrun directly; workers recognise it from its environment variables.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def under_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def env_ranks() -> Ranks:
    if not under_torchrun():
        return Ranks()
    env = os.environ
    return Ranks(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"]))


def init(device_kind: str, backend: str) -> tuple[Ranks, torch.device]:
    """Join the process group (under torchrun) and pick this process's device."""
    ranks = env_ranks()
    device = torch.device("cpu")
    if device_kind == "cuda":
        device = torch.device("cuda", ranks.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if ranks.world > 1:
        if backend == "auto":
            backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(minutes=10))
    return ranks, device


def close() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_sum(t: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    if ranks.world > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def any_rank(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """True on every rank if it is true on any: all ranks must stop at the same step."""
    if ranks.world == 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def sync_buffers(model: nn.Module, ranks: Ranks) -> None:
    """Give every rank rank 0's BatchNorm statistics (each rank updated its own in training)."""
    if ranks.world > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)


def weight_digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def gather_digests(model: nn.Module, ranks: Ranks) -> list[str]:
    """Every rank's weight digest, in rank order (a check that DDP kept the replicas equal)."""
    digest = weight_digest(model)
    if ranks.world == 1:
        return [digest]
    out: list[str] = [""] * ranks.world
    dist.all_gather_object(out, digest)
    return out


def _children(pid: int) -> list[int]:
    """The child processes of `pid` (Linux /proc); empty where that cannot be read."""
    children: list[int] = []
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/children") as fh:
                children += [int(c) for c in fh.read().split()]
    except OSError:
        return []
    return children


def launch(nproc: int, argv: list[str]) -> tuple[int, bool]:
    """Run `playground.train argv` in `nproc` workers under torchrun; return its exit code and
    whether we were asked to stop (SIGTERM or Ctrl-C) and passed it on."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += [f"--nproc_per_node={nproc}", "-m", "playground.train", *argv]
    env = {**os.environ, "PLAYGROUND_LAUNCHER_PID": str(os.getpid())}
    # A session of its own: Ctrl-C in a terminal reaches only us, and we pass on one SIGTERM
    # (torchrun shuts down badly when a second signal arrives during its shutdown).
    child = subprocess.Popen(cmd, env=env, start_new_session=True)
    forwarded = []

    def forward(signum: int, frame: object) -> None:
        # Signalled itself, torchrun stops the workers too, but reports it as a failure with a
        # traceback; signalled, the workers stop cleanly and torchrun sees them succeed.
        if not forwarded:
            forwarded.append(signum)
            for pid in _children(child.pid) or [child.pid]:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return child.wait(), bool(forwarded)
