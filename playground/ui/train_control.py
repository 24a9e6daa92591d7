"""The Train tab's controls of a run: Stop, Resume, Delete (asked first), its name and note,
and the operator's Stop for any run. Only the session that started a run may control it."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from playground import jobs, owners, runs, train_view
from playground.jobs import JobError


def on_stop(watched: str | None, owner: str | None, request: gr.Request | None = None) -> str:
    try:
        return jobs.stop(watched or "", owners.requester(owner, request))
    except JobError as err:
        return f"⚠️ {err}"


def on_save_notes(
    watched: str | None,
    name: str,
    note: str,
    owner: str | None,
    request: gr.Request | None = None,
) -> str:
    """Keep the watched run's name and note in its folder (notes.json)."""
    run = runs.find_run(watched) if watched else None
    if run is None:
        return "⚠️ Select a run in the Runs list first."
    if not jobs.may_control(run, owners.requester(owner, request)):
        return f"⚠️ {run.name} was started by another session; only that session can name it."
    try:
        notes = runs.write_notes(run.path, name, note)
    except OSError as err:  # a full or read-only checkpoints folder: nothing half-written stays
        return f"⚠️ Could not save the name and note of {run.name} ({err.strerror or err})."
    shown = html.escape(notes["name"])  # what a person typed is text, never HTML
    return f"Saved the name and note of {run.name}" + (f" ({shown})." if shown else ".")


def on_delete_ask(watched: str | None) -> tuple[Any, str]:
    """Delete asks first: the confirmation row, saying what goes."""
    run = runs.find_run(watched) if watched else None
    if run is None:
        return gr.update(visible=False), ""
    return gr.update(visible=True), train_view.delete_question(run, runs.list_runs())


def on_delete(
    watched: str | None, owner: str | None, request: gr.Request | None = None
) -> tuple[str, Any]:
    """The confirmed Delete: the run folder goes (never a run that is training)."""
    try:
        message = jobs.delete(watched or "", owners.requester(owner, request))
    except JobError as err:
        message = f"⚠️ {err}"
    return message, gr.update(visible=False)


def on_resume(watched: str | None, owner: str | None, request: gr.Request | None = None) -> str:
    try:
        folders = jobs.resume(watched or "", owners.requester(owner, request))
    except JobError as err:
        return f"⚠️ {err}"
    return f"Resuming {', '.join(f.name for f in folders)} from its last checkpoint."


def operator_stop(token: str, run: str = "all") -> str:
    """The server operator's Stop for any run ("all": every live run), through the HTTP API:
    `client.predict(TOKEN, "all", api_name="/operator_stop")` with PLAYGROUND_OPERATOR_TOKEN."""
    if not owners.is_operator(token):
        return "⚠️ Not the operator's token (PLAYGROUND_OPERATOR_TOKEN on the server)."
    try:
        stopped = jobs.operator_stop(None if run == "all" else [run])
    except JobError as err:
        return f"⚠️ {err}"
    return f"Stopping {', '.join(stopped)}." if stopped else "No run is training."
