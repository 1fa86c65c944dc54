"""Bayesian random-effects meta-analysis (PyMC) against the exact posterior.

Reference: tests/reference/metafor/metafor.R integrates the same model's
posterior numerically (a 200,001-point grid over tau; mu | tau is normal), so
its numbers carry no Monte Carlo error. Real sampling here: 2 chains x 2000
draws, fixed seed. Tolerances are Monte Carlo ones: posterior means within
5 MCSE (+1e-3 of the posterior SD for the grid), probabilities within 0.04
(~2.5 SE at ESS ~ 1000), medians within 4% and 2.5%/97.5% quantiles within 6% of the posterior 95%
width (10% for tau, whose long right tail gets few draws: the MC error of
its 97.5% quantile at ESS ~ 1000 is ~3-4% of the width). Diagnostics
must be reported and fine (r_hat < 1.01, ess_bulk > 400, no divergences).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from longmod.engines.meta.bayes import bayes_meta_rows
from longmod.engines.meta.priors import half_normal, turner2015

HERE = Path(__file__).resolve().parents[1] / "reference" / "metafor"
pytestmark = pytest.mark.slow  # real NUTS sampling: a cold compile takes more than 20 s
STUDIES = pd.read_csv(HERE / "studies.csv").rename(columns={"yi": "estimate", "sei": "std_error"})
SAMPLER = {"chains": 2, "draws": 2000, "tune": 1000, "seed": 20261201}
CASES = {
    "three_turner_mortality": ("three", turner2015("all-cause mortality"), 2.82, False),
    "three_halfnormal": ("three", half_normal(0.5), 2.82, False),
    "mmhg_halfnormal": ("mmhg", half_normal(40.0), 100.0, True),
}


@pytest.fixture(scope="module")
def exact() -> dict:
    return json.loads((HERE / "metafor.json").read_text())["bayes"]


@pytest.fixture(scope="module", params=list(CASES))
def fitted(request):
    study_set, prior, mu_sd, better_higher = CASES[request.param]
    rows = bayes_meta_rows(STUDIES[STUDIES.set == study_set], analysis="meta", outcome="o", contrast="t - c",
                           tau_prior=prior, mu_sd=mu_sd, higher_is_better=better_higher, sampler=SAMPLER)
    return request.param, better_higher, rows.set_index("parameter")


def test_posterior_matches_exact_integration(fitted, exact):
    name, better_higher, rows = fitted
    ex = exact[name]
    mu, tau, new = rows.loc["mu"], rows.loc["tau"], rows.loc["theta_new"]
    assert abs(mu["estimate"] - ex["mu_mean"]) < 5 * mu["mcse_mean"] + 1e-3 * ex["mu_sd"]
    for row, q, key in ((mu, ex["mu_q"], "mu"), (tau, ex["tau_q"], "tau"), (new, ex["new_q"], "new")):
        width = q[2] - q[0]
        tail = 0.1 if key == "tau" else 0.06  # tau's tails are long (log-normal / half-normal): fewer tail draws
        np.testing.assert_allclose([row["conf_low"], row["conf_high"]], [q[0], q[2]], atol=tail * width, err_msg=key)
        np.testing.assert_allclose(row["posterior_median"], q[1], atol=0.04 * width, err_msg=key)
    p_mu = ex["mu_p_below0"] if not better_higher else 1 - ex["mu_p_below0"]
    p_new = ex["new_p_below0"] if not better_higher else 1 - ex["new_p_below0"]
    assert abs(mu["prob_benefit"] - p_mu) < 0.04
    assert abs(new["prob_benefit"] - p_new) < 0.04
    assert np.isnan(tau["prob_benefit"])


def test_diagnostics_are_reported_and_fine(fitted):
    _, _, rows = fitted
    assert (rows["r_hat"] < 1.01).all() and (rows["ess_bulk"] > 400).all()
    assert (rows["divergences"] == 0).all()
    assert rows["tau_prior"].str.len().gt(0).all() and rows["direction"].nunique() == 1


def test_a_different_study_count_in_the_same_process_samples():
    """The compiled model is reused across study sets of one size only: z has one entry per study (before
    the study count entered the cache key, a 4-study set after a 3-study one failed to initialise)."""
    from longmod.engines.meta.bayes import bayes_meta

    small = {"chains": 1, "draws": 100, "tune": 100, "seed": 1}
    for y, se in (([-1.99, -0.35, 0.15], [1.52, 0.62, 0.48]), ([-1.99, -0.35, 0.15, -0.5], [1.52, 0.62, 0.48, 0.7])):
        s, idata, _ = bayes_meta(y, se, tau_prior=half_normal(0.5), mu_sd=2.82, higher_is_better=False, sampler=small)
        assert idata.posterior["z"].shape[-1] == len(y) and np.isfinite(s["mu"]["estimate"])
