"""Every module's numpydoc Examples run as doctests, and every public name has one.

One parametrised test per module of the ``longmod`` package (found with
``pkgutil.walk_packages``, so a new module is covered without editing this file):

* ``test_module_examples_run`` runs the module's doctests with ELLIPSIS and
  NORMALIZE_WHITESPACE; examples listed in ``R_EXAMPLES`` are skipped only when
  ``Rscript`` is missing (those modules carry ``pytest.mark.r``).
* ``test_public_names_have_examples`` checks that each public function and class
  defined in the module (name not starting with ``_``) has a ``>>>`` example in its
  docstring, except the names in ``EXEMPT`` (with a reason).
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import pkgutil
import shutil

import pytest

import longmod

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

MODULES = sorted(m.name for m in pkgutil.walk_packages(longmod.__path__, "longmod."))

# Docstrings whose examples need R (Rscript and the Debian r-cran-* packages): skipped
# when Rscript is missing, run otherwise. Keys are modules, values DocTest names.
R_EXAMPLES: dict[str, set[str]] = {
    "longmod.engines.lme4": {"longmod.engines.lme4.fit_lme4"},
}

# Public classes without an example ("module.Name": reason). None today: a one-line
# example is better documentation than an exemption; keep this short.
EXEMPT: dict[str, str] = {
}


def _public_defs(mod) -> dict[str, object]:
    """Public functions and classes defined in ``mod`` itself (not imported into it)."""
    return {k: v for k, v in vars(mod).items()
            if not k.startswith("_") and (inspect.isfunction(v) or inspect.isclass(v))
            and getattr(v, "__module__", None) == mod.__name__}


def _has_example(obj) -> bool:
    return ">>>" in (inspect.getdoc(obj) or "")


def _param(name: str):
    marks = [pytest.mark.r] if name in R_EXAMPLES else []
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_param(m) for m in MODULES])
def test_module_examples_run(name):
    mod = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(mod) if t.examples]
    skipped = []
    if name in R_EXAMPLES and shutil.which("Rscript") is None:
        skipped = [t.name for t in tests if t.name in R_EXAMPLES[name]]
        tests = [t for t in tests if t.name not in R_EXAMPLES[name]]
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    for t in tests:
        runner.run(t, out=out.write)
    res = runner.summarize(verbose=False)
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples failed in {name}:\n{out.getvalue()}"
    if skipped:
        pytest.skip(f"Rscript not found (install r-base-core): skipped the R examples of {skipped}")


def test_r_examples_exist():
    """Every ``R_EXAMPLES`` entry names a docstring that exists and has examples."""
    for name, tests in R_EXAMPLES.items():
        found = {t.name for t in doctest.DocTestFinder().find(importlib.import_module(name)) if t.examples}
        assert tests <= found, f"{name}: no examples in {sorted(tests - found)}"


@pytest.mark.parametrize("name", MODULES)
def test_public_names_have_examples(name):
    mod = importlib.import_module(name)
    allowed = {k.rsplit(".", 1)[1] for k in EXEMPT if k.rsplit(".", 1)[0] == name}
    missing = sorted(k for k, v in _public_defs(mod).items() if not _has_example(v) and k not in allowed)
    assert not missing, (f"{name}: public names without a '>>>' example in their docstring: {missing} "
                         "(write a short numpydoc Examples section)")


def test_exemptions_are_still_needed():
    """EXEMPT only names public definitions that still lack an example."""
    stale = []
    for qual in EXEMPT:
        mod, k = qual.rsplit(".", 1)
        defs = _public_defs(importlib.import_module(mod))
        if k not in defs or _has_example(defs[k]):
            stale.append(qual)
    assert not stale, f"remove these from EXEMPT (they have an example now, or are gone): {stale}"


def test_write_html_report_example_is_not_skipped():
    """``write_html_report``'s Examples really write a report (no +SKIP), so the run above tests it."""
    from longmod.report.html import write_html_report

    assert "+SKIP" not in write_html_report.__doc__
    (test,) = [t for t in doctest.DocTestFinder().find(importlib.import_module("longmod.report.html"))
               if t.name.endswith(".write_html_report")]
    assert len(test.examples) >= 4
