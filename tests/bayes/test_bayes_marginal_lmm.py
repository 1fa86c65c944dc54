"""Marginal (random effects integrated out) vs latent parametrisation of the Bayesian LMM."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from longmod.engines.bayes.longitudinal import LMM_PARAMETRIZATIONS, fit_bayes_longitudinal
from longmod.spec.model import ModelSpec, Treatment

from .conftest import VISITS, long_data

SAMPLER = {"chains": 2, "draws": 1500, "tune": 800, "seed": 11}


def _spec(cov: str) -> ModelSpec:
    return ModelSpec(name=f"marg-{cov}", outcome="pf", fixed="arm * visit + baseline", subject="patient_id",
                     visit="visit", time="day", covariance=cov, levels={"visit": list(VISITS)}, engine="pymc",
                     mcid=20.0, sampler=SAMPLER, treatment=Treatment("arm", "placebo", "uc_msc"))


@pytest.mark.parametrize("slope", [True, False])
def test_marginal_loglik_equals_mvn_with_explicit_covariance(slope):
    """The closed-form per-patient likelihood equals scipy's MVN log density with
    V_i = Z_i G Z_i' + sigma^2 I built explicitly, at a random parameter point, for
    irregular times and patients with 1 to 4 observations (tolerance rel 1e-9)."""
    from longmod.engines.bayes import runtime
    from longmod.engines.bayes.marginal_lmm import build_marginal_lmm, patient_sums
    from longmod.engines.bayes.priors import resolve_priors

    runtime.configure_pytensor()
    rng = np.random.default_rng(0)
    n, sizes = 7, [1, 2, 3, 3, 4, 2, 1]
    idx = np.repeat(np.arange(n), sizes)
    t = np.concatenate([np.sort(rng.choice([0.0, 3.0, 7.0, 14.0, 21.0], m, replace=False)) for m in sizes])
    X = np.column_stack([np.ones(len(t)), rng.normal(size=(len(t), 2))])
    y = rng.normal(size=len(t)) * 30 + 100
    cols = ["(Intercept)", "a", "b"]
    pri = resolve_priors({}, cols, ["a"], mcid=20.0)
    model = build_marginal_lmm(X, y, patient_sums(X, y, t, idx, n), cols, pri, slope)
    point = model.initial_point()
    for k in point:
        point[k] = point[k] + rng.normal(scale=0.5, size=np.shape(point[k]))
    kw = {"inputs": model.value_vars, "on_unused_input": "ignore"}
    pot = model.compile_fn(model.logp(vars=model.potentials, sum=True), **kw)(point)
    names = ["beta_c", "sigma", "re_sd"] + (["re_corr"] if slope else [])
    vals = model.compile_fn(model.replace_rvs_by_values([model[v] for v in names]), **kw)(point)
    beta, sigma, sd = (np.asarray(v, dtype=float) for v in vals[:3])
    if slope:
        rho = float(vals[3])
        G = np.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])
    else:
        G = np.array([[float(sd) ** 2]])
    ref = 0.0
    for i in range(n):
        r = idx == i
        Z = np.column_stack([np.ones(r.sum()), t[r]])[:, : G.shape[0]]
        ref += stats.multivariate_normal(X[r] @ beta, Z @ G @ Z.T + sigma**2 * np.eye(r.sum())).logpdf(y[r])
    assert float(pot) == pytest.approx(ref, rel=1e-9)
    assert sorted(v.name for v in model.free_RVs) == sorted(["beta_c", "sigma", "re_sd"] + (["re_corr_cpc"] if slope else []))


@pytest.fixture(scope="module")
def both_fits():
    d = long_data(60, seed=31)
    spec = _spec("ris")
    return d, {p: fit_bayes_longitudinal(spec, d, parametrization=p) for p in LMM_PARAMETRIZATIONS}


def _mcse(x: np.ndarray, what: str) -> float:
    """MC SE of the posterior mean (ArviZ) or SD (delta method on the variance, as in
    tests/reference/bambi/make_ri_reference.py: ArviZ 0.23's mcse(method="sd") fails on NumPy 2.4)."""
    import arviz as az

    if what == "mean":
        return float(np.ravel(az.mcse(x, method="mean"))[0])
    z = (x - x.mean()) ** 2
    return float(z.std(ddof=1) / np.sqrt(az.ess(z, method="mean")) / (2.0 * x.std(ddof=1)))


def _draws(res) -> dict[str, np.ndarray]:
    post = res.extras["inference_data"].posterior
    L = res.extras["contrast_vectors"].to_numpy()
    out = {f"beta[{c}]": post["beta"].values[..., j] for j, c in enumerate(res.params["term"])}
    out.update({f"contrast[{v}]": post["beta"].values @ lv for v, lv in zip(VISITS, L)})
    out.update({"sigma": post["sigma"].values, "re_sd[0]": post["re_sd"].values[..., 0],
                "re_sd[1]": post["re_sd"].values[..., 1], "re_corr": post["re_corr"].values})
    return out


@pytest.mark.slow
def test_marginal_and_latent_agree_within_monte_carlo_error(both_fits):
    """Same model, two parametrisations: posterior means of every fixed effect, the
    per-visit contrasts and the variance components agree within 4 combined Monte
    Carlo SEs (|m1 - m2| < 4 sqrt(mcse1^2 + mcse2^2)); posterior SDs within
    4 combined MC SEs of the SD. 4 SEs: a false alarm has probability ~6e-5 per
    quantity (14 quantities x 2 checks)."""
    _, fits = both_fits
    assert fits["marginal"].extras["parametrization"] == "marginal"
    assert "z0" not in fits["marginal"].extras["inference_data"].posterior
    assert "z1" in fits["latent"].extras["inference_data"].posterior
    a, b = _draws(fits["marginal"]), _draws(fits["latent"])
    assert len(a) == 14  # 7 fixed effects, 3 contrasts, sigma, 2 SDs, correlation
    for k in a:
        xa, xb = a[k], b[k]
        tol = 4 * np.hypot(_mcse(xa, "mean"), _mcse(xb, "mean"))
        assert abs(xa.mean() - xb.mean()) < tol, (k, xa.mean(), xb.mean(), tol)
        tol_sd = 4 * np.hypot(_mcse(xa, "sd"), _mcse(xb, "sd"))
        assert abs(xa.std() - xb.std()) < tol_sd, (k, xa.std(), xb.std(), tol_sd)
    # the check has teeth: the tolerance on the D7 contrast is a small fraction of its posterior SD
    d7 = "contrast[D7]"
    assert 4 * np.hypot(_mcse(a[d7], "mean"), _mcse(b[d7], "mean")) < 0.25 * a[d7].std()
    m = fits["marginal"]
    assert m.effects["divergences"].eq(0).all()
    assert set(m.covariance["parameter"]) == {"sigma", "re_sd[0]", "re_sd[1]", "re_corr"}


@pytest.mark.slow
def test_random_effects_recovered_from_marginal_fit(both_fits):
    """Posterior means of b_i from the marginal fit (closed-form conditional means,
    averaged over draws) match the latent fit's sampled b_i: correlation > 0.99 and
    the mean absolute difference below 0.1 x the spread of the b_i."""
    from longmod.engines.bayes.design import prepare
    from longmod.engines.bayes.marginal_lmm import random_effects_mean
    from longmod.engines.bayes.priors import centre_columns

    d, fits = both_fits
    spec = _spec("ris")
    prep = prepare(spec, d, extra=[spec.subject, spec.visit, spec.time])
    Xc, _ = centre_columns(prep.X, prep.columns)
    subj, idx = np.unique(prep.frame[spec.subject].astype(str).to_numpy(), return_inverse=True)
    t = prep.frame[spec.time].to_numpy(float)
    b_marg = random_effects_mean(fits["marginal"].extras["inference_data"], Xc, prep.y, t, idx, len(subj), slope=True)
    post = fits["latent"].extras["inference_data"].posterior
    sd, rho, z0, z1 = (post[v].values for v in ("re_sd", "re_corr", "z0", "z1"))
    b0 = sd[..., :1] * z0
    b1 = sd[..., 1:] * (rho[..., None] * z0 + np.sqrt(1 - rho[..., None] ** 2) * z1)
    b_lat = np.column_stack([b0.mean((0, 1)), b1.mean((0, 1))])
    for k in range(2):
        assert np.corrcoef(b_marg[:, k], b_lat[:, k])[0, 1] > 0.99, k
        assert np.abs(b_marg[:, k] - b_lat[:, k]).mean() < 0.1 * b_lat[:, k].std(), k


def test_parametrization_is_checked_before_fitting():
    d = long_data(10, seed=1)
    with pytest.raises(ValueError, match="parametrization 'centred' is not supported; choose one of marginal, latent"):
        fit_bayes_longitudinal(_spec("ris"), d, parametrization="centred")
    with pytest.raises(ValueError, match="always marginal"):
        fit_bayes_longitudinal(_spec("us"), d, parametrization="latent")


def test_module_examples_run():
    import doctest

    from longmod.engines.bayes import marginal_lmm, runtime

    runtime.configure_pytensor()
    res = doctest.testmod(marginal_lmm, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted >= 2
