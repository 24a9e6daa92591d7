"""Where a folder data set is: one check, used by the app before it starts anything and by the
training command when it opens the folder, so that both answer the same path the same way.

No torch here: the app imports this without importing the training code.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_PATH_CHARS = 4096  # Linux's PATH_MAX


class FolderError(ValueError):
    """A folder path that cannot be a data set; the message says why, in the page's words."""


def resolve(text: str) -> Path:
    """The absolute folder `text` names (`~` expanded, `..` resolved), without checking that it
    exists; FolderError for a path no file system accepts."""
    text = str(text).strip()
    if not text:
        raise FolderError("give the path of the image folder (it must hold train/ and test/)")
    if "\0" in text:
        raise FolderError("the folder path contains a NUL character")
    if len(text) > MAX_PATH_CHARS:
        raise FolderError(
            f"the folder path is {len(text):,} characters long; the limit is {MAX_PATH_CHARS:,}"
        )
    try:
        return Path(os.path.expanduser(text)).resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop, say
        raise FolderError(f"the folder path {text!r} cannot be resolved ({err})") from None


def existing(path: Path, shown: str) -> Path:
    """`path` if it is a folder; FolderError saying what it is otherwise (`shown`: as typed)."""
    try:
        if path.is_dir():
            return path
        kind = "a file, not a folder" if path.exists() else None
    except OSError as err:  # a name too long for the file system, a permission
        raise FolderError(f"the folder {shown!r} cannot be read ({err.strerror})") from None
    if kind:
        raise FolderError(
            f"{shown!r} is {kind}: give the folder that holds train/<class>/ and test/<class>/"
        )
    raise FolderError(f"the folder {shown!r} does not exist on the server")


def data_folder(text: str) -> Path:
    """The checked folder `text` names: resolved, then existing."""
    return existing(resolve(text), str(text).strip())
