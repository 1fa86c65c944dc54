"""Gaussian (RE)ML for y_i ~ N(X_i b, V_i) with block-diagonal V, by missingness pattern.

Patients are grouped by the positions they were observed at. Within a pattern
every patient shares V_i, so each pattern's V is factorised once per
evaluation, and the data enter only through sufficient statistics computed
once: ``T[k,l,p,q] = sum_i X_ik,p X_il,q``, ``U[k,l,p] = sum_i X_ik,p y_il``,
``Yy[k,l] = sum_i y_ik y_il``. An evaluation then costs
O(patterns x K^2 x p^2), independent of the number of patients.

-2 log-likelihood (with constants, as SAS / nlme / mmrm):
ML = n log(2 pi) + log|V| + r'V^-1 r;
REML = (n-p) log(2 pi) + log|V| + log|X'V^-1 X| + r'V^-1 r.
The gradient with respect to any covariance parameterisation is analytic
given dV (see :func:`objective`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

LOG2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class Pattern:
    """Patients sharing one set of observed positions."""

    idx: np.ndarray  # positions (K-index) of the k observations, in row order
    rows: np.ndarray  # (n_p, k) row numbers into the fitted data
    X: np.ndarray  # (n_p, k, p)
    y: np.ndarray  # (n_p, k)
    T: np.ndarray  # (k, k, p, p)
    U: np.ndarray  # (k, k, p)
    Yy: np.ndarray  # (k, k)

    @property
    def n(self) -> int:
        return self.y.shape[0]


@dataclass(frozen=True)
class LongData:
    """Fitting data grouped by pattern.

    Attributes
    ----------
    patterns : tuple of Pattern
    K : int
        Number of positions.
    t : numpy.ndarray
        Numeric value of each position (time for ``ris``).
    n_obs, n_subjects, p : int
    subject_of_row : numpy.ndarray
        Integer subject code per fitted row.
    """

    patterns: tuple[Pattern, ...]
    K: int
    t: np.ndarray
    n_obs: int
    n_subjects: int
    p: int
    X: np.ndarray
    y: np.ndarray
    subject_of_row: np.ndarray


def build_long_data(y, X, subject_codes, positions, t) -> LongData:
    """Group rows into missingness patterns and compute sufficient statistics.

    Parameters
    ----------
    y : array (n,)
        Outcome, no missing values.
    X : array (n, p)
    subject_codes : array (n,) of int
    positions : array (n,) of int in ``0..K-1``
    t : array (K,)
        Numeric value of each position.
    """
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    subject_codes = np.asarray(subject_codes)
    positions = np.asarray(positions, int)
    order = np.lexsort((positions, subject_codes))
    s_sorted = subject_codes[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    groups: dict[tuple, list[np.ndarray]] = {}
    for a, b in zip(starts, ends):
        r = order[a:b]
        groups.setdefault(tuple(positions[r].tolist()), []).append(r)
    pats = []
    for key, lst in groups.items():
        rows = np.stack(lst)
        Xp = X[rows]
        yp = y[rows]
        pats.append(Pattern(
            idx=np.array(key, int), rows=rows, X=Xp, y=yp,
            T=np.einsum("nkp,nlq->klpq", Xp, Xp, optimize=True),
            U=np.einsum("nkp,nl->klp", Xp, yp, optimize=True),
            Yy=yp.T @ yp,
        ))
    return LongData(tuple(pats), len(t), np.asarray(t, float), len(y), len(starts), X.shape[1], X, y, subject_codes)


@dataclass
class Evaluation:
    """Quantities at one covariance value, reused by gradient and inference."""

    value: float
    beta: np.ndarray
    M: np.ndarray  # X'V^-1X
    Minv: np.ndarray
    Vinv: list  # per pattern
    ok: bool = True


def _pattern_V(pat: Pattern, S: np.ndarray, nugget: float) -> np.ndarray:
    V = S[np.ix_(pat.idx, pat.idx)]
    if nugget:
        V = V + nugget * np.eye(len(pat.idx))
    return V


def evaluate(data: LongData, S: np.ndarray, nugget: float, reml: bool) -> Evaluation:
    """-2 (restricted) log-likelihood at covariance ``S`` (K x K) plus ``nugget``."""
    p = data.p
    M = np.zeros((p, p))
    b = np.zeros(p)
    yVy = 0.0
    logdet = 0.0
    Vinvs = []
    for pat in data.patterns:
        V = _pattern_V(pat, S, nugget)
        try:
            c = linalg.cho_factor(V, lower=True, check_finite=False)
        except linalg.LinAlgError:
            return Evaluation(np.inf, np.full(p, np.nan), M, M, [], ok=False)
        d = np.diag(c[0])
        if np.any(d <= 0) or not np.all(np.isfinite(d)):
            return Evaluation(np.inf, np.full(p, np.nan), M, M, [], ok=False)
        Vi = linalg.cho_solve(c, np.eye(len(d)), check_finite=False)
        Vinvs.append(Vi)
        logdet += pat.n * 2.0 * np.sum(np.log(d))
        M += np.tensordot(Vi, pat.T, axes=([0, 1], [0, 1]))
        b += np.tensordot(Vi, pat.U, axes=([0, 1], [0, 1]))
        yVy += float(np.sum(Vi * pat.Yy))
    try:
        cm = linalg.cho_factor(M, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return Evaluation(np.inf, np.full(p, np.nan), M, M, Vinvs, ok=False)
    beta = linalg.cho_solve(cm, b, check_finite=False)
    Minv = linalg.cho_solve(cm, np.eye(p), check_finite=False)
    rVr = yVy - float(b @ beta)
    n = data.n_obs
    if reml:
        val = (n - p) * LOG2PI + logdet + 2.0 * np.sum(np.log(np.diag(cm[0]))) + rVr
    else:
        val = n * LOG2PI + logdet + rVr
    return Evaluation(float(val), beta, M, Minv, Vinvs)


def gradient_weights(data: LongData, ev: Evaluation, reml: bool) -> tuple[np.ndarray, float]:
    """G (K x K) and tr-sum such that d(-2l)/dpsi_a = sum(G * dS_a) + dnugget_a * trG."""
    K = data.K
    G = np.zeros((K, K))
    trG = 0.0
    beta = ev.beta
    for pat, Vi in zip(data.patterns, ev.Vinv):
        Ub = np.tensordot(pat.U, beta, axes=([2], [0]))
        TB = np.einsum("klpq,p,q->kl", pat.T, beta, beta, optimize=True)
        RR = pat.Yy - Ub - Ub.T + TB
        if reml:
            RR = RR + np.tensordot(pat.T, ev.Minv, axes=([2, 3], [0, 1]))
        Gp = pat.n * Vi - Vi @ RR @ Vi
        np.add.at(G, np.ix_(pat.idx, pat.idx), Gp)
        trG += float(np.trace(Gp))
    return G, trG


def objective(data: LongData, sigma_fn, jac_fn, x: np.ndarray, reml: bool):
    """-2 log-likelihood and its gradient in the parameterisation of ``sigma_fn``.

    Parameters
    ----------
    sigma_fn : callable
        ``sigma_fn(x) -> (S, nugget)``.
    jac_fn : callable
        ``jac_fn(x) -> (dS (q,K,K), dnugget (q,))``.
    """
    S, nug = sigma_fn(x)
    ev = evaluate(data, np.real(np.asarray(S, dtype=complex)), float(np.real(nug)), reml)
    if not ev.ok or not np.isfinite(ev.value):
        return np.inf, np.zeros(len(x)), ev
    G, trG = gradient_weights(data, ev, reml)
    dS, dn = jac_fn(x)
    grad = np.einsum("akl,kl->a", dS, G) + dn * trG
    return ev.value, grad, ev
