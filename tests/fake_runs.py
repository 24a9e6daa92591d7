"""The fake training command and run folders as the launcher and the trainer leave them,
for the tests of the job launcher and the Train tab's callbacks (tests/test_jobs_*.py).

The fake command (written below) speaks the training CLI's contract: `--check` prints one JSON
line or an `error: ` line; a run writes status.json and metrics.jsonl and stops on SIGTERM with
status "stopped". It takes a fraction of a second, so these tests need no real training.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pipelines.spec import PipelineSpec
from playground import jobs, owners

FAKE_ENGINE = r"""
import json, os, signal, sys, time
from dataclasses import replace
from pathlib import Path

args = sys.argv[1:]
def arg(name, default=None):
    return args[args.index(name) + 1] if name in args else default

if "--check" in args:
    if int(arg("--epochs", 1)) < 1:
        print("error: --epochs must be at least 1, got 0", file=sys.stderr)
        sys.exit(2)
    print("starting the check")
    print(json.dumps({"train_size": 1000, "test_size": 200, "device": "cpu", "epochs": 2}))
    sys.exit(0)

out = Path(arg("--resume") or arg("--out"))
time.sleep(float(os.environ.get("FAKE_START_S", "0")))  # imports, data loading
if os.environ.get("FAKE_FAIL"):
    print("Traceback (most recent call last):\nRuntimeError: CUDA out of memory", flush=True)
    sys.exit(1)
stop = []
if not os.environ.get("FAKE_IGNORE_TERM"):
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

def status(state, step):
    tmp = out / ".status.tmp"
    tmp.write_text(json.dumps({"state": state, "pid": os.getpid(), "epoch": step / 10,
        "epochs": 2, "step": step, "total_steps": 20, "images_per_s": 100.0, "elapsed_s": 1.0,
        "eta_s": 5.0, "lr": 0.1, "device": "cpu", "message": "", "updated": time.time()}))
    os.replace(tmp, out / "status.json")

step = 4 if arg("--resume") else 0
(out / "config.json").write_text(json.dumps({"dataset": "synthetic", "epochs": 2}))
while step < 20 and not stop:
    step += 1
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"type": "train", "epoch": step / 10, "step": step,
            "train_loss": 2.0 / step, "train_acc": step / 20, "lr": 0.1,
            "images_per_s": 100.0, "elapsed_s": step * 0.1}) + "\n")
    if step % 10 == 0:
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"type": "eval", "epoch": step / 10, "test_loss": 1.0,
                "test_acc": 0.5, "train_loss": 1.0, "train_acc": 0.5, "elapsed_s": 1}) + "\n")
    (out / "last.pt").write_bytes(b"x")
    status("running", step)
    time.sleep(float(os.environ.get("FAKE_STEP_S", "0.3")))
status("stopped" if stop else "finished", step)
"""


def _run_folder(root: Path, name: str, status: dict | None = None, **files: str) -> Path:
    path = root / name
    path.mkdir()
    if status is not None:
        (path / "status.json").write_text(json.dumps({"updated": time.time(), **status}))
    for filename, text in files.items():
        (path / filename.replace("_", ".", 1)).write_text(text)
    return path


def _wait(predicate, timeout=120.0):  # an upper bound, for busy machines
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


SETTINGS = jobs.Settings(dataset="synthetic", epochs=2, batch_size=100, device="cpu", width=8)


def _finished_pair(root: Path, spec: PipelineSpec, owner: str = "alice") -> tuple[Path, Path]:
    """A finished run and its baseline, as the launcher and the trainer leave them."""
    folders = []
    for name, no_aug, accs in (("20261123-100000-synthetic", False, (0.5, 0.8, 0.7)),
                               ("20261123-100000-synthetic-noaug", True, (0.4, 0.6, 0.55))):  # fmt: skip
        records = [{"type": "train", "epoch": 0.5, "train_loss": 2.0, "train_acc": 0.2}]
        records += [{"type": "eval", "epoch": e + 1.0, "test_loss": 1.0, "test_acc": a}
                    for e, a in enumerate(accs)]  # fmt: skip
        status = {"state": "finished", "pid": 1, "epoch": 3.0, "epochs": 3, "elapsed_s": 194.0}
        launch = {"job": "20261123-100000-synthetic", "owner": owners.owner_id(owner)}
        cfg = {"dataset": "synthetic", "train_size": 5000, "test_size": 1000, "epochs": 3,
               "batch_size": 128, "lr": 0.05, "no_augment": no_aug}  # fmt: skip
        folders.append(
            _run_folder(
                root,
                name,
                status,
                launch_json=json.dumps(launch),
                config_json=json.dumps(cfg),
                pipeline_json=spec.to_json(),
                settings_json=json.dumps(
                    {"dataset": "synthetic", "epochs": 3, "no_augment": no_aug}
                ),
                metrics_jsonl="".join(json.dumps(r) + "\n" for r in records),
            )  # fmt: skip
        )
    return folders[0], folders[1]
