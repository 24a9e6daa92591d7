"""Training ResNet-18 with an augmentation pipeline: model, data, loop, checkpoints, metrics.

No Gradio here: the UI runs `python -m playground.train` in a process of its own and reads the
run folder; it may import `predict` and `preview` (pure functions) directly.
"""
