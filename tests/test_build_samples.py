"""build(), the seeded samples, and every catalogue transform round-tripped (Albumentations-style)."""

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.build import build, build_step
from pipelines.catalogue import CATALOGUE
from pipelines.samples import draw_params, render_samples, step_seed
from pipelines.spec import default_spec, from_json, make


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


@pytest.mark.parametrize("tdef", CATALOGUE, ids=lambda t: t.name)
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


def test_samples_match_plain_seeded_compose(photo):
    spec = default_spec()
    pipeline = build(spec)
    samples = render_samples(spec, photo, seed=3)
    assert len(samples) == 8
    for i, sample in enumerate(samples):
        out = photo
        for key, step in zip(spec.step_keys(), pipeline.transforms, strict=True):
            torch.manual_seed(step_seed(3, i, key))
            out = step(out)
        assert np.array_equal(_pixels(out), _pixels(sample.image))


def test_moving_one_parameter_keeps_the_other_steps_draws(photo):
    spec = default_spec()
    before = render_samples(spec, photo, seed=1)
    after = render_samples(spec.with_params("ColorJitter", hue=0.1), photo, seed=1)
    for a, b in zip(before, after, strict=True):
        assert a.drawn[0] == b.drawn[0]  # flip: same decision
        assert a.drawn[1] == b.drawn[1]  # crop: same box
        ja, jb = a.drawn[2][1], b.drawn[2][1]
        assert ja["fn_idx"] == jb["fn_idx"]
        assert ja["brightness_factor"] == jb["brightness_factor"]
        assert ja["contrast_factor"] == jb["contrast_factor"]
        assert abs(jb["hue_factor"]) <= 0.1
    assert any(
        a.drawn[2][1]["hue_factor"] != b.drawn[2][1]["hue_factor"]
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
