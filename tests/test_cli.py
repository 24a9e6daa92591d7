"""python -m pipelines preview|export|validate, including its one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pipelines.__main__ import main
from pipelines.samples import render_samples
from pipelines.spec import from_json, preset
from playground.images import ASSETS, load_image

CAT = ASSETS / "chelsea.png"


def test_preview_writes_the_samples_the_ui_renders(tmp_path, capsys):
    assert main(["preview", "d2l-combined", str(CAT), "--seed", "5", "--out", str(tmp_path)]) == 0
    expected = render_samples(preset("d2l-combined"), load_image(CAT), 5)
    for i, sample in enumerate(expected):
        written = np.asarray(Image.open(tmp_path / f"sample_{i}.png"))
        assert np.array_equal(written, np.asarray(sample.image))
    assert "wrote 8 samples" in capsys.readouterr().out


def test_export_json_round_trips(tmp_path, capsys):
    assert main(["export", "cifar-standard", "--format", "json"]) == 0
    assert from_json(capsys.readouterr().out) == preset("cifar-standard")


def test_export_python_from_a_file(tmp_path, capsys):
    path = tmp_path / "p.json"
    path.write_text(preset("d2l-color").to_json())
    assert main(["export", str(path)]) == 0
    assert "v2.ColorJitter(brightness=0.5" in capsys.readouterr().out


def test_validate_summarises(capsys):
    assert main(["validate", "d2l-shape"]) == 0
    assert "output size 200" in capsys.readouterr().out


def _bad_pipeline(tmp_path):
    doc = json.loads(preset("d2l-shape").to_json())
    doc["steps"][0]["params"]["scale_min"] = 0.9
    doc["steps"][0]["params"]["scale_max"] = 0.2
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (lambda t: ["export", "nope.json"], "cannot read"),
        (lambda t: ["validate", str(_bad_pipeline(t))], "scale_min"),
        (lambda t: ["preview", "d2l-flip", str(t / "missing.png")], "could not be found"),
        (lambda t: ["preview", "d2l-flip", str(CAT), "--count", "0"], "--count"),
        (lambda t: ["export", "d2l-flip", "--format", "yaml"], "invalid choice"),
        (lambda t: ["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_status_2(tmp_path, args, words):
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", *args(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0]
    assert "Traceback" not in result.stderr


def test_corrupt_image_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    assert main(["preview", "d2l-flip", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "error:" in capsys.readouterr().err


def test_preset_flag_is_accepted_wherever_a_file_is(tmp_path, capsys):
    assert main(["export", "--preset", "d2l-flip", "--format", "json"]) == 0
    assert from_json(capsys.readouterr().out) == preset("d2l-flip")
    assert main(["preview", "--preset", "d2l-flip", str(CAT), "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("sample_*.png"))) == 8


def test_file_and_preset_together_is_an_error():
    with pytest.raises(SystemExit) as info:
        main(["validate", "d2l-flip", "--preset", "d2l-flip"])
    assert info.value.code == 2
