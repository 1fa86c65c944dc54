"""Nothing in longmod/ names a bundled trial's arm, stratum or outcome: a trial's design comes from its
trial.toml and plan (fixtures/ and models/ hold the bundled ones)."""

from __future__ import annotations

import re
from pathlib import Path

import longmod

BUNDLED = re.compile(r"age_gt70|sofa_gt11|uc_msc|placebo|pao2_fio2")
#: Files another piece of work is rewriting (remove each entry once it is trial-agnostic).
KNOWN = {"reconstruct/generator.py", "reconstruct/extension.py", "reconstruct/targets.py"}


def test_no_bundled_names_in_the_package():
    pkg = Path(longmod.__file__).resolve().parent
    hits = {}
    for p in sorted(pkg.rglob("*.py")):
        rel = p.relative_to(pkg).as_posix()
        if "_bundled" in p.parts or rel in KNOWN:
            continue
        lines = [i for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if BUNDLED.search(line)]
        if lines:
            hits[rel] = lines
    assert not hits, f"bundled trial names in longmod/ (file: lines): {hits}"
