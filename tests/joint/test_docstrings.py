"""The Examples sections of the joint-model modules run (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["longmod.engines.joint.data", "longmod.engines.joint.model", "longmod.engines.joint.fit",
           "longmod.engines.joint.simulate", "longmod.engines.joint.incidence", "longmod.pipeline.runners_joint"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
    assert res.attempted > 0, f"{name} has no runnable examples"
