"""Singular (boundary) random-effects fits are flagged as lme4 flags them (issue 11 item 6).

Reference: ``tests/reference/lme4/singular.R`` -> ``singular.json`` + ``singular.csv`` (R-seeded
data with no random slope in the generating model). lme4 ends on the boundary (correlation -1,
``isSingular(tol = 1e-4)`` TRUE) for ``(1 + day | id)`` and not for ``(1 | id)``. The native fit
must agree on the flag, keep ``converged`` (a boundary optimum is an optimum) and reach the same
-2 REML log L (rtol 1e-9: both optimisers converge tightly on this small, well-conditioned fit).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

import longmod
from longmod.engines.core.covariance import get_structure
from longmod.engines.core.singular import singular_message

from .conftest import REPO

REF = REPO / "tests" / "reference" / "lme4"


@pytest.mark.parametrize("key,formula", [("ris", "y ~ day + (1 + day | id)"), ("ri", "y ~ day + (1 | id)")])
def test_singular_flag_agrees_with_lme4(key, formula):
    ref = json.loads((REF / "singular.json").read_text())[key]
    fit = longmod.lmm(formula, pd.read_csv(REF / "singular.csv"))
    assert fit.fit_stats["singular"] is ref["singular"]
    assert fit.convergence.converged
    assert fit.fit_stats["neg2_log_likelihood"] == pytest.approx(ref["neg2_log_likelihood"], rel=1e-9)
    flagged = [w for w in fit.convergence.warnings if w.startswith("singular fit")]
    assert bool(flagged) is ref["singular"]
    if ref["singular"]:
        assert "isSingular" in flagged[0]
        assert "singular fit" in repr(fit) or "singular=True" in repr(fit)


def test_mmrm_structures_flag_correlations_at_one():
    ar1 = get_structure("ar1")
    assert singular_message(ar1, [0.5, 2.0], [1.0, 2.0, 3.0]) is None
    assert "correlation" in singular_message(ar1, [1 - 1e-12, 2.0], [1.0, 2.0, 3.0])
    us = get_structure("us")
    assert "standard deviation" in singular_message(us, [1.0, 0.0, 1e-12], [1.0, 2.0])
