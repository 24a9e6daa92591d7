"""pipelines.batched against torchvision v2: same parameter distributions, same pixels.

One test per property, parametrized over CASES: every catalogue entry whose `Batched`
declaration names a kernel, at its catalogue defaults, and the VARIANTS (other settings, other
paths through a kernel). Where torchvision draws is the entry's `draws` declaration. The
kernels report their draws under torchvision's own names (`Kernel.torchvision_params`), so
nothing here adapts names:

- draws: N draws of the kernel against N of torchvision itself (its `transform` intercepted, so
  the coin of a `p` and the policies' choices, drawn in `forward`, are recorded too). Numbers
  are compared with a two-sample Kolmogorov-Smirnov statistic, categories (an op's name, a
  permutation, whether RandomErasing found a box) with a two-sample chi-square, both at a 0.1%
  critical value; the seeds are fixed, so the test is deterministic.
- pixels: each image put through torchvision alone with that image's draws, on float images
  (torchvision on uint8 rounds after every step and we do not). Exact (tolerance 0) where the
  kernel does the same arithmetic: RandomCrop, RandomErasing, RandomInvert, RandomPosterize,
  RandomEqualize, RandomChannelPermutation. Within 1e-5 elsewhere, for float32 rounding of a
  different summation order (batched matrix products for the resize, a separable blur
  against a 2-D kernel, the luma as one expression, the sampling grids computed for the
  batch): flips, RandomGrayscale, RandomResizedCrop (antialiased downscaling included: the
  weights are ATen's), ColorJitter, sharpness, autocontrast, GaussianBlur, GaussianNoise,
  RandomAffine and RandomRotation (nearest and bilinear), RandomPerspective, the three
  policies, and a step probability. RandomSolarize, whose threshold is on the 0-255 scale,
  runs on uint8 images there, also within 1e-5 (1 - x against (255 - x) / 255).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2._transform import _RandomApplyTransform

from pipelines.batched import (
    KERNELS,
    BatchedPipeline,
    Kernel,
    batched_supported,
    fallback,
    kernel,
    resolve,
    unsupported,
)
from pipelines.build import build_parts
from pipelines.catalogue import BY_NAME, CATALOGUE, IN_FORWARD_OPS, IN_TRANSFORM, Batched
from pipelines.spec import make, preset

N = 2000  # draws per side
M = 24  # images in a pixel comparison
TOL = 1e-5

WITH_KERNEL = [t for t in CATALOGUE if t.batched.kernel]
SIZE = (12, 16)  # the images of a case at the catalogue's defaults
SIDE = 16  # the output side of such a case (its size-setting parameters)
# kernels that do torchvision's own arithmetic: pixels equal exactly (the others within TOL)
EXACT = {
    "RandomCrop",
    "RandomErasing",
    "RandomInvert",
    "RandomPosterize",
    "RandomEqualize",
    "RandomChannelPermutation",
}
UINT8 = {"RandomSolarize"}  # its threshold is on the 0-255 scale: compared on uint8 images

# Settings beyond the defaults that take other paths through a kernel; every catalogue entry
# with a kernel is a case at its defaults without being listed here.
# (id, steps, image height and width)
VARIANTS: list[tuple[str, list, tuple[int, int]]] = [
    (
        "resized-crop-down",
        [("RandomResizedCrop", {"size": 16, "scale_min": 0.1, "ratio_min": 0.5})],
        (32, 32),
    ),
    (
        "resized-crop-up",
        [("RandomResizedCrop", {"size": 24, "scale_min": 0.08, "ratio_max": 1.333})],
        (20, 14),
    ),
    # every try fails on a square image: the centre-crop fallback decides everything
    (
        "resized-crop-fallback",
        [("RandomResizedCrop", {"size": 8, "scale_min": 0.9, "ratio_min": 3.0, "ratio_max": 4.0})],
        (16, 16),
    ),
    *[
        (
            f"crop-{mode}",
            [("RandomCrop", {"size": 16, "padding": 4, "padding_mode": mode})],
            (16, 16),
        )
        for mode in ("edge", "reflect", "symmetric")
    ],
    (
        "color-jitter",
        [("ColorJitter", {"brightness": 0.5, "contrast": 0.3, "saturation": 0.8, "hue": 0.4})],
        (8, 8),
    ),
    (
        "color-jitter-brightness",
        [("ColorJitter", {"brightness": 0.4, "contrast": 0.0, "saturation": 0.0, "hue": 0.0})],
        (8, 8),
    ),
    ("erasing-large", [("RandomErasing", {"p": 1.0, "scale_min": 0.3, "scale_max": 0.9})], (8, 8)),
    (
        "affine-shear",
        [("RandomAffine", {"degrees": 30.0, "translate": 0.2, "scale_min": 0.7, "shear": 20.0})],
        (12, 16),
    ),
    (
        "affine-bilinear",
        [("RandomAffine", {"degrees": 90.0, "shear": 10.0, "interpolation": "bilinear"})],
        (12, 12),
    ),
    (
        "rotation-bilinear",
        [("RandomRotation", {"degrees": 45.0, "interpolation": "bilinear"})],
        (10, 14),
    ),
    (
        "trivialaugment-bilinear",
        [("TrivialAugmentWide", {"num_magnitude_bins": 8, "interpolation": "bilinear"})],
        (10, 14),
    ),
    ("autoaugment-cifar10", [("AutoAugment", {"policy": "cifar10"})], (12, 12)),
    ("autoaugment-svhn", [("AutoAugment", {"policy": "svhn"})], (10, 14)),
    # the editor's per-step probability (v2.RandomApply) is a per-image mask
    ("step-probability", [("GaussianBlur", {"kernel_size": 3}, 0.3)], (8, 8)),
    ("step-probability-policy", [("TrivialAugmentWide", {}, 0.6)], (8, 8)),
]


def _with_tolerance(case_id: str, steps: list, size: tuple[int, int]) -> tuple:
    name = steps[0][0]
    return (case_id, steps, size, 0.0 if name in EXACT else TOL, name in UINT8)


# (id, steps, image height and width, pixel tolerance, uint8 images): every kernel at its
# catalogue defaults (the id is the entry's key), then the variants
CASES: list[tuple[str, list, tuple[int, int], float, bool]] = [
    _with_tolerance(t.key, [(t.name, {p.name: SIDE for p in t.params if p.is_size})], SIZE)
    for t in WITH_KERNEL
] + [_with_tolerance(*v) for v in VARIANTS]


def _case(case_id: str):
    return next(c for c in CASES if c[0] == case_id)


def _setup(steps) -> tuple[BatchedPipeline, v2.Transform, float | None]:
    spec = make(steps)
    pipeline = BatchedPipeline(spec)
    parts, p = build_parts(spec.image_steps[0])
    return pipeline, parts[-1], p


# ---- torchvision's own draws -----------------------------------------------------------------


def _draws(t: v2.Transform) -> str:
    """Where `t` draws, as its catalogue entry declares (the entry's name is the v2 class's)."""
    return BY_NAME[type(t).__name__].draws


def _theirs(t: v2.Transform, size: tuple[int, int], n: int) -> list[dict[str, Any]]:
    """n runs of torchvision's forward on a grey image, each run's draws as `transform` gets
    them; the policies' op and magnitude are caught where they are applied."""
    torch.manual_seed(1)
    image = torch.full((3, *size), 0.5)
    calls: list[dict[str, Any]] = []
    policy = _draws(t) == IN_FORWARD_OPS
    if policy:
        t._apply_image_or_video_transform = lambda img, transform_id, magnitude, **_: (
            calls.append({"transform_id": transform_id, "magnitude": magnitude}) or img
        )
    elif _draws(t) == IN_TRANSFORM:  # the noise is drawn inside transform()
        t.clip = False
        t.transform = lambda inpt, params, f=t.transform: (
            calls.append({"noise": (f(inpt, params) - inpt).tolist()}) or inpt
        )
    else:
        t.transform = lambda inpt, params: calls.append(dict(params)) or inpt
    draws = []
    for _ in range(n):
        before = len(calls)
        t(image)
        drawn = calls[-1] if len(calls) > before else {}
        if policy:  # the ops this image ran, in order
            ran = calls[before:]
            drawn = {k: [c[k] for c in ran] for k in ("transform_id", "magnitude")}
        if isinstance(t, _RandomApplyTransform):
            drawn = {**drawn, "applied": len(calls) > before}
        draws.append(drawn)
    return draws


