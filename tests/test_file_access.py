"""What the launched app serves by URL: nothing of the disk but what it hands out itself."""

from __future__ import annotations

import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from playground import runs
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
    monkeypatch.setenv(runs.ROOT_ENV, str(root))
    monkeypatch.delenv("PLAYGROUND_SECRET", raising=False)
    return root


def _launch(**settings):
    demo = build_app()  # writes the owner-token secret into the checkpoints folder
    _, url, _ = demo.launch(
        prevent_thread_lock=True, max_file_size=MAX_UPLOAD_BYTES, css=CSS, quiet=True, **settings
    )
    return demo, url


def test_no_file_of_the_machine_is_served_by_its_path(checkpoints):
    demo, url = _launch(**train.launch_settings())
    try:
        assert (checkpoints / train.SECRET_NAME).is_file()
        for path in (
            checkpoints / train.SECRET_NAME,
            checkpoints / "run1" / "best.pt",
            REPO / "app.py",
            REPO / "assets" / "chelsea.png",
            "/etc/passwd",
        ):
            assert _status(url, path) == 403, path
    finally:
        demo.close()


def test_a_checkpoints_folder_elsewhere_is_served_but_not_its_secret(
    checkpoints, monkeypatch, tmp_path
):
    # As with PLAYGROUND_CHECKPOINTS=/data/checkpoints on a Space: outside the working directory
    # and the temporary folder, so it must be allowed for the downloads to work.
    other_temp = tmp_path / "temp"  # the temporary folder, as far as the app can tell
    other_temp.mkdir()
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(other_temp))
    settings = train.launch_settings()
    assert settings["allowed_paths"] == [str(checkpoints.resolve())]
    demo, url = _launch(**settings)
    try:
        assert (checkpoints / train.SECRET_NAME).is_file()
        assert _status(url, checkpoints.resolve() / "run1" / "best.pt") == 200
        assert _status(url, checkpoints.resolve() / train.SECRET_NAME) == 403
        assert _status(url, REPO / "app.py") == 403
    finally:
        demo.close()
