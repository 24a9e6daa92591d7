"""The run settings are declared once (settings.RunSettings); the command line follows."""

import dataclasses

import pytest

from playground.training import cli, settings


def test_every_setting_is_a_flag_with_help_label_and_default():
    actions = {a.dest: a for a in cli.parser()._actions}
    for f in dataclasses.fields(settings.RunSettings):
        action = actions[f.name]
        assert action.option_strings == [settings.flag(f.name)]
        assert action.default is None  # "not given" stays distinguishable from the default
        assert action.help == f.metadata["help"] and f.metadata["label"]
        assert tuple(action.choices or ()) == tuple(f.metadata["choices"] or ())
    assert {f.name: f.default for f in dataclasses.fields(settings.RunSettings)} == cli.DEFAULTS


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("epochs", 0, "--epochs must be at least 1, got 0"),
        ("workers", -1, "--workers must be 0 or more, got -1"),
        ("lr", 0.0, "--lr must be positive, got 0.0"),
        ("image_size", 600, "--image-size must be between 8 and 512, got 600"),
        ("epochs", 3, None),
        ("batch_size", None, None),
        ("recipe", "anything", None),  # choices are argparse's to check
    ],
)
def test_ranges_come_from_the_declaration(name, value, message):
    assert settings.out_of_range(name, value) == message


def test_range_errors_reach_the_command_line(tmp_path, capsys):
    args = ["--pipeline", "d2l-flip", "--dataset", "synthetic", "--image-size", "4"]
    assert cli.main([*args, "--out", str(tmp_path / "r"), "--check"]) == 2
    assert capsys.readouterr().err == "error: --image-size must be between 8 and 512, got 4\n"


def test_form_fields_describe_each_setting():
    fields = {f["name"]: f for f in settings.form_fields()}
    assert fields["recipe"]["choices"] == ["fast", "d2l"] and fields["recipe"]["label"] == "Recipe"
    assert fields["epochs"] == {
        "name": "epochs",
        "flag": "--epochs",
        "label": "Epochs",
        "type": "int",
        "default": 10,
        "choices": None,
        "low": 1,
        "high": None,
        "help": "default 10",
    }
    assert fields["no_augment"]["type"] == "bool"
