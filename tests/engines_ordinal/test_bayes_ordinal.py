"""Bayesian cumulative-logit model (PyMC): real sampling, checked against the likelihood fit.

There is no Bayesian ordinal model in the Debian R packages here, so the check
is against the maximum-likelihood fit of the *same* model (adaptive GHQ,
itself validated against R ``ordinal::clmm``): with weak priors (beta ~ N(0,
2.5^2)) and 195 observations the posterior of the treatment log odds ratio is
close to normal around the MLE. Tolerances: posterior mean within 0.25
posterior SDs of the MLE, posterior SD within 15% of the ML standard error,
P(OR > 1) within 0.05 of Phi(MLE / SE) (2 x 1500 draws, ESS ~ 600 for the
treatment effect: Monte Carlo SE of a probability ~ 0.015). Diagnostics must be in the row and fine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from longmod.engines.ordinal.bayes import bayes_ordinal_rows
from longmod.engines.ordinal.cumlogit import fit_clmm, ordinal_rows
from longmod.engines.ordinal.design import ordinal_data

HERE = Path(__file__).resolve().parents[1] / "reference" / "ordinal"
pytestmark = pytest.mark.slow  # real NUTS sampling: a cold compile takes more than 20 s


@pytest.fixture(scope="module")
def fits():
    d = pd.read_csv(HERE / "who_long.csv")
    od = ordinal_data(d, outcome="who", levels=range(11), better="lower", fixed="arm + day", treatment="arm",
                      arms=("control", "active"), subject="id")
    bayes = bayes_ordinal_rows(od, analysis="who_bayes", outcome="who",
                               sampler={"chains": 2, "draws": 1500, "tune": 800, "seed": 11}).iloc[0]
    ml = ordinal_rows(fit_clmm(od, nagq=10), analysis="who_clmm", outcome="who").iloc[0]
    return bayes, ml


def test_posterior_agrees_with_the_likelihood_fit(fits):
    bayes, ml = fits
    assert abs(bayes["estimate"] - ml["estimate"]) < 0.25 * bayes["std_error"]
    assert bayes["std_error"] == pytest.approx(ml["std_error"], rel=0.15)
    assert bayes["prob_benefit"] == pytest.approx(stats.norm.cdf(ml["estimate"] / ml["std_error"]), abs=0.05)
    assert bayes["direction"] == ml["direction"] and bayes["contrast"] == "active - control"
    assert bayes["sigma_b"] == pytest.approx(ml["sigma_b"], rel=0.3)


def test_diagnostics_are_reported(fits):
    bayes, _ = fits
    assert bayes["r_hat"] < 1.01 and bayes["ess_bulk"] > 400 and bayes["divergences"] == 0
    assert bayes["engine"] == "pymc" and "beta_sd=2.5" in bayes["priors"]
    assert np.isnan(bayes["p_value"])