def _features(draws: list[dict[str, Any]]) -> dict[str, list]:
    """Each draw flattened into comparable features: numbers stay numbers (KS), lists give one
    number per component (the first 8; rounded to 1e-6, below float32's resolution, so that an
    exact 0 solved two ways, 1e-15 or 1e-17, stays one value) and, when integer, a category (the whole tuple);
    strings are categories, and so is whether a value is None (RandomErasing's fill when no
    box fits, ColorJitter's factor for an op it skips)."""
    out: dict[str, list] = {}
    for d in draws:
        for key, v in d.items():
            out.setdefault(f"{key}?", []).append(("cat", v is not None))
            if isinstance(v, torch.Tensor):
                v = v.tolist()
            if v is None:
                continue
            if isinstance(v, str):
                out.setdefault(key, []).append(("cat", v))
            elif isinstance(v, list) and (not v or isinstance(v[0], str)):
                out.setdefault(f"{key}()", []).append(("cat", tuple(v)))
                for k, c in enumerate(v):
                    out.setdefault(f"{key}[{k}]", []).append(("cat", c))
            elif isinstance(v, (list, tuple)):
                flat = np.asarray(v, dtype=float).ravel()
                for k, c in enumerate(flat[:8]):
                    out.setdefault(f"{key}[{k}]", []).append(("num", round(float(c), 6)))
                if np.all(flat == np.round(flat)) and len(flat) <= 4:
                    out.setdefault(f"{key}()", []).append(("cat", tuple(flat)))
            else:
                out.setdefault(key, []).append(("num", round(float(v), 6)))
    return out


