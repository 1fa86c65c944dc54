"""The InferenceData of a Bayesian MMRM: groups, a clean posterior, pointwise log-likelihood, loo/compare."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import VISITS

INTERNAL = ("_log__", "_interval__", "_cpc", "_beta", "intercept", "coef", "z0", "z1", "y_missing")


def test_groups_and_named_effect(mmrm_fits, mmrm_data):
    idata = mmrm_fits["us"].extras["inference_data"]
    for g in ("posterior", "sample_stats", "log_likelihood", "prior", "prior_predictive", "observed_data"):
        assert g in idata.groups(), g
    post = idata.posterior
    assert post["effect"].dims == ("chain", "draw", "visit")
    assert [str(v) for v in post["effect"].visit.values] == list(VISITS)
    n_pat, n_obs = mmrm_data.patient_id.nunique(), len(mmrm_data)
    assert idata.log_likelihood["y"].shape == (2, 500, n_pat)
    assert idata.observed_data["y"].shape == (n_obs,)
    assert idata.prior_predictive["y"].shape[-1] == n_obs and idata.prior["effect"].dims[-1] == "visit"
    np.testing.assert_array_equal(np.sort(idata.observed_data["y"].values), np.sort(mmrm_data["pf"].to_numpy()))


@pytest.mark.parametrize("cov", ["us", "ar1", "cs"])
def test_default_summary_and_trace_show_no_internal_variables(mmrm_fits, cov):
    import arviz as az

    idata = mmrm_fits[cov].extras["inference_data"]
    names = list(idata.posterior.data_vars)
    assert {"effect", "beta", "cov_params"} <= set(names)
    assert not [n for n in names if any(s in n for s in INTERNAL)], names
    summ = az.summary(idata)
    assert not [i for i in summ.index if any(s in i for s in INTERNAL)]
    assert "unconstrained_posterior" in idata.groups()  # kept, just not shown by default
    prior_names = list(idata.prior.data_vars)
    assert not [n for n in prior_names if any(s in n for s in INTERNAL)], prior_names


def test_loo_and_compare_across_covariance_structures(mmrm_fits):
    import arviz as az

    fits = {cov: r.extras["inference_data"] for cov, r in mmrm_fits.items()}
    for idata in fits.values():
        loo = az.loo(idata)
        assert np.isfinite(loo.elpd_loo)
    cmp = az.compare(fits)
    assert set(cmp.index) == {"us", "ar1", "cs"} and cmp["rank"].tolist() == [0, 1, 2]
    assert cmp["elpd_loo"].is_monotonic_decreasing


def test_log_likelihood_is_per_patient(mmrm_fits):
    """One finite value per patient and draw (its exactness against scipy is tested in
    test_bayes_longitudinal); a patient's value is the joint density of all their visits."""
    res = mmrm_fits["cs"]
    idata = res.extras["inference_data"]
    ll = idata.log_likelihood["y"].values
    assert np.isfinite(ll).all() and (ll < 0).all()
    # patients with more visits contribute more terms: their log-likelihood is lower on average
    n_visits = np.bincount(np.unique(idata.observed_data["patient_id"].values, return_inverse=True)[1])
    assert ll.mean(axis=(0, 1))[n_visits == 3].mean() < ll.mean(axis=(0, 1))[n_visits == 1].mean()


def test_prior_draws_are_the_default_modes_draws():
    """sample_prior compiles in FAST_COMPILE mode (for speed): the draws must be PyMC's default-mode draws.

    The random variables bit for bit (the same NumPy generator); deterministics to rounding (1e-12 relative:
    the default mode fuses the arithmetic differently, measured differences in the last bit).
    """
    import pymc as pm
    import pytensor.tensor as pt

    from longmod.engines.bayes.idata import sample_prior
    from longmod.engines.bayes.lkj import lkj_corr_cholesky

    with pm.Model() as model:
        sd = pm.HalfNormal("sd", 2.0, shape=3)
        L = lkj_corr_cholesky("corr", 3, 2.0)
        pm.Deterministic("cov", pt.outer(sd, sd) * (L @ L.T))
        pm.Normal("beta", 0.0, 5.0, shape=2)
    ours = sample_prior(model, 50, seed=4)
    with model:
        ref = pm.sample_prior_predictive(draws=50, random_seed=4, var_names=list(ours.data_vars)).prior
    assert sorted(ours.data_vars) == ["beta", "corr_cpc", "cov", "sd"]
    for name in ("beta", "corr_cpc", "sd"):
        np.testing.assert_array_equal(ours[name].values, ref[name].values)
    np.testing.assert_allclose(ours["cov"].values, ref["cov"].values, rtol=1e-12, atol=1e-14)
