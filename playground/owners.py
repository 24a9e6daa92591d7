"""Who may stop or resume a run: owner tokens, the single-user switch and the operator token.

Each browser keeps an owner token in its localStorage. A token is `NONCE.ISSUED.SIGNATURE`,
signed with a server secret (HMAC-SHA256), so the server only accepts tokens it issued: a token
made up by hand, one from before the secret changed, or one older than its lifetime
(PLAYGROUND_TOKEN_DAYS, 30 days by default) is replaced by a fresh one, which no longer controls
the runs the old one started (everyone can still watch them; the operator can stop them). The secret itself
never leaves the server: gr.BrowserState's own `secret` is an encryption key that Gradio puts in
the page config for every visitor, so it is given a fixed public value here and authorises
nothing. launch.json records a hash of the token, never the token.

The server's operator may stop or resume any run with PLAYGROUND_OPERATOR_TOKEN (through the
HTTP API, or `python -m playground.jobs stop --all` on the server), so a run started by a
client that has gone is never out of everyone's reach.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Any

from playground import budget, runs

SECRET_ENV = "PLAYGROUND_SECRET"
OPERATOR_ENV = "PLAYGROUND_OPERATOR_TOKEN"
SECRET_NAME = ".owner-secret"  # in the checkpoints folder, which the app never serves
STORAGE_KEY = "augplay-owner"
# gr.BrowserState's encryption key is sent to every browser in the page config: public by
# construction. What makes a token trustworthy is its signature, checked on the server.
BROWSER_STATE_KEY = "augmentation-playground-owner-token (public, not a secret)"
_TOKEN_MAX = 200
TOKEN_DAYS_ENV = "PLAYGROUND_TOKEN_DAYS"
TOKEN_DAYS = 30.0
_CLOCK_SKEW_S = 60.0


def single_user() -> bool:
    """Local single-user mode: anyone may stop any run. Off on a Space unless asked for."""
    default = "0" if budget.on_space() else "1"
    return os.environ.get("PLAYGROUND_SINGLE_USER", default).strip().lower() in ("1", "true", "yes")


def _secret() -> bytes:
    """PLAYGROUND_SECRET, else a random secret kept (mode 0600) beside the runs, so tokens
    survive an app restart."""
    value = os.environ.get(SECRET_ENV)
    if value:
        return value.encode()
    path = runs.checkpoints_root() / SECRET_NAME
    try:
        stored = path.read_text().strip()
    except OSError:
        stored = ""
    return (stored or _new_secret(path)).encode()


def _new_secret(path: Path) -> str:
    secret = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret)
    except FileExistsError:  # another process wrote it first: use theirs
        return path.read_text().strip() or secret
    except OSError:
        pass  # a read-only folder: tokens last as long as this process
    return secret


def _sign(nonce: str) -> str:
    return hmac.new(_secret(), nonce.encode(), hashlib.sha256).hexdigest()[:32]


def token_lifetime_s() -> float:
    try:
        days = float(os.environ.get(TOKEN_DAYS_ENV, "") or TOKEN_DAYS)
    except ValueError:
        days = TOKEN_DAYS
    return max(days, 0.0) * 86400


def new_token(now: float | None = None) -> str:
    nonce = secrets.token_urlsafe(16)
    issued = int(time.time() if now is None else now)
    return f"{nonce}.{issued}.{_sign(f'{nonce}.{issued}')}"


def valid(token: object, now: float | None = None) -> bool:
    """Whether `token` is one this server issued (its signature checks out) and is within
    its lifetime."""
    if not isinstance(token, str) or len(token) > _TOKEN_MAX or token.count(".") != 2:
        return False
    nonce, issued, signature = token.split(".")
    if not nonce or not issued.isdigit() or len(issued) > 12:
        return False
    if not hmac.compare_digest(signature, _sign(f"{nonce}.{issued}")):
        return False
    age = (time.time() if now is None else now) - int(issued)
    return -_CLOCK_SKEW_S <= age <= token_lifetime_s()


def is_operator(token: object) -> bool:
    expected = os.environ.get(OPERATOR_ENV, "")
    return bool(expected) and isinstance(token, str) and hmac.compare_digest(token, expected)


def owner_id(owner: str) -> str:
    """What launch.json records: a hash, so the folder never holds a token that authorises."""
    return hashlib.sha256(f"playground-owner:{owner}".encode()).hexdigest()[:32]


def may_control(run_owner: str | None, owner: str | None) -> bool:
    """Whether `owner` (a token or a session id) may stop or resume a run owned by `run_owner`."""
    if single_user() or is_operator(owner):
        return True
    return bool(owner) and run_owner == owner_id(owner)


def requester(token: object, request: Any) -> str:
    """Who asks: the browser's persistent token (survives reloads), else this connection's
    session (a Gradio request's session_hash), else "local"."""
    if valid(token):
        return str(token)
    session = getattr(request, "session_hash", None) if request is not None else None
    return session or "local"