def _ks_ok(a, b) -> bool:
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    grid = np.concatenate([a, b])
    d = np.abs(
        np.searchsorted(a, grid, "right") / len(a) - np.searchsorted(b, grid, "right") / len(b)
    )
    return d.max() < 1.95 * np.sqrt((len(a) + len(b)) / (len(a) * len(b)))


def _chi2_ok(a, b) -> bool:
    """Two-sample chi-square homogeneity at 0.1% (Wilson-Hilferty's quantile, no scipy)."""
    ca, cb = Counter(a), Counter(b)
    cats = sorted(set(ca) | set(cb), key=repr)
    if len(cats) == 1:
        return True
    table = np.array([[ca[c] for c in cats], [cb[c] for c in cats]], float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    stat = ((table - expected) ** 2 / expected).sum()
    df = len(cats) - 1
    critical = df * (1 - 2 / (9 * df) + 3.09 * np.sqrt(2 / (9 * df))) ** 3
    return stat < critical


def _rate_ok(flags, p) -> bool:
    return abs(np.mean(flags) - p) < 4 * np.sqrt(p * (1 - p) / len(flags)) + 1e-9


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_draws_match_torchvision(case_id):
    _, steps, size, _, _ = _case(case_id)
    pipeline, t, step_p = _setup(steps)
    (kernel,) = pipeline.kernels
    (params,) = pipeline.draw_params(N, *size, torch.Generator().manual_seed(0))
    ours_all = [kernel.torchvision_params(params, i) for i in range(N)]
    if step_p is not None:
        assert _rate_ok([d.pop("step_applied") for d in ours_all], step_p)
    theirs_all = _theirs(t, size, N)
    ours, theirs = _features(ours_all), _features(theirs_all)
    # a coin's other draws exist only where it came up (torchvision draws nothing otherwise)
    applied_theirs = [d for d in theirs_all if d.get("applied", True)]
    theirs.update({k: v for k, v in _features(applied_theirs).items() if k != "applied"})
    # torchvision also reports what is fixed by the settings (RandomCrop's padding)
    assert set(ours) <= set(theirs), (sorted(ours), sorted(theirs))
    for key in ours:
        kinds = {kind for kind, _ in ours[key]}
        a, b = [v for _, v in ours[key]], [v for _, v in theirs[key]]
        ok = _chi2_ok(a, b) if kinds == {"cat"} else _ks_ok(a, b)
        assert ok, key


# ---- the same pixels for the same draws ----------------------------------------------------


def _torchvision_with(t: v2.Transform, image: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    """torchvision alone on one image, given that image's draws."""
    if not p.pop("step_applied", True) or not p.pop("applied", True):
        return image
    if _draws(t) == IN_FORWARD_OPS:
        for op, magnitude in zip(p["transform_id"], p["magnitude"], strict=True):
            image = t._apply_image_or_video_transform(
                image, op, magnitude, interpolation=t.interpolation, fill=t._fill
            )
        return image
    if _draws(t) == IN_TRANSFORM:  # draws inside transform(): add the same noise
        return (image + torch.tensor(p["noise"])).clamp(0, 1)
    return t.transform(image, {**t.make_params([image]), **p})


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_pixels_match_torchvision(case_id):
    _, steps, size, tol, as_uint8 = _case(case_id)
    pipeline, t, _ = _setup(steps)
    (kernel,) = pipeline.kernels
    gen = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (M, 3, *size), dtype=torch.uint8, generator=gen)
    if not as_uint8:
        images = images.float() / 255
    out, (params,) = pipeline.draw(images, torch.Generator().manual_seed(3))
    expected = torch.stack(
        [
            _torchvision_with(t, img, kernel.torchvision_params(params, i))
            for i, img in enumerate(images)
        ]
    )
    if as_uint8:
        expected = expected.float() / 255
    torch.testing.assert_close(out, expected, atol=tol, rtol=0)


# ---- the catalogue declares each kernel ------------------------------------------------------


def test_kernels_are_the_catalogues_declarations():
    assert set(KERNELS) == {t.name for t in WITH_KERNEL}
    for t in WITH_KERNEL:
        assert KERNELS[t.name] is resolve(t.batched.kernel)
        assert isinstance(KERNELS[t.name], type) and issubclass(KERNELS[t.name], Kernel), t.name
        # the declared kernel covers the entry's defaults: the promise is not empty
        assert kernel(make([(t.name, {})]).steps[0]) is not None, t.name


def test_a_kernel_name_that_does_not_resolve_fails_loudly():
    with pytest.raises(AttributeError):
        resolve("geometry:HorizontalFlp")
    with pytest.raises(ModuleNotFoundError):
        resolve("geometri:HorizontalFlip")
    for bad in ({}, {"kernel": "geometry:Crop", "reason": "both"}, {"kernel": "Crop"}):
        with pytest.raises(ValueError):
            Batched(**bad)


@pytest.mark.parametrize(
    "tdef", [t for t in CATALOGUE if not t.batched.kernel], ids=lambda t: t.name
)
def test_an_entry_without_a_kernel_runs_per_image_for_its_reason(tdef):
    spec = make([("RandomHorizontalFlip", {}), (tdef.name, {})])
    assert tdef.batched.reason
    # mixing steps act on whole batches after the image pipeline: never a fallback
    expected = [] if tdef.batch else [(tdef.name, tdef.batched.reason)]
    assert fallback(spec) == expected
    assert unsupported(spec) == [name for name, _ in expected]


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
    spec = make([("RandomHorizontalFlip", {}), ("ElasticTransform", {}), ("JPEG", {})])
    assert unsupported(spec) == ["ElasticTransform", "JPEG"]
    with pytest.raises(ValueError, match="ElasticTransform has no batched kernel"):
        BatchedPipeline(spec)


def test_settings_a_kernel_does_not_cover_fall_back():
    """Step probabilities around size-changing kernels, bicubic crops, and steps without a
    kernel go per image; mixing steps are the trainer's (build_batch), not a kernel's."""
    spec = make(
        [
            ("RandomResizedCrop", {"size": 32, "interpolation": "bicubic"}),
            ("RandomCrop", {"size": 32}, 0.5),
            ("GaussianNoise", {}),
            ("AugMix", {}),
            ("CutMix", {}),
        ]
    )
    assert unsupported(spec) == ["RandomResizedCrop", "RandomCrop", "AugMix"]
    assert unsupported(make([("CutMix", {}), ("RandomHorizontalFlip", {})])) == []
    assert batched_supported(make([("ColorJitter", {}, 0.5), ("RandomGrayscale", {})]))


def test_step_probability_applies_a_kernel_to_that_share_of_the_batch():
    images = torch.rand(2000, 3, 4, 4)
    out, drawn = BatchedPipeline(make([("ColorJitter", {}, 0.3)])).draw(
        images, torch.Generator().manual_seed(0)
    )
    applied = drawn[0]["step_applied"]
    assert _rate_ok(applied.numpy(), 0.3)
    assert torch.equal(out[~applied], images[~applied])
    assert not torch.equal(out[applied], images[applied])


@pytest.mark.slow
def test_every_kernel_compiles_to_one_graph():
    """--compile: no kernel breaks the graph (no per-image loop, no control flow on the draws in
    `apply`); torch._dynamo.explain traces without compiling, so this stays short."""
    import torch._dynamo

    spec = make([(t.name, {}) for t in WITH_KERNEL] + [("ColorJitter", {}, 0.5)])
    pipeline = BatchedPipeline(spec)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    drawn = pipeline.draw_params(4, 32, 32, torch.Generator().manual_seed(0))
    explained = torch._dynamo.explain(pipeline._apply)(images, drawn)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


# ---- grouped application: each image pays for the op it drew ----------------------------

# the cases whose kernel splits the batch by its draws (the policies, ColorJitter's hue)
GROUPED_CASES = [c[0] for c in CASES if BatchedPipeline(make(c[1])).kernels[0].grouped]


@pytest.mark.parametrize("case_id", GROUPED_CASES)
def test_grouped_application_equals_all_ops(case_id, monkeypatch):
    """Eagerly the policies and ColorJitter's hue split the batch by their draws; inside
    torch.compile every op runs on every image (torch.where). Both give each image the same
    pixels (the pixel test above holds the grouped path to torchvision)."""
    _, steps, size, _, _ = _case(case_id)
    pipeline = BatchedPipeline(make(steps))
    images = torch.rand(64, 3, *size, generator=torch.Generator().manual_seed(4))
    grouped = pipeline(images, torch.Generator().manual_seed(5))
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    all_ops = pipeline(images, torch.Generator().manual_seed(5))
    torch.testing.assert_close(grouped, all_ops, atol=1e-6, rtol=0)


def test_a_policy_runs_each_op_family_once_on_its_own_images(monkeypatch):
    """Each family of ops (the warps, the blends, and each other op) is called once per op
    slot, on exactly the images that drew one of its ops; Identity costs nothing."""
    from pipelines import batched

    calls: list[tuple[str, int]] = []
    family = batched.Policy._family

    def counted(self, name, x, code, mag):
        calls.append((name, x.shape[0]))
        return family(self, name, x, code, mag)

    monkeypatch.setattr(batched.Policy, "_family", counted)
    pipeline = BatchedPipeline(make([("RandAugment", {"num_ops": 2, "magnitude": 9})]))
    (drawn,) = pipeline.draw_params(200, 16, 16, torch.Generator().manual_seed(0))
    pipeline.apply(torch.rand(200, 3, 16, 16), [drawn])
    expected = []
    for k in range(2):
        families = batched._FAMILY_OF[drawn["transform_id"][:, k]]
        counts = torch.bincount(families, minlength=len(batched._FAMILIES)).tolist()
        expected += [(batched._FAMILIES[f], c) for f, c in enumerate(counts) if c and f > 0]
    assert calls == expected and len(calls) > 8
    assert sum(c for _, c in calls) < 2 * 200  # not every image through every family


def test_hue_shift_matches_torchvision_adjust_hue():
    """The closed-form hue shift against torchvision's HSV round trip, greys, ties between
    channels and half-turns included."""
    from torchvision.transforms.v2 import functional as F

    from pipelines.batched import _shift_hue

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(300, 3, 8, 8, generator=gen)
    x[:40] = (x[:40] * 4).round() / 4  # ties and saturated colours
    x[40:50] = x[40:50, :1].expand(-1, 3, -1, -1)  # greys
    shift = torch.rand(300, generator=gen) - 0.5
    shift[:10], shift[10:20], shift[20:25] = 0.0, 0.5, -0.5
    theirs = torch.stack([F.adjust_hue(img, float(s)) for img, s in zip(x, shift, strict=True)])
    torch.testing.assert_close(_shift_hue(x, shift), theirs, atol=TOL, rtol=0)
