"""Which augmentation helps this data? A sweep that ranks pipelines by their measured effect.

    python -m playground.training.sweep --candidates A.json cifar-standard randaugment ... \\
        [--ladder STEP.PARAM=v1,v2,...] --budget-minutes M [--seeds N] \\
        [--executor local|ray] [training flags] --out checkpoints/SWEEP
    python -m playground.training.sweep --resume checkpoints/SWEEP

Successive halving over paired trials (`plan`): every candidate, and no augmentation, trains
a short schedule with the same seeds (same initial weights and data order); the better half by
a paired test against the rung's best on a validation split (`decide.promote`) retrains with
a schedule twice as long, until a few finalists are left. The test set is read once, for the
final report: each finalist's effect against no augmentation and against the best, with
simultaneous intervals and Holm-adjusted claims, and the group tied for best (`decide`).
Trials are ordinary run folders inside the sweep folder, trained by an executor (`executors`:
this machine; `ray_executor`: a Ray cluster).
"""
