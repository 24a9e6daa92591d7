"""The README's transform lists, derived from the catalogue.

README.md holds them between `<!-- NAME: generated ... -->` and `<!-- /NAME -->` lines; a test
fails when they differ from what the catalogue says, and `python -m pipelines readme` rewrites
them. Adding a transform to the catalogue therefore never means editing a list by hand.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

from pipelines.catalogue import CATALOGUE, GROUPS

WIDTH = 96  # the README's line width


def _bullet(text: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent="- ", subsequent_indent="  ")


def transforms() -> str:
    """Every transform, by picker group."""
    groups = [
        f"{title}: {', '.join(t.name for t in CATALOGUE if t.group == key)}."
        for key, title in GROUPS.items()
    ]
    head = (
        f"The catalogue holds {len(CATALOGUE)} torchvision v2 transforms in {len(GROUPS)} groups."
    )
    return _bullet(" ".join([head, *groups]))


def batched() -> str:
    """Which per-image transforms have a batched kernel, and why the others run per image."""
    per_image = [t for t in CATALOGUE if not t.batch]
    kernels = [t.name for t in per_image if t.batched.kernel]
    others = [f"{t.name} ({t.batched.reason})" for t in per_image if not t.batched.kernel]
    mixing = " and ".join(t.name for t in CATALOGUE if t.batch)
    return _bullet(
        f"**Batched kernels** (`pipelines/batched/`): {len(kernels)} of the {len(per_image)} "
        f"per-image transforms have one: {', '.join(kernels)}. Per image, with the reason the "
        f"training log gives: {'; '.join(others)}. {mixing} mix whole batches after the "
        "per-image steps in either case."
    )


BLOCKS: dict[str, Callable[[], str]] = {"transforms": transforms, "batched": batched}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name}: generated[^\n]*-->\n)(.*?)(<!-- /{name} -->)", re.S)


def render(text: str) -> str:
    """`text` (a README) with every generated block rewritten from the catalogue."""
    for name, make in BLOCKS.items():
        pattern = _pattern(name)
        if not pattern.search(text):
            raise ValueError(f"the README has no generated block {name!r}")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(3), text)
    return text


def update(path: Path) -> bool:
    """Rewrite the generated blocks of the README at `path`; whether anything changed."""
    text = path.read_text(encoding="utf-8")
    new = render(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text
