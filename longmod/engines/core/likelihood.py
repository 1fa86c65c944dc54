"""Gaussian (RE)ML for y_i ~ N(X_i b, V_i) with block-diagonal V, by missingness pattern.

Patients are grouped by the positions they were observed at. Within a pattern
every patient shares V_i, so each pattern's V is factorised once per
evaluation (all patterns in one batched Cholesky: each V is embedded in the
K x K position grid with an identity block on the positions not observed).
The data enter in one of two forms, chosen per pattern by the cost of an
evaluation:

* **sufficient statistics** for patterns with many patients, computed once:
  ``T[k,l,p,q] = sum_i X_ik,p X_il,q``, ``U[k,l,p] = sum_i X_ik,p y_il``,
  ``Yy[k,l] = sum_i y_ik y_il``; an evaluation costs O(K^2 p^2) per pattern,
  whatever the number of its patients;
* **rows** (each patient's X and y embedded in the position grid, zeros where
  not observed) for patterns with few patients, where the statistics would cost
  more than the rows (many visits make most patterns rare: 20 visits with
  intermittent missingness give nearly one pattern per patient).

-2 log-likelihood (with constants, as SAS / nlme / mmrm):
ML = n log(2 pi) + log|V| + r'V^-1 r;
REML = (n-p) log(2 pi) + log|V| + log|X'V^-1 X| + r'V^-1 r.
The gradient with respect to any covariance parameterisation is analytic
given dV (see :func:`objective`); second derivatives are in
:mod:`longmod.engines.core.information`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

LOG2PI = float(np.log(2 * np.pi))
#: A pattern is kept as sufficient statistics when it has more patients than
#: ``STAT_FACTOR * K p / (K + p)`` (the cost of its rows then exceeds the statistics').
STAT_FACTOR = 2.0
#: Memory cap of the stacked sufficient statistics (bytes); rarer patterns fall back to rows.
STAT_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Pattern:
    """Patients sharing one set of observed positions."""

    idx: np.ndarray  # positions (K-index) of the k observations, in row order
    rows: np.ndarray  # (n_p, k) row numbers into the fitted data

    @property
    def n(self) -> int:
        return self.rows.shape[0]


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
    X, y : numpy.ndarray
        The fitted rows.
    subject_of_row : numpy.ndarray
        Integer subject code per fitted row.
    npat : numpy.ndarray (P,)
        Patients per pattern.
    mask : numpy.ndarray (P, K) of bool
        Positions observed in each pattern.
    stat : numpy.ndarray (Ps,)
        Patterns kept as sufficient statistics; ``T`` (Ps, K*K, p*p), ``U`` (Ps, K*K, p)
        and ``Yy`` (Ps, K*K) hold them in the position grid.
    raw_pat : numpy.ndarray (nr,)
        Pattern of each patient kept as rows (sorted by pattern), with ``Xr`` (nr, K, p)
        and ``yr`` (nr, K) embedded in the grid; ``raw_groups``/``raw_starts`` segment
        them by pattern.
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
    npat: np.ndarray
    mask: np.ndarray
    stat: np.ndarray
    T: np.ndarray
    U: np.ndarray
    Yy: np.ndarray
    raw_pat: np.ndarray
    Xr: np.ndarray
    yr: np.ndarray
    raw_groups: np.ndarray
    raw_starts: np.ndarray

    @cached_property
    def mask2(self) -> np.ndarray:
        """(P, K, K): both positions observed."""
        return self.mask[:, :, None] & self.mask[:, None, :]

    def position_of_row(self) -> np.ndarray:
        """Position (0..K-1) of every fitted row."""
        pos = np.zeros(self.n_obs, int)
        for pat in self.patterns:
            pos[pat.rows] = pat.idx[None, :]
        return pos


def _subject_patterns(subject_codes, positions, K):
    """Observed-position mask per subject, pattern number per subject, rows sorted by (pattern, subject, position)."""
    subj_ids, s = np.unique(subject_codes, return_inverse=True)
    n = len(subj_ids)
    flat = s * K + positions
    if len(np.unique(flat)) != len(flat):
        raise ValueError("a patient has two rows at the same position (visit/time); positions must be distinct")
    m = np.zeros((n, K), bool)
    m[s, positions] = True
    masks, pat_of_subj = np.unique(m, axis=0, return_inverse=True)
    pat_of_subj = pat_of_subj.ravel()
    order = np.lexsort((positions, s, pat_of_subj[s]))
    return s, masks, pat_of_subj, order


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

    Examples
    --------
    >>> import numpy as np
    >>> d = build_long_data(np.arange(5.0), np.ones((5, 1)), np.array([0, 0, 1, 1, 2]),
    ...                     np.array([0, 1, 0, 1, 1]), np.array([1.0, 2.0]))
    >>> d.npat.tolist(), d.mask.tolist(), d.n_subjects
    ([1, 2], [[False, True], [True, True]], 3)
    """
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    positions = np.asarray(positions, int)
    K, p = len(t), X.shape[1]
    s, masks, pat_of_subj, order = _subject_patterns(np.asarray(subject_codes), positions, K)
    P = len(masks)
    npat = np.bincount(pat_of_subj, minlength=P)
    k_of = masks.sum(axis=1)
    ends = np.cumsum(npat * k_of)
    starts = ends - npat * k_of
    patterns = tuple(Pattern(np.flatnonzero(masks[i]), order[starts[i]:ends[i]].reshape(npat[i], k_of[i]))
                     for i in range(P))
    threshold = STAT_FACTOR * K * p / (K + p)
    cand = np.flatnonzero(npat > threshold)
    cand = cand[np.argsort(-npat[cand], kind="stable")][: max(0, int(STAT_BYTES // (8 * K * K * (p * p + p + 1))))]
    stat = np.sort(cand)
    T = np.zeros((len(stat), K, K, p, p))
    U = np.zeros((len(stat), K, K, p))
    Yy = np.zeros((len(stat), K, K))
    for j, i in enumerate(stat):
        pat = patterns[i]
        k = len(pat.idx)
        Xp, yp = X[pat.rows], y[pat.rows]
        Tk = (Xp.reshape(pat.n, k * p).T @ Xp.reshape(pat.n, k * p)).reshape(k, p, k, p).transpose(0, 2, 1, 3)
        ix = np.ix_(pat.idx, pat.idx)
        T[j][ix] = Tk
        U[j][ix] = np.einsum("nkp,nl->klp", Xp, yp, optimize=True)
        Yy[j][ix] = yp.T @ yp
    raw_mask = np.ones(P, bool)
    raw_mask[stat] = False
    raw_rows = np.concatenate([patterns[i].rows.ravel() for i in np.flatnonzero(raw_mask)] or [np.zeros(0, int)])
    raw_pat = np.sort(pat_of_subj[np.isin(pat_of_subj, np.flatnonzero(raw_mask))], kind="stable")
    nr = len(raw_pat)
    Xr = np.zeros((nr, K, p))
    yr = np.zeros((nr, K))
    if nr:
        local = np.repeat(np.arange(nr), k_of[raw_pat])
        Xr[local, positions[raw_rows]] = X[raw_rows]
        yr[local, positions[raw_rows]] = y[raw_rows]
    groups, gstart = np.unique(raw_pat, return_index=True)
    return LongData(patterns, K, np.asarray(t, float), len(y), int(npat.sum()), p, X, y,
                    np.asarray(subject_codes), npat, masks, stat, T.reshape(len(stat), K * K, p * p),
                    U.reshape(len(stat), K * K, p), Yy.reshape(len(stat), K * K), raw_pat, Xr, yr, groups, gstart)


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
    W: np.ndarray | None = None  # (nr, K, p): V^-1 X of the patients kept as rows
    Vy: np.ndarray | None = None  # (nr, K): V^-1 y of the patients kept as rows
    cache: dict = field(default_factory=dict)

    @property
    def Vinv(self) -> list:
        """Per-pattern V^-1 (k x k), in pattern order."""
        return [self.Vemb[i][np.ix_(pat.idx, pat.idx)] for i, pat in enumerate(self.patterns)]


def _gls(M: np.ndarray, b: np.ndarray, yVy: float):
    """GLS pieces from X'V^-1X, X'V^-1y, y'V^-1y: beta, (X'V^-1X)^-1, log|X'V^-1X|, r'V^-1r (None if not PD)."""
    try:
        Lm = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return None
    d = np.diag(Lm)
    if not np.all(np.isfinite(Lm)) or np.any(d <= 0):
        return None
    Li = np.linalg.inv(Lm)
    Minv = Li.T @ Li
    beta = Minv @ b
    return beta, Minv, 2.0 * float(np.sum(np.log(d))), yVy - float(b @ beta)


def _bad(data: LongData) -> Evaluation:
    p = data.p
    return Evaluation(np.inf, np.full(p, np.nan), np.zeros((p, p)), np.zeros((p, p)),
                      np.zeros((len(data.npat), data.K, data.K)), data.patterns, ok=False)


def evaluate(data: LongData, S: np.ndarray, nugget: float, reml: bool) -> Evaluation:
    """-2 (restricted) log-likelihood at covariance ``S`` (K x K) plus ``nugget``.

    Examples
    --------
    Independent unit-variance observations: -2 log L = n log(2 pi) + r'r.

    >>> import numpy as np
    >>> y = np.array([1.0, 2.0, 0.0, 3.0])
    >>> d = build_long_data(y, np.ones((4, 1)), np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), np.array([1.0, 2.0]))
    >>> ev = evaluate(d, np.eye(2), 0.0, reml=False)
    >>> bool(np.isclose(ev.value, 4 * np.log(2 * np.pi) + np.sum((y - y.mean()) ** 2))), float(ev.beta[0])
    (True, 1.5)
    """
    p, K = data.p, data.K
    mask2 = data.mask2
    V = np.where(mask2, S, 0.0)
    di = np.arange(K)
    V[:, di, di] += np.where(data.mask, nugget, 1.0)
    try:
        L = np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        return _bad(data)
    d = np.diagonal(L, axis1=1, axis2=2)
    if not np.all(np.isfinite(d)) or np.any(d <= 0):
        return _bad(data)
    logdet = float(data.npat @ (2.0 * np.sum(np.log(d), axis=1)))
    Li = np.linalg.inv(L)
    Vemb = np.matmul(np.swapaxes(Li, 1, 2), Li) * mask2
    M = np.zeros((p, p))
    b = np.zeros(p)
    yVy = 0.0
    if len(data.stat):
        flat = Vemb[data.stat].reshape(-1)
        M += (flat @ data.T.reshape(-1, p * p)).reshape(p, p)
        b += flat @ data.U.reshape(-1, p)
        yVy += float(flat @ data.Yy.reshape(-1))
    W = Vy = None
    if len(data.raw_pat):
        Vr = Vemb[data.raw_pat]
        W = np.matmul(Vr, data.Xr)
        Vy = np.matmul(Vr, data.yr[:, :, None])[:, :, 0]
        Xf = data.Xr.reshape(-1, p)
        M += Xf.T @ W.reshape(-1, p)
        b += Xf.T @ Vy.reshape(-1)
        yVy += float(data.yr.reshape(-1) @ Vy.reshape(-1))
    M = 0.5 * (M + M.T)
    gls = _gls(M, b, yVy)
    if gls is None:
        return _bad(data)
    beta, Minv, logdetM, rVr = gls
    n = data.n_obs
    if reml:
        val = (n - p) * LOG2PI + logdet + logdetM + rVr
    else:
        val = n * LOG2PI + logdet + rVr
    return Evaluation(float(val), beta, M, Minv, Vemb, data.patterns, True, W, Vy)


def _reduce_raw(data: LongData, A: np.ndarray) -> np.ndarray:
    """Sum per-patient (nr, ...) arrays within each pattern -> (P, ...)."""
    out = np.zeros((len(data.npat),) + A.shape[1:])
    if len(A):
        out[data.raw_groups] = np.add.reduceat(A, data.raw_starts, axis=0)
    return out


def residual_moments(data: LongData, ev: Evaluation, reml: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per pattern, ``R_p = V^-1 (sum_i r_i r_i') V^-1`` and ``Q_p = V^-1 (sum_i X_i Phi X_i') V^-1`` (P, K, K).

    ``Q`` is zero for ML. Cached on ``ev``.
    """
    key = ("RQ", reml)
    if key in ev.cache:
        return ev.cache[key]
    P, K, p = len(data.npat), data.K, data.p
    beta, Vemb = ev.beta, ev.Vemb
    R = np.zeros((P, K, K))
    Q = np.zeros((P, K, K))
    if len(data.stat):
        Vs = Vemb[data.stat]
        Ub = (data.U @ beta).reshape(-1, K, K)
        vecs = np.stack([np.outer(beta, beta).reshape(-1), ev.Minv.reshape(-1)], axis=1)
        TB = (data.T @ vecs).reshape(-1, K, K, 2)
        RR = data.Yy.reshape(-1, K, K) - Ub - np.swapaxes(Ub, 1, 2) + TB[..., 0]
        R[data.stat] = Vs @ RR @ Vs
        if reml:
            Q[data.stat] = Vs @ TB[..., 1] @ Vs
    if len(data.raw_pat):
        u = ev.Vy - ev.W @ beta
        R += _reduce_raw(data, u[:, :, None] * u[:, None, :])
        if reml:
            WL = ev.W @ np.linalg.cholesky(ev.Minv)
            Q += _reduce_raw(data, WL @ np.swapaxes(WL, 1, 2))
    ev.cache[key] = (R, Q)
    return R, Q


def gradient_weights(data: LongData, ev: Evaluation, reml: bool) -> tuple[np.ndarray, float]:
    """G (K x K) and tr-sum such that d(-2l)/dpsi_a = sum(G * dS_a) + dnugget_a * trG."""
    R, Q = residual_moments(data, ev, reml)
    G = np.tensordot(data.npat, ev.Vemb, axes=1) - R.sum(axis=0) - Q.sum(axis=0)
    return G, float(np.trace(G))


def objective(data, sigma_fn, jac_fn, x: np.ndarray, reml: bool):
    """-2 log-likelihood and its gradient in the parameterisation of ``sigma_fn``.

    Works for both data layouts (:class:`LongData` and the per-subject
    :class:`longmod.engines.core.woodbury.SubjectData`).

    Parameters
    ----------
    sigma_fn : callable
        ``sigma_fn(x) -> (S, nugget)``.
    jac_fn : callable
        ``jac_fn(x) -> (dS (q,K,K), dnugget (q,))``.

    Examples
    --------
    V = s I: the ML gradient in s vanishes at s = r'r / n.

    >>> import numpy as np
    >>> y = np.array([1.0, 2.0, 0.0, 3.0])
    >>> d = build_long_data(y, np.ones((4, 1)), np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), np.array([1.0, 2.0]))
    >>> sig = lambda x: (x[0] * np.eye(2), 0.0)
    >>> jac = lambda x: (np.eye(2)[None], np.zeros(1))
    >>> v, g, ev = objective(d, sig, jac, np.array([np.sum((y - 1.5) ** 2) / 4]), reml=False)
    >>> abs(float(g[0])) < 1e-12
    True
    """
    from longmod.engines.core import woodbury

    ev_fn, gw_fn = (woodbury.evaluate, woodbury.gradient_weights) if isinstance(data, woodbury.SubjectData) \
        else (evaluate, gradient_weights)
    S, nug = sigma_fn(x)
    ev = ev_fn(data, np.real(np.asarray(S, dtype=complex)), float(np.real(nug)), reml)
    if not ev.ok or not np.isfinite(ev.value):
        return np.inf, np.zeros(len(x)), ev
    G, trG = gw_fn(data, ev, reml)
    dS, dn = jac_fn(x)
    grad = np.einsum("akl,kl->a", dS, G) + dn * trG
    return ev.value, grad, ev
