"""docs/architecture.md stays true: every module it names exists, every function it names
after a module is defined there, and its folder table lists the rooms tests/test_layers.py
checks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.test_layers import ALLOWED

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def _defined(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def test_every_module_named_exists():
    paths = set(re.findall(r"`((?:playground|pipelines|tests|bench)/[\w/]*\.py)`", DOC))
    assert paths, "the map names no module"
    missing = sorted(p for p in paths if not (ROOT / p).is_file())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def _module(path: str) -> Path:
    """`jobs/start.py` in a walk is playground/jobs/start.py."""
    top = path.split("/")[0]
    return ROOT / path if top in ("playground", "pipelines") else ROOT / "playground" / path


def test_every_function_named_after_its_module_is_defined_there():
    pairs = re.findall(r"`([\w/]+\.py)` `(\w+)", DOC)
    assert len(pairs) >= 20, "the walks name their steps' functions"
    wrong = [f"{p} {name}" for p, name in pairs if name not in _defined(_module(p))]
    assert not wrong, f"docs/architecture.md names functions that are not there: {wrong}"


def test_the_folder_table_lists_every_checked_room():
    rows = set(re.findall(r"^\| `([\w/]+)/`", DOC, flags=re.M))
    rooms = {room for room in ALLOWED if room != "playground"}
    assert rooms <= rows, f"rooms missing from the map: {sorted(rooms - rows)}"
