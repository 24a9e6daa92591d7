"""pipelines.batched against torchvision v2: same parameter distributions, same pixels.

Pixels: for the same drawn parameters the batched kernels match torchvision's tensor kernels on
float images within 1e-5 (float32 rounding of a different summation order; antialiased
downscaling included: the resize weights are ATen's antialias weights). torchvision on uint8
rounds after every step, we do not, which is why the comparison is on float images.

Distributions: thousands of draws of each kernel against as many of torchvision's
`make_params`, compared with a two-sample Kolmogorov-Smirnov statistic at a 0.1% critical
value (the seeds are fixed, so the test is deterministic).
"""

import numpy as np
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from pipelines.batched import BatchedPipeline, batched_supported, unsupported
from pipelines.build import build_step
from pipelines.spec import make, preset

N = 3000
TOL = 1e-5


def _ks_ok(a, b) -> bool:
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    grid = np.concatenate([a, b])
    d = np.abs(
        np.searchsorted(a, grid, "right") / len(a) - np.searchsorted(b, grid, "right") / len(b)
    )
    return d.max() < 1.95 * np.sqrt((len(a) + len(b)) / (len(a) * len(b)))


def _rate_ok(flags, p) -> bool:
    return abs(np.mean(flags) - p) < 4 * np.sqrt(p * (1 - p) / len(flags)) + 1e-9


def _ours(steps, shape=(N, 3, 32, 32)):
    spec = make(steps)
    out, (params,) = BatchedPipeline(spec).draw(torch.rand(shape), torch.Generator().manual_seed(0))
    return spec, out, {k: v.numpy() for k, v in params.items()}


def _theirs(spec, size=(32, 32)):
    torch.manual_seed(1)
    step = build_step(spec.active[0])
    image = torch.empty(3, *size)
    return [step.make_params([image]) for _ in range(N)]


# ---- distributions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "size"),
    [
        (
            {"size": 32, "scale_min": 0.1, "scale_max": 1.0, "ratio_min": 0.5, "ratio_max": 2.0},
            (32, 32),
        ),
        (
            {
                "size": 24,
                "scale_min": 0.08,
                "scale_max": 1.0,
                "ratio_min": 0.75,
                "ratio_max": 1.333,
            },
            (40, 28),
        ),
        # every try fails on a square image: the centre-crop fallback decides everything
        (
            {"size": 32, "scale_min": 0.9, "scale_max": 1.0, "ratio_min": 3.0, "ratio_max": 4.0},
            (32, 32),
        ),
    ],
)
def test_resized_crop_draws_like_torchvision(params, size):
    spec, _, ours = _ours([("RandomResizedCrop", params)], (N, 3, *size))
    theirs = _theirs(spec, size)
    area = np.array([p["height"] * p["width"] for p in theirs]) / (size[0] * size[1])
    aspect = np.array([p["width"] / p["height"] for p in theirs])
    assert _ks_ok(ours["height"] * ours["width"] / (size[0] * size[1]), area)
    assert _ks_ok(ours["width"] / ours["height"], aspect)
    assert _ks_ok(ours["top"], [p["top"] for p in theirs])
    assert _ks_ok(ours["left"], [p["left"] for p in theirs])
    assert (ours["top"] + ours["height"] <= size[0]).all() and (
        ours["left"] + ours["width"] <= size[1]
    ).all()


def test_color_jitter_draws_like_torchvision():
    steps = [("ColorJitter", {"brightness": 0.5, "contrast": 0.3, "saturation": 0.8, "hue": 0.4})]
    spec, _, ours = _ours(steps, (N, 3, 4, 4))
    theirs = _theirs(spec, (4, 4))
    for name in ("brightness", "contrast", "saturation", "hue"):
        assert _ks_ok(ours[name], [p[f"{name}_factor"] for p in theirs]), name
    # the op order: each op's position is uniform, and all 24 orders occur about equally often
    for op in range(4):
        assert _ks_ok(
            (ours["order"] == op).argmax(1), [p["fn_idx"].tolist().index(op) for p in theirs]
        )
    codes = (ours["order"] * np.array([64, 16, 4, 1])).sum(1)
    counts = np.bincount(np.unique(codes, return_inverse=True)[1])
    assert len(counts) == 24 and counts.min() > N / 24 * 0.6


def test_color_jitter_skips_ops_torchvision_skips():
    spec, _, ours = _ours(
        [("ColorJitter", {"brightness": 0.4, "contrast": 0.0, "saturation": 0.0, "hue": 0.0})]
    )
    assert _theirs(spec)[0]["contrast_factor"] is None
    assert set(ours) == {"order", "brightness"}


@pytest.mark.parametrize("padding_mode", ["constant", "reflect"])
def test_crop_offsets_draw_like_torchvision(padding_mode):
    spec, _, ours = _ours(
        [("RandomCrop", {"size": 32, "padding": 4, "padding_mode": padding_mode})]
    )
    theirs = _theirs(spec)
    assert _ks_ok(ours["top"], [p["top"] for p in theirs])
    assert _ks_ok(ours["left"], [p["left"] for p in theirs])
    assert ours["top"].min() == 0 and ours["top"].max() == 8


@pytest.mark.parametrize(
    ("transform", "p"),
    [("RandomHorizontalFlip", 0.5), ("RandomVerticalFlip", 0.2), ("RandomGrayscale", 0.1)],
)
def test_random_apply_rates(transform, p):
    _, _, ours = _ours([(transform, {"p": p})])
    assert _rate_ok(ours["applied"], p)


# ---- pixels --------------------------------------------------------------------------------


