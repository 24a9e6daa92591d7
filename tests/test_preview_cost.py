"""The preview's cost per request is bounded: estimated before rendering, reduced or refused in
words when it exceeds the budget, stopped past its deadline, and never holding the RNG lock for
a costly computation that other visitors' previews wait on."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2.functional import _misc

from pipelines import cost, samples
from pipelines.build import build_step
from pipelines.samples import PreviewTimeout, render_samples
from pipelines.spec import default_spec, make, preset
from playground import preview

# the share link: 8 ElasticTransform steps at alpha 250, sigma 20 (valid, 210 characters)
STORM = make([("ElasticTransform", {"alpha": 250.0, "sigma": 20.0})] * 8)
BLUR = make([("GaussianBlur", {"kernel_size": 31, "sigma_min": 5.0, "sigma_max": 10.0})])


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8))


@pytest.fixture
def on_space(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/playground")
    monkeypatch.delenv(preview.BUDGET_ENV, raising=False)
    return preview.SPACE_BUDGET_S


def test_the_elastic_draw_outside_the_lock_equals_torchvision():
    step = build_step(make([("ElasticTransform", {"alpha": 120.0, "sigma": 3.0})]).steps[0])
    image = torch.rand(3, 40, 56)
    torch.manual_seed(7)
    expected = step.make_params([image])
    torch.manual_seed(7)
    drawn = samples._finish_params(step, samples._draw_cheaply(step, image), image)
    assert torch.equal(drawn["displacement"], expected["displacement"])


def test_the_costly_blur_runs_without_the_rng_lock(monkeypatch):
    held = []
    convolve = _misc.conv2d  # the Gaussian blur's convolution

    def watched(*args, **kwargs):
        held.append(samples._DRAW_LOCK.locked())
        return convolve(*args, **kwargs)

    monkeypatch.setattr(_misc, "conv2d", watched)
    spec = make([("ElasticTransform", {"alpha": 50.0, "sigma": 2.0})])
    render_samples(spec, Image.new("RGB", (40, 30)), 0, count=1)
    assert held == [False, False]  # both fields blurred, neither while other visitors wait


def test_a_normal_pipeline_is_previewed_as_it_was(on_space, photo):
    for spec in (default_spec(), preset("d2l-combined"), preset("trivialaugment-cifar")):
        plan = cost.preview_plan(spec, photo.size, 8, on_space)
        assert plan.scale == 1.0 and plan.count == 8, spec
    grid, summary = preview.render(default_spec(), photo, 3)
    expected = preview.grid_html(render_samples(default_spec(), photo, 3), 3)
    assert grid == expected and "costly" not in summary


def test_a_costly_pipeline_is_shown_smaller_and_says_so(on_space, photo):
    plan = cost.preview_plan(BLUR, photo.size, 8, on_space)
    assert plan.scale < 1.0 and plan.seconds <= on_space < plan.full_seconds
    grid, summary = preview.render(BLUR, photo, 0)
    assert grid.count('<img alt="sample') == plan.count
    assert "This pipeline is costly" in grid and "px copy of the 1024 x 768 px input" in grid
    assert summary.startswith("This pipeline is costly")


def test_a_pipeline_no_preview_can_afford_is_refused_in_words_at_once(on_space, photo):
    started = time.monotonic()
    grid, summary = preview.render(STORM, photo, 0)
    assert summary.startswith("⚠️")
    steps = preview.steps_html(STORM, photo, 0, 0)
    strength = preview.strength_html(STORM, photo, 0, 0, "elastic/alpha")
    for html in (grid, steps, strength):
        assert "Not previewed: this pipeline is too costly to preview on this server" in html
        assert "ElasticTransform with sigma 20; lower it" in html
    # estimated, not rendered: the three answers together took far less than one render would
    assert cost.estimate_seconds(STORM, photo.size, 8) > 100 * (time.monotonic() - started)


def test_a_render_that_outruns_its_estimate_stops_between_steps(monkeypatch, photo):
    with pytest.raises(PreviewTimeout):
        render_samples(default_spec(), photo, 0, deadline=time.monotonic() - 1)
    monkeypatch.setattr(preview, "DEADLINE_FACTOR", -10.0)  # a deadline already past
    grid, summary = preview.render(default_spec(), photo, 0)
    assert "ran past this server&#x27;s time budget and was stopped" in grid
    assert summary.startswith("⚠️")


def test_an_image_too_small_for_the_elastic_field_is_explained(on_space):
    spec = make([("ElasticTransform", {"alpha": 50.0, "sigma": 20.0})])
    grid, summary = preview.render(spec, Image.new("RGB", (48, 36)), 0)
    assert "Not previewed" in grid and summary.startswith("⚠️")


def test_outside_a_space_the_budget_is_the_users_own(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv(preview.BUDGET_ENV, raising=False)
    assert preview.budget_s() == preview.LOCAL_BUDGET_S
    monkeypatch.setenv(preview.BUDGET_ENV, "2.5")
    assert preview.budget_s() == 2.5
