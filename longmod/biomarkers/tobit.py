"""Censored Gaussian (Tobit) likelihoods for biomarkers below the LLOQ.

Two models, both maximum likelihood, on the log10 scale, left-censoring at
each sample's own log10 LLOQ:

* :func:`fit_tobit` - fixed effects, ``y = X b + e``, ``e ~ N(0, s^2)``
  (the model of R's ``survreg(Surv(y, event, type = "left") ~ ...,
  dist = "gaussian")``); Newton-Raphson with the analytic Hessian.
* :func:`fit_censored_mixed` - per marker, cell means by arm x day plus a
  patient random intercept ``b_i ~ N(0, s_b^2)``, integrated out by
  Gauss-Hermite quadrature per patient (analytic gradient, observed
  information by central differences of the gradient).

Supported covariance structures: **random intercept only** (compound
symmetry of the latent log10 values). Unstructured, AR(1) or random slopes
are not supported for censored data. Inference is Wald z (``df`` = inf) on
ML estimates, with no small-sample correction: slightly liberal with ~40
patients (docs/biomarkers_simulation.md). A cell (arm x day) whose samples are
all censored has no finite MLE; its contrast is reported as not estimable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, sparse
from scipy.special import log_ndtr, logsumexp

from longmod.biomarkers.frame import log10_frame
from longmod.biomarkers.simulate import ACTIVE, REFERENCE
from longmod.results.fit import Convergence
from longmod.results.schema import effects_frame, t_interval

LOG_2PI = float(np.log(2 * np.pi))
METHODS: tuple[str, ...] = ("censored", "loq/2")


def _mills(c: np.ndarray) -> np.ndarray:
    """phi(c) / Phi(c), computed on the log scale (stable for very negative c)."""
    return np.exp(-0.5 * c * c - 0.5 * LOG_2PI - log_ndtr(c))


@dataclass(frozen=True)
class TobitFit:
    """Maximum-likelihood fit of the left-censored Gaussian regression.

    ``coef``/``std_error`` follow the columns of ``X``; ``cov`` is the
    inverse observed information of ``(b, log sigma)`` (R's ``vcov(survreg)``).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0.5, 0.5, 1.2, 2.0, 2.6, 3.1]); cens = y <= 0.5
    >>> f = fit_tobit(y, np.ones((6, 1)), cens)
    >>> type(f).__name__, f.coef.shape, f.cov.shape, f.convergence.converged
    ('TobitFit', (1,), (2, 2), True)
    """

    coef: np.ndarray
    std_error: np.ndarray
    log_sigma: float
    se_log_sigma: float
    cov: np.ndarray
    loglik: float
    convergence: Convergence

    @property
    def sigma(self) -> float:
        """Residual SD."""
        return float(np.exp(self.log_sigma))


def _tobit_derivs(theta: np.ndarray, y: np.ndarray, X: np.ndarray, cens: np.ndarray):
    p = X.shape[1]
    b, s = theta[:p], theta[p]
    sig = np.exp(s)
    z = (y - X @ b) / sig
    o = ~cens
    ll = np.where(o, -s - 0.5 * z * z - 0.5 * LOG_2PI, log_ndtr(np.where(o, 0.0, z)))
    lam = np.where(cens, _mills(np.where(cens, z, 0.0)), 0.0)
    # per-observation derivatives wrt eta-direction (x) and s
    gb = np.where(o, z / sig, -lam / sig)
    gs = np.where(o, z * z - 1.0, -lam * z)
    hbb = np.where(o, -1.0 / sig**2, -lam * (z + lam) / sig**2)
    hbs = np.where(o, -2.0 * z / sig, -(lam * z * (z + lam) - lam) / sig)
    hss = np.where(o, -2.0 * z * z, lam * z - lam * z * z * (z + lam))
    grad = np.concatenate([X.T @ gb, [gs.sum()]])
    H = np.empty((p + 1, p + 1))
    H[:p, :p] = (X * hbb[:, None]).T @ X
    H[:p, p] = H[p, :p] = X.T @ hbs
    H[p, p] = hss.sum()
    return float(ll.sum()), grad, H


def fit_tobit(y, X, censored, *, max_iter: int = 100, tol: float = 1e-10) -> TobitFit:
    """Left-censored Gaussian regression by Newton-Raphson.

    Parameters
    ----------
    y : array_like
        Outcome; for censored rows, the censoring limit (e.g. log10 LLOQ).
    X : array_like
        Design matrix (n x p), full column rank.
    censored : array_like of bool
        True where the true value is only known to be ``<= y``.
    max_iter, tol : int, float
        Newton iterations and convergence tolerance on the step size.

    Returns
    -------
    TobitFit

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0); x = rng.normal(size=400); ystar = 1 + 2 * x + rng.normal(size=400)
    >>> cens = ystar < 0.5; y = np.where(cens, 0.5, ystar)
    >>> f = fit_tobit(y, np.column_stack([np.ones(400), x]), cens)
    >>> bool(np.all(np.abs(f.coef - [1, 2]) < 3 * f.std_error)), f.convergence.converged
    (True, True)
    """
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    cens = np.asarray(censored, bool)
    if not (np.isfinite(y).all() and np.isfinite(X).all()):
        raise ValueError("y and X must be finite (give censored rows their limit as y)")
    b0, *_ = np.linalg.lstsq(X, y, rcond=None)
    theta = np.concatenate([b0, [np.log(max(np.std(y - X @ b0), 1e-3))]])
    ll, g, H = _tobit_derivs(theta, y, X, cens)
    converged, it, msgs = False, 0, []
    for it in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(H, -g)
        except np.linalg.LinAlgError:
            step = g * 1e-3
        if g @ step < 0:  # not an ascent direction: fall back to gradient ascent
            step = g / max(1.0, np.abs(g).max())
        t = 1.0
        while True:
            cand = theta + t * step
            ll_new, g_new, H_new = _tobit_derivs(cand, y, X, cens)
            if ll_new >= ll - 1e-12 or t < 1e-8:
                break
            t /= 2
        theta, ll, g, H = cand, ll_new, g_new, H_new
        if np.max(np.abs(t * step)) < tol:
            converged = True
            break
    if not converged:
        msgs.append(f"Newton-Raphson did not converge in {max_iter} iterations")
    cov = np.linalg.inv(-H)
    se = np.sqrt(np.diag(cov))
    p = X.shape[1]
    conv = Convergence(converged=converged, optimizer="newton", iterations=it,
                       gradient_norm=float(np.abs(g).max()), warnings=tuple(msgs))
    return TobitFit(theta[:p].copy(), se[:p], float(theta[p]), float(se[p]), cov, ll, conv)


# --------------------------------------------------------------------------- mixed model


@dataclass(frozen=True)
class CensoredMixedFit:
    """Censored random-intercept model for one marker (log10 scale), from :func:`fit_censored_mixed`.

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> f = fit_censored_mixed(simulate_biomarkers(1, censor_fractions=[0.4], seed=6))
    >>> type(f).__name__, f.n_censored > 0, f.n_obs >= f.n_patients
    ('CensoredMixedFit', True, True)
    """

    marker: str
    terms: tuple[str, ...]
    coef: np.ndarray
    cov: np.ndarray
    sigma: float
    sigma_b: float
    loglik: float
    convergence: Convergence
    effects: pd.DataFrame
    n_obs: int
    n_patients: int
    n_censored: int
    method: str = "censored"
    extras: dict = field(default_factory=dict)


def _mixed_negll(theta, y, X, cens, P, nodes, logw, need_grad=True):
    p = X.shape[1]
    b, s, sb = theta[:p], theta[p], theta[p + 1]
    sig = np.exp(s)
    bq = np.sqrt(2.0) * np.exp(sb) * nodes  # Q random-intercept values
    z = (y[:, None] - (X @ b)[:, None] - bq[None, :]) / sig  # n x Q
    o = ~cens
    l = np.empty_like(z)
    l[o] = -s - 0.5 * z[o] ** 2 - 0.5 * LOG_2PI
    l[cens] = log_ndtr(z[cens])
    S = P @ l + logw[None, :]  # patients x Q
    lse = logsumexp(S, axis=1)
    nll = -float(lse.sum())
    if not need_grad:
        return nll
    W = np.exp(S - lse[:, None])  # posterior node weights
    Wj = P.T @ W  # n x Q (each obs gets its patient's weights)
    deta = np.empty_like(z)
    dsig = np.empty_like(z)
    deta[o] = z[o] / sig
    dsig[o] = z[o] ** 2 - 1.0
    lam = _mills(z[cens])
    deta[cens] = -lam / sig
    dsig[cens] = -lam * z[cens]
    a = (Wj * deta).sum(axis=1)
    grad = np.concatenate([X.T @ a, [(Wj * dsig).sum()], [(Wj * deta * bq[None, :]).sum()]])
    return nll, -grad


def _design(g: pd.DataFrame, days: list[int], active: str, reference: str, cens: np.ndarray):
    """Cell-means design (reference arm cells, then active arm cells), estimable cells only.

    A cell whose samples are ALL censored has no finite MLE (its mean goes to
    -inf and its samples' likelihood to 1); its rows and column are dropped,
    which is exactly the limit of the likelihood, and the day's contrast is
    reported as not estimable.
    """
    cells = [(reference, d) for d in days] + [(active, d) for d in days]
    key = list(zip(g["arm"], g["day"]))
    keep_cells, dropped = [], []
    for c in cells:
        sel = np.array([k == c for k in key])
        if sel.any() and not cens[sel].all():
            keep_cells.append(c)
        else:
            dropped.append(c)
    rows = np.array([k in set(keep_cells) for k in key])
    col = {c: j for j, c in enumerate(keep_cells)}
    X = np.zeros((int(rows.sum()), len(keep_cells)))
    kept = [k for k, r in zip(key, rows) if r]
    X[np.arange(len(kept)), [col[k] for k in kept]] = 1.0
    terms = tuple(f"mean[{a}, day {d}]" for a, d in keep_cells)
    return X, terms, rows, dropped


def fit_censored_mixed(marker_frame: pd.DataFrame, *, method: str = "censored", n_nodes: int = 64,
                       active: str = ACTIVE, reference: str = REFERENCE,
                       estimand: str = "hypothetical (MAR after death/discharge)") -> CensoredMixedFit:
    """Censored-likelihood random-intercept model for one marker.

    Model (log10 scale): ``y_it = mu[arm_i, t] + b_i + e_it``,
    ``b_i ~ N(0, sigma_b^2)``, ``e_it ~ N(0, sigma^2)``; a sample below the
    LLOQ contributes ``Phi((log10 LLOQ - mu - b_i) / sigma)``. The random
    intercept is integrated by ``n_nodes``-point Gauss-Hermite quadrature per
    patient; fixed effects by quasi-Newton (BFGS) with the analytic
    gradient. Standard errors: inverse observed information (central
    differences of the analytic gradient); Wald z intervals (``df`` = inf).

    Parameters
    ----------
    marker_frame : pandas.DataFrame
        Biomarker frame rows of ONE marker; not modified.
    method : {"censored", "loq/2"}
        ``"censored"`` = the censored likelihood; ``"loq/2"`` = the same
        Gaussian model fitted to LOQ/2-substituted values (for comparison).
    n_nodes : int
        Gauss-Hermite nodes (non-adaptive; 64 reproduce the exact Gaussian ML
        of an uncensored marker to ~1e-7, 40 only to ~3e-5).
    active, reference : str
        Arm labels.
    estimand : str
        Label for the ``estimand`` column.

    Returns
    -------
    CensoredMixedFit
        ``effects`` is in the common schema: one row per day, ``contrast``
        ``"<active> - <reference>"``, ``estimate`` = difference of mean log10
        levels (``10**estimate`` = ratio of geometric means), extra columns
        ``fold_change``, ``sigma``, ``sigma_b``, ``n_censored``, ``converged``,
        ``estimable`` (False, with NaN estimate, when every sample of one
        arm on that day is censored: no finite MLE exists). ``coef``/``cov``
        are the cell means ``mean[<arm>, day <d>]`` named in ``terms``.

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> d = simulate_biomarkers(1, censor_fractions=[0.4], seed=6)
    >>> f = fit_censored_mixed(d)
    >>> f.convergence.converged, list(f.effects.day), round(f.sigma, 2)
    (True, [0.0, 2.0, 4.0, 7.0, 14.0], 0.24)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    markers = marker_frame["marker"].unique()
    if len(markers) != 1:
        raise ValueError(f"fit_censored_mixed needs the rows of one marker, got {len(markers)}")
    g = log10_frame(marker_frame, "loq" if method == "censored" else "loq/2")
    g = g[g["arm"].isin([active, reference])].reset_index(drop=True)
    days = sorted(g["day"].unique())
    cens = g["censored"].to_numpy() if method == "censored" else np.zeros(len(g), bool)
    X, terms, rows_kept, dropped = _design(g, days, active, reference, cens)
    g_all = g
    g = g[rows_kept].reset_index(drop=True)
    cens = cens[rows_kept]
    y = g["y"].to_numpy()
    pid, inv = np.unique(g["patient_id"].to_numpy(), return_inverse=True)
    P = sparse.csr_matrix((np.ones(len(g)), (inv, np.arange(len(g)))), shape=(len(pid), len(g)))
    nodes, w = np.polynomial.hermite.hermgauss(n_nodes)
    logw = np.log(w) - 0.5 * np.log(np.pi)
    # start: OLS on substituted values, variance split evenly
    ys = np.where(cens, y - np.log10(2.0), y)
    b0, *_ = np.linalg.lstsq(X, ys, rcond=None)
    r = ys - X @ b0
    s0 = np.log(max(np.std(r), 1e-2) / np.sqrt(2))
    theta0 = np.concatenate([b0, [s0, s0]])
    args = (y, X, cens, P, nodes, logw)
    res = optimize.minimize(_mixed_negll, theta0, args=args, jac=True, method="BFGS",
                            options={"gtol": 1e-7, "maxiter": 2000})
    msgs = [] if res.success else [f"BFGS: {res.message}"]
    msgs += [f"all {a} samples censored on day {d}: that day's contrast is not estimable" for a, d in dropped]
    theta = res.x
    k = len(theta)
    H = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(1.0, abs(theta[j]))
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (_mixed_negll(theta + e, *args)[1] - _mixed_negll(theta - e, *args)[1]) / (2 * h)
    H = (H + H.T) / 2
    gnorm = float(np.abs(res.jac).max())
    try:
        cov = np.linalg.inv(H)
        ok = bool(np.all(np.linalg.eigvalsh(H) > 0))
    except np.linalg.LinAlgError:
        cov, ok = np.full((k, k), np.nan), False
    if not ok:
        msgs.append("observed information is not positive definite (boundary fit, e.g. sigma_b -> 0)")
    if gnorm > 1e-3:
        msgs.append(f"gradient norm {gnorm:.2g} at the optimum")
    converged = bool(res.success or gnorm < 1e-4) and ok
    conv = Convergence(converged=converged, optimizer="BFGS (analytic gradient)", iterations=int(res.nit),
                       gradient_norm=gnorm, warnings=tuple(msgs))
    p = X.shape[1]
    marker = str(markers[0])
    analysis = ("biomarkers: censored mixed model (Tobit, random intercept)" if method == "censored"
                else "biomarkers: LOQ/2 mixed model (random intercept)")
    sigma, sigma_b = float(np.exp(theta[p])), float(np.exp(theta[p + 1]))
    from longmod import __version__

    rows = []
    for d in days:
        ja = terms.index(f"mean[{active}, day {d}]") if f"mean[{active}, day {d}]" in terms else None
        jr = terms.index(f"mean[{reference}, day {d}]") if f"mean[{reference}, day {d}]" in terms else None
        if ja is None or jr is None or not ok:
            est = se = np.nan
        else:
            est = float(theta[ja] - theta[jr])
            se = float(np.sqrt(cov[ja, ja] + cov[jr, jr] - 2 * cov[ja, jr]))
        lo, hi, pv = t_interval(est, se, np.inf) if np.isfinite(est) else (np.nan, np.nan, np.nan)
        sel = g_all["day"] == d
        rows.append({
            "analysis": analysis, "estimand": estimand, "outcome": marker, "day": d,
            "contrast": f"{active} - {reference}", "estimate": est, "std_error": se, "df": np.inf,
            "conf_low": lo, "conf_high": hi, "p_value": pv, "engine": "longmod.biomarkers.tobit",
            "engine_version": f"longmod {__version__}", "n_obs": int(sel.sum()),
            "n_patients": int(g_all.loc[sel, "patient_id"].nunique()), "fold_change": 10.0**est,
            "sigma": sigma, "sigma_b": sigma_b, "n_censored": int(g_all.loc[sel, "censored"].sum()),
            "converged": converged, "estimable": bool(np.isfinite(est)),
        })
    return CensoredMixedFit(marker, terms, theta[:p].copy(), cov[:p, :p].copy(), sigma, sigma_b, -float(res.fun),
                            conv, effects_frame(rows), len(g_all), len(pid), int(g_all["censored"].sum()), method)


def fit_all_markers(frame: pd.DataFrame, *, method: str = "censored", **kwargs) -> pd.DataFrame:
    """:func:`fit_censored_mixed` for every marker, effects stacked.

    Returns
    -------
    pandas.DataFrame
        Common schema, one row per marker and day (columns as in
        :func:`fit_censored_mixed`'s ``effects``); ``p_value_bh`` is added,
        BH-adjusted across markers within each day.

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> t = fit_all_markers(simulate_biomarkers(2, censor_fractions=[0.1, 0.5], seed=7))
    >>> t.shape[0], bool(t.converged.all())
    (10, True)
    """
    from longmod.biomarkers.paper import bh_adjust

    out = pd.concat([fit_censored_mixed(g, method=method, **kwargs).effects
                     for _, g in frame.groupby("marker", sort=True)], ignore_index=True)
    out["p_value_bh"] = np.nan
    for _, idx in out.groupby("day").groups.items():
        out.loc[idx, "p_value_bh"] = bh_adjust(out.loc[idx, "p_value"].to_numpy())
    return out
