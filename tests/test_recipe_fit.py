"""The rule that fits batch size, peak lr and warm-up to the data (recipes.fit)."""

import json

import pytest

from playground.training import cli, recipes

TINY = ["--dataset", "synthetic", "--synthetic-size", "320", "--width", "4"]


@pytest.mark.parametrize(
    ("train_size", "epochs", "world", "batch", "steps", "warmup", "lr"),
    [
        (50_000, 10, 1, 512, 97, 242, 0.2),  # CIFAR-10: the recipe as it was
        (50_000, 10, 8, 512, 97, 242, 0.2),  # 64 per process
        (50_000, 10, 3, 512, 97, 242, 0.2),  # 171 or 170 per process
        (5_085, 5, 1, 128, 39, 50, 0.05),
        (2_000, 3, 1, 32, 62, 50, 0.0125),  # the report's folder: 3 steps per epoch at batch 512
        (2_000, 30, 1, 32, 62, 465, 0.0125),
        (320, 1, 1, 16, 20, 10, 0.00625),  # warm-up at most half of a short run
        (10, 5, 1, 10, 1, 2, 0.00390625),  # fewer images than the smallest batch: the whole set
    ],
)
def test_fast_recipe_fits_the_data(train_size, epochs, world, batch, steps, warmup, lr):
    chosen = recipes.fit("fast", train_size, epochs, world)
    assert (chosen.batch_size, chosen.steps_per_epoch, chosen.warmup_steps) == (
        batch,
        steps,
        warmup,
    )
    assert chosen.lr == pytest.approx(lr)
    assert chosen.batch_auto and chosen.lr_auto


SIZES = [40, 100, 320, 500, 1_000, 2_000, 4_085, 5_085, 10_000, 20_000, 50_000]
EPOCHS = [1, 3, 5, 10]
WORLDS = [1, 2, 3, 8]


@pytest.mark.parametrize("train_size", SIZES)
@pytest.mark.parametrize("epochs", EPOCHS)
def test_the_schedule_does_not_depend_on_the_process_count(train_size, epochs):
    """Batch, steps, warm-up and lr: a function of the data and the epochs; the processes only
    split the batch, as evenly as whole images allow."""
    chosen = [recipes.fit("fast", train_size, epochs, world) for world in WORLDS]
    one = chosen[0]
    for world, c in zip(WORLDS, chosen, strict=True):
        assert (c.batch_size, c.steps_per_epoch, c.total_steps, c.warmup_steps, c.lr) == (
            one.batch_size, one.steps_per_epoch, one.total_steps, one.warmup_steps, one.lr,
        )  # fmt: skip
        parts = recipes.split(c.batch_size, world)
        assert sum(parts) == c.batch_size and max(parts) - min(parts) <= 1 and min(parts) >= 1


@pytest.mark.parametrize("train_size", SIZES)
@pytest.mark.parametrize("epochs", EPOCHS)
@pytest.mark.parametrize("world", WORLDS)
def test_the_steps_rule_holds_for_every_process_count(train_size, epochs, world):
    """At least 32 steps per epoch and 100 per run unless the batch is already at its floor of
    16 (or the whole of a smaller set); the largest such batch, a power of two, at most 512.
    An epoch takes whole batches: every image but fewer than one batch of them."""
    c = recipes.fit("fast", train_size, epochs, world)
    b = c.batch_size
    assert c.steps_per_epoch * b <= train_size < (c.steps_per_epoch + 1) * b
    assert c.total_steps == c.steps_per_epoch * epochs
    if train_size < 16:
        assert b == train_size
    else:
        assert 16 <= b <= 512 and b & (b - 1) == 0
    enough = c.steps_per_epoch >= 32 and c.total_steps >= 100
    assert enough or b == min(16, train_size)
    if b < 512:  # the next power of two would break the rule
        doubled = train_size // (2 * b)
        assert doubled < 32 or doubled * epochs < 100


