"""build(), the seeded samples, and every catalogue transform round-tripped (Albumentations-style)."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from pipelines.build import build, build_batch, build_step
from pipelines.catalogue import CATALOGUE
from pipelines.samples import (
    BATCH_INDEX,
    Sample,
    draw_params,
    render_samples,
    render_steps,
    step_seed,
    strength_strip,
)
from pipelines.spec import default_spec, from_json, make

# Entries whose draws are torchvision's make_params (the others draw inside forward or mix a batch)
SPLIT = [t for t in CATALOGUE if not (t.draws_in_forward or t.batch)]


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (60, 90, 3), dtype=np.uint8))


def _pixels(image):
    return np.asarray(image)


@pytest.mark.parametrize("tdef", CATALOGUE, ids=lambda t: t.name)
def test_every_transform_round_trips_and_replays(tdef, photo):
    """JSON round trip gives the same spec, and the same seed gives the same pixels."""
    spec = make([(tdef.name, {})])
    again = from_json(spec.to_json())
    assert again == spec
    first = render_samples(spec, photo, seed=7, count=3)
    second = render_samples(again, photo, seed=7, count=3)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(_pixels(a.image), _pixels(b.image))
        assert a.drawn == b.drawn


@pytest.mark.parametrize("tdef", SPLIT, ids=lambda t: t.name)
def test_draw_then_transform_equals_calling_the_transform(tdef, photo):
    """Our split of forward() into draw + apply matches torchvision's own forward()."""
    step = build_step(make([(tdef.name, {"p": 0.5} if "p" in tdef.defaults() else {})]).steps[0])
    for seed in range(6):
        torch.manual_seed(seed)
        expected = step(photo)
        torch.manual_seed(seed)
        params = draw_params(step, photo)
        got = photo if params is None else step.transform(photo, params)
        assert np.array_equal(_pixels(got), _pixels(expected))


def _plain_seeded_calls(spec, image, seed, count=8):
    """What the preview promises: per sample, each step called under its own seed; then the
    mixing steps called on the batch of samples, as a training loop calls them."""
    keys = dict(zip(map(id, spec.active), spec.step_keys(), strict=True))
    outputs = []
    for i in range(count):
        out = image
        for step, transform in zip(spec.image_steps, build(spec).transforms, strict=False):
            torch.manual_seed(step_seed(seed, i, keys[id(step)]))
            out = transform(out)
        outputs.append(out if isinstance(out, Image.Image) else F.to_pil_image(out))
    mixing = build_batch(spec)
    if mixing is None:
        return outputs
    batch = F.to_dtype(
        torch.stack([F.pil_to_tensor(o) for o in outputs]), torch.float32, scale=True
    )
    labels = torch.arange(count) % spec.batch_steps[0].params["num_classes"]
    for step, transform in zip(spec.batch_steps, mixing.transforms, strict=True):
        torch.manual_seed(step_seed(seed, BATCH_INDEX, keys[id(step)]))
        batch, labels = transform(batch, labels)
    return [F.to_pil_image(x) for x in F.to_dtype(batch, torch.uint8, scale=True)]


@pytest.mark.parametrize("tdef", CATALOGUE, ids=lambda t: t.name)
def test_samples_match_plain_seeded_calls_for_every_transform(tdef, photo):
    """Policies and noise (drawn inside forward) and mixing too: recording draws changes no pixel."""
    spec = make([(tdef.name, {})])
    samples = render_samples(spec, photo, seed=5)
    for sample, out in zip(samples, _plain_seeded_calls(spec, photo, 5), strict=True):
        assert np.array_equal(_pixels(out), _pixels(sample.image))
        assert len(sample.captions) == 1 and sample.captions[0]


