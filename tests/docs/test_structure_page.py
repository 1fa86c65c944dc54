"""The Package structure page describes exactly the parts of the ``longmod`` folder."""

from __future__ import annotations

import re
from pathlib import Path

import longmod

ROOT = Path(__file__).resolve().parents[2]


def _documented_parts() -> list[str]:
    text = (ROOT / "docs" / "structure.md").read_text(encoding="utf-8")
    section = text.split("## The parts of `longmod`", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, re.M)


def _actual_parts() -> set[str]:
    pkg = Path(longmod.__file__).resolve().parent
    out = set()
    for p in pkg.iterdir():
        if p.name.startswith(("_bundled", "__pycache__", ".")):
            continue
        if p.is_dir() and (p / "__init__.py").is_file():
            out.add(p.name + "/")
        elif p.suffix == ".py":
            out.add(p.name)
    return out


def test_structure_page_lists_every_part_of_the_package():
    documented = _documented_parts()
    assert len(documented) == len(set(documented)), "a part is listed twice"
    actual = _actual_parts()
    assert set(documented) == actual, (f"missing from docs/structure.md: {sorted(actual - set(documented))}; "
                                       f"listed but absent: {sorted(set(documented) - actual)}")
