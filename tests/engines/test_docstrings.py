"""The Examples sections of the engine modules run (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "longmod.spec.formula", "longmod.engines.core.covariance", "longmod.engines.core.lsmeans",
    "longmod.engines.core.prepare", "longmod.engines.native", "longmod.engines.statsmodels_lmm",
    "longmod.engines.registry", "longmod.engines.lme4", "longmod.spec.terms", "longmod.spec.model_formula",
    "longmod.spec.model", "longmod.engines.core.singular", "longmod.engines.core.betwithin", "longmod.results.fit",
    "longmod.api",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
    assert res.attempted > 0 or name.endswith("lme4"), f"{name} has no runnable examples"
