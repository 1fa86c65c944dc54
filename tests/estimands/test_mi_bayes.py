"""MI from the Bayesian MMRM's posterior: draws extracted correctly, imputations agree with conditional means.

The Bayesian model is the one of ``tests/bayes/test_bayes_longitudinal.py::mmrm_complete`` (same
data, formula and priors, hence the same compiled model: no second compilation in a test session);
sampled here with small draws.
"""

from __future__ import annotations

import numpy as np
import pytest

from longmod.estimands.imputation_params import ImputationParams, params_from_bayes
from longmod.estimands.mi import complete_datasets, multiple_imputation
from longmod.estimands.reference_based import apply_strategy
from longmod.estimands.wide import wide_data
from longmod.spec.model import ModelSpec

from tests.bayes.conftest import DAYS, LONG_EFFECT, TREATMENT, VISITS, long_data

pytestmark = pytest.mark.slow  # compiles the Bayesian MMRM when no other test did

FLAT = {"intercept": {"sigma": 1e5}, "treatment": {"sigma": 1e5}, "coefficients": {"sigma": 1e5},
        "sigma": {"sigma": 1e4}, "random_intercept_sd": {"sigma": 1e4}, "random_slope_sd": {"sigma": 1e3},
        "lkj_eta": 1.0}


@pytest.fixture(scope="module")
def bayes():
    from longmod.engines.bayes import fit_bayes

    d = long_data(400, seed=21, dropout=0.0)
    spec = ModelSpec(name="bayes-us", outcome="pf", fixed="arm * visit + baseline * visit", subject="patient_id",
                     visit="visit", time="day", covariance="us", levels={"visit": list(VISITS)}, engine="pymc",
                     mcid=20.0, priors=FLAT, sampler={"chains": 2, "draws": 250, "tune": 300, "seed": 5},
                     treatment=TREATMENT)
    fit = fit_bayes(spec, d)
    # the imputation data: the same patients with 30% of the D7/D14 values deleted (MCAR, seeded)
    rng = np.random.default_rng(2)
    drop = (d["visit"] != "D3") & (rng.random(len(d)) < 0.3)
    pts = d.drop_duplicates("patient_id")[["patient_id", "arm", "baseline"]]
    w = wide_data(d[~drop.to_numpy()], pts, spec, visits=VISITS, visit_days=DAYS)
    return spec, fit, w


def test_posterior_draws_are_extracted_by_name(bayes):
    _, fit, w = bayes
    p = params_from_bayes(fit, w)
    assert p.m == 500 and p.source == "bayes_posterior"
    post = fit.params.set_index("term")["estimate"]
    np.testing.assert_allclose(p.beta.mean(axis=0), post.loc[list(w.columns)].to_numpy(), rtol=1e-12)
    cov = fit.covariance.set_index("parameter")["estimate"]  # posterior means, named as in the native engine
    np.testing.assert_allclose(np.diagonal(p.sigma, axis1=1, axis2=2).mean(axis=0),
                               [cov[f"var({v})"] for v in VISITS], rtol=1e-10)
    corr = fit.extras["inference_data"].posterior["visit_corr"].values.reshape(-1, 3, 3)
    dd = np.sqrt(np.diagonal(p.sigma, axis1=1, axis2=2))
    np.testing.assert_allclose(p.sigma / (dd[:, :, None] * dd[:, None, :]), corr, rtol=1e-10, atol=1e-12)
    assert set(p.diagnostics) == {"r_hat", "ess_bulk", "divergences"}
    thin = params_from_bayes(fit, w, n_draws=50)
    assert thin.m == 50 and "50 of 500" in thin.notes[0]
    with pytest.raises(ValueError, match="not the imputation visits"):
        params_from_bayes(fit, wide_data(w.to_long(), w.patients, bayes[0], visits=VISITS[::-1]))


def test_posterior_predictive_mi_agrees_with_conditional_mean(bayes):
    """Pooled MI estimate at D14 (posterior draws) vs the conditional-mean estimate under the
    posterior means: within 4 Monte Carlo SEs + 0.5 (nonlinearity in Sigma); the true effect 30
    inside the 95% interval."""
    spec, fit, w = bayes
    draws = params_from_bayes(fit, w, n_draws=100)
    row = multiple_imputation(w, draws, strategy="mar", covariates=["baseline"], seed=3).iloc[0]
    data, methods = apply_strategy(w, "mar")
    mean_p = ImputationParams(draws.beta.mean(0)[None], draws.sigma.mean(0)[None], w.columns, w.visits, "point")
    from longmod.estimands.mi import _ancova

    cm = _ancova(data, complete_datasets(data, mean_p, methods, seed=None)[0][:, 2], ["baseline"], 0.95).estimate
    assert abs(row["estimate"] - cm) < 4 * np.sqrt(row["between_var"] / 100) + 0.5, (row["estimate"], cm)
    assert row["conf_low"] < LONG_EFFECT["D14"] < row["conf_high"]
    assert row["draws_source"] == "bayes_posterior" and row["visit"] == "D14" and row["day"] == 14.0
    assert np.isfinite(row["imputation_r_hat"])
