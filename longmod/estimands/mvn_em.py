"""Maximum-likelihood MMRM (unstructured covariance) by ECM, for repeated refits.

``y_i ~ N(X_i beta, Sigma)`` with missing visits (MAR), ``Sigma``
unstructured. The ECM algorithm (Meng and Rubin 1993; the multivariate
normal regression case of Jennrich and Schluchter 1986) alternates

* E-step: conditional means ``yhat_i`` and covariances ``C_i`` of the missing
  visits given the observed ones (:mod:`longmod.estimands.mvn`);
* CM-step 1: ``beta = (sum X_i' S^-1 X_i)^-1 sum X_i' S^-1 yhat_i``;
* CM-step 2: ``Sigma = mean_i[(yhat_i - X_i beta)(yhat_i - X_i beta)' + C_i]``;

until no parameter changes by more than ``tol`` (relative to its size;
the log-likelihood alone stops too early, as it is flat near the optimum). Each step cannot decrease the likelihood. It serves the
approximate Bayesian bootstrap and the jackknife, which refit the imputation
model many times; it is the ML (not REML) estimate, checked against the
native engine's ML fit in ``tests/estimands/test_mvn_em.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from longmod.estimands.mvn import conditional_moments, missing_patterns


@dataclass(frozen=True)
class EMFit:
    """Result of :func:`fit_mvn_em`."""

    beta: np.ndarray
    sigma: np.ndarray
    log_likelihood: float
    iterations: int
    converged: bool


def observed_loglik(y: np.ndarray, X: np.ndarray, beta: np.ndarray, sigma: np.ndarray) -> float:
    """Observed-data Gaussian log-likelihood (each patient's observed visits).

    Examples
    --------
    >>> import numpy as np
    >>> round(observed_loglik(np.array([[0.0, np.nan]]), np.zeros((1, 2, 1)), np.zeros(1), np.eye(2)), 6)
    -0.918939
    """
    mu = X @ beta
    total = 0.0
    obs = ~np.isnan(y)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, row in enumerate(obs):
        groups.setdefault(tuple(np.flatnonzero(row).tolist()), []).append(i)
    for o, rows in groups.items():
        if not o:
            continue
        o = np.asarray(o)
        r = y[np.ix_(rows, o)] - mu[np.ix_(rows, o)]
        L = np.linalg.cholesky(sigma[np.ix_(o, o)])
        z = np.linalg.solve(L, r.T)
        total += -0.5 * (np.sum(z**2) + len(rows) * (2 * np.log(np.diag(L)).sum() + len(o) * np.log(2 * np.pi)))
    return float(total)


def fit_mvn_em(
    y: np.ndarray, X: np.ndarray, *, tol: float = 1e-9, max_iter: int = 20000
) -> EMFit:
    """ML estimates of ``beta`` and unstructured ``Sigma`` with missing outcomes.

    Parameters
    ----------
    y : numpy.ndarray
        ``(n, K)`` outcomes, NaN where missing (MAR).
    X : numpy.ndarray
        ``(n, K, p)`` design rows of every patient at every visit.
    tol : float
        Convergence: ``max |change| / (|value| + 1)`` over ``beta`` and
        ``Sigma`` below ``tol``.
    max_iter : int

    Returns
    -------
    EMFit
        ``beta`` (p,), ``sigma`` (K, K), ``log_likelihood``, ``iterations``,
        ``converged``.

    Raises
    ------
    ValueError
        A visit without any observed value, or a design that is not of full
        rank on the observed rows.

    Examples
    --------
    Complete data: ML is ordinary least squares per visit and the (n-divisor)
    residual covariance.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=(50, 2)); X = np.tile(np.eye(2), (50, 1, 1))
    >>> fit = fit_mvn_em(y, X)
    >>> bool(np.allclose(fit.beta, y.mean(axis=0))), bool(np.allclose(fit.sigma, np.cov(y.T, ddof=0)))
    (True, True)
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    n, K = y.shape
    p = X.shape[2]
    obs = ~np.isnan(y)
    if not obs.any(axis=0).all():
        raise ValueError(f"ML MMRM: visit(s) {np.flatnonzero(~obs.any(axis=0)).tolist()} have no observed value")
    Xo, yo = X[obs], y[obs]
    if np.linalg.matrix_rank(Xo) < p:
        raise ValueError(f"ML MMRM: the design ({p} columns) is rank deficient on the observed rows")
    beta = np.linalg.lstsq(Xo, yo, rcond=None)[0]
    r = y - X @ beta
    var = np.array([np.nanvar(r[:, k]) for k in range(K)])
    sigma = np.diag(np.maximum(var, 1e-8 * max(var.max(), 1.0)))
    converged = False
    it = 0
    patterns = missing_patterns(y)
    for it in range(1, max_iter + 1):
        mu = X @ beta
        yhat = y.copy()
        extra = np.zeros((K, K))
        for pm in conditional_moments(y, mu, sigma, patterns):
            yhat[np.ix_(pm.rows, pm.missing)] = pm.mean
            extra[np.ix_(pm.missing, pm.missing)] += len(pm.rows) * pm.cov
        old = beta
        w = np.linalg.inv(sigma) @ X  # (n, K, p): S^-1 X_i
        beta = np.linalg.solve(np.tensordot(X, w, axes=([0, 1], [0, 1])), np.tensordot(w, yhat, axes=([0, 1], [0, 1])))
        res = yhat - X @ beta
        new = (res.T @ res + extra) / n
        new = 0.5 * (new + new.T)
        step = max(np.max(np.abs(beta - old) / (np.abs(beta) + 1.0)), np.max(np.abs(new - sigma) / (np.abs(new) + 1.0)))
        sigma = new
        if step < tol:
            converged = True
            break
    return EMFit(beta, sigma, observed_loglik(y, X, beta, sigma), it, converged)
