"""Simulation-study helpers: two-stage pooling, s-values, and a small bias check."""

from __future__ import annotations

import numpy as np
from scipy import integrate, stats

from longmod.biomarkers.study import bias_coverage, pool_estimates, svalue_select


def test_pool_estimates_matches_brute_force_integration():
    est = np.array([0.1, -0.3, 0.05, 0.2])
    se = np.array([0.1, 0.15, 0.12, 0.2])
    got = pool_estimates(est, se, tau_scale=0.2, n_grid=2000)

    # brute force: integrate delta_1 over the joint posterior of (mu, tau), flat prior on mu
    def post(mu, tau):
        return stats.halfnorm.pdf(tau, scale=0.2) * np.prod(stats.norm.pdf(est, mu, np.sqrt(se**2 + tau**2)))

    def cond_mean(mu, tau):
        w = tau**2 / (tau**2 + se[1] ** 2)
        return w * est[1] + (1 - w) * mu

    opts = {"epsabs": 1e-10}
    z = integrate.dblquad(lambda mu, tau: post(mu, tau), 0, 1.0, -2, 2, **opts)[0]
    m = integrate.dblquad(lambda mu, tau: post(mu, tau) * cond_mean(mu, tau), 0, 1.0, -2, 2, **opts)[0] / z
    np.testing.assert_allclose(got["posterior_mean"][1], m, atol=1e-4)
    # shrinkage towards the common mean, and lfsr <= 0.5
    assert abs(got["posterior_mean"][1]) < abs(est[1])
    assert (got["lfsr"] <= 0.5).all()


def test_svalue_select_mean_lfsr_bound():
    rng = np.random.default_rng(3)
    lfsr = rng.uniform(0, 0.5, 200) ** 2
    sel = svalue_select(lfsr, 0.05)
    assert lfsr[sel].mean() <= 0.05
    # maximal: adding the next smallest unselected value breaks the bound
    nxt = np.sort(lfsr[~sel])[0]
    assert (lfsr[sel].sum() + nxt) / (sel.sum() + 1) > 0.05
    assert not svalue_select([0.2, 0.3]).any()


def test_loq2_is_biased_and_censored_is_not_at_60_percent():
    t = bias_coverage((0.6,), reps=30, seed=5).set_index(["method", "quantity"])
    loq2 = t.loc[("loq/2", "effect day 14")]
    cens = t.loc[("censored", "effect day 14")]
    assert loq2["bias"] > 0.08  # attenuation towards zero (truth -0.35)
    assert abs(cens["bias"]) < 0.1  # Monte-Carlo SE of the bias ~0.03 with ~25 replicates
    assert t.loc[("loq/2", "residual SD"), "bias"] < 0  # LOQ/2 underestimates the SD
    assert cens["coverage"] > loq2["coverage"]


def test_pool_estimates_horseshoe_matches_monte_carlo_over_the_prior():
    from longmod.biomarkers.study import pool_estimates_horseshoe

    est = np.array([0.02, -0.05, 0.04, -0.45])
    se = np.array([0.1, 0.12, 0.1, 0.15])
    tau0, c = 0.05, 0.5
    got = pool_estimates_horseshoe(est, se, tau0=tau0, slab_scale=c, n_tau=200, n_lambda=400)
    # importance sampling from the prior: tau ~ HalfCauchy(tau0), lambda_m ~ HalfCauchy(1)
    rng = np.random.default_rng(5)
    n = 400_000
    tau = np.abs(tau0 * rng.standard_cauchy(n))[:, None]
    lam = np.abs(rng.standard_cauchy((n, est.size)))
    v = c**2 * (tau * lam) ** 2 / (c**2 + (tau * lam) ** 2)
    w = np.prod(stats.norm.pdf(est, 0, np.sqrt(v + se**2)), axis=1)
    w /= w.sum()
    shrink = v / (v + se**2)
    mean = (w[:, None] * shrink * est).sum(axis=0)
    p_dec = (w[:, None] * stats.norm.cdf(-np.sqrt(shrink) * est / se)).sum(axis=0)
    np.testing.assert_allclose(got["posterior_mean"], mean, atol=4e-3)
    np.testing.assert_allclose(got["prob_decrease"], p_dec, atol=6e-3)
    # sparse behaviour: the small estimates are shrunk almost to 0, the large one far less
    kept = got["posterior_mean"] / est  # share of the estimate kept
    assert (kept[:3] < 0.3).all() and kept[3] > 0.5
    assert got["lfsr"][3] < 0.5 * got["lfsr"][:3].min()


def test_horseshoe_two_stage_makes_fewer_false_calls_than_normal_pooling():
    """Sparse truth (6 of 48 markers change): the normal model calls null markers, the horseshoe far fewer."""
    from longmod.biomarkers.study import pool_estimates_horseshoe

    rng = np.random.default_rng(11)
    false_n = false_h = true_h = 0
    for _ in range(20):
        delta = np.r_[np.full(6, -0.45), np.zeros(42)]
        se = rng.uniform(0.1, 0.16, 48)
        est = delta + rng.normal(0, se)
        n = pool_estimates(est, se)
        h = pool_estimates_horseshoe(est, se)
        false_n += int((n["lfsr"][6:] < 0.05).sum())
        false_h += int((h["lfsr"][6:] < 0.05).sum())
        true_h += int(((h["lfsr"][:6] < 0.05) & (h["posterior_mean"][:6] < 0)).sum())
    assert false_h < 0.5 * max(false_n, 1) and false_n >= 5
    assert true_h >= 20  # of 120 true decreases, z ~ 3.5: the horseshoe still finds many
