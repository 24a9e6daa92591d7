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
from pipelines.build import build_parts
from pipelines.spec import preset
from tests.test_batched import CASES, _setup, _torchvision_with

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_batched_pipeline_on_cuda_matches_torchvision():
    spec = preset("d2l-combined").with_output_size(32)
    images = torch.rand(256, 3, 48, 48, device="cuda")
    pipeline = BatchedPipeline(spec)
    out, drawn = pipeline.draw(images, torch.Generator(device="cuda").manual_seed(0))
    steps = [build_parts(s)[0][-1] for s in spec.active]
    for i in range(0, 256, 7):
        img = images[i].cpu()
        for t, kernel, params in zip(steps, pipeline.kernels, drawn, strict=True):
            img = _torchvision_with(t, img, kernel.torchvision_params(params, i))
        torch.testing.assert_close(out[i].cpu(), img, atol=1e-4, rtol=0)


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_every_kernel_on_cuda_matches_torchvision(case_id):
    """tests/test_batched.py's pixel comparison with the draws and the kernels on the GPU,
    torchvision on the CPU; 1e-4 for the float rounding of another device."""
    _, steps, size, tol, as_uint8 = next(c for c in CASES if c[0] == case_id)
    pipeline, t, _ = _setup(steps)
    (kernel,) = pipeline.kernels
    gen = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (24, 3, *size), dtype=torch.uint8, generator=gen)
    if not as_uint8:
        images = images.float() / 255
    out, (params,) = pipeline.draw(images.cuda(), torch.Generator(device="cuda").manual_seed(3))
    params = {k: v.cpu() for k, v in params.items()}
    expected = torch.stack(
        [
            _torchvision_with(t, img, kernel.torchvision_params(params, i))
            for i, img in enumerate(images)
        ]
    )
    if as_uint8:
        expected = expected.float() / 255
    torch.testing.assert_close(out.cpu(), expected, atol=max(tol, 1e-4), rtol=0)


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
