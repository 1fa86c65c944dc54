"""Conditional MVN draws and the ML MMRM by ECM (against the native engine's ML fit)."""

from __future__ import annotations

import numpy as np
import pytest

from longmod.estimands.mvn import conditional_moments, fill_conditional
from longmod.estimands.mvn_em import fit_mvn_em, observed_loglik
from longmod.estimands.wide import wide_data

from .simdata import DAYS, VISITS, simulate, spec

SIGMA = np.array([[4.0, 2.0, 1.2], [2.0, 9.0, 4.0], [1.2, 4.0, 16.0]])


def test_conditional_moments_by_schur_complement():
    """Independent check: the inverse of the joint covariance's missing block is the inverse of the
    conditional covariance, and the conditional mean solves the precision-matrix equations."""
    y = np.array([[1.0, np.nan, np.nan], [np.nan, 2.0, np.nan], [0.5, -1.0, 3.0]])
    mu = np.array([[0.0, 1.0, 2.0]] * 3)
    prec = np.linalg.inv(SIGMA)
    for pm in conditional_moments(y, mu, SIGMA):
        u = pm.missing
        o = np.setdiff1d(np.arange(3), u)
        np.testing.assert_allclose(np.linalg.inv(pm.cov), prec[np.ix_(u, u)], rtol=1e-12)
        for r, i in enumerate(pm.rows):
            # precision form: mean_u = mu_u - P_uu^-1 P_uo (y_o - mu_o)
            want = mu[i, u] - np.linalg.solve(prec[np.ix_(u, u)], prec[np.ix_(u, o)] @ (y[i, o] - mu[i, o]))
            np.testing.assert_allclose(pm.mean[r], want, rtol=1e-12)


def test_conditional_draws_have_the_conditional_distribution():
    """20,000 draws: mean within 4 SE, covariance within 5% of the conditional moments."""
    n = 20000
    y = np.tile([[1.5, np.nan, np.nan]], (n, 1))
    mu = np.zeros((n, 3))
    draws = fill_conditional(y, mu, SIGMA, np.random.default_rng(3))
    pm = conditional_moments(y[:1], mu[:1], SIGMA)[0]
    got = draws[:, 1:]
    se = np.sqrt(np.diag(pm.cov) / n)
    assert np.all(np.abs(got.mean(axis=0) - pm.mean[0]) < 4 * se)
    np.testing.assert_allclose(np.cov(got.T), pm.cov, rtol=0.05)
    assert (draws[:, 0] == 1.5).all()


def test_ecm_equals_native_ml_fit():
    """The ECM ML estimate equals the native engine's ML fit (an independent optimiser of the same
    likelihood): -2 log L to 1e-7 relative, coefficients and covariance to 1e-4 relative (the native
    optimiser's stopping point)."""
    from longmod.engines.registry import fit_model
    from longmod.estimands.imputation_params import params_from_fit

    pts, long = simulate(80, seed=1)
    s = spec()
    w = wide_data(long, pts, s, visits=VISITS, visit_days=DAYS)
    em = fit_mvn_em(w.y, w.X_own)
    assert em.converged
    nat = fit_model(s, w.to_long())
    p = params_from_fit(nat, w)
    assert em.log_likelihood == pytest.approx(nat.fit_stats["log_likelihood"], rel=1e-7)
    np.testing.assert_allclose(em.beta, p.beta[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(em.sigma, p.sigma[0], rtol=1e-4)
    assert observed_loglik(w.y, w.X_own, em.beta, em.sigma) == pytest.approx(em.log_likelihood, rel=1e-12)


def test_ecm_rejects_an_empty_visit():
    y = np.array([[1.0, np.nan], [2.0, np.nan]])
    with pytest.raises(ValueError, match="no observed value"):
        fit_mvn_em(y, np.tile(np.eye(2), (2, 1, 1)))
