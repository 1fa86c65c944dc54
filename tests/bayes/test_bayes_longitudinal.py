"""Bayesian MMRM and hierarchical LMM: references, marginalisation, LKJ prior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from longmod.engines.bayes.longitudinal import _build_mmrm, _patterns, fit_bayes, fit_bayes_longitudinal
from longmod.results.schema import EFFECT_COLUMNS
from longmod.spec.model import ModelSpec, Treatment

from .conftest import VISITS, long_data

FLAT = {"intercept": {"sigma": 1e5}, "treatment": {"sigma": 1e5}, "coefficients": {"sigma": 1e5},
        "sigma": {"sigma": 1e4}, "random_intercept_sd": {"sigma": 1e4}, "random_slope_sd": {"sigma": 1e3},
        "lkj_eta": 1.0}
SAMPLER = {"chains": 2, "draws": 1000, "tune": 800, "seed": 5}


def _spec(cov: str, fixed: str, **kw) -> ModelSpec:
    return ModelSpec(name=f"bayes-{cov}", outcome="pf", fixed=fixed, subject="patient_id", visit="visit",
                     time="day", covariance=cov, levels={"visit": list(VISITS)}, engine="pymc", mcid=20.0,
                     treatment=Treatment("arm", "placebo", "uc_msc"),
                     **{"sampler": SAMPLER, **kw})


@pytest.fixture(scope="module")
def mmrm_complete():
    d = long_data(400, seed=21, dropout=0.0)
    # 2 x 4000 draws: the Monte Carlo error of a 95% interval's width from 2 x 1000 draws is
    # ~3%, too close to the 5% tolerance; with 2 x 4000 it is ~1.5%
    spec = _spec("us", "arm * visit + baseline * visit", priors=FLAT, sampler={**SAMPLER, "draws": 4000})
    return spec, d, fit_bayes_longitudinal(spec, d, estimand="hypothetical")


def test_mmrm_matches_per_visit_ols_on_complete_data(mmrm_complete):
    """With complete data and visit-specific coefficients for every covariate, the
    unstructured-covariance GLS estimate equals per-visit OLS (Zellner 1962: SUR with
    identical regressors), so statsmodels OLS is an independent reference. Tolerance:
    posterior mean within 0.1 posterior SD; 95% CrI width within 5% of the CI width."""
    import statsmodels.formula.api as smf

    spec, d, res = mmrm_complete
    e = res.effects.set_index("visit")
    assert list(e.index) == list(VISITS) and e["day"].tolist() == [3.0, 7.0, 14.0]
    for v in VISITS:
        ols = smf.ols("pf ~ arm + baseline", data=d[d.visit == v]).fit()
        row = e.loc[v]
        assert abs(row["estimate"] - ols.params["arm[T.uc_msc]"]) < 0.1 * row["std_error"], v
        lo, hi = ols.conf_int().loc["arm[T.uc_msc]"]
        assert row["conf_high"] - row["conf_low"] == pytest.approx(hi - lo, rel=0.05), v
        assert row["n_patients"] == 400
    assert res.effects["diagnostics_ok"].all(), res.effects["diagnostic_flags"].tolist()
    sd = res.covariance.set_index("parameter")["estimate"]
    np.testing.assert_allclose(sd.to_numpy(), [60.0, 70.0, 80.0], rtol=0.1)  # true visit SDs of long_data
    assert list(res.effects.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    assert res.effects["model"].eq("mmrm").all() and res.fit_stats["n_patients"] == 400


def test_mmrm_seed_reproducible_with_cached_model(mmrm_complete):
    spec, d, res = mmrm_complete
    again = fit_bayes(spec, d, estimand="hypothetical")
    assert again.fit_stats["compile_cached"]
    np.testing.assert_array_equal(res.extras["inference_data"].posterior["beta_c"].values,
                                  again.extras["inference_data"].posterior["beta_c"].values)


def test_mmrm_likelihood_marginalises_missing_visits_exactly():
    """Model log-likelihood at a random point == sum of scipy MVN log densities of each
    patient's observed visits, with monotone and intermittent missingness."""
    from longmod.engines.bayes import runtime

    runtime.configure_pytensor()
    rng = np.random.default_rng(4)
    n, T, p = 9, 3, 2
    mask = np.ones((n, T), dtype=bool)
    mask[0, 2] = mask[1, 2] = False          # dropout after visit 2
    mask[2, 1:] = False                       # dropout after visit 1
    mask[3, 1] = mask[4, 1] = False           # intermittent: visits 1 and 3
    mask[5, 0] = False                        # visits 2 and 3
    pats = _patterns(mask)
    X_all = rng.normal(size=(n, T, p))
    y_all = rng.normal(size=(n, T)) * 5
    Xp = [X_all[who][:, list(vis)].reshape(-1, p) for vis, who in pats]
    yp = [y_all[who][:, list(vis)] for vis, who in pats]
    prior = {"beta_mu": [0.0] * p, "beta_sigma": [10.0] * p, "sigma": 10.0, "lkj_eta": 2.0}
    model = _build_mmrm(Xp, yp, pats, T, ["a", "b"], prior)
    point = model.initial_point()
    for name in point:
        point[name] = point[name] + rng.normal(scale=0.4, size=np.shape(point[name]))
    kw = {"inputs": model.value_vars, "on_unused_input": "ignore"}
    pot = model.compile_fn(model.logp(vars=model.potentials, sum=True), **kw)(point)
    det = model.compile_fn(model.replace_rvs_by_values([model["beta_c"], model["visit_sd"], model["visit_corr"]]),
                           **kw)(point)
    beta, sd, corr = (np.asarray(x) for x in det)
    cov = corr * np.outer(sd, sd)
    ref = 0.0
    for i in range(n):
        o = np.flatnonzero(mask[i])
        ref += stats.multivariate_normal(X_all[i, o] @ beta, cov[np.ix_(o, o)]).logpdf(y_all[i, o])
    assert len(pats) == 5
    assert float(pot) == pytest.approx(ref, rel=1e-9)


