"""Analytic second derivatives of -2 log L for the pattern-grouped Gaussian core.

For covariance parameters ``a, b`` with ``V_a = dV/da`` (here ``D[a]``, the
derivative of the position-grid covariance plus nugget), ``P = V^-1 - V^-1 X
Phi X' V^-1`` (REML; ``V^-1`` for ML), ``u = P y = V^-1 r`` and
``g_a = X'V^-1 V_a u``, the Hessian of -2 log L (REML; ML with beta profiled
out) is

    H_ab = -tr(P V_a P V_b) + 2 y'P V_a P V_b P y + [sum G * V_ab]
         = -E_ab + 2 A_ab + C_ab,

the expected Hessian (twice the Fisher information of -log L) is
``E_ab = tr(P V_a P V_b)``, and the average information (SAS's and lme4's
"AI") is ``A_ab``. ``C`` carries the second derivatives of V (zero when V is
linear in the parameters: us, cs, toep, ind, ri, ris in their natural
parameters) weighted by the gradient matrix ``G`` of
:func:`~longmod.engines.core.likelihood.gradient_weights`.

Every trace is a quadratic form in ``vec(V_a)``: with ``V_p`` each pattern's
V^-1 (embedded in the K x K position grid),
``tr(V_a V_p V_b X_p) = vec(V_a)' (X_p kron V_p) vec(V_b)``, so

* ``E1 - 2 E2 + 2 A1`` (the pattern-separable parts) = ``D' [sum_p X_p kron V_p] D``
  with ``X_p = -n_p V_p + 2 Q_p + 2 R_p`` (observed) or ``n_p V_p - 2 Q_p`` (expected),
  where ``R_p = V_p (sum r r') V_p`` and ``Q_p = V_p (sum X Phi X') V_p``;
* ``E3 = tr(Phi P_a Phi P_b)`` and ``g' Phi g`` need ``P_a = X'V^-1 V_a V^-1 X =
  sum_ij V_a[i,j] Zx[i,j]`` with ``Zx[i,j] = sum_subjects (V^-1 X)_i' (V^-1 X)_j``
  (one K p x K p product).

Costs: O(P K^4 + q K^4 + q^2 K^2) for the Kronecker part and O(n K^2 p^2) (rows) or
O(P K^3 p^2) (sufficient statistics) for ``Zx`` -- no finite differences.
"""

from __future__ import annotations

import numpy as np

from longmod.engines.core.likelihood import Evaluation, LongData, residual_moments


def _two_sided(Vs: np.ndarray, A: np.ndarray) -> np.ndarray:
    """sum_p sum_kl Vs[p,i,k] Vs[p,j,l] A[p,k,l,...] -> (K, K, ...).

    One pattern at a time: the temporaries stay at K^2 p^2 (not Ps K^2 p^2), whose fresh
    allocation (page faults) cost more than the products themselves (measured 4x).
    """
    Ps, K = Vs.shape[:2]
    rest = A.shape[3:]
    r = int(np.prod(rest)) if rest else 1
    Z = np.zeros((K, K, r))
    for q in range(Ps):
        A1 = (Vs[q] @ A[q].reshape(K, K * r)).reshape(K, K, r)  # [i, l, x]
        Z += np.matmul(Vs[q], A1)  # [i, j, x] = sum_l Vs[q, j, l] A1[i, l, x]
    return Z.reshape((K, K) + rest)


def zx_moments(data: LongData, ev: Evaluation) -> tuple[np.ndarray, np.ndarray]:
    """``Zx`` (K, K, p, p) and ``gz`` (K, K, p) such that ``P_a = sum V_a * Zx`` and ``g_a = sum V_a * gz``.

    ``Zx[i,j] = sum_s (V^-1 X_s)[i]' (V^-1 X_s)[j]``, ``gz[i,j] = sum_s (V^-1 X_s)[i] (V^-1 r_s)[j]``.
    Cached on ``ev``.
    """
    if "Zx" in ev.cache:
        return ev.cache["Zx"]
    K, p = data.K, data.p
    Zx = np.zeros((K, K, p, p))
    gz = np.zeros((K, K, p))
    if len(data.stat):
        Vs = ev.Vemb[data.stat]
        T = data.T.reshape(-1, K, K, p, p)
        Zx += _two_sided(Vs, T)
        Ur = data.U.reshape(-1, K, K, p) - T @ ev.beta
        gz += _two_sided(Vs, Ur)
    if len(data.raw_pat):
        W = ev.W
        Wf = W.reshape(len(W), K * p)
        Zx += (Wf.T @ Wf).reshape(K, p, K, p).transpose(0, 2, 1, 3)
        u = ev.Vy - W @ ev.beta
        gz += np.tensordot(W, u, axes=(0, 0)).transpose(0, 2, 1)
    ev.cache["Zx"] = (Zx, gz)
    return Zx, gz


