"""The Train tab: launch a background run, watch its curves, stop/resume it, compare runs, predict.

Layout and event wiring only. The run itself is a separate process (playground.jobs); this tab
reads everything it shows from the run folders (playground.runs) on a 1 s gr.Timer, so a page
reload or an app restart loses nothing. The callbacks are plain functions of plain values, in
the rooms named for what they do: train_start (the form, the preview, Start), train_watch (the
Watch and Runs sections, Compare), train_control (Stop, Resume, Delete, notes), train_prefs
(what this browser remembers, its owner token), train_predict (Predict).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from playground import jobs, runs, train_view
from playground.train_form import (
    DATASET_CHOICES,
    FORM,
    FORM_KEYS,
    MORE_SETTINGS,
    QUICK_CPU,
    device_choices,
)
from playground.train_view.preflight import AGAINST_FILE, AGAINST_NONE
from playground.training import settings as run_settings
from playground.ui import train_sweep
from playground.ui.train_control import (
    on_delete,
    on_delete_ask,
    on_resume,
    on_save_notes,
    on_stop,
    operator_stop,
)
from playground.ui.train_datasets import upload_panel, wire_upload_panel
from playground.ui.train_predict import on_predict, use_augment_image
from playground.ui.train_prefs import on_load, restore_prefs, save_prefs
from playground.ui.train_start import (
    clear_stale_message,
    drop_if_stale,
    offer_synthetic,
    on_dataset,
    on_pipeline_heading,
    on_preview,
    on_quick,
    on_start_checked,
    on_tab_preview,
    on_use_synthetic,
    settings_edited,
)
from playground.ui.train_watch import (
    SMOOTHING,
    VIEW_OUTPUTS,
    compare_colours,
    on_compare,
    on_select_row,
    poll,
)

POLL_S = 1.0
# the runs table's columns (train_view.RUN_COLUMNS): the accuracies wide enough to read
COLUMN_WIDTHS = ["12%", "7%", "10%", "15%", "6%", "7%", "7%", "8%", "9%", "9%", "10%"]


def build_form(info: dict[str, Any]) -> dict[str, Any]:
    """The settings form, from the declarations (playground.training.settings): one control per
    declared field with a label, the folder path, and the uploads panel (its list is the form's
    `upload`; the panel's other parts are named upload_*); by name. What this server has decides
    only the device choices and whether the GPU count shows."""
    controls: dict[str, gr.components.Component] = {}
    main = [d for d in FORM if d.name not in MORE_SETTINGS and d.name != "dataset"]
    more = [d for d in FORM if d.name in MORE_SETTINGS]
    dataset = run_settings.by_name("dataset")
    controls["dataset"] = gr.Radio(
        DATASET_CHOICES, value="cifar10", label=dataset.label, elem_id=dataset.elem_id
    )
    controls["folder"] = gr.Textbox(
        label="Folder path (holds train/<class>/ and test/<class>/)",
        visible=False,
        elem_id="train-folder",
    )
    controls |= upload_panel()
    for row in range(0, len(main), 2):
        with gr.Row():
            for d in main[row : row + 2]:
                controls[d.name] = _control(d, info)
    with gr.Accordion("More settings", open=not info["gpus"] or info["zero_gpu"]), gr.Row():
        for d in more:
            controls[d.name] = _control(d, info)
    return controls


def _control(d: run_settings.Declared, info: dict[str, Any]) -> gr.components.Component:
    limit = info.get("limits", {}).get(d.name)  # this server's bound, shown by the box
    if d.choices or d.offered:
        choices = list(d.choices or d.offered)
        if d.name == "device":
            choices = device_choices(info)
        value = d.default if d.default in choices else choices[0]
        return gr.Dropdown(choices, value=value, label=d.label, elem_id=d.elem_id, info=limit)
    if d.type is bool:
        return gr.Checkbox(bool(d.default), label=d.label, elem_id=d.elem_id)
    if d.name == "nproc":
        gpus = info["gpus"] if not info["zero_gpu"] else 0
        return gr.Number(
            max(1, gpus), precision=0, minimum=1, label=d.label, visible=gpus > 1,
            elem_id=d.elem_id, info=limit,
        )  # fmt: skip
    # no minimum/maximum on the box: Gradio would refuse out-of-range values with a generic
    # error; the declaration's check answers in the setting's words ("epochs must be ...")
    return gr.Number(
        d.default or 0, precision=0 if d.type is int else None, label=d.label, elem_id=d.elem_id,
        info=limit,
    )  # fmt: skip


def build_tab(
    spec_state: gr.State,
    image_state: gr.State,
    demo: gr.Blocks | None = None,
    token: gr.BrowserState | None = None,
    prefs: gr.BrowserState | None = None,
    draft: gr.State | None = None,
    augment: dict[str, Any] | None = None,
    tabs: gr.Tabs | None = None,
) -> gr.Tab:
    """`draft`: the Augment tab's refused edit, if any (editing.on_edit); Start waits for it.
    `augment`: the Augment tab's parts (augment.build_tab), which the Sweep panel's "Use this
    pipeline" loads a pipeline into, then selects that tab in `tabs` (the app's gr.Tabs)."""
    info = train_view.detect_devices()
    info["limits"] = jobs.limits_text()  # a Space's bounds, next to the fields they bound
    jobs.start_queue_worker()  # several-seed experiments advance while this server runs
    with gr.Tab("Train", id="train", elem_id="train-tab") as tab:
        owner_state = gr.State(None)
        signature = gr.State(None)
        previewed = gr.State(None)  # the settings the tab-open preview was made for
        gr.Markdown(train_view.device_banner(info), elem_id="train-devices")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                form = build_form(info)
                baseline = gr.Checkbox(
                    False,
                    label="Train without augmentation too (a baseline beside it, to see what "
                    "augmentation does to over-fitting)",
                    elem_id="train-baseline",
                )
                against = gr.Radio(
                    [AGAINST_NONE, AGAINST_FILE],
                    value=AGAINST_NONE,
                    label="Compare against (the second arm: none = the same run without "
                    "augmentation, or another pipeline file)",
                    elem_id="train-against",
                )
                against_file = gr.File(
                    label="Pipeline file to compare against (JSON)",
                    file_types=[".json"],
                    visible=False,
                    elem_id="train-against-file",
                )
                seeds = gr.Number(
                    min(
                        run_settings.default_seeds(
                            "cuda" if info["gpus"] and not info["zero_gpu"] else "cpu"
                        ),
                        jobs.max_seeds(True),
                    ),
                    precision=0,
                    label=f"{run_settings.SEEDS.label} (paired with the baseline; one pair trains at a time)",
                    elem_id=run_settings.SEEDS.elem_id,
                    info=info["limits"].get("seeds"),
                )
                if "memory" in info["limits"]:
                    gr.Markdown(info["limits"]["memory"], elem_id="train-memory-limit")
                with gr.Row():
                    quick = gr.Button(
                        "Quick CPU run", variant="secondary", elem_id="train-quick", size="sm"
                    )
                    check = gr.Button("Preview & estimate", elem_id="train-check", size="sm")
                    start = gr.Button("Start", variant="primary", elem_id="train-start")
                message = gr.Markdown(elem_id="train-message")
                use_synthetic = gr.Button(
                    "Use the synthetic set", visible=False, size="sm", elem_id="train-use-synthetic"
                )
            with gr.Column(scale=1, min_width=320):
                heading = gr.Markdown(
                    train_view.pipeline_heading(spec_state.value), elem_id="train-pipeline-heading"
                )
                code = gr.Code(
                    train_view.pipeline_code(spec_state.value),
                    language="python",
                    label="Pipeline from the Augment tab (read-only)",
                    interactive=False,
                    elem_id="train-pipeline",
                )
                gallery = gr.Gallery(
                    label="The first 32 training images, as the pipeline feeds them, with their class",
                    columns=8,
                    rows=4,
                    height="auto",
                    object_fit="contain",
                    allow_preview=True,
                    elem_id="train-first-batch",
                )
                estimate_md = gr.Markdown(elem_id="train-estimate")

        with gr.Accordion("Sweep: which augmentation helps this data?", open=False,
                          elem_id="sweep-box"):  # fmt: skip
            sweep = train_sweep.sweep_panel()

        gr.Markdown("### Watch")
        status = gr.HTML(train_view.status_html(None), elem_id="train-status")
        with gr.Row():
            stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="train-stop")
            resume = gr.Button("Resume", interactive=False, elem_id="train-resume")
            download_csv = gr.DownloadButton(
                "Download metrics.csv", interactive=False, elem_id="train-download-csv"
            )
            download_best = gr.DownloadButton(
                "Download best.pt", interactive=False, elem_id="train-download-best"
            )
            download_pipeline = gr.DownloadButton(
                "Download pipeline.json", interactive=False, elem_id="train-download-pipeline"
            )
        # one plot per row: the legend sits under the plot in one line, and a run with its
        # baseline (four curves) needs the page's width for it
        with gr.Column():
            loss_plot = gr.LinePlot(
                train_view.curves([])[0], x="epoch", y="value", color="series", title="Loss", y_title="loss",
                x_title="epoch", height=280, elem_id="train-loss-plot",
            )  # fmt: skip
            acc_plot = gr.LinePlot(
                train_view.curves([])[1], x="epoch", y="value", color="series", title="Accuracy",
                y_title="accuracy", y_lim=[0, 1], x_title="epoch", height=280, elem_id="train-acc-plot",
            )  # fmt: skip
        smoothing = gr.Slider(
            0, 0.95, value=SMOOTHING, step=0.05, label="Smoothing of the training loss "
            "(0 = as logged; the test points are never smoothed)", elem_id="train-smoothing",
        )  # fmt: skip
        experiment = gr.Markdown(elem_id="train-experiment")
        with gr.Accordion("Log (last lines)", open=False):
            log = gr.Textbox(
                lines=12, max_lines=12, show_label=False, interactive=False, elem_id="train-log"
            )

        gr.Markdown("### Runs")
        with gr.Row():
            # choices change as runs come and go; a name is only ever looked up, never a path
            watched = gr.Dropdown(
                [],
                label="Watched run (Stop, Resume, downloads, notes, Predict)",
                allow_custom_value=True,
                elem_id="train-watched",
            )
            overlay = gr.Dropdown(
                [],
                multiselect=True,
                allow_custom_value=True,
                label="Overlay other runs on the curves",
                elem_id="train-overlay",
            )
        with gr.Row(equal_height=True):
            run_name = gr.Textbox(
                label="Name of the watched run", max_length=runs.MAX_NAME, scale=1,
                elem_id="train-run-name",
            )  # fmt: skip
            run_note = gr.Textbox(
                label="Note", lines=1, max_lines=4, max_length=runs.MAX_NOTE, scale=2,
                elem_id="train-run-note",
            )  # fmt: skip
            with gr.Column(scale=0, min_width=140):
                save_notes = gr.Button("Save name and note", size="sm", elem_id="train-save-notes")
                delete = gr.Button(
                    "Delete run…", size="sm", variant="stop", interactive=False,
                    elem_id="train-delete",
                )  # fmt: skip
        with gr.Row(visible=False, elem_id="train-delete-confirm") as confirm_row:
            confirm_text = gr.Markdown()
            confirm_yes = gr.Button(
                "Yes, delete it", variant="stop", size="sm", elem_id="train-delete-yes"
            )
            confirm_no = gr.Button("Cancel", size="sm", elem_id="train-delete-no")
        notes_message = gr.Markdown(elem_id="train-notes-message")
        table = gr.Dataframe(
            train_view.runs_table([]),
            interactive=False,
            wrap=True,
            elem_id="train-runs",
            max_height=360,
            column_widths=COLUMN_WIDTHS,
        )
        # (room here for the paired with/without-augmentation experiment's result)

        with gr.Accordion("Compare two runs", open=False, elem_id="train-compare-box"):
            with gr.Row():
                compare_a = gr.Dropdown(
                    [], label="Run A", allow_custom_value=True, elem_id="train-compare-a"
                )
                compare_b = gr.Dropdown(
                    [], label="Run B", allow_custom_value=True, elem_id="train-compare-b"
                )
                compare = gr.Button("Compare", size="sm", elem_id="train-compare")
            compare_table = gr.HTML(
                train_view.compare_html(None, None), elem_id="train-compare-table"
            )
            with gr.Column():
                compare_loss = gr.LinePlot(
                    train_view.curves([])[0], x="epoch", y="value", color="series", title="Loss",
                    y_title="loss", x_title="epoch", height=300, elem_id="train-compare-loss",
                )  # fmt: skip
                compare_acc = gr.LinePlot(
                    train_view.curves([])[1], x="epoch", y="value", color="series",
                    title="Accuracy", y_title="accuracy", y_lim=[0, 1], x_title="epoch",
                    height=300, elem_id="train-compare-acc",
                )  # fmt: skip

        with gr.Accordion("Predict with the watched run", open=False), gr.Row():
            with gr.Column():
                # a plain file, decoded by the app's loader: gr.Image would decode it first,
                # with Pillow's decompression-bomb check switched off
                predict_image = gr.File(
                    label="Image", file_types=["image"], type="filepath", height=120,
                    elem_id="train-predict-image",
                )  # fmt: skip
                predict_seen = gr.Image(
                    label="As loaded", type="pil", height=160, interactive=False,
                    elem_id="train-predict-seen",
                )  # fmt: skip
            with gr.Column():
                use_current = gr.Button("Use the Augment tab's image", size="sm")
                predict_btn = gr.Button("Predict", variant="primary", elem_id="train-predict")
                predict_note = gr.Markdown()
            top5 = gr.Label(num_top_classes=5, label="Top-5", elem_id="train-top5")

        timer = gr.Timer(POLL_S)
        gr.api(train_view.run_status, api_name="train_status")
        gr.api(operator_stop, api_name="operator_stop")

    settings_inputs = [form[key] for key in FORM_KEYS]
    view_outputs = [
        status,
        loss_plot,
        acc_plot,
        table,
        watched,
        overlay,
        log,
        stop,
        resume,
        delete,
        run_name,
        run_note,
        compare_a,
        compare_b,
        experiment,
        download_csv,
        download_best,
        download_pipeline,
    ]
    assert len(view_outputs) == VIEW_OUTPUTS
    quiet = {"show_progress": "hidden"}

    # (no spec_state.change listener: Gradio would then hash the spec on every event, and a
    # PipelineSpec holds dicts; the code is refreshed whenever the tab is opened instead)
    tab.select(train_view.pipeline_code, [spec_state], [code], api_name=False, queue=False, **quiet)
    draft = gr.State(None) if draft is None else draft
    tab.select(
        on_pipeline_heading, [spec_state, draft], [heading], api_name=False, queue=False, **quiet
    )
    tab.select(
        on_tab_preview, [spec_state, baseline, *settings_inputs],
        [gallery, estimate_md, previewed, form["batch_size"], form["lr"]],
        api_name=False, concurrency_id="train-check", show_progress="minimal",
    ).then(
        drop_if_stale, [previewed, *settings_inputs], [gallery, estimate_md],
        api_name=False, queue=False, **quiet,
    )  # fmt: skip
    form["dataset"].change(
        on_dataset, [form["dataset"]], [form["folder"], form["upload_box"]], api_name=False,
        queue=False, **quiet,
    )  # fmt: skip
    wire_upload_panel(form, tab)
    # typed or picked, or set by Quick CPU run / Use the synthetic set (not by a preview's notes)
    edited = [c.input for c in (*settings_inputs, baseline)] + [quick.click, use_synthetic.click]
    gr.on(
        edited, settings_edited, None, [gallery, estimate_md], api_name=False, queue=False,
        **quiet,
    )  # fmt: skip
    status.change(clear_stale_message, [message], [message], api_name=False, queue=False, **quiet)
    quick.click(on_quick, None, [form[k] for k in QUICK_CPU], api_name="train_quick", queue=False)
    against.change(
        lambda choice: gr.update(visible=choice == AGAINST_FILE), against, against_file,
        api_name=False, queue=False,
    )  # fmt: skip
    check.click(
        on_preview, [spec_state, baseline, *settings_inputs],
        [gallery, estimate_md, message, form["batch_size"], form["lr"]],
        api_name="train_check", concurrency_id="train-check",
    ).then(offer_synthetic, [message], [use_synthetic], api_name=False, queue=False)  # fmt: skip
    start.click(
        on_start_checked,
        [draft, spec_state, baseline, seeds, against, against_file, owner_state, *settings_inputs],
        [message, watched, overlay],
        api_name="train_start", concurrency_id="train-start",
    ).then(lambda: None, None, [signature], api_name=False, queue=False).then(
        offer_synthetic, [message], [use_synthetic], api_name=False, queue=False
    )  # fmt: skip
    use_synthetic.click(
        on_use_synthetic, None, [form["dataset"], form["folder"], use_synthetic, message],
        api_name=False, queue=False,
    )  # fmt: skip
    stop.click(
        on_stop,
        [watched, owner_state],
        [message],
        api_name="train_stop",
        concurrency_id="train-control",
    )
    # greyed at once (a double-click must not send two); the next tick sets it from the run
    resume.click(lambda: gr.update(interactive=False), None, [resume], api_name=False, queue=False)
    resume.click(
        on_resume,
        [watched, owner_state],
        [message],
        api_name="train_resume",
        concurrency_id="train-control",
    ).then(lambda: None, None, [signature], api_name=False, queue=False)
    poll_inputs = [watched, overlay, smoothing, signature, owner_state]
    timer.tick(
        poll, poll_inputs, [*view_outputs, signature], api_name="train_poll", queue=False, **quiet
    )
    for control in (watched, overlay, smoothing):
        control.input(
            poll, poll_inputs, [*view_outputs, signature], api_name=False, queue=False, **quiet
        )
    table.select(on_select_row, [table], [watched], api_name=False, queue=False).then(
        poll, poll_inputs, [*view_outputs, signature], api_name=False, queue=False, **quiet
    )
    save_notes.click(
        on_save_notes, [watched, run_name, run_note, owner_state], [notes_message],
        api_name="train_notes", concurrency_id="train-control",
    )  # fmt: skip
    delete.click(on_delete_ask, [watched], [confirm_row, confirm_text], api_name=False, queue=False)
    confirm_no.click(
        lambda: gr.update(visible=False), None, [confirm_row], api_name=False, queue=False
    )
    confirm_yes.click(
        on_delete, [watched, owner_state], [notes_message, confirm_row],
        api_name="train_delete", concurrency_id="train-control",
    ).then(lambda: None, None, [signature], api_name=False, queue=False)  # fmt: skip
    compare.click(
        on_compare, [compare_a, compare_b, smoothing], [compare_table, compare_loss, compare_acc],
        api_name="train_compare", concurrency_id="train-compare",
    ).then(
        compare_colours, [compare_a, compare_b, smoothing], [compare_loss, compare_acc],
        api_name=False, queue=False, show_progress="hidden",
    )  # fmt: skip
    use_current.click(use_augment_image, [image_state], [predict_image], api_name=False)
    predict_btn.click(
        on_predict,
        [watched, predict_image],
        [top5, predict_seen, predict_note],
        api_name="train_predict",
        concurrency_id="train-predict",
    )
    train_sweep.wire(
        sweep, spec_state, draft, owner_state, settings_inputs, timer, augment, image_state,
        tab, tabs,
    )  # fmt: skip
    if demo is not None and token is not None:
        demo.load(on_load, [token], [token, owner_state], api_name=False, queue=False)
    if demo is not None and prefs is not None:
        remembered = [*settings_inputs, baseline, watched, overlay, smoothing]
        demo.load(restore_prefs, [prefs], remembered, api_name=False, queue=False, **quiet).then(
            lambda: None, None, [signature], api_name=False, queue=False
        )
        gr.on(
            [c.change for c in remembered], save_prefs, remembered, [prefs],
            api_name=False, queue=False, **quiet,
        )  # fmt: skip
    return tab


def launch_settings() -> dict[str, list[str]]:
    """launch() settings: the checkpoints folder is never served by path, wherever it lies (a
    Space's /data, say). Downloads are handed out as copies in the temporary folder
    (`download_copy`), which Gradio serves once a callback returns them."""
    return {"allowed_paths": [], "blocked_paths": [str(runs.checkpoints_root())]}
