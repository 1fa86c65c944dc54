"""Nothing in longmod/ names a bundled trial's arm, stratum or outcome: a trial's design comes from its
trial.toml and plan (fixtures/ and models/ hold the bundled ones)."""

from __future__ import annotations

import re
from pathlib import Path

import longmod

BUNDLED = re.compile(r"age_gt70|sofa_gt11|uc_msc|placebo|pao2_fio2")
#: Known exceptions, each with its reason (remove an entry once the file no longer needs it).
KNOWN = {
    "engines/meta/priors.py",      # "pharmacological vs placebo / control": the name of Turner et al.'s category
    "reconstruct/targets.py",      # docstring examples of the reconstruction (to be made generic by its owners)
    "spec/formula.py",             # a formulaic syntax example, C(x, Treatment("placebo")) (front-end docs)
}


def _code_and_prose(text: str):
    """(line number, line) of everything but docstring examples: a ``>>>`` line, its ``...``
    continuations and its printed output up to the next blank line. An example may run on a
    bundled trial (that is what the doctests check); the code and the prose stay generic."""
    in_example = False
    for i, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith(">>>"):
            in_example = True
        elif not stripped or stripped.startswith('"""'):
            in_example = False
        if not in_example:
            yield i, line


def test_examples_are_not_code():
    text = 'def f():\n    """Doc.\n\n    >>> f("uc_msc")\n    \'placebo\'\n\n    uc_msc\n    """\n    return "x"\n'
    assert [i for i, line in _code_and_prose(text) if BUNDLED.search(line)] == [7]


def test_no_bundled_names_in_the_package():
    pkg = Path(longmod.__file__).resolve().parent
    hits = {}
    for p in sorted(pkg.rglob("*.py")):
        rel = p.relative_to(pkg).as_posix()
        if "_bundled" in p.parts or rel in KNOWN:
            continue
        lines = [i for i, line in _code_and_prose(p.read_text(encoding="utf-8")) if BUNDLED.search(line)]
        if lines:
            hits[rel] = lines
    assert not hits, f"bundled trial names in longmod/ (file: lines): {hits}"