def test_lkj_cpc_construction_gives_lkj_marginals():
    """LKJ(eta) in d dimensions has marginal correlations ~ 2 Beta(eta - 1 + d/2, same) - 1
    (Lewandowski et al. 2009). KS test on 4000 forward draws, alpha = 0.001."""
    import pymc as pm

    from longmod.engines.bayes import runtime
    from longmod.engines.bayes.lkj import lkj_corr_cholesky

    runtime.configure_pytensor()
    d, eta = 4, 2.0
    with pm.Model():
        L = lkj_corr_cholesky("c", d, eta)
        R = pm.Deterministic("R", L @ L.T)
        draws = pm.draw(R, draws=4000, random_seed=3)
    a = eta - 1 + d / 2
    for i, j in ((1, 0), (2, 1), (3, 0), (3, 2)):
        r = (draws[:, i, j] + 1) / 2
        assert stats.kstest(r, stats.beta(a, a).cdf).pvalue > 0.001, (i, j)
    assert np.all(np.linalg.eigvalsh(draws) > 0)  # positive definite


@pytest.mark.parametrize("cov,re_formula,method", [("ri", None, "bfgs"), ("ris", "~day", "lbfgs")])
def test_lmm_near_flat_priors_agree_with_statsmodels_reml(cov, re_formula, method):
    """Posterior means of the fixed effects within 0.1 posterior SD of statsmodels
    MixedLM (REML), an independent implementation, on a large synthetic trial."""
    import statsmodels.formula.api as smf

    d = long_data(400, seed=8)
    spec = _spec(cov, "arm * visit + baseline", priors=FLAT)
    # 2 x 3000 draws: bulk ESS > 1000, so 0.1 posterior SD is > 3 Monte Carlo SEs of the mean
    res = fit_bayes_longitudinal(spec, d, sampler={"chains": 2, "draws": 3000, "tune": 800})
    assert res.effects["ess_bulk"].min() > 1000
    ref = smf.mixedlm("pf ~ arm * C(visit, levels=['D3', 'D7', 'D14']) + baseline", d, groups="patient_id",
                      re_formula=re_formula).fit(reml=True, method=[method])
    vis = "C(visit, levels=['D3', 'D7', 'D14'])[T."
    sm = {k.replace("arm[T.uc_msc]", "armuc_msc").replace(vis, "visit").replace("]", "").replace("Intercept", "(Intercept)"): v
          for k, v in ref.fe_params.items()}
    post = res.params.set_index("term")
    assert sorted(sm) == sorted(post.index)
    for term, value in sm.items():
        assert abs(post.loc[term, "estimate"] - value) < 0.1 * post.loc[term, "std_error"], (cov, term)
    e = res.effects.set_index("visit")
    assert abs(e.loc["D7", "estimate"] - (sm["armuc_msc"] + sm["armuc_msc:visitD7"])) < 0.1 * e.loc["D7", "std_error"]
    assert res.effects["diagnostic_flags"].eq("").all() or not res.convergence.converged
    assert set(res.covariance["parameter"]) >= ({"sigma", "re_sd[0]", "re_sd[1]", "re_corr"} if cov == "ris"
                                                 else {"sigma", "re_sd"})


def test_unsupported_covariance_and_missing_visit_fail_fast():
    d = long_data(20, seed=1)
    with pytest.raises(ValueError, match="supports covariance us, ris, ri"):
        fit_bayes_longitudinal(_spec("ar1", "arm * visit"), d)
    with pytest.raises(ValueError, match="more than one row"):
        fit_bayes_longitudinal(_spec("us", "arm * visit"), pd.concat([d, d.iloc[:1]]))
