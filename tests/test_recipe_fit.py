"""The rule that fits batch size, peak lr and warm-up to the data (recipes.fit)."""

import json

import pytest

from playground.training import cli, recipes

TINY = ["--dataset", "synthetic", "--synthetic-size", "320", "--width", "4"]


@pytest.mark.parametrize(
    ("train_size", "epochs", "world", "batch", "steps", "warmup"),
    [
        (50_000, 10, 1, 512, 97, 242),  # CIFAR-10: the recipe as it was
        (50_000, 10, 8, 512, 97, 242),  # 64 per process
        (5_085, 5, 1, 128, 39, 50),
        (2_000, 3, 1, 32, 62, 50),  # the report's folder: 3 steps per epoch at batch 512
        (2_000, 30, 1, 32, 62, 465),
        (320, 1, 1, 16, 20, 10),  # warm-up at most half of a short run
        (10, 5, 1, 10, 1, 2),  # fewer images than the smallest batch: the whole set
    ],
)
def test_fast_recipe_fits_the_data(train_size, epochs, world, batch, steps, warmup):
    chosen = recipes.fit("fast", train_size, epochs, world)
    assert (chosen.batch_size, chosen.steps_per_epoch, chosen.warmup_steps) == (
        batch,
        steps,
        warmup,
    )
    assert chosen.lr == pytest.approx(0.2 * batch / 512)
    assert chosen.batch_auto and chosen.lr_auto


@pytest.mark.parametrize("train_size", [200, 1_000, 3_000, 7_777, 20_000, 60_000, 1_000_000])
@pytest.mark.parametrize("epochs", [1, 3, 10])
def test_enough_steps_wherever_the_data_allows(train_size, epochs):
    chosen = recipes.fit("fast", train_size, epochs)
    if chosen.batch_size > recipes.MIN_BATCH_PER_PROCESS and chosen.batch_size < 512:
        assert chosen.steps_per_epoch >= recipes.MIN_STEPS_PER_EPOCH
        assert chosen.total_steps >= recipes.MIN_STEPS_PER_RUN
    assert 0 < chosen.warmup_steps <= max(1, chosen.total_steps // 2)
    assert chosen.warmup_steps >= min(recipes.MIN_WARMUP_STEPS, chosen.total_steps // 2)


def test_explicit_values_win_and_d2l_stays_d2l():
    given = recipes.fit("fast", 2_000, 3, batch_size=64, lr=0.05)
    assert (given.batch_size, given.lr, given.batch_auto, given.lr_auto) == (64, 0.05, False, False)
    assert recipes.fit("fast", 2_000, 3, batch_size=64).lr == pytest.approx(0.025)
    d2l = recipes.fit("d2l", 2_000, 3)
    assert (d2l.batch_size, d2l.lr, d2l.warmup_steps) == (256, 0.001, 0)
    assert recipes.fit("d2l", 100, 3).batch_size == 100  # the batch cannot exceed the data


def test_reason_says_what_was_chosen_and_why():
    assert recipes.fit("fast", 2_000, 3).reason == (
        "batch 32 for 2,000 images: 62 steps per epoch; peak lr 0.2 x batch/512"
    )
    assert recipes.fit("fast", 2_000, 3, batch_size=64, lr=0.1).reason == (
        "batch 64 as given: 31 steps per epoch; lr as given"
    )


def test_check_shows_the_resolved_values_and_what_was_automatic(tmp_path, capsys):
    args = ["--pipeline", "d2l-flip", *TINY, "--out", str(tmp_path / "run"), "--check"]
    assert cli.main(args) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert (cfg["batch_size"], cfg["steps_per_epoch"], cfg["warmup_steps"]) == (16, 20, 50)
    assert cfg["auto"] == {"batch_size": True, "lr": True}
    assert cfg["recipe_reason"].startswith("batch 16 for 320 images: 20 steps per epoch")
    assert cli.main([*args, "--batch-size", "64"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["batch_size"] == 64 and cfg["auto"] == {"batch_size": False, "lr": True}
