"""What the Train tab keeps in this browser's localStorage: its settings and view (saved on each
change, restored on load where still valid here) and the owner token that lets this browser
control the runs it started. Both are created outside the tabs: a BrowserState reads
localStorage when it is mounted, and a tab's contents are mounted only when it is opened."""

from __future__ import annotations

from typing import Any

import gradio as gr

from playground import owners
from playground.train_view import prefs


def save_prefs(*values: Any) -> dict[str, Any]:
    """What the tab remembers in this browser (gr.BrowserState): the form's values (FORM_KEYS),
    the baseline box, the watched and overlaid runs and the smoothing, by name."""
    return prefs.save(*values)


def restore_prefs(remembered: dict[str, Any] | None) -> list[Any]:
    """The remembered values, in save_prefs' order; gr.skip() for what is missing or no longer
    valid here (a choice this server does not offer, a setting out of its range)."""
    return [gr.skip() if v is prefs.MISSING else v for v in prefs.restore(remembered)]


def prefs_state() -> gr.BrowserState:
    """The Train tab's remembered settings in localStorage; created outside the tabs, as the
    owner token is (a tab's contents are mounted only when it is opened). A fixed key (public,
    as the owner token's): Gradio's default is drawn anew at each start, and the settings would
    not survive an app restart."""
    return gr.BrowserState(
        None, storage_key=prefs.PREFS_KEY, secret=prefs.PREFS_KEY + " (public, not a secret)"
    )


def owner_token() -> gr.BrowserState:
    """This browser's owner token in localStorage (playground.owners: signed on the server; the
    BrowserState key is public). Create it outside the tabs: a BrowserState reads localStorage
    when it is mounted, and a tab's contents are mounted only when it is opened."""
    return gr.BrowserState(None, storage_key=owners.STORAGE_KEY, secret=owners.BROWSER_STATE_KEY)


def on_load(token: str | None) -> tuple[str, str]:
    """Give this browser a persistent owner token (localStorage), used to authorise Stop/Resume;
    a token this server did not sign (made up, or from before its secret changed) is replaced."""
    token = token if owners.valid(token) else owners.new_token()
    return token, token
