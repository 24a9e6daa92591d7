"""Presets and pipeline files into the Augment tab's editor, and the Export tab's files.
Plain functions: no server, no browser."""

from pathlib import Path

from pipelines.spec import default_spec, from_json, make, preset
from playground.controls import step_views
from playground.images import sample_image
from playground.ui.editing import on_pipeline
from playground.ui.export import export_files
from tests.helpers import LAYOUT


def test_pipeline_file_restores_the_editor_exactly(tmp_path):
    restored = make(
        [("ColorJitter", {"hue": 0.1}, 0.4), ("RandomHorizontalFlip", {}), ("ColorJitter", {})]
    )
    path = tmp_path / "p.json"
    path.write_text(restored.to_json())
    spec, layout, grid, summary, _ = on_pipeline(
        str(path), sample_image("cat"), 0, default_spec(), LAYOUT
    )
    assert spec == restored and from_json(layout[1]) == restored and layout[0] == 1
    assert [v.prefix for v in step_views(spec)] == ["jitter", "hflip", "jitter2"]
    assert grid.count("<img") == 8


def test_a_preset_loads_into_the_editor():
    spec, layout, _, summary, _ = on_pipeline(
        "randaugment", sample_image("cat"), 0, default_spec(), LAYOUT
    )
    assert [s.transform for s in spec.steps] == ["RandAugment"]
    assert "Order: RandAugment." in summary


def test_a_broken_pipeline_file_keeps_the_current_pipeline(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(
        '{"format": "augmentation-pipeline", "version": 1, "steps": [{"transform": "Evil"}]}'
    )
    current = default_spec()
    out = on_pipeline(str(path), sample_image("cat"), 0, current, LAYOUT)
    assert out[0] is current
    assert out[-2].startswith("⚠️ Pipeline not loaded") and "Evil" in out[-2]


def test_export_files_match_the_spec():
    spec = preset("d2l-combined")
    code, py_path, json_path = export_files(spec)
    assert Path(py_path).read_text() == code
    assert from_json(Path(json_path).read_text()) == spec
