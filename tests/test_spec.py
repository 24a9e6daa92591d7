"""Catalogue, spec validation and the JSON form."""

import json
import math

import pytest

from pipelines.catalogue import BY_NAME, CATALOGUE, PRESETS
from pipelines.spec import (
    MAX_FILE_BYTES,
    MAX_STEPS,
    VERSION,
    SpecError,
    default_spec,
    from_dict,
    from_json,
    load,
    make,
    preset,
)
from tests.helpers import MISSION_IDS


def _doc(*steps, version=VERSION):
    return {"format": "augmentation-pipeline", "version": version, "steps": list(steps)}


def _step(name, enabled=True, **overrides):
    return {
        "transform": name,
        "enabled": enabled,
        "params": {**BY_NAME[name].defaults(), **overrides},
    }


def test_catalogue_defaults_are_within_their_own_ranges():
    for tdef in CATALOGUE:
        for p in tdef.params:
            if p.kind in ("int", "float"):
                assert p.low <= p.default <= p.high, (tdef.name, p.name)
            if p.kind == "choice":
                assert p.default in p.choices


def test_mission_slider_ids_come_from_the_catalogue():
    ids = {t.elem_id(p.name) for t in CATALOGUE for p in t.params}
    for wanted in MISSION_IDS:
        assert wanted in ids


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_json(name):
    spec = preset(name)
    assert from_json(spec.to_json()) == spec
    assert load(name) == spec


def test_d2l_combined_keeps_the_chapters_order():
    names = [s.transform for s in preset("d2l-combined").active]
    assert names == ["RandomHorizontalFlip", "ColorJitter", "RandomResizedCrop"]
    assert preset("d2l-shape").output_size() == 200


def test_default_spec_is_the_missions_three_steps():
    spec = default_spec()
    assert [s.transform for s in spec.active] == [s.transform for s in spec.steps]
    assert [s.transform for s in spec.steps] == [
        "RandomHorizontalFlip",
        "RandomResizedCrop",
        "ColorJitter",
    ]


def test_load_reads_a_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(preset("cifar-standard").to_json())
    assert load(path) == preset("cifar-standard")
    assert load(str(path)) == preset("cifar-standard")


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (_doc({"transform": "Nope", "params": {}}), ["step 1", "unknown transform", "'Nope'"]),
        (
            _doc(_step("RandomHorizontalFlip", p=1.5)),
            ["step 1", "RandomHorizontalFlip", "'p'", "outside"],
        ),
        (_doc(_step("RandomHorizontalFlip", p="0.5")), ["'p'", "expected a number"]),
        (_doc(_step("RandomHorizontalFlip", p=True)), ["'p'", "expected a number"]),
        (_doc(_step("RandomResizedCrop", size=20.5)), ["'size'", "whole number"]),
        (
            _doc(_step("RandomResizedCrop", scale_min=0.9, scale_max=0.5)),
            ["step 1", "'scale_min'", "greater"],
        ),
        (
            _doc(_step("RandomResizedCrop", ratio_min=3.0, ratio_max=1.0)),
            ["'ratio_min'", "greater"],
        ),
        (_doc(_step("GaussianBlur", kernel_size=4)), ["'kernel_size'", "odd"]),
        (_doc(_step("RandomCrop", padding_mode="wrap")), ["'padding_mode'", "one of"]),
        (_doc(_step("RandomHorizontalFlip", q=1)), ["'q'", "unknown parameter"]),
        (_doc({"transform": "RandomHorizontalFlip", "params": {}}), ["'p'", "missing"]),
        (
            _doc({"transform": "RandomHorizontalFlip", "params": {"p": 0.5}, "x": 1}),
            ["unknown key"],
        ),
        (
            _doc({"transform": "RandomHorizontalFlip", "enabled": "yes", "params": {"p": 0.5}}),
            ["enabled"],
        ),
        (
            _doc(_step("RandomHorizontalFlip"), _step("ColorJitter", hue=0.7)),
            ["step 2", "ColorJitter", "'hue'"],
        ),
        ({"format": "augmentation-pipeline", "version": 3, "steps": []}, ["version 3"]),
        ({"format": "augmentation-pipeline", "version": True, "steps": []}, ["version True"]),
        (
            _doc(_step("RandAugment", magnitude=31, num_magnitude_bins=31)),
            ["'magnitude'", "greater than or equal to", "less than 'num_magnitude_bins'"],
        ),
        (_doc(_step("JPEG", quality_min=90, quality_max=40)), ["'quality_min'", "at most"]),
        (_doc({**_step("ColorJitter"), "p": 1.5}), ["step probability", "outside"]),
        (_doc({**_step("ColorJitter"), "p": "half"}), ["step probability", "a number"]),
        (
            _doc({**_step("RandomHorizontalFlip"), "p": 0.5}),
            ["RandomHorizontalFlip has a probability of its own"],
        ),
        (_doc({**_step("ColorJitter"), "p": 0.5}, version=1), ["unknown key", "p"]),
        (
            _doc(_step("CutMix", num_classes=10), _step("MixUp", num_classes=100)),
            ["step 2", "num_classes", "100 differs"],
        ),
        ({"version": 1, "steps": []}, ["not a pipeline file"]),
        (
            {"format": "augmentation-pipeline", "version": 1, "steps": {}},
            ["'steps' must be a list"],
        ),
        ([1, 2], ["JSON object"]),
        (_doc(*[_step("RandomHorizontalFlip")] * (MAX_STEPS + 1)), ["too many steps"]),
    ],
)
def test_invalid_documents_name_the_problem(doc, words):
    with pytest.raises(SpecError) as info:
        from_dict(doc)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(token):
    text = json.dumps(_doc(_step("RandomHorizontalFlip"))).replace("0.5", token)
    with pytest.raises(SpecError, match="not allowed"):
        from_json(text)


