"""Who may stop or resume a run: owner tokens, the single-user switch and the operator token.

Each browser keeps an owner token in its localStorage. A token is `NONCE.SIGNATURE`, signed
with a server secret (HMAC-SHA256), so the server only accepts tokens it issued: a token made up
by hand, or one from before the secret changed, is replaced by a fresh one. The secret itself
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
from pathlib import Path

from playground import runs

SECRET_ENV = "PLAYGROUND_SECRET"
OPERATOR_ENV = "PLAYGROUND_OPERATOR_TOKEN"
SECRET_NAME = ".owner-secret"  # in the checkpoints folder, which the app never serves
STORAGE_KEY = "augplay-owner"
# gr.BrowserState's encryption key is sent to every browser in the page config: public by
# construction. What makes a token trustworthy is its signature, checked on the server.
BROWSER_STATE_KEY = "augmentation-playground-owner-token (public, not a secret)"
_TOKEN_MAX = 200


def single_user() -> bool:
    """Local single-user mode: anyone may stop any run. Off on a Space unless asked for."""
    default = "0" if os.environ.get("SPACE_ID") else "1"
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


def new_token() -> str:
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_sign(nonce)}"


def valid(token: object) -> bool:
    """Whether `token` is one this server issued (its signature checks out)."""
    if not isinstance(token, str) or len(token) > _TOKEN_MAX or token.count(".") != 1:
        return False
    nonce, signature = token.split(".")
    return bool(nonce) and hmac.compare_digest(signature, _sign(nonce))


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
