"""The Examples sections of the native core's numerical modules run (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "longmod.engines.core.likelihood", "longmod.engines.core.information", "longmod.engines.core.woodbury",
    "longmod.engines.core.optimize", "longmod.engines.core.inference", "longmod.engines.core.ops",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
    assert res.attempted > 0, f"{name} has no runnable examples"
