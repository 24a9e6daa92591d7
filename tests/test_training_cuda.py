"""The CUDA paths: batched kernels on the GPU, AMP (bf16, fp16), channels_last, torch.compile,
and the DDP code path with 2 processes on one GPU (gloo: NCCL refuses two ranks on one GPU).

Skipped where no GPU is visible (CI); run on a GPU machine with `pytest tests/test_training_cuda.py`.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from pipelines.batched import BatchedPipeline
from pipelines.build import build_step
from pipelines.spec import preset

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_batched_pipeline_on_cuda_matches_torchvision():
    spec = preset("d2l-combined").with_output_size(32)
    images = torch.rand(256, 3, 48, 48, device="cuda")
    out, drawn = BatchedPipeline(spec).draw(images, torch.Generator(device="cuda").manual_seed(0))
    steps = [build_step(s) for s in spec.active]
    names = ("brightness", "contrast", "saturation", "hue")
    for i in range(0, 256, 7):
        img = images[i].cpu()
        flip, jitter, crop = ({k: v[i].cpu() for k, v in d.items()} for d in drawn)
        img = img.flip(-1) if flip["applied"] else img
        params = {
            "fn_idx": jitter["order"].tolist(),
            **{f"{n}_factor": float(jitter[n]) for n in names},
        }
        img = steps[1].transform(img, params)
        img = steps[2].transform(img, {k: int(crop[k]) for k in ("top", "left", "height", "width")})
        torch.testing.assert_close(out[i].cpu(), img, atol=1e-4, rtol=0)


def test_flip_rate_on_cuda():
    out, (drawn,) = BatchedPipeline(preset("d2l-flip")).draw(
        torch.rand(20000, 3, 2, 2, device="cuda"), torch.Generator(device="cuda").manual_seed(0)
    )
    assert abs(drawn["applied"].float().mean().item() - 0.5) < 0.015


def _train(tmp_path, *args):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "playground.train",
        "--dataset",
        "synthetic",
        "--synthetic-size",
        "4096",
    ]
    cmd += ["--pipeline", "d2l-combined", "--epochs", "2", "--width", "32", "--device", "cuda"]
    cmd += ["--batch-size", "256"]
    cmd += ["--out", str(out), *args]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=400, env={**os.environ, "PYTHONPATH": "."}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return lines, json.loads((out / "config.json").read_text()), done.stdout


@pytest.mark.parametrize("amp", ["bf16", "fp16", "off"])
def test_training_with_amp(tmp_path, amp):
    lines, config, _ = _train(tmp_path, "--amp", amp)
    assert config["amp_dtype"] == amp and config["device_name"].startswith("cuda: ")
    train = [line for line in lines if line["type"] == "train"]
    assert train[-1]["train_loss"] < train[0]["train_loss"]
    assert lines[-1]["type"] == "summary" and lines[-1]["final_test_acc"] > 0.15


def test_training_with_compile(tmp_path):
    lines, config, _ = _train(tmp_path, "--compile")
    assert config["compile"] and lines[-1]["final_test_acc"] > 0.15


def test_ddp_code_path_two_processes_one_gpu(tmp_path):
    lines, config, _ = _train(tmp_path, "--nproc", "2", "--dist-backend", "gloo")
    digests = lines[-1]["rank_weight_digests"]
    assert config["world_size"] == 2 and len(digests) == 2 and digests[0] == digests[1]
