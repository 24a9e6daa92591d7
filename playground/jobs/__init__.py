"""Starting, stopping and resuming the background training process; one job at a time per server.

The training command (`python -m playground.train`) runs as a separate process in a session of
its own, at lower CPU priority, with stdout/stderr going to the run's log.txt. Everything this
package knows about runs it reads back from the run folders (playground.runs), so a page reload
or an app restart changes nothing. Who started a run is recorded in launch.json; only that
owner may stop or resume it unless the app runs locally for a single user.

The rooms: `process` (the training command as a detached process, the start lock, spawning),
`start` (a Start: folders, checks, the first pair), `run_queue` (the pairs of a several-seed
experiment that wait), `control` (stop, resume, delete, the operator's stop), `limits` (what a
run and a Start may take on this server), `checks` (the data and `--check` before anything
starts), `form` (the Train tab's values as checked settings), `cli` (`python -m
playground.jobs`). The names below are the ones the app and the tests use; a test that puts a
stand-in for a function puts it on the module that looks the name up.
"""

from playground.jobs.checks import (
    DATA_ROOT_ENV,
    NO_CIFAR10,
    NO_WEIGHTS,
    check,
    cifar10_reachable,
    data_folder,
    data_problem,
    data_root,
    no_weights_words,
    url_reachable,
    weights_note,
    weights_problem,
)
from playground.jobs.cli import main
from playground.jobs.control import (
    STOP_GRACE_S,
    delete,
    may_control,
    operator_stop,
    resume,
    stop,
)
from playground.jobs.errors import JobError
from playground.jobs.form import DATASETS, make_settings, whole_number
from playground.jobs.limits import (
    MAX_SEEDS,
    MIN_SEEDS,
    Limits,
    hardware_processes,
    limits_text,
    max_seeds,
    server_limits,
    setting_highs,
    start_budget,
)
from playground.jobs.process import (
    NICE,
    REPO,
    Settings,
    active_runs,
    busy_message,
    first_error,
    flags,
    job_runs,
    run_quietly,
    train_command,
)
from playground.jobs.run_queue import advance, start_queue_worker
from playground.jobs.start import start, validated

__all__ = [
    "DATASETS",
    "DATA_ROOT_ENV",
    "MAX_SEEDS",
    "MIN_SEEDS",
    "NICE",
    "NO_CIFAR10",
    "NO_WEIGHTS",
    "REPO",
    "STOP_GRACE_S",
    "JobError",
    "Limits",
    "Settings",
    "active_runs",
    "advance",
    "busy_message",
    "check",
    "cifar10_reachable",
    "data_folder",
    "data_problem",
    "data_root",
    "delete",
    "first_error",
    "flags",
    "hardware_processes",
    "job_runs",
    "limits_text",
    "main",
    "make_settings",
    "max_seeds",
    "may_control",
    "no_weights_words",
    "operator_stop",
    "resume",
    "run_quietly",
    "server_limits",
    "setting_highs",
    "start",
    "start_budget",
    "start_queue_worker",
    "stop",
    "train_command",
    "url_reachable",
    "validated",
    "weights_note",
    "weights_problem",
    "whole_number",
]
