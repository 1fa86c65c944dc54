"""Rank tests and ANCOVA on small textbook cases with values from R (4.2.2), quoted in each test."""

from __future__ import annotations

import pandas as pd
import pytest

from longmod.engines.ancova import fit_ancova, rank_sum_test, signed_rank_test
from longmod.spec import Treatment


def test_rank_sum_exact_hollander_wolfe():
    # R: x <- c(0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46)
    #    y <- c(1.15, 0.88, 0.90, 0.74, 1.21)
    #    wilcox.test(x, y, conf.int = TRUE)
    # R 4.2.2: W = 35, p-value = 0.2544123, difference in location 0.305, 95% CI -0.15 to 0.76
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    r = rank_sum_test(x, y)
    assert r.exact and r.statistic == 35.0
    assert r.p_value == pytest.approx(0.2544123, abs=5e-8)
    assert r.estimate == pytest.approx(0.305)
    assert (r.conf_low, r.conf_high) == pytest.approx((-0.15, 0.76))


def test_signed_rank_exact_and_ties_fallback():
    # R: wilcox.test(c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30),
    #                c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29), paired = TRUE)
    # R 4.2.2: V = 40, p-value = 0.0390625 (Hollander & Wolfe, depression data)
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    r = signed_rank_test(before=y, after=x)
    assert r.exact and r.statistic == 40.0
    assert r.p_value == pytest.approx(0.0390625, abs=1e-10)
    # ties -> normal approximation with continuity correction (R warns and does the same)
    # R: wilcox.test(c(2, 4, 6, 8, 8), c(1, 2, 3, 4, 4), paired = TRUE, exact = FALSE)  # R 4.2.2: V = 15, p-value = 0.05790727
    t = signed_rank_test(before=[1, 2, 3, 4, 4], after=[2, 4, 6, 8, 8])
    assert not t.exact and t.statistic == 15.0
    assert t.p_value == pytest.approx(0.05790727, abs=5e-9)


def test_ancova_drops_constant_stratum_and_rejects_extra_arm():
    d = pd.DataFrame({"arm": ["a", "b"] * 4, "change": [1.0, 2, 3, 5, 2, 2, 4, 1], "baseline": [1.0, 2, 3, 4, 5, 6, 7, 8],
                      "sofa_gt11": 0})
    fit = fit_ancova(d, treatment=Treatment("arm", "b", "a"), covariates=["baseline", "sofa_gt11"])
    assert list(fit.coefficients["term"]) == ["(Intercept)", "arma", "baseline"]
    d2 = d.copy()
    d2.loc[0, "arm"] = "c"
    with pytest.raises(ValueError, match="arm has level"):
        fit_ancova(d2, treatment=Treatment("arm", "b", "a"), covariates=["baseline"])
    with pytest.raises(KeyError, match="column\\(s\\) age_gt70 not in the data"):
        fit_ancova(d, treatment=Treatment("arm", "b", "a"), covariates=["age_gt70"])
