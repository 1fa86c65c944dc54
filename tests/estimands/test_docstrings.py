"""The Examples sections of the estimand modules run (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "longmod.estimands.rubin", "longmod.estimands.mvn", "longmod.estimands.mvn_em", "longmod.estimands.wide",
    "longmod.estimands.reference_based", "longmod.estimands.imputation_params", "longmod.estimands.descriptions",
    "longmod.estimands.ancova_batch", "longmod.estimands.tipping", "longmod.estimands.tipping_plot",
    "longmod.estimands.while_alive", "longmod.estimands.worst_rank",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
    assert res.attempted > 0, f"{name} has no runnable examples"
