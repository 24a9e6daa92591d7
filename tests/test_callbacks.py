"""The Augment/Export callbacks as plain functions: no server, no browser."""

from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.spec import default_spec, from_json, preset
from playground.controls import FIELDS, spec_from_values, values_from_spec
from playground.ui.augment import on_controls, on_image, on_new_samples, on_pipeline, sample_image
from playground.ui.export import export_files


def _values(spec=None, **changes):
    values = values_from_spec(spec or default_spec())
    for i, field in enumerate(FIELDS):
        if field.elem_id in changes:
            values[i] = changes[field.elem_id]
    return values


def test_controls_round_trip_the_spec():
    spec = default_spec()
    assert spec_from_values(values_from_spec(spec)) == spec


def test_controls_keep_a_loaded_pipelines_order():
    spec = preset("d2l-combined")
    edited = spec_from_values(_values(spec, **{"jitter-hue": 0.1}), base=spec)
    assert [s.transform for s in edited.active] == [
        "RandomHorizontalFlip",
        "ColorJitter",
        "RandomResizedCrop",
    ]
    assert edited.step("ColorJitter").params["hue"] == 0.1


def test_slider_floats_become_ints_where_the_catalogue_says_int():
    spec = spec_from_values(_values(**{"rrc-size": 64.0}))
    assert spec.output_size() == 64 and isinstance(spec.output_size(), int)


def test_a_slider_move_re_renders():
    image = sample_image("cat")
    grid, summary, spec = on_controls(image, 0, default_spec(), *_values(**{"rrc-size": 48}))
    assert grid.count("<img") == 8
    assert "output 48 x 48" in summary
    assert spec.output_size() == 48


def test_min_above_max_explains_and_keeps_the_grid():
    before = default_spec()
    grid, summary, spec = on_controls(
        sample_image("cat"), 0, before, *_values(**{"rrc-scale-min": 0.9, "rrc-scale-max": 0.3})
    )
    assert summary.startswith("⚠️") and "scale_min" in summary and "greater" in summary
    assert spec == before
    assert not isinstance(grid, str)  # gr.skip(): the last good grid stays


def test_all_steps_off_shows_the_image_itself():
    values = [False if f.param is None else v for f, v in zip(FIELDS, _values(), strict=True)]
    grid, summary, _ = on_controls(sample_image("cat"), 0, default_spec(), *values)
    assert "nothing (all steps off)" in summary and grid.count("<img") == 8


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


def test_pipeline_upload_restores_every_control(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(preset("d2l-flip").to_json())
    out = on_pipeline(str(path), sample_image("cat"), 0, default_spec())
    spec, values = out[0], out[1 : 1 + len(FIELDS)]
    assert [s.transform for s in spec.active] == ["RandomHorizontalFlip"]
    assert values == values_from_spec(spec)
    assert out[-2].count("<img") == 8


def test_a_broken_pipeline_file_keeps_the_current_pipeline(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(
        '{"format": "augmentation-pipeline", "version": 1, "steps": [{"transform": "Evil"}]}'
    )
    current = default_spec()
    out = on_pipeline(str(path), sample_image("cat"), 0, current)
    assert out[0] is current
    assert out[-1].startswith("⚠️ Pipeline not loaded") and "Evil" in out[-1]


def test_export_files_match_the_spec():
    spec = preset("d2l-combined")
    code, py_path, json_path = export_files(spec)
    assert Path(py_path).read_text() == code
    assert from_json(Path(json_path).read_text()) == spec
