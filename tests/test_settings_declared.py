"""Every run setting is declared once, in playground/training/settings.py: no other module of
the app spells out a setting's command-line flag, its form label or element id, or one of its
declared bounds or defaults beside its name. Such a copy goes stale silently when the
declaration changes (a bound raised, a flag renamed), so it is read from the declaration.

The scan reads the source with `ast` (comments and docstrings are prose, not values):
- a flag (`--batch-size`) anywhere in a string, f-strings included;
- a label ("Epochs", or "Epochs (...)") or an element id ("train-epochs") as a whole string;
- a declared bound compared with the setting (`cfg["nproc"] < 1`, `1 <= seeds <= 10`: the
  bound's side of the comparison, not `seeds > 1`, which counts), a declared default as the
  setting's fallback (`cfg.get("width") or 64`), or a bound passed beside the setting's name
  (`whole_number(seeds, "seeds per arm", 1, 10)`).
"""

from __future__ import annotations

import ast
import operator
import re
from pathlib import Path

from playground.training import settings

ROOT = Path(__file__).resolve().parents[1]
DECLARATIONS = ROOT / "playground" / "training" / "settings.py"

# Literals that look like a setting's but are not one: (file, literal) -> why.
ALLOWED = {
    # the Augment tab's preview seed, a catalogue-style parameter with its own declaration
    ("playground/controls.py", "Seed"): "the preview's seed, not a run's",
    ("playground/controls.py", "0"): "the preview's seed, not a run's",
    ("playground/controls.py", "2147483647"): "the preview's seed, not a run's",
    ("playground/ui/augment.py", "0"): "the preview's seed box (elem_id seed), not a run's",
    # the sample-building script's flag, quoted in the Export tab's help
    ("playground/ui/export.py", "--seed"): "scripts/build_samples.py's --seed, not training's",
}


def _declared() -> list[settings.Declared]:
    return [*settings.declared(), settings.SEEDS]


def _words(d: settings.Declared) -> set[str]:
    """How code names a setting: its name, and its label in lower case without the note."""
    words = {d.name}
    if d.label:
        words.add(re.sub(r"\s*\(.*\)$", "", d.label).lower())
    return words


def _bounds(d: settings.Declared) -> tuple[set[float], set[float]]:
    return {d.low} - {None}, {d.high, d.space_high, d.space_high_large} - {None}


def _defaults(d: settings.Declared) -> set[float]:
    """The values a setting falls back to: its default, and for the image size the training
    size it is resolved to when not given."""
    out = set()
    if isinstance(d.default, (int, float)) and not isinstance(d.default, bool):
        out.add(d.default)
    if d.name == "image_size":
        out.add(settings.DEFAULT_IMAGE_SIZE)
    return out


ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
}


def _number(node: ast.AST) -> float | None:
    """The value of a literal number or of arithmetic on literals (2**31 - 1), else None."""
    if isinstance(node, ast.Constant):
        value = node.value
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(node, ast.UnaryOp) and type(node.op) in ARITHMETIC:
        value = _number(node.operand)
        return None if value is None else ARITHMETIC[type(node.op)](value)
    if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
        left, right = _number(node.left), _number(node.right)
        if left is None or right is None:
            return None
        return ARITHMETIC[type(node.op)](left, right)
    return None


def _text(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _names(node: ast.AST) -> set[str]:
    """What a piece of code calls things: variables, attributes and string keys in it."""
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            out.add(n.value.lower())
    return out


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


LOWER = {ast.Lt: "low", ast.GtE: "low", ast.Gt: "high", ast.LtE: "high"}  # setting OP literal
# a lookup's number is the fallback of a stored value (a split's seed), not a bound
LOOKUPS = ("get", "pop", "setdefault")
FLIP = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}


def violations(source: str) -> list[tuple[int, str, str]]:
    """(line, literal, what it copies) for each copy of a declaration in `source`."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    declared = _declared()
    flag = re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(d.flag) for d in declared) + r")(?![\w-])"
    )
    form = {d.label: d.name for d in declared if d.label} | {d.elem_id: d.name for d in declared}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            for m in flag.finditer(node.value):
                out.append((node.lineno, m.group(1), "a declared flag"))
            text = node.value.strip()
            label = re.sub(r"\s*\(.*\)$", "", text)
            if text in form or label in form:
                out.append(
                    (node.lineno, text, f"the form's name of {form.get(text, form.get(label))}")
                )
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
                for side, literal, op_kind in (
                    (left, right, type(op)),
                    (right, left, FLIP.get(type(op))),
                ):
                    value = _number(literal)
                    if value is None or op_kind not in LOWER:
                        continue
                    for d in declared:
                        low, high = _bounds(d)
                        bound = low if LOWER[op_kind] == "low" else high
                        if value in bound and _words(d) & _names(side):
                            out.append((node.lineno, _text(value), f"{d.name}'s declared bound"))
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            value = _number(node.values[-1])
            for d in declared if value is not None else ():
                named = set().union(*(_names(v) for v in node.values[:-1]))
                if value in _defaults(d) and _words(d) & named:
                    out.append((node.lineno, _text(value), f"{d.name}'s declared default"))
        elif isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Attribute) and node.func.attr in LOOKUPS
        ):
            args = [*node.args, *(k.value for k in node.keywords)]
            named = {
                a.value.lower()
                for a in args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            }
            for value in filter(lambda v: v is not None, map(_number, args)):
                for d in declared:
                    low, high = _bounds(d)
                    if value in low | high and _words(d) & named:
                        out.append((node.lineno, _text(value), f"{d.name}'s declared bound"))
    return out


def _sources() -> list[Path]:
    files = sorted(ROOT.joinpath("playground").rglob("*.py")) + [ROOT / "app.py"]
    return [p for p in files if p != DECLARATIONS]


def test_no_setting_is_declared_twice():
    found = []
    for path in _sources():
        where = path.relative_to(ROOT).as_posix()
        for line, literal, what in violations(path.read_text(encoding="utf-8")):
            if (where, literal) in ALLOWED:
                continue
            found.append(f"{where}:{line}: {literal!r} copies {what}")
    assert not found, "read these from playground/training/settings.py:\n" + "\n".join(found)


def test_the_scan_catches_a_copy():
    """The checker itself: each kind of hand-written copy is reported, and the ordinary uses
    beside it (a config key, a count of seeds, a flag read from the declaration) are not."""
    source = """
cmd = [*args, "--seed", str(seed)]
cmd.append("--no-augment")
message = f"--batch-size {batch} is too large"
if cfg["nproc"] < 1:
    pass
if not 1 <= seeds <= 10:
    pass
size = cfg.get("image_size") or 32
box = Number(label="Epochs", elem_id="train-epochs")
pairs = whole_number(seeds, "seeds per arm", 1, 10)
"""
    found = {(line, literal) for line, literal, _ in violations(source)}
    assert found == {
        (2, "--seed"),
        (3, "--no-augment"),
        (4, "--batch-size"),
        (5, "1"),
        (7, "1"),
        (7, "10"),
        (9, "32"),
        (10, "Epochs"),
        (10, "train-epochs"),
        (11, "1"),
        (11, "10"),
    }
    fine = '''
cmd = [*args, settings.by_name("seed").flag, str(seed)]
plural = "s" if seeds > 1 else ""
procs = cfg["nproc"] > 1
dataset = cfg["dataset"]
size = cfg.get("image_size") or settings.DEFAULT_IMAGE_SIZE
def f():
    """Pass --seed N to train one seed."""
'''
    assert violations(fine) == []