def test_samples_match_plain_seeded_compose(photo):
    spec = make(
        [
            ("RandomHorizontalFlip", {}),
            ("ColorJitter", {}, 0.5),
            ("RandAugment", {}),
            ("ColorJitter", {"hue": 0.0}),
            ("GaussianNoise", {}, 0.5),
            ("RandomResizedCrop", {"size": 48}),
            ("MixUp", {}),
        ]
    )
    samples = render_samples(spec, photo, seed=3)
    assert len(samples) == 8
    for sample, out in zip(samples, _plain_seeded_calls(spec, photo, 3), strict=True):
        assert np.array_equal(_pixels(out), _pixels(sample.image))
        assert len(sample.captions) == len(spec.active)


def test_policies_say_which_ops_they_drew(photo):
    spec = make([("AutoAugment", {"policy": "cifar10"}), ("RandAugment", {}), ("AugMix", {})])
    for sample in render_samples(spec, photo, seed=2):
        auto, rand, augmix = (info for _, info in sample.drawn)
        assert 0 <= auto["policy"] < auto["policies"] == 25
        assert len(rand["ops"]) == 2 and all(isinstance(m, float) for _, m in rand["ops"])
        assert len(augmix["chains"]) == 3 and len(augmix["chain_weights"]) == 3
        total = augmix["original_weight"] + sum(augmix["chain_weights"])
        assert total == pytest.approx(1.0, abs=1e-5)
        assert sample.captions[0].startswith("sub-policy ")
        assert rand["ops"][0][0] in sample.captions[1]


def test_mixing_captions_name_the_partner_and_ratio(photo):
    spec = make([("RandomHorizontalFlip", {}), ("CutMix", {}), ("MixUp", {})])
    samples = render_samples(spec, photo, seed=1)
    for i, sample in enumerate(samples):
        drawn = dict(sample.drawn)
        assert drawn["CutMix#0"]["partner"] == drawn["MixUp#0"]["partner"] == (i - 1) % 8
        assert f"sample {(i - 1) % 8 + 1}" in sample.captions[1]
        assert "% own" in sample.captions[2]


def test_mixing_samples_of_different_sizes_says_why_not(photo):
    spec = make([("RandomZoomOut", {"p": 1.0}), ("CutMix", {})])
    samples = render_samples(spec, photo, seed=0)
    assert all("differ in size" in s.captions[-1] for s in samples)


def test_moving_one_parameter_keeps_the_other_steps_draws(photo):
    spec = default_spec()
    before = render_samples(spec, photo, seed=1)
    after = render_samples(spec.with_params("ColorJitter", hue=0.03), photo, seed=1)
    for a, b in zip(before, after, strict=True):
        a, b = dict(a.drawn), dict(b.drawn)
        assert a["RandomHorizontalFlip#0"] == b["RandomHorizontalFlip#0"]  # same decision
        assert a["RandomResizedCrop#0"] == b["RandomResizedCrop#0"]  # same box
        ja, jb = a["ColorJitter#0"], b["ColorJitter#0"]
        assert ja["fn_idx"] == jb["fn_idx"]
        assert ja["brightness_factor"] == jb["brightness_factor"]
        assert ja["contrast_factor"] == jb["contrast_factor"]
        assert abs(jb["hue_factor"]) <= 0.03
    assert any(
        dict(a.drawn)["ColorJitter#0"]["hue_factor"] != dict(b.drawn)["ColorJitter#0"]["hue_factor"]
        for a, b in zip(before, after, strict=True)
    )


def test_different_seeds_differ_and_global_rng_is_untouched(photo):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = render_samples(default_spec(), photo, seed=1)
    b = render_samples(default_spec(), photo, seed=2)
    assert torch.equal(torch.rand(3), expected)
    assert any(x.drawn != y.drawn for x, y in zip(a, b, strict=True))


def test_output_size_follows_the_spec(photo):
    spec = default_spec().with_params("RandomResizedCrop", size=48)
    assert {s.image.size for s in render_samples(spec, photo, 0)} == {(48, 48)}


