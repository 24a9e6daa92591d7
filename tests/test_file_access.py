"""What the launched app serves by URL: nothing of the disk but what it hands out itself."""

from __future__ import annotations

import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client

from playground import owners, runs
from playground.images import MAX_UPLOAD_BYTES
from playground.ui import CSS, build_app, train

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _status(url: str, path: Path | str) -> int:
    try:
        with urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    (root / "run1").mkdir(parents=True)
    (root / "run1" / "best.pt").write_bytes(b"weights")
    (root / "run1" / "status.json").write_text('{"state": "finished", "pid": 1}')
    (root / "run1" / "launch.json").write_text('{"pid": 1, "owner": "x"}')
    monkeypatch.setenv(runs.ROOT_ENV, str(root))
    monkeypatch.delenv(owners.SECRET_ENV, raising=False)
    owners.new_token()  # writes the token-signing secret into the checkpoints folder
    return root


def _launch(**settings):
    demo = build_app()
    _, url, _ = demo.launch(
        prevent_thread_lock=True, max_file_size=MAX_UPLOAD_BYTES, css=CSS, quiet=True, **settings
    )
    return demo, url


def test_no_file_of_the_machine_is_served_by_its_path(checkpoints):
    demo, url = _launch(**train.launch_settings())
    try:
        assert (checkpoints / owners.SECRET_NAME).is_file()
        for path in (
            checkpoints / owners.SECRET_NAME,
            checkpoints / "run1" / "best.pt",
            REPO / "app.py",
            REPO / "assets" / "chelsea.png",
            "/etc/passwd",
        ):
            assert _status(url, path) == 403, path
    finally:
        demo.close()


def test_a_checkpoints_folder_elsewhere_is_not_served_but_its_downloads_are(
    checkpoints, monkeypatch, tmp_path
):
    # As with PLAYGROUND_CHECKPOINTS=/data/checkpoints on a Space: outside the working directory
    # and the temporary folder. It used to be allowed whole (last.pt, launch.json, log.txt).
    other_temp = tmp_path / "temp"  # the temporary folder, as far as the app can tell
    other_temp.mkdir()
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(other_temp))
    settings = train.launch_settings()
    assert settings["allowed_paths"] == []
    demo, url = _launch(**settings)
    try:
        for name in (owners.SECRET_NAME, "run1/best.pt", "run1/launch.json", "run1/status.json"):
            assert _status(url, checkpoints.resolve() / name) == 403, name
        assert _status(url, REPO / "app.py") == 403
        # the Download button still works: the poll hands out a copy named after the run
        out = Client(url, verbose=False).predict("run1", [], api_name="/train_poll")
        (best,) = [o["value"] for o in out if isinstance(o, dict) and "best.pt" in str(o)]
        assert Path(best).name == "run1-best.pt" and Path(best).read_bytes() == b"weights"
    finally:
        demo.close()


def test_no_server_secret_reaches_the_page(checkpoints, monkeypatch):
    # gr.BrowserState puts its `secret` into the page config: it must not be the server's.
    monkeypatch.setenv(owners.SECRET_ENV, "operator-chosen-secret-1234")
    file_secret = (checkpoints / owners.SECRET_NAME).read_text().strip()
    demo, url = _launch(**train.launch_settings())
    try:
        with urllib.request.urlopen(f"{url}config", timeout=10) as response:
            config = response.read().decode()
        assert owners.STORAGE_KEY in config  # the token's BrowserState is in the page
        assert "operator-chosen-secret-1234" not in config and file_secret not in config
    finally:
        demo.close()
