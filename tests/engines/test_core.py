"""Unit tests of the native core: analytic gradient, covariance table, optimiser fallback."""

from __future__ import annotations

import numpy as np
import pytest

from longmod.engines.core import optimize as opt
from longmod.engines.core.covariance import COVARIANCE_TABLE, get_structure, jacobian
from longmod.engines.core.likelihood import build_long_data, objective


def _data(K=4, n=40, seed=3, p=2):
    rng = np.random.default_rng(seed)
    rows, subj, pos = [], [], []
    for i in range(n):
        keep = np.flatnonzero(rng.random(K) > 0.2) if i % 3 else np.arange(K)
        keep = keep if len(keep) else np.array([0])
        for k in keep:
            rows.append([1.0, float(i % 2)] + list(rng.normal(size=p - 2)))
            subj.append(i)
            pos.append(k)
    X = np.array(rows)
    y = X @ np.arange(1, p + 1) + rng.normal(size=len(X)) + np.repeat(rng.normal(size=n), np.bincount(subj))
    return build_long_data(y, X, np.array(subj), np.array(pos), np.arange(1.0, K + 1))


@pytest.mark.parametrize("name", sorted(COVARIANCE_TABLE))
@pytest.mark.parametrize("reml", [True, False])
def test_analytic_gradient_matches_finite_differences(name, reml):
    data = _data()
    s = get_structure(name)
    sig, jac, fg = opt._funcs(data, s, reml)
    x = opt.start_values(data, s) + 0.1 * np.sin(np.arange(s.n_par(data.K)) + 1.0)
    v, g = fg(x)
    assert np.isfinite(v)
    h = 1e-6
    num = np.array([(fg(x + h * e)[0] - fg(x - h * e)[0]) / (2 * h) for e in np.eye(len(x))])
    # central differences of a ~1e3 objective: truncation + rounding ~1e-5
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", sorted(COVARIANCE_TABLE))
def test_structures_give_symmetric_positive_definite_covariances(name):
    s = get_structure(name)
    K = 5
    rng = np.random.default_rng(0)
    theta = s.start(np.linspace(1, 3, K)) + 0.3 * rng.normal(size=s.n_par(K))
    phi = s.to_phi(theta, K)
    S, nug = s.sigma(phi, np.arange(1.0, K + 1))
    V = np.real(S) + float(np.real(nug)) * np.eye(K)
    np.testing.assert_allclose(V, V.T)
    assert np.linalg.eigvalsh(V).min() > 0
    assert len(s.names([f"v{k}" for k in range(K)])) == s.n_par(K) == len(phi)


def test_us_analytic_jacobian_equals_complex_step():
    s = get_structure("us")
    t = np.arange(1.0, 5.0)
    theta = np.linspace(-0.5, 0.7, 10)
    dS, _ = s.dsigma_theta(theta, t)
    cs, _ = jacobian(lambda th: s.sigma(s.to_phi(th, 4), t), theta)
    np.testing.assert_allclose(dS, cs, rtol=1e-12, atol=1e-12)


def test_fallback_sequence_is_recorded(monkeypatch):
    data = _data()
    s = get_structure("ar1")
    ref = opt.fit_covariance(data, s, True)
    monkeypatch.setattr(opt, "OPTIMIZERS", ("Nelder-Mead",))
    nm = opt.fit_covariance(data, s, True)
    assert nm.optimizer.startswith("Nelder-Mead") and nm.converged
    assert nm.value == pytest.approx(ref.value, rel=1e-10)
    assert ref.optimizer == "Newton" and ref.gradient_norm < 1e-4  # Newton first, analytic Hessian


def test_evaluation_budget_ends_in_a_reported_non_converged_fit():
    data = _data()
    s = get_structure("us")
    full = opt.fit_covariance(data, s, True)
    assert full.converged and 0 < full.evaluations < opt.MAX_EVALUATIONS
    capped = opt.fit_covariance(data, s, True, max_evaluations=3)
    assert capped.evaluations == 3 and not capped.converged
    assert any("budget of 3 objective evaluations" in w for w in capped.warnings)
    assert capped.value > full.value  # the best point of 3 evaluations, not the optimum
    again = opt.fit_covariance(data, s, True, max_evaluations=3)
    assert again.value == capped.value  # deterministic: counts evaluations, not seconds


def test_infeasible_covariance_gives_infinite_objective():
    data = _data()
    s = get_structure("us")
    sig = lambda th: s.sigma(th, data.t)  # noqa: E731 - phi directly: a non-PD matrix
    phi = np.array([1.0, 5.0, 1.0, 0, 0, 1, 0, 0, 0, 1])  # cov(v2, v1) = 5 > sqrt(1 * 1)
    v, g, ev = objective(data, sig, lambda th: jacobian(sig, th), phi, True)
    assert v == np.inf and not ev.ok
