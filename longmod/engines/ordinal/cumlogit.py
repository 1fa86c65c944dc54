"""Cumulative-logit (proportional-odds) models, fixed and with a random intercept.

Model (R ``ordinal`` parameterisation): ``logit P(Y_ij <= k) = theta_k -
x_ij' beta - b_i`` with ``b_i ~ N(0, sigma_b^2)`` per patient (``clmm``) or
without ``b_i`` (``clm``, e.g. the scale on one day). A positive ``beta``
shifts patients towards *higher* categories.

* :func:`fit_clm` - maximum likelihood by Newton-Raphson with the analytic
  gradient and Hessian (as ``ordinal::clm``);
* :func:`fit_clmm` - the marginal likelihood integrated over ``b_i`` by the
  Laplace approximation (``nagq = 1``, ``clmm``'s default) or adaptive
  Gauss-Hermite quadrature (``nagq > 1``; ``clmm(nAGQ = n)``); each patient's
  conditional mode by a vectorised Newton iteration, the outer maximisation
  by BFGS (thresholds as first + log increments, so they stay ordered) and a
  final Newton polish on a finite-difference Hessian, whose
  inverse gives the standard errors (as ``clmm``).

Validated against ``ordinal::clm``, ``MASS::polr`` and ``ordinal::clmm`` in
``tests/reference/ordinal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from longmod.engines.ordinal.design import OrdinalData


@dataclass(frozen=True)
class OrdinalFit:
    """A fitted cumulative-logit model (R ``ordinal`` conventions)."""

    thresholds: np.ndarray
    beta: np.ndarray
    vcov: np.ndarray
    loglik: float
    sigma_b: float
    method: str
    converged: bool
    data: OrdinalData
    iterations: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def params(self) -> pd.DataFrame:
        """Every parameter: thresholds (``"k|k+1"``), coefficients, and ``log(sigma_b)`` for clmm."""
        lv = self.data.levels
        names = [f"{lv[k]}|{lv[k + 1]}" for k in range(len(lv) - 1)] + list(self.data.columns)
        est = np.concatenate([self.thresholds, self.beta])
        if self.method != "clm":
            names.append("log(sigma_b)")
            est = np.append(est, np.log(self.sigma_b))
        se = np.sqrt(np.clip(np.diag(self.vcov), 0, None))
        return pd.DataFrame({"term": names, "estimate": est, "std_error": se})

    def treatment(self) -> tuple[float, float]:
        """R-convention treatment coefficient and its standard error."""
        j = self.data.columns.index(self.data.treatment_column)
        k = self.thresholds.size + j
        return float(self.beta[j]), float(np.sqrt(self.vcov[k, k]))


def _cell_terms(theta: np.ndarray, eta: np.ndarray, y: np.ndarray):
    """log p and its first two derivatives in eta, and the threshold pieces, per observation."""
    K1 = theta.size
    ext = np.concatenate([[-np.inf], theta, [np.inf]])
    a = ext[y + 1] - eta  # upper
    b = ext[y] - eta  # lower
    Fa, Fb = special.expit(a), special.expit(b)
    fa, fb = Fa * (1 - Fa), Fb * (1 - Fb)
    # p = F(a) - F(b), computed as the difference of the smaller tails for accuracy
    p = np.where(b > -a, special.expit(-b) - special.expit(-a), Fa - Fb)
    p = np.maximum(p, 1e-300)
    dfa, dfb = fa * (1 - 2 * Fa), fb * (1 - 2 * Fb)
    d1 = -(fa - fb) / p
    d2 = (dfa - dfb) / p - d1**2
    return np.log(p), d1, d2, fa / p, fb / p, K1


def _clm_grad_hess(par: np.ndarray, od: OrdinalData) -> tuple[float, np.ndarray, np.ndarray]:
    K1 = od.n_levels - 1
    theta, beta = par[:K1], par[K1:]
    eta = od.X @ beta
    lp, d1, d2, ua, ub, _ = _cell_terms(theta, eta, od.y)
    n, P = od.y.size, par.size
    # Jacobian of (a, b) wrt parameters: a = theta[y] - eta, b = theta[y-1] - eta
    Ja = np.zeros((n, P))
    Jb = np.zeros((n, P))
    up, lo = od.y < K1, od.y > 0
    Ja[np.flatnonzero(up), od.y[up]] = 1.0
    Jb[np.flatnonzero(lo), od.y[lo] - 1] = 1.0
    Ja[:, K1:] = -od.X
    Jb[:, K1:] = -od.X
    ext = np.concatenate([[-np.inf], theta, [np.inf]])
    Fa, Fb = special.expit(ext[od.y + 1] - eta), special.expit(ext[od.y] - eta)
    grad = Ja.T @ ua - Jb.T @ ub
    ga, gb = ua * (1 - 2 * Fa), ub * (1 - 2 * Fb)  # f'(a)/p, f'(b)/p
    g = Ja * ua[:, None] - Jb * ub[:, None]
    hess = (Ja * ga[:, None]).T @ Ja - (Jb * gb[:, None]).T @ Jb - g.T @ g
    return float(lp.sum()), grad, hess


def _start(od: OrdinalData) -> np.ndarray:
    cum = np.cumsum(np.bincount(od.y, minlength=od.n_levels))[:-1] / od.y.size
    return np.concatenate([special.logit(np.clip(cum, 1e-3, 1 - 1e-3)), np.zeros(od.X.shape[1])])


def fit_clm(od: OrdinalData, *, tol: float = 1e-10, max_iter: int = 100) -> OrdinalFit:
    """Proportional-odds model without random effects (``ordinal::clm``, ``MASS::polr``).

    Examples
    --------
    >>> from longmod.engines.ordinal.design import ordinal_data
    >>> d = pd.DataFrame({"who": [3, 4, 5, 3, 6, 4, 4, 5, 3, 3], "arm": ["a", "b"] * 5})
    >>> od = ordinal_data(d, outcome="who", levels=range(11), better="lower", fixed="arm", treatment="arm", arms=("a", "b"))
    >>> round(fit_clm(od).treatment()[0], 4)
    -0.5449
    """
    if od.group is not None and od.X.shape[0] != od.group.size:
        raise ValueError("inconsistent ordinal data")
    par = _start(od)
    ll, it, converged = -np.inf, 0, False
    for it in range(1, max_iter + 1):
        ll, g, H = _clm_grad_hess(par, od)
        step = np.linalg.solve(H, -g)
        t = 1.0
        while t > 1e-8:
            new = par + t * step
            if np.all(np.diff(new[: od.n_levels - 1]) > 0) and _clm_grad_hess(new, od)[0] >= ll - 1e-12:
                break
            t /= 2
        par = new
        if np.max(np.abs(g)) < tol:
            converged = True
            break
    ll, g, H = _clm_grad_hess(par, od)
    K1 = od.n_levels - 1
    return OrdinalFit(par[:K1], par[K1:], np.linalg.inv(-H), ll, 0.0, "clm", converged, od, it, od.warnings)


def _modes(theta, eta, y, group, n_groups, sigma, iters: int = 50):
    """Conditional modes of b_i and the curvature of log p + log N(b; 0, sigma^2) there (vectorised Newton)."""
    b = np.zeros(n_groups)
    for _ in range(iters):
        _, d1, d2, *_ = _cell_terms(theta, eta + b[group], y)
        g = np.bincount(group, d1, n_groups) - b / sigma**2  # d/db: eta enters as eta + b, d/deta = d1
        h = np.bincount(group, d2, n_groups) - 1 / sigma**2
        step = -g / h
        b = b + step
        if np.max(np.abs(step)) < 1e-12:
            break
    _, _, d2, *_ = _cell_terms(theta, eta + b[group], y)
    return b, -(np.bincount(group, d2, n_groups) - 1 / sigma**2)


def _clmm_loglik(par: np.ndarray, od: OrdinalData, nagq: int) -> float:
    K1, P = od.n_levels - 1, od.X.shape[1]
    theta, beta, sigma = par[:K1], par[K1:K1 + P], np.exp(par[-1])
    if np.any(np.diff(theta) <= 0):
        return -np.inf
    eta = od.X @ beta
    G = od.n_patients
    b, H = _modes(theta, eta, od.y, od.group, G, sigma)

    def h(bv: np.ndarray) -> np.ndarray:
        lp = _cell_terms(theta, eta + bv[od.group], od.y)[0]
        return np.bincount(od.group, lp, G) - 0.5 * np.log(2 * np.pi) - np.log(sigma) - 0.5 * (bv / sigma) ** 2

    if nagq == 1:
        return float(np.sum(h(b) + 0.5 * np.log(2 * np.pi) - 0.5 * np.log(H)))
    x, w = np.polynomial.hermite.hermgauss(nagq)
    s = 1 / np.sqrt(H)
    terms = np.array([h(b + np.sqrt(2) * s * xq) + xq**2 + np.log(wq) for xq, wq in zip(x, w)])
    return float(np.sum(special.logsumexp(terms, axis=0) + np.log(np.sqrt(2) * s)))


def _num_hessian(f, x: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian (relative steps)."""
    n = x.size
    hs = step * np.maximum(np.abs(x), 1.0)
    H = np.zeros((n, n))
    f0 = f(x)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = hs[i]
        H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / hs[i] ** 2
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = hs[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * hs[i] * hs[j])
    return H


