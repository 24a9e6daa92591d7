"""The Augment tab's input image (an upload, a sample pick) and what is drawn from it: the
grid and its captions, new samples, step by step, the strength strip. Plain functions: no
server, no browser."""

import html
import re

import numpy as np
from PIL import Image

from pipelines.spec import default_spec, make
from playground.images import sample_image
from playground.ui.editing import on_new_samples, on_pipeline, on_seed
from playground.ui.image_upload import on_image, sample_after_upload
from playground.ui.views import on_steps, on_strength, strength_update
from tests.helpers import LAYOUT


def test_a_bad_upload_keeps_the_previous_image(tmp_path):
    current = sample_image("cat")
    bad = tmp_path / "x.png"
    bad.write_text("not an image")
    state, shown, grid, summary = on_image(str(bad), default_spec(), 0, current)
    assert state is current
    assert summary.startswith("⚠️") and "previous image is kept" in summary


def test_a_good_upload_replaces_it(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGBA", (64, 40), (255, 0, 0, 128)).save(path)
    state, shown, grid, summary = on_image(str(path), default_spec(), 0, sample_image("cat"))
    assert state.size == (64, 40) and state.mode == "RGB"
    assert np.asarray(state)[0, 0].tolist() == [255, 127, 127]
    assert "Input 64 x 40" in summary


def test_new_samples_draws_a_new_seed():
    seed, grid, _ = on_new_samples(sample_image("cat"), default_spec())
    assert f'data-seed="{seed}"' in grid


def test_step_by_step_view_shows_the_input_then_each_step():
    spec = make([("RandomHorizontalFlip", {}), ("RandAugment", {}), ("CutMix", {})])
    html = on_steps(sample_image("cat"), 0, spec, 3)
    assert html.count("<img") == 4  # the input and one image per step
    assert "1. Horizontal flip" in html and "3. CutMix" in html
    assert on_steps(None, 0, spec, 1) == ""


def test_strength_strip_follows_the_step_list():
    spec = make([("RandAugment", {"magnitude": 20})])
    choices = dict((v, k) for k, v in strength_update((1, spec.to_json()))["choices"])
    assert set(choices) == {
        "RandAugment#0/num_ops",
        "RandAugment#0/magnitude",
        "RandAugment#0/num_magnitude_bins",
    }
    html = on_strength(sample_image("cat"), 0, spec, 1, "RandAugment#0/num_magnitude_bins")
    assert html.count("<img") + html.count("not valid here") == 8
    assert "not valid here" in html  # bins at or below the magnitude
    assert on_strength(
        sample_image("cat"), 0, default_spec(), 1, "RandAugment#0/magnitude"
    ).startswith("<p>⚠️")


def test_an_upload_clears_the_sample_pick_unless_refused():
    assert sample_after_upload("Input 64 x 40 px -> ...")[0] is None
    assert not isinstance(
        sample_after_upload("⚠️ The file is empty. The previous image is kept.")[0], str
    )


def test_captions_say_each_step_in_words_in_pipeline_order():
    spec = default_spec()
    _, grid, _ = on_seed(sample_image("cat"), 0, spec)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", grid)
    assert len(captions) == 8
    jitter = re.compile(
        r"brightness \d\.\d\d, contrast \d\.\d\d, saturation \d\.\d\d, hue [+-]\d\.\d\d"
    )
    for text in captions:
        flip, crop, colour = html.unescape(text).split("<br>")  # one line per step, in order
        assert flip in ("flipped horizontally", "no horizontal flip")
        assert crop.startswith("crop ")
        assert jitter.fullmatch(colour), colour  # the same order on every sample


def test_a_large_upload_says_it_was_scaled_down(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (4000, 3000), (200, 40, 40)).save(path, compress_level=1)
    state, shown, grid, summary = on_image(str(path), default_spec(), 0, sample_image("cat"))
    assert state.size == (1024, 768)
    assert summary.startswith(
        "Input scaled down from 4000 x 3000 to 1024 x 768 px for the preview -> output"
    )
    assert shown["label"] == "Input: 1024 x 768 px, scaled down from 4000 x 3000"
    Image.new("RGB", (64, 40)).save(path.with_name("small.png"))
    _, shown, _, small = on_image(str(path.with_name("small.png")), default_spec(), 0, state)
    assert small.startswith("Input 64 x 40 px -> output") and shown["label"] == "Input: 64 x 40 px"


def test_a_training_resolution_grid_offers_both_views():
    _, _, cifar, _, _ = on_pipeline(
        "cifar-standard", sample_image("cat"), 0, default_spec(), LAYOUT
    )
    assert '<div class="sample-grid small"' in cifar  # pixelated when enlarged (CSS)
    assert cifar.count('src="data:image/png;base64,') == 8  # every training pixel, no JPEG blur
    assert "Display size: the 32 x 32 px samples enlarged to fit, each pixel a sharp square." in (
        cifar
    )
    assert "Training resolution: 32 x 32 px, one image pixel per screen pixel." in cifar
    _, _, large, _, _ = on_pipeline("d2l-shape", sample_image("cat"), 0, default_spec(), LAYOUT)
    assert '<div class="sample-grid"' in large and "image/png" not in large
    assert "Display size: the 200 x 200 px samples scaled to fit." in large
