"""The share link: what is on screen as a link, and a page opened with one (a malformed link
is explained). Plain functions: no server, no browser."""

import base64
import json
import re
import zlib
from urllib.parse import parse_qsl

import numpy as np
import pytest

from pipelines.spec import default_spec, from_json, make, preset
from playground import controls, share
from playground.images import sample_image
from playground.ui.editing import on_seed
from playground.ui.sharing import on_share, on_shared_link, share_query
from tests.helpers import LAYOUT, _skipped


def _query(link: str) -> dict[str, str]:
    return dict(parse_qsl(link.removeprefix("?"), keep_blank_values=True))


def test_a_share_link_round_trips_the_pipeline_and_seed():
    specs = [
        default_spec(),
        make([("ColorJitter", {"hue": 0.1}, 0.4), ("RandomHorizontalFlip", {}), ("CutMix", {})]),
        make([("RandomResizedCrop", {"ratio_min": 0.1, "ratio_max": 10.0})]),
        controls.set_enabled(preset("trivialaugment-cifar"), 1, False),
    ]
    for spec, seed in zip(specs, (0, 7, 2**31 - 1, 123456), strict=True):
        link = share_query(spec, seed, None)
        assert link.startswith("?pipeline=") and len(link) < 2000
        assert share.decode(_query(link)) == (spec, seed)
    # What the page does with it: the editor, the seed and the grid restored.
    spec = specs[1]
    out, layout, seed, grid, *_ = on_shared_link(
        _query(share_query(spec, 7)), sample_image("cat"), 0, default_spec(), LAYOUT
    )
    assert out == spec and from_json(layout[1]) == spec and seed == 7 and 'data-seed="7"' in grid
    # A page opened without a shared link keeps what it has.
    assert all(_skipped(x) for x in on_shared_link({}, sample_image("cat"), 0, spec, LAYOUT))


def test_a_malformed_share_link_is_explained_and_the_default_pipeline_shown():
    good = _query(share_query(default_spec(), 3))
    bomb = base64.urlsafe_b64encode(zlib.compress(b" " * 1_000_000)).decode().rstrip("=")
    unknown = json.dumps(
        {"format": "augmentation-pipeline", "version": 2, "steps": [{"transform": "Evil"}]}
    )
    cases = {
        "not in the link's alphabet": {"pipeline": "abc$%"},
        "cut short or mistyped": {"pipeline": "abcde"},
        "cut short": {"pipeline": good["pipeline"][:-8]},
        "unpacks to more than 65,536 bytes": {"pipeline": bomb},
        "characters long": {"pipeline": "A" * 9000},
        "does not validate: step 1: unknown transform 'Evil'": {
            "pipeline": base64.urlsafe_b64encode(zlib.compress(unknown.encode()))
            .decode()
            .strip("=")
        },
        "seed must be a whole number from 0 to 2,147,483,647": {**good, "seed": "-5"},
    }
    for why, query in cases.items():
        with pytest.raises(share.ShareError, match=re.escape(why)):
            share.decode(query)
        spec, layout, seed, grid, summary, *_ = on_shared_link(
            query, sample_image("cat"), 0, preset("randaugment"), LAYOUT
        )
        assert spec == default_spec() and from_json(layout[1]) == default_spec() and seed == 0
        assert summary.startswith("⚠️ This link's pipeline could not be read: its ")
        assert why in summary and "Showing the default pipeline." in summary
        assert grid.count("<img") == 8


def test_a_share_link_carries_the_sample_image_but_not_an_upload():
    spec = default_spec().with_params("ColorJitter", hue=0.1)
    link = on_share(spec, 42, "astronaut")
    assert "image=astronaut" in link["value"] and "cannot travel" not in link["label"]
    out = on_shared_link(_query(link["value"]), sample_image("cat"), 0, default_spec(), LAYOUT)
    new_spec, _, seed, grid, _, draft, image, shown, sample = out
    assert (new_spec, seed, draft, sample) == (spec, 42, None, "astronaut")
    assert np.array_equal(np.asarray(image), np.asarray(sample_image("astronaut")))
    assert grid == on_seed(sample_image("astronaut"), 42, spec)[1]
    # An uploaded image (no sample picked) stays out of the link, and the box says so.
    link = on_share(spec, 42, None)
    assert "image=" not in link["value"] and "uploaded image cannot travel" in link["label"]
    # A link naming no known sample is refused in words.
    with pytest.raises(share.ShareError, match="its image must be one of the samples"):
        share.image({"image": "../etc/passwd"}, ["cat", "astronaut"])