def fit_clmm(od: OrdinalData, *, nagq: int = 1) -> OrdinalFit:
    """Proportional-odds model with a random intercept per patient (``ordinal::clmm``).

    Parameters
    ----------
    od : OrdinalData
        Built with ``subject`` (the random-intercept grouping).
    nagq : int
        1 = Laplace approximation (clmm's default); > 1 = adaptive
        Gauss-Hermite quadrature with that many nodes.

    Returns
    -------
    OrdinalFit
        ``sigma_b`` = random-intercept SD; ``vcov`` over thresholds,
        coefficients and ``log(sigma_b)`` (inverse of the finite-difference
        Hessian of the negative log-likelihood at the optimum).

    Examples
    --------
    >>> from longmod.engines.ordinal.design import ordinal_data
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"pid": np.repeat(range(12), 3), "arm": np.repeat(["a", "b"], 18),
    ...                   "who": rng.integers(3, 7, 36)})
    >>> od = ordinal_data(d, outcome="who", levels=range(11), better="lower", fixed="arm", treatment="arm",
    ...                   arms=("a", "b"), subject="pid")
    >>> f = fit_clmm(od)
    >>> f.method, f.params["term"].tolist()[-2:]
    ('clmm laplace', ['armb', 'log(sigma_b)'])
    """
    if od.group is None:
        raise ValueError("fit_clmm needs a subject column (ordinal_data(..., subject=...))")
    if nagq < 1:
        raise ValueError(f"nagq must be >= 1, got {nagq}")
    fixed = fit_clm(od)
    K1 = od.n_levels - 1
    f = lambda p: -_clmm_loglik(p, od, nagq)  # noqa: E731

    def to_par(zz: np.ndarray) -> np.ndarray:  # the optimiser's unconstrained scale: ordered thresholds
        return np.concatenate([np.cumsum(np.concatenate([zz[:1], np.exp(zz[1:K1])])), zz[K1:]])

    start = np.concatenate([fixed.thresholds[:1], np.log(np.diff(fixed.thresholds)), fixed.beta, [np.log(0.5)]])
    res = optimize.minimize(lambda zz: f(to_par(zz)), start, method="BFGS", options={"gtol": 1e-7, "maxiter": 2000})
    par = to_par(res.x)
    warnings = list(od.warnings)
    H = _num_hessian(f, par)
    for _ in range(5):  # Newton polish (Hessian kept fixed): BFGS stops a little short of the optimum
        g = np.array([(f(par + e) - f(par - e)) / (2 * e[i]) for i, e in enumerate(np.diag(1e-6 * np.maximum(np.abs(par), 1)))])
        try:
            step = np.linalg.solve(H, -g)
        except np.linalg.LinAlgError:
            break
        if f(par + step) <= f(par) + 1e-10:
            par = par + step
        if np.max(np.abs(step)) < 1e-8:
            break
    H = _num_hessian(f, par)
    converged = bool(np.all(np.linalg.eigvalsh(H) > 0))
    if not converged:
        warnings.append("the Hessian at the optimum is not positive definite: standard errors unreliable")
    if np.exp(par[-1]) < 1e-3:
        warnings.append("random-intercept SD near 0 (boundary): consider the fixed-effects model")
    P = od.X.shape[1]
    return OrdinalFit(par[:K1], par[K1:K1 + P], np.linalg.inv(H), -f(par), float(np.exp(par[-1])),
                      "clmm laplace" if nagq == 1 else f"clmm agq{nagq}", converged, od, int(res.nit), tuple(warnings))


