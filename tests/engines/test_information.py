"""Analytic second derivatives of the native core (no finite differences in the fit).

* the observed Hessian of -2 log L in the optimisation scale, for every structure of the
  covariance table, REML and ML, against central differences of the analytic gradient;
* the expected and average information and the P_a matrices against a brute-force
  implementation with the full n_obs x n_obs covariance matrix;
* the two data forms of the pattern layout (sufficient statistics, rows) give the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from longmod.engines.core import likelihood as lik
from longmod.engines.core import optimize as opt
from longmod.engines.core.covariance import COVARIANCE_TABLE, get_structure
from longmod.engines.core.information import information, kr_sums, p_matrices, sandwich_meat

from .test_core import _data


def _at(data, name, reml):
    s = get_structure(name)
    sig, jac, fg = opt._funcs(data, s, reml)
    x = opt.start_values(data, s) + 0.1 * np.sin(np.arange(s.n_par(data.K)) + 1.0)
    v, g, ev = lik.objective(data, sig, jac, x, reml)
    return s, sig, jac, fg, x, ev


@pytest.mark.parametrize("name", sorted(COVARIANCE_TABLE))
@pytest.mark.parametrize("reml", [True, False])
def test_observed_hessian_matches_finite_differences(name, reml):
    data = _data(K=4, n=40, p=3)
    s, sig, jac, fg, x, ev = _at(data, name, reml)
    G, trG = lik.gradient_weights(data, ev, reml)
    dS, dn = jac(x)
    H = information(data, ev, dS, dn, reml, opt.second_term(jac, x, G, trG), ("observed",))["observed"]
    h = 1e-5
    num = np.array([(fg(x + h * e)[1] - fg(x - h * e)[1]) / (2 * h) for e in np.eye(len(x))])
    # central differences of the analytic gradient: truncation ~h^2, rounding ~1e-16 |g| / h;
    # measured 2e-11..1e-9 relative to the largest entry -> 1e-7
    np.testing.assert_allclose(H, 0.5 * (num + num.T), rtol=0, atol=1e-7 * np.abs(num).max())


def _brute(data, S, nug, dS, dn, reml):
    """Dense n_obs x n_obs reference: tr(P V_a P V_b), y'P V_a P_R V_b P y, X'V^-1 V_a V^-1 X.

    P is the REML projection (V^-1 for ML in the trace); the middle factor of the average
    information is the REML projection P_R for both, because beta is profiled out of ML too.
    """
    pos = data.position_of_row()
    n = data.n_obs
    same = data.subject_of_row[:, None] == data.subject_of_row[None, :]
    V = np.where(same, S[pos[:, None], pos[None, :]], 0.0) + nug * np.eye(n)
    Va = [np.where(same, dS[a][pos[:, None], pos[None, :]], 0.0) + dn[a] * np.eye(n) for a in range(len(dS))]
    Vi = linalg.inv(V)
    X, y = data.X, data.y
    PR = Vi - Vi @ X @ linalg.inv(X.T @ Vi @ X) @ X.T @ Vi
    Pm = PR if reml else Vi
    Py = Vi @ (y - X @ linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y))
    E = np.array([[np.trace(Pm @ A @ Pm @ B) for B in Va] for A in Va])
    Av = np.array([[Py @ A @ PR @ B @ Py for B in Va] for A in Va])
    P = np.array([X.T @ Vi @ A @ Vi @ X for A in Va])
    return E, Av, P


@pytest.mark.parametrize("name", ["us", "csh", "ar1h", "ris"])
@pytest.mark.parametrize("reml", [True, False])
def test_expected_and_average_information_against_brute_force(name, reml):
    data = _data(K=4, n=25, p=3)
    s, sig, jac, fg, x, ev = _at(data, name, reml)
    S, nug = sig(x)
    dS, dn = jac(x)
    E, Av, P = _brute(data, np.real(S), float(np.real(nug)), dS, dn, reml)
    out = information(data, ev, dS, dn, reml, None, ("expected", "average"))
    # same formulas, different algebra (Kronecker forms over patterns vs 100 x 100 matrices): 1e-9
    np.testing.assert_allclose(out["expected"], E, rtol=1e-9, atol=1e-9 * np.abs(E).max())
    np.testing.assert_allclose(out["average"], Av, rtol=1e-9, atol=1e-9 * np.abs(Av).max())
    np.testing.assert_allclose(p_matrices(data, ev, dS, dn), P, rtol=1e-9, atol=1e-9 * np.abs(P).max())


@pytest.mark.parametrize("name", ["us", "toeph"])
def test_statistics_and_rows_layouts_agree(name, monkeypatch):
    outs = []
    for factor in (0.0, 1e9):  # every pattern as sufficient statistics / every patient as rows
        monkeypatch.setattr(lik, "STAT_FACTOR", factor)
        data = _data(K=4, n=40, p=3)
        assert (len(data.stat), len(data.raw_pat)) == ((len(data.npat), 0) if factor == 0 else (0, data.n_subjects))
        s, sig, jac, fg, x, ev = _at(data, name, True)
        v, g = fg(x)
        dS, dn = jac(x)
        info = information(data, ev, dS, dn, True, None, ("observed", "expected"))
        W = np.eye(len(x)) + 0.05
        Q, R = kr_sums(data, ev, dS, dn, W, np.ones((data.K, data.K)), 0.0)
        outs.append([np.array([v]), g, info["observed"], info["expected"], info["P"], Q, R, sandwich_meat(data, ev)])
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10 * np.abs(a).max())


def test_newton_reaches_the_optimum_of_the_fallback_optimisers(monkeypatch):
    data = _data(K=4, n=40, p=3)
    s = get_structure("us")
    newton = opt.fit_covariance(data, s, True)
    monkeypatch.setattr(opt, "OPTIMIZERS", ("L-BFGS-B",))
    lbfgs = opt.fit_covariance(data, s, True)
    assert newton.optimizer == "Newton" and lbfgs.optimizer.startswith("L-BFGS-B")
    assert newton.converged and lbfgs.converged
    assert newton.value <= lbfgs.value + 1e-9 and newton.value == pytest.approx(lbfgs.value, rel=1e-12)
    assert newton.evaluations < lbfgs.evaluations


def test_us_parameters_far_from_the_optimum_give_no_spurious_overflow_warning():
    """A trial step with a large off-diagonal Cholesky entry is finite (exp applies to the diagonal only)."""
    import warnings

    s = get_structure("us")
    t = np.arange(1.0, 4.0)
    theta = np.array([0.1, 800.0, -0.2, -750.0, 3.0, 0.3])  # row-major lower triangle of L, log on the diagonal
    L = np.zeros((3, 3))
    L[np.tril_indices(3)] = [np.exp(0.1), 800.0, np.exp(-0.2), -750.0, 3.0, np.exp(0.3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S, _ = s.sigma(s.to_phi(theta, 3), t)
        dS, _ = s.dsigma_theta(theta, t)
    assert np.allclose(S, L @ L.T, rtol=1e-12)
    assert np.all(np.isfinite(dS))
