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
    Tt, Ut, Yyt, npat : numpy.ndarray
        Sufficient statistics embedded in the full K x K position grid, stacked
        over patterns: (P, K*K, p*p), (P, K, K, p), (P, K, K), (P,).
    by_size : tuple
        ``(pattern numbers, position matrix)`` per pattern size, for batched
        Cholesky factorisations.
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
    Tt: np.ndarray
    Ut: np.ndarray
    Yyt: np.ndarray
    npat: np.ndarray
    by_size: tuple


def build_long_data(y, X, subject_codes, positions, t) -> LongData:
    """Group rows into missingness patterns and compute sufficient statistics.

    Parameters
    ----------
    y : array (n,)
        Outcome, no missing values.
    X : array (n, p)
    subject_codes : array (n,) of int
    positions : array (n,) of int in ``0..K-1``, distinct within a subject
    t : array (K,)
        Numeric value of each position.
    """
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    subject_codes = np.asarray(subject_codes)
    positions = np.asarray(positions, int)
    K, p = len(t), X.shape[1]
    order = np.lexsort((positions, subject_codes))
    s_sorted = subject_codes[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    groups: dict[tuple, list[np.ndarray]] = {}
    for a, b in zip(starts, ends):
        r = order[a:b]
        key = tuple(positions[r].tolist())
        if len(set(key)) != len(key):
            raise ValueError("a patient has two rows at the same position (visit/time); positions must be distinct")
        groups.setdefault(key, []).append(r)
    pats = []
    P = len(groups)
    Tt = np.zeros((P, K, K, p, p))
    Ut = np.zeros((P, K, K, p))
    Yyt = np.zeros((P, K, K))
    npat = np.zeros(P)
    sizes: dict[int, list[int]] = {}
    for i, (key, lst) in enumerate(groups.items()):
        rows = np.stack(lst)
        Xp = X[rows]
        yp = y[rows]
        idx = np.array(key, int)
        pat = Pattern(
            idx=idx, rows=rows, X=Xp, y=yp,
            T=np.einsum("nkp,nlq->klpq", Xp, Xp, optimize=True),
            U=np.einsum("nkp,nl->klp", Xp, yp, optimize=True),
            Yy=yp.T @ yp,
        )
        pats.append(pat)
        ix = np.ix_(idx, idx)
        Tt[i][ix] = pat.T
        Ut[i][ix] = pat.U
        Yyt[i][ix] = pat.Yy
        npat[i] = pat.n
        sizes.setdefault(len(idx), []).append(i)
    by_size = tuple((np.array(v), np.stack([pats[j].idx for j in v])) for v in sizes.values())
    return LongData(tuple(pats), K, np.asarray(t, float), len(y), len(starts), p, X, y, subject_codes,
                    Tt.reshape(P, K * K, p * p), Ut, Yyt, npat, by_size)


@dataclass
class Evaluation:
    """Quantities at one covariance value, reused by gradient and inference."""

    value: float
    beta: np.ndarray
    M: np.ndarray  # X'V^-1X
    Minv: np.ndarray
    Vemb: np.ndarray  # (P, K, K): each pattern's V^-1 embedded in the position grid
    patterns: tuple = ()
    ok: bool = True

    @property
    def Vinv(self) -> list:
        """Per-pattern V^-1 (k x k), in pattern order."""
        return [self.Vemb[i][np.ix_(pat.idx, pat.idx)] for i, pat in enumerate(self.patterns)]


def evaluate(data: LongData, S: np.ndarray, nugget: float, reml: bool) -> Evaluation:
    """-2 (restricted) log-likelihood at covariance ``S`` (K x K) plus ``nugget``."""
    p, K = data.p, data.K
    P = len(data.patterns)
    Vemb = np.zeros((P, K, K))
    logdet = 0.0
    bad = Evaluation(np.inf, np.full(p, np.nan), np.zeros((p, p)), np.zeros((p, p)), Vemb, data.patterns, ok=False)
    for pids, IDX in data.by_size:
        k = IDX.shape[1]
        V = S[IDX[:, :, None], IDX[:, None, :]]
        if nugget:
            V = V + nugget * np.eye(k)
        try:
            L = np.linalg.cholesky(V)
        except np.linalg.LinAlgError:
            return bad
        d = np.diagonal(L, axis1=1, axis2=2)
        if not np.all(np.isfinite(d)) or np.any(d <= 0):
            return bad
        logdet += float(np.sum(data.npat[pids] * 2.0 * np.sum(np.log(d), axis=1)))
        Li = np.linalg.inv(L)
        Vemb[pids[:, None, None], IDX[:, :, None], IDX[:, None, :]] = np.swapaxes(Li, 1, 2) @ Li
    flat = Vemb.reshape(-1)
    M = (flat @ data.Tt.reshape(-1, p * p)).reshape(p, p)
    M = 0.5 * (M + M.T)
    b = flat @ data.Ut.reshape(-1, p)
    yVy = float(flat @ data.Yyt.reshape(-1))
    try:
        cm = linalg.cho_factor(M, lower=True, check_finite=False)
    except (linalg.LinAlgError, ValueError):
        return bad
    if not np.all(np.isfinite(cm[0])):
        return bad
    beta = linalg.cho_solve(cm, b, check_finite=False)
    Minv = linalg.cho_solve(cm, np.eye(p), check_finite=False)
    rVr = yVy - float(b @ beta)
    n = data.n_obs
    if reml:
        val = (n - p) * LOG2PI + logdet + 2.0 * np.sum(np.log(np.diag(cm[0]))) + rVr
    else:
        val = n * LOG2PI + logdet + rVr
    return Evaluation(float(val), beta, M, Minv, Vemb, data.patterns)


def gradient_weights(data: LongData, ev: Evaluation, reml: bool) -> tuple[np.ndarray, float]:
    """G (K x K) and tr-sum such that d(-2l)/dpsi_a = sum(G * dS_a) + dnugget_a * trG."""
    P, K = len(data.patterns), data.K
    beta = ev.beta
    Ub = data.Ut @ beta  # (P, K, K): sum_i (X_ik beta) y_il
    TB = (data.Tt @ np.outer(beta, beta).reshape(-1)).reshape(P, K, K)
    RR = data.Yyt - Ub - np.swapaxes(Ub, 1, 2) + TB
    if reml:
        RR = RR + (data.Tt @ ev.Minv.reshape(-1)).reshape(P, K, K)
    Vi = ev.Vemb
    Gp = data.npat[:, None, None] * Vi - Vi @ RR @ Vi
    G = Gp.sum(axis=0)
    return G, float(np.trace(G))


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