@pytest.mark.parametrize("train_size", SIZES)
@pytest.mark.parametrize("epochs", EPOCHS)
def test_the_warm_up_is_never_longer_than_the_run_and_leaves_half_of_it_to_decay(
    train_size, epochs
):
    """At least 50 steps (a short run would jump to the peak lr), a quarter of a long run, but
    at most half of any run of two steps or more: the rest of it decays."""
    c = recipes.fit("fast", train_size, epochs)
    total, warmup = c.total_steps, c.warmup_steps
    assert 1 <= warmup <= total
    if total >= 2:
        assert warmup <= total - warmup  # half the run or more decays
    assert warmup >= min(50, total // 2)
    if total >= 200:  # past 50 steps the quarter rules
        assert total / 4 - 1 <= warmup <= total / 4 + 1
    assert recipes.fit("d2l", train_size, epochs).warmup_steps == 0  # d2l has no schedule


def test_the_peak_lr_follows_the_batch_up_to_the_cifar_recipe():
    """The CIFAR-10 recipe, batch 512 at peak lr 0.2, is the top. The lr depends on the batch
    alone (not on the data, the epochs or the processes); half the batch gets half the lr, so
    the noise of one step stays about the same; no batch gets more than 0.2."""
    cifar = recipes.fit("fast", 50_000, 10)
    assert (cifar.batch_size, cifar.lr) == (512, 0.2)
    by_batch: dict[int, set[float]] = {}
    for train_size in SIZES:
        for epochs in EPOCHS:
            for world in WORLDS:
                c = recipes.fit("fast", train_size, epochs, world)
                by_batch.setdefault(c.batch_size, set()).add(c.lr)
    assert {16, 32, 64, 128, 256, 512} <= set(by_batch)
    assert all(len(lrs) == 1 for lrs in by_batch.values()), by_batch
    lr = {batch: lrs.pop() for batch, lrs in by_batch.items()}
    for batch in lr:
        if 2 * batch in lr:
            assert lr[2 * batch] == pytest.approx(2 * lr[batch]), batch
    assert max(lr.values()) == cifar.lr


@pytest.mark.parametrize(
    ("train_size", "epochs", "batch", "steps"),
    [
        (50_000, 1, 256, 195),  # was 256 on 1 process but 384 on 3
        (50_000, 3, 512, 97),  # was 510 on 3 processes
        (500, 10, 16, 31),  # was 128 on 8 processes: 3 steps per epoch, a 1-step warm-up
        (40, 5, 16, 2),
    ],
)
def test_the_cases_of_the_report(train_size, epochs, batch, steps):
    for world in WORLDS:
        c = recipes.fit("fast", train_size, epochs, world)
        assert (c.batch_size, c.steps_per_epoch) == (batch, steps)


def test_the_lr_is_capped_also_for_a_batch_given_by_hand():
    big = recipes.fit("fast", 50_000, 10, batch_size=4096)
    assert big.lr == pytest.approx(0.2) and not big.batch_auto and big.lr_auto
    assert "capped at 0.2" in big.reason
    assert recipes.fit("fast", 50_000, 10, batch_size=4096, lr=0.5).lr == 0.5  # given: as given


def test_zero_means_automatic_everywhere(tmp_path, capsys):
    auto, zero = recipes.fit("fast", 2_000, 3), recipes.fit("fast", 2_000, 3, 1, 0, 0)
    assert zero == auto and zero.batch_auto and zero.lr_auto
    args = ["--pipeline", "d2l-flip", *TINY, "--out", str(tmp_path / "run"), "--check"]
    assert cli.main([*args, "--batch-size", "0", "--lr", "0"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["batch_size"] == 16 and cfg["auto"] == {"batch_size": True, "lr": True}


def test_too_little_data_for_the_processes_blames_no_flag_the_user_never_gave(tmp_path, capsys):
    with pytest.raises(recipes.FitError) as err:
        recipes.fit("fast", 3, 5, 8)
    assert "3 training images cannot be split over 8 processes" in str(err.value)
    assert "--batch-size" not in str(err.value)
    with pytest.raises(recipes.FitError, match="--batch-size 4 cannot be split over 8"):
        recipes.fit("fast", 1_000, 5, 8, batch_size=4)


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