def test_empty_pipeline_returns_the_image(photo):
    spec = default_spec()
    for step in spec.steps:
        spec = spec.with_params(step.transform)  # no-op edit keeps it valid
    off = from_json(spec.to_json().replace('"enabled": true', '"enabled": false'))
    samples = render_samples(off, photo, 0)
    assert all(np.array_equal(_pixels(s.image), _pixels(photo)) for s in samples)


def test_step_by_step_ends_on_the_grids_sample(photo):
    spec = make(
        [("RandomHorizontalFlip", {}), ("RandAugment", {}), ("ColorJitter", {}), ("CutMix", {})]
    )
    grid = render_samples(spec, photo, seed=4)
    for index in (0, 5):
        rows = render_steps(spec, photo, seed=4, index=index)
        assert [key for key, _, _ in rows] == spec.step_keys()
        assert [text for _, _, text in rows] == grid[index].captions
        assert np.array_equal(_pixels(rows[-1][1]), _pixels(grid[index].image))
    no_mix = make([("RandomHorizontalFlip", {}), ("ColorJitter", {})])
    rows = render_steps(no_mix, photo, seed=4, index=2)
    assert np.array_equal(_pixels(rows[-1][1]), _pixels(render_samples(no_mix, photo, 4)[2].image))


def test_strength_strip_changes_only_that_parameter(photo):
    spec = make([("RandomResizedCrop", {"size": 40}), ("ColorJitter", {}), ("GaussianBlur", {})])
    strip = strength_strip(spec, photo, seed=2, key="ColorJitter#0", param="brightness", index=3)
    assert [v for v, _ in strip] == pytest.approx([k / 7 for k in range(8)])
    crops = {tuple(sorted(dict(s.drawn)["RandomResizedCrop#0"].items())) for _, s in strip}
    assert len(crops) == 1  # the other steps keep their draws
    factors = [dict(s.drawn)["ColorJitter#0"]["brightness_factor"] for _, s in strip]
    assert factors[0] is None and len(set(factors[1:])) == 7  # 0 turns brightness off
    grid = render_samples(spec.with_key_params("ColorJitter#0", brightness=1.0), photo, 2)
    assert np.array_equal(_pixels(strip[-1][1].image), _pixels(grid[3].image))


def test_strength_strip_keeps_the_steps_other_draws_when_a_value_turns_a_factor_off(photo):
    """Issue 17: brightness 0 draws no brightness factor, and without pinning contrast,
    saturation and hue took other numbers in that one cell."""
    spec = default_spec()
    for seed, index in ((0, 0), (5, 2), (11, 6)):
        strip = strength_strip(spec, photo, seed, "ColorJitter#0", "brightness", index)
        drawn = [dict(s.drawn)["ColorJitter#0"] for _, s in strip]
        assert drawn[0]["brightness_factor"] is None  # 0 turns brightness off
        for name in ("contrast_factor", "saturation_factor", "hue_factor", "fn_idx"):
            assert len({str(d[name]) for d in drawn}) == 1, (seed, name)
        grid = render_samples(spec, photo, seed)[index]  # and they are the grid's draws
        assert dict(grid.drawn)["ColorJitter#0"]["contrast_factor"] == drawn[0]["contrast_factor"]


def test_strength_strip_explains_values_the_other_settings_refuse(photo):
    spec = make([("GaussianBlur", {"sigma_min": 2.0, "sigma_max": 3.0})])
    strip = strength_strip(spec, photo, seed=0, key="GaussianBlur#0", param="sigma_min")
    assert isinstance(strip[0][1], Sample) and isinstance(strip[-1][1], str)
    assert "greater" in strip[-1][1]
    kernel_sizes = [v for v, _ in strength_strip(spec, photo, 0, "GaussianBlur#0", "kernel_size")]
    assert all(v % 2 == 1 for v in kernel_sizes) and kernel_sizes[-1] == 31