def _full(dS: np.ndarray, dn: np.ndarray) -> np.ndarray:
    """dV over the position grid: dS_a + dnugget_a I (the identity is cut to each pattern by V_p)."""
    dS = np.asarray(dS, float)
    if dn is None or not np.any(dn):
        return dS
    return dS + np.asarray(dn, float)[:, None, None] * np.eye(dS.shape[1])[None]


def p_matrices(data: LongData, ev: Evaluation, dS: np.ndarray, dn: np.ndarray | None = None) -> np.ndarray:
    """``P_a = X'V^-1 V_a V^-1 X`` for every parameter: (q, p, p)."""
    D = _full(dS, dn)
    Zx, _ = zx_moments(data, ev)
    K, p = data.K, data.p
    return (D.reshape(len(D), K * K) @ Zx.reshape(K * K, p * p)).reshape(len(D), p, p)


def _kron_form(V: np.ndarray, X: np.ndarray, D: np.ndarray) -> np.ndarray:
    """``H_ab = sum_p tr(D_a V_p D_b X_p)`` for symmetric D, V_p, X_p."""
    P, K = V.shape[:2]
    T = (V.reshape(P, K * K).T @ X.reshape(P, K * K)).reshape(K, K, K, K)  # [j, k, l, i]
    T = T.transpose(3, 0, 1, 2).reshape(K * K, K * K)  # [(i, j), (k, l)]
    Df = D.reshape(len(D), K * K)
    H = Df @ T @ Df.T
    return 0.5 * (H + H.T)


def information(data: LongData, ev: Evaluation, dS: np.ndarray, dn: np.ndarray | None, reml: bool,
                C: np.ndarray | None = None, kinds: tuple[str, ...] = ("observed", "expected")) -> dict[str, np.ndarray]:
    """Observed and/or expected Hessian of -2 log L with respect to parameters with ``dV = dS + dn I``.

    Parameters
    ----------
    dS, dn : numpy.ndarray (q, K, K) and (q,)
        Derivatives of the position-grid covariance and of the nugget.
    C : numpy.ndarray (q, q), optional
        ``sum G * d2V_ab`` (second-derivative term of the observed Hessian); zero when omitted.
    kinds : tuple of {"observed", "expected", "average"}

    Returns
    -------
    dict
        kind -> (q, q) matrix; ``"P"`` -> (q, p, p) and ``"g"`` -> (q, p) as by-products.

    Examples
    --------
    With ``V = s R`` the derivative at ``s = 1`` is ``V`` itself, and ``tr(P V P V) = n - p``:

    >>> import numpy as np
    >>> from longmod.engines.core.likelihood import build_long_data, evaluate
    >>> y = np.array([1.0, 2.0, 0.5, 1.5, 2.5, 1.0])
    >>> d = build_long_data(y, np.ones((6, 1)), np.repeat([0, 1, 2], 2), np.tile([0, 1], 3), np.array([1.0, 2.0]))
    >>> S = np.array([[1.0, 0.3], [0.3, 1.0]])
    >>> ev = evaluate(d, S, 0.0, True)
    >>> H = information(d, ev, S[None], np.zeros(1), True, kinds=("expected",))["expected"]
    >>> round(float(H[0, 0]), 10)
    5.0
    """
    D = _full(dS, dn)
    V = ev.Vemb
    npat = data.npat[:, None, None]
    R, Q = residual_moments(data, ev, reml)
    P = p_matrices(data, ev, D)
    _, gz = zx_moments(data, ev)
    q, K = len(D), data.K
    g = D.reshape(q, K * K) @ gz.reshape(K * K, data.p)
    MP = np.matmul(ev.Minv, P)
    E3 = (MP.reshape(q, -1) @ np.swapaxes(MP, 1, 2).reshape(q, -1).T) if reml else np.zeros((q, q))
    gMg = g @ ev.Minv @ g.T
    out: dict[str, np.ndarray] = {"P": P, "g": g}
    if "observed" in kinds:
        H = _kron_form(V, -npat * V + 2.0 * Q + 2.0 * R, D) - E3 - 2.0 * gMg
        if C is not None:
            H = H + C
        out["observed"] = 0.5 * (H + H.T)
    if "expected" in kinds:
        E = _kron_form(V, npat * V - 2.0 * Q, D) + E3
        out["expected"] = 0.5 * (E + E.T)
    if "average" in kinds:
        A = _kron_form(V, R, D) - gMg
        out["average"] = 0.5 * (A + A.T)
    return out