def ordinal_rows(fit: OrdinalFit, *, analysis: str, outcome: str, estimand: str | None = None,
                 day: float | None = None, level: float = 0.95) -> pd.DataFrame:
    """The treatment effect as a common-schema row, with the direction stated.

    ``estimate`` is the log odds ratio of a **better** category (lower when
    ``better = "lower"``), active vs reference, so ``estimate > 0`` (OR > 1)
    favours the active arm; ``r_coefficient`` keeps R's ``beta`` (positive =
    towards higher categories). Wald CI and P (z).

    Examples
    --------
    >>> from longmod.engines.ordinal.design import ordinal_data
    >>> d = pd.DataFrame({"who": [3, 4, 5, 3, 6, 4, 4, 5, 3, 3], "arm": ["a", "b"] * 5})
    >>> od = ordinal_data(d, outcome="who", levels=range(11), better="lower", fixed="arm", treatment="arm", arms=("a", "b"))
    >>> r = ordinal_rows(fit_clm(od), analysis="po", outcome="who", day=7)
    >>> round(float(r.estimate[0]), 4), round(float(r.odds_ratio[0]), 3), r.direction[0]
    (0.5449, 1.724, 'OR > 1 favours b: odds of a lower (better) category, b vs a')
    """
    import longmod
    from longmod.results.schema import effects_frame

    b, se = fit.treatment()
    sign = 1.0 if fit.data.higher_is_better else -1.0
    est = sign * b
    z = stats.norm.ppf(0.5 + level / 2)
    tcol = fit.data.treatment_column
    arms = fit.data.arms
    word = "higher" if fit.data.higher_is_better else "lower"
    row = {"analysis": analysis, "estimand": estimand, "outcome": outcome, "day": day,
           "contrast": f"{arms[1]} - {arms[0]}", "estimate": est, "std_error": se, "df": np.inf,
           "conf_low": est - z * se, "conf_high": est + z * se, "p_value": float(2 * stats.norm.sf(abs(b / se))),
           "engine": "longmod.ordinal", "engine_version": longmod.__version__, "n_obs": int(fit.data.y.size),
           "n_patients": fit.data.n_patients, "scale": f"log odds ratio of a {word} (better) category",
           "odds_ratio": float(np.exp(est)), "or_low": float(np.exp(est - z * se)), "or_high": float(np.exp(est + z * se)),
           "direction": f"OR > 1 favours {arms[1]}: odds of a {word} (better) category, {arms[1]} vs {arms[0]}",
           "r_coefficient": b, "model": fit.method, "sigma_b": fit.sigma_b if fit.method != "clm" else np.nan,
           "loglik": fit.loglik, "converged": fit.converged, "levels_used": ",".join(map(str, fit.data.levels)),
           "treatment_term": tcol, "warnings": "; ".join(fit.warnings)}
    return effects_frame([row])
