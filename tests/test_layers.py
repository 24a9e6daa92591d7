"""The folders' import rules (docs/architecture.md): each room imports only the rooms below it,
so a change in the UI cannot break training and pipelines/ stays usable without the app."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# room -> the rooms (and third-party packages) it may import; a module's room is its folder
# (playground's top-level modules form the room "playground").
ALLOWED = {
    "pipelines": {"pipelines"},
    "playground/training": {"pipelines", "playground/training", "playground.runs"},
    "playground/jobs": {"pipelines", "playground/training", "playground/jobs", "playground"},
    "playground": {"pipelines", "playground/training", "playground/jobs", "playground"},
    "playground/train_view": {
        "pipelines",
        "playground/training",
        "playground/jobs",
        "playground",
        "playground/train_view",
    },
    "playground/ui": {
        "pipelines",
        "playground/training",
        "playground/jobs",
        "playground",
        "playground/train_view",
        "playground/ui",
    },
}
# only the UI and app.py speak Gradio
GRADIO_ROOMS = {"playground/ui", "app"}


def _room(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] == "pipelines":
        return "pipelines"
    if parts[0] == "playground":
        return "playground" if len(parts) == 2 else f"playground/{parts[1]}"
    return parts[0]


def _target(module: str) -> str | None:
    """The room of an imported module (None: not ours)."""
    parts = module.split(".")
    if parts[0] == "pipelines":
        return "pipelines"
    if parts[0] != "playground":
        return None
    if len(parts) == 1:
        return "playground"
    if (ROOT / "playground" / parts[1]).is_dir():
        return f"playground/{parts[1]}"
    return "playground." + parts[1] if parts[1] == "runs" else "playground"


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
            if node.module in ("playground", "pipelines"):  # from playground import jobs
                out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def _sources() -> list[Path]:
    files = [*ROOT.joinpath("pipelines").rglob("*.py"), *ROOT.joinpath("playground").rglob("*.py")]
    return sorted(files) + [ROOT / "app.py"]


def test_each_room_imports_only_what_the_map_allows():
    wrong = []
    for path in _sources():
        room = _room(path)
        allowed = ALLOWED.get(room)
        if allowed is None:
            continue
        for line, module in _imports(path):
            target = _target(module)
            if target is None or target == "playground" and module in ("playground",):
                continue
            ok = target in allowed or (target == "playground.runs" and "playground" in allowed)
            if not ok:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({room}) imports {module}")
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(wrong)


def test_only_the_ui_imports_gradio():
    wrong = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _sources()
        for line, module in _imports(path)
        if module.split(".")[0] == "gradio" and _room(path) not in GRADIO_ROOMS
    ]
    assert not wrong, "Gradio outside playground/ui and app.py: " + ", ".join(wrong)


def test_the_rules_catch_a_wrong_import(tmp_path):
    """The checker itself: a training module importing the UI is reported."""
    path = ROOT / "playground" / "training" / "x.py"
    assert _room(path) == "playground/training"
    assert _target("playground.ui.train") == "playground/ui"
    assert _target("playground.ui.train") not in ALLOWED["playground/training"]
    assert _target("playground.runs") in ALLOWED["playground/training"]
    assert _target("pipelines.batched.colour") == "pipelines"


def test_the_augment_tab_keeps_its_logic_out_of_the_ui_room():
    """The Augment tab: layout, wiring and the callbacks in the UI room (one module per job);
    the logic they share in the room "playground", where Gradio is refused."""
    ui = ["augment", "step_editor", "editing", "views", "sharing", "image_upload"]
    for path in [ROOT / "playground" / "ui" / f"{name}.py" for name in ui]:
        assert path.exists() and _room(path) == "playground/ui" in GRADIO_ROOMS, path.name
    plain = ROOT / "playground" / "augment_view.py"
    assert plain.exists() and _room(plain) == "playground" not in GRADIO_ROOMS