def test_non_finite_values_built_in_code_are_refused():
    with pytest.raises(SpecError, match="finite"):
        from_dict(_doc(_step("RandomHorizontalFlip", p=math.nan)))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{", "not valid JSON"),
        ("", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        ("[" * 100000 + "]" * 100000, "too large"),
        ("[" * 20000 + "]" * 20000, "JSON"),
        # Python refuses to parse an int of over 4,300 digits with a ValueError of its own,
        # which reached the UI as Gradio's generic error
        ('{"steps": [{"degrees": ' + "9" * 5000 + "}]}", "a number in the file has 5,000 digits"),
        ('{"x": -' + "1" * 31 + "}", "has 31 digits"),
    ],
)
def test_malformed_files_get_a_message(text, words):
    with pytest.raises(SpecError, match=words):
        from_json(text)


def test_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(" " * (MAX_FILE_BYTES + 1))
    with pytest.raises(SpecError, match="too large"):
        load(path)


def test_missing_file_names_the_presets():
    with pytest.raises(SpecError, match="d2l-flip"):
        load("no-such-file.json")


def test_with_output_size_changes_only_size_params():
    spec = make([("RandomResizedCrop", {"size": 200}), ("RandomCrop", {"size": 64})])
    small = spec.with_output_size(32)
    assert small.output_size() == 32
    assert [s.params["size"] for s in small.steps] == [32, 32]
    crop = "RandomResizedCrop"
    assert small.step(crop).params["scale_min"] == spec.step(crop).params["scale_min"]


def test_with_params_validates():
    spec = default_spec()
    assert spec.with_params("ColorJitter", hue=0.1).step("ColorJitter").params["hue"] == 0.1
    with pytest.raises(SpecError):
        spec.with_params("ColorJitter", hue=2.0)


def test_step_keys_number_repeated_transforms():
    spec = make([("RandomHorizontalFlip", {}), ("ColorJitter", {}), ("RandomHorizontalFlip", {})])
    assert spec.step_keys() == ["RandomHorizontalFlip#0", "ColorJitter#0", "RandomHorizontalFlip#1"]


def test_disabled_steps_are_kept_in_json_but_not_active():
    spec = from_dict(_doc(_step("RandomHorizontalFlip", enabled=False), _step("ColorJitter")))
    assert [s.transform for s in spec.active] == ["ColorJitter"]
    assert from_json(spec.to_json()).step("RandomHorizontalFlip").enabled is False