def kr_sums(data: LongData, ev: Evaluation, dS: np.ndarray, dn: np.ndarray | None, W: np.ndarray,
            D2S: np.ndarray | None = None, D2n: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Kenward-Roger's ``sum_ab W_ab Q_ab`` and ``sum_ab W_ab R_ab``.

    ``Q_ab = X'V^-1 V_a V^-1 V_b V^-1 X``, ``R_ab = X'V^-1 V_ab V^-1 X``; ``D2S`` and
    ``D2n`` are ``sum_ab W_ab d2S_ab`` (K x K) and ``sum_ab W_ab d2nugget_ab``, or None
    (linear covariance / KR-linear).
    """
    D = _full(dS, dn)
    D2 = None if D2S is None else np.asarray(D2S, float) + D2n * np.eye(data.K)
    K, p = data.K, data.p
    q = len(D)
    Df = D.reshape(q, K * K)
    T5 = (Df.T @ (W @ Df)).reshape(K, K, K, K)  # [k, m, n, l] = sum_ab W_ab D_a[k,m] D_b[n,l]
    T5 = T5.transpose(1, 2, 0, 3).reshape(K * K, K * K)  # [(m, n), (k, l)]
    V = ev.Vemb
    Xi = (V.reshape(len(V), K * K) @ T5).reshape(len(V), K, K)  # sum_ab W_ab D_a V_p D_b
    Qsum = np.zeros((p, p))
    if len(data.stat):
        Vs = V[data.stat]
        Y = Vs @ Xi[data.stat] @ Vs
        Qsum += (Y.reshape(-1) @ data.T.reshape(-1, p * p)).reshape(p, p)
    if len(data.raw_pat):
        XW = np.matmul(Xi[data.raw_pat], ev.W)
        Qsum += ev.W.reshape(-1, p).T @ XW.reshape(-1, p)
    Rsum = np.zeros((p, p))
    if D2 is not None:
        Zx, _ = zx_moments(data, ev)
        Rsum = (D2.reshape(-1) @ Zx.reshape(K * K, p * p)).reshape(p, p)
    return 0.5 * (Qsum + Qsum.T), 0.5 * (Rsum + Rsum.T)


def sandwich_meat(data: LongData, ev: Evaluation) -> np.ndarray:
    """``sum_i X_i'V_i^-1 r_i r_i'V_i^-1 X_i`` (the CR0 meat)."""
    p = data.p
    meat = np.zeros((p, p))
    raw = np.zeros(len(data.npat), bool)
    raw[data.raw_pat] = True
    for i, pat in enumerate(data.patterns):
        if raw[i]:
            continue
        Vi = ev.Vemb[i][np.ix_(pat.idx, pat.idx)]
        Xp = data.X[pat.rows]
        r = data.y[pat.rows] - Xp @ ev.beta
        s = np.einsum("nkp,nk->np", Xp, r @ Vi)
        meat += s.T @ s
    if len(data.raw_pat):
        u = ev.Vy - ev.W @ ev.beta
        s = np.einsum("nkp,nk->np", data.Xr, u)
        meat += s.T @ s
    return meat
