"""The Examples sections of the data, estimand, spec and pipeline modules run (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "longmod.data.meta", "longmod.data.trial_toml", "longmod.data.validate", "longmod.data.load",
    "longmod.estimands.apply", "longmod.estimands.longitudinal", "longmod.spec.estimand", "longmod.spec.plan",
    "longmod.spec.model", "longmod.pipeline.registry", "longmod.pipeline.init", "longmod.pipeline.reference",
    "longmod.pipeline.run", "longmod.pipeline.single", "longmod.pipeline.prior_grid", "longmod.engines.ancova",
    "longmod.published.registry", "longmod.resources",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
    assert res.attempted > 0, f"{name} has no runnable examples"