def _per_image(spec, images, params, to_tv):
    step = build_step(spec.active[0])
    return torch.stack([step.transform(img, to_tv(params, i)) for i, img in enumerate(images)])


def _rrc_params(params, i):
    return {k: int(params[k][i]) for k in ("top", "left", "height", "width")}


@pytest.mark.parametrize(("size", "image"), [(32, 32), (16, 48), (40, 24), (24, 32)])
def test_resized_crop_pixels_match_torchvision(size, image):
    """Up- and downscaling (antialiased) both match: the weights are ATen's."""
    spec = make([("RandomResizedCrop", {"size": size})])
    images = torch.rand(64, 3, image, image, generator=torch.Generator().manual_seed(0))
    out, (params,) = BatchedPipeline(spec).draw(images, torch.Generator().manual_seed(0))
    expected = torch.stack(
        [
            F.resized_crop(img, **_rrc_params(params, i), size=[size, size], antialias=True)
            for i, img in enumerate(images)
        ]
    )
    torch.testing.assert_close(out, expected, atol=TOL, rtol=0)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_crop_pixels_match_torchvision(mode):
    spec = make([("RandomCrop", {"size": 32, "padding": 6, "padding_mode": mode})])
    images = torch.rand(64, 3, 32, 32)
    out, (params,) = BatchedPipeline(spec).draw(images, torch.Generator().manual_seed(3))

    def tv(p, i):
        top, left = int(p["top"][i]), int(p["left"][i])
        return {
            "needs_crop": True,
            "top": top,
            "left": left,
            "height": 32,
            "width": 32,
            "needs_pad": True,
            "padding": [6, 6, 6, 6],
        }

    assert torch.equal(out, _per_image(spec, images, params, tv))


def test_color_jitter_pixels_match_torchvision():
    spec = preset("d2l-color")
    images = torch.rand(128, 3, 16, 16)
    out, (params,) = BatchedPipeline(spec).draw(images, torch.Generator().manual_seed(4))

    def tv(p, i):
        names = ("brightness", "contrast", "saturation", "hue")
        return {"fn_idx": p["order"][i].tolist(), **{f"{n}_factor": float(p[n][i]) for n in names}}

    torch.testing.assert_close(out, _per_image(spec, images, params, tv), atol=TOL, rtol=0)


@pytest.mark.parametrize(
    "transform", ["RandomHorizontalFlip", "RandomVerticalFlip", "RandomGrayscale"]
)
def test_random_apply_pixels_match_torchvision(transform):
    spec = make([(transform, {"p": 0.5})])
    images = torch.rand(32, 3, 8, 8)
    out, (params,) = BatchedPipeline(spec).draw(images, torch.Generator().manual_seed(5))
    step = build_step(spec.active[0])
    expected = [
        v2.Compose([step.__class__(p=1.0)])(img) if a else img
        for img, a in zip(images, params["applied"], strict=True)
    ]
    torch.testing.assert_close(out, torch.stack(expected), atol=TOL, rtol=0)


# ---- the pipeline as a whole ---------------------------------------------------------------


def test_every_image_gets_its_own_draw():
    images = torch.full((16, 3, 32, 32), 128, dtype=torch.uint8)
    images[:, 0, :, :16] = 250  # an asymmetric image, so flips and crops show
    out = BatchedPipeline(preset("d2l-combined").with_output_size(32))(
        images, torch.Generator().manual_seed(0)
    )
    distinct = {tuple(o.flatten()[::97].tolist()) for o in out}
    assert out.shape == (16, 3, 32, 32) and len(distinct) == 16


def test_uint8_input_is_scaled_once():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    pipeline = BatchedPipeline(preset("cifar-standard"))
    a = pipeline(images, torch.Generator().manual_seed(7))
    b = pipeline(images.float() / 255, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_supported_transforms():
    assert batched_supported(preset("d2l-combined")) and batched_supported(preset("cifar-standard"))
    spec = make([("RandomHorizontalFlip", {}), ("RandomRotation", {}), ("GaussianBlur", {})])
    assert unsupported(spec) == ["RandomRotation", "GaussianBlur"]
    with pytest.raises(ValueError, match="RandomRotation has no batched kernel"):
        BatchedPipeline(spec)


def test_settings_a_kernel_does_not_cover_fall_back():
    """Step probabilities around size-changing kernels, bicubic crops, and every policy or
    tensor-only step go per image; mixing steps are the trainer's (build_batch), not a kernel's."""
    spec = make(
        [
            ("RandomResizedCrop", {"size": 32, "interpolation": "bicubic"}),
            ("RandomCrop", {"size": 32}, 0.5),
            ("GaussianNoise", {}),
            ("TrivialAugmentWide", {}),
            ("CutMix", {}),
        ]
    )
    assert unsupported(spec) == [
        "RandomResizedCrop",
        "RandomCrop",
        "GaussianNoise",
        "TrivialAugmentWide",
    ]
    assert unsupported(make([("CutMix", {}), ("RandomHorizontalFlip", {})])) == []
    assert batched_supported(make([("ColorJitter", {}, 0.5), ("RandomGrayscale", {})]))


def test_step_probability_applies_a_kernel_to_that_share_of_the_batch():
    images = torch.rand(4000, 3, 4, 4)
    out, drawn = BatchedPipeline(make([("ColorJitter", {}, 0.3)])).draw(
        images, torch.Generator().manual_seed(0)
    )
    applied = drawn[0]["step_applied"]
    assert _rate_ok(applied.numpy(), 0.3)
    assert torch.equal(out[~applied], images[~applied])
    assert not torch.equal(out[applied], images[applied])