def test_order_duplicates_and_step_probabilities_round_trip():
    spec = make(
        [
            ("ColorJitter", {"hue": 0.1}, 0.3),
            ("RandomHorizontalFlip", {}),
            ("ColorJitter", {"brightness": 0.2}),
            ("TrivialAugmentWide", {}, 0.5),
        ]
    )
    again = from_json(spec.to_json())
    assert again == spec
    assert [(s.transform, s.p) for s in again.steps] == [
        ("ColorJitter", 0.3),
        ("RandomHorizontalFlip", 1.0),
        ("ColorJitter", 1.0),
        ("TrivialAugmentWide", 0.5),
    ]
    assert again.step("ColorJitter", 1).params["brightness"] == 0.2
    assert json.loads(spec.to_json())["version"] == VERSION == 2


def test_version_1_files_still_load():
    """A file the previous release wrote: no step "p", none of the parameters added since."""
    v1 = {
        "format": "augmentation-pipeline",
        "version": 1,
        "steps": [
            {"transform": "RandomRotation", "enabled": True, "params": {"degrees": 30.0}},
            {
                "transform": "RandomResizedCrop",
                "enabled": True,
                "params": {
                    "size": 64,
                    "scale_min": 0.2,
                    "scale_max": 1.0,
                    "ratio_min": 0.75,
                    "ratio_max": 1.33,
                },
            },
            {"transform": "RandomHorizontalFlip", "enabled": False, "params": {"p": 0.5}},
        ],
    }
    spec = from_json(json.dumps(v1))
    assert [(s.transform, s.enabled, s.p) for s in spec.steps] == [
        ("RandomRotation", True, 1.0),
        ("RandomResizedCrop", True, 1.0),
        ("RandomHorizontalFlip", False, 1.0),
    ]
    rotation = spec.step("RandomRotation").params
    assert rotation == {"degrees": 30.0, "interpolation": "nearest", "expand": False}
    assert spec.step("RandomResizedCrop").params["interpolation"] == "bilinear"
    assert from_json(spec.to_json()) == spec  # saved again as version 2


def test_version_1_still_needs_the_parameters_it_had():
    v1 = _doc({"transform": "RandomRotation", "params": {}}, version=1)
    with pytest.raises(SpecError, match="'degrees': missing"):
        from_dict(v1)


def test_strict_and_non_strict_orders():
    make([("RandAugment", {"magnitude": 30, "num_magnitude_bins": 31})])
    make([("JPEG", {"quality_min": 70, "quality_max": 70})])  # equal is fine for <=
    with pytest.raises(SpecError, match="less than"):
        make([("RandAugment", {"magnitude": 31, "num_magnitude_bins": 31})])


def test_catalogue_groups_and_own_probabilities():
    from pipelines.catalogue import GROUPS

    assert {t.group for t in CATALOGUE} == set(GROUPS)
    assert BY_NAME["RandomHorizontalFlip"].own_p and not BY_NAME["ColorJitter"].own_p
    assert [t.name for t in CATALOGUE if t.batch] == ["CutMix", "MixUp"]


@pytest.mark.parametrize(
    ("name", "transforms"),
    [
        (
            "trivialaugment-cifar",
            ["RandomCrop", "RandomHorizontalFlip", "TrivialAugmentWide", "RandomErasing"],
        ),
        ("autoaugment-cifar10", ["RandomCrop", "RandomHorizontalFlip", "AutoAugment"]),
        ("randaugment", ["RandAugment"]),
    ],
)
def test_policy_presets(name, transforms):
    spec = preset(name)
    assert [s.transform for s in spec.active] == transforms
    if name == "autoaugment-cifar10":
        assert spec.step("AutoAugment").params["policy"] == "cifar10"
    if name == "randaugment":
        assert spec.step("RandAugment").params | {"interpolation": "nearest"} == {
            "num_ops": 2,
            "magnitude": 9,
            "num_magnitude_bins": 31,
            "interpolation": "nearest",
        }
    if name == "trivialaugment-cifar":
        assert spec.output_size() == 32
