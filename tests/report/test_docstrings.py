"""The Examples sections of the report modules and the CLI run (doctest), ``write_html_report``'s included."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "longmod.report.html", "longmod.report.markdown", "longmod.report.json_report", "longmod.report.tables",
    "longmod.report.plots", "longmod.report.mdlite", "longmod.cli", "longmod.report.forest", "longmod.report.canvas",
    "longmod.report.figures", "longmod.report.biomarker_plots", "longmod.report.biomarkers",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
    assert res.attempted > 0, f"{name} has no runnable examples"


def test_write_html_report_example_is_not_skipped():
    from longmod.report.html import write_html_report

    assert "+SKIP" not in write_html_report.__doc__
    finder = doctest.DocTestFinder()
    (test,) = [t for t in finder.find(importlib.import_module("longmod.report.html"))
               if t.name.endswith(".write_html_report")]
    assert len(test.examples) >= 4
