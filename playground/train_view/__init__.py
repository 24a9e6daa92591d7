"""What the Train tab shows, as plain data: the device banner, the runs table, the curves, the
status box, the pipeline's code. No Gradio here (playground/ui/train.py lays these out and wires
them), so each can be tested alone; everything is read from the run folders.

The rooms: `devices` (what the server trains on, the banner), `labels` (a run's name, role,
steps and data in words), `table` (the runs list, the pickers, Delete's question), `plots` (the
curves and their colours), `status` (the watched run's status box), `start_preview` (what a Start
will train on: code, first batch, estimate), `compare_runs` (two runs side by side), `report`
(the paired experiment's effect and report), `preflight` (before a Start: the check, the first
batch and estimate kept per settings, the words Start answers with), `prefs` (what a browser
remembers of the tab, and whether it is still valid here). The names below are those the app
and the tests use; `preflight` and `prefs` are imported by name.
"""

from playground.train_view.compare_runs import compare_html, compare_rows, run_settings_rows
from playground.train_view.devices import detect_devices, device_banner
from playground.train_view.labels import (
    augment_label,
    data_label,
    display_name,
    fmt_time,
    is_baseline,
    is_other_pipeline,
    pipeline_steps,
    steps_summary,
)
from playground.train_view.plots import (
    BASELINE_PALETTE,
    PALETTE,
    color_map,
    curve_roles,
    curves,
    plot_frame,
    short_labels,
)
from playground.train_view.report import effect_label, experiment_report, job_summary
from playground.train_view.start_preview import (
    TRAIN_SIZE,
    describe_estimate,
    first_batch,
    pipeline_code,
    pipeline_heading,
    target_caption,
    trained_on,
)
from playground.train_view.status import (
    default_watch,
    run_message,
    run_status,
    status_html,
    steady_eta,
    view_signature,
)
from playground.train_view.table import RUN_COLUMNS, delete_question, run_choices, runs_table

__all__ = [
    "BASELINE_PALETTE",
    "PALETTE",
    "RUN_COLUMNS",
    "TRAIN_SIZE",
    "augment_label",
    "color_map",
    "compare_html",
    "compare_rows",
    "curve_roles",
    "curves",
    "data_label",
    "default_watch",
    "delete_question",
    "describe_estimate",
    "detect_devices",
    "device_banner",
    "display_name",
    "effect_label",
    "experiment_report",
    "first_batch",
    "fmt_time",
    "is_baseline",
    "is_other_pipeline",
    "job_summary",
    "pipeline_code",
    "pipeline_heading",
    "pipeline_steps",
    "plot_frame",
    "run_choices",
    "run_message",
    "run_settings_rows",
    "run_status",
    "runs_table",
    "short_labels",
    "status_html",
    "steady_eta",
    "steps_summary",
    "target_caption",
    "trained_on",
    "view_signature",
]
