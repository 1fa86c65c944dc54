"""Per-subject (Woodbury) layout of the Gaussian core for random-effects structures.

For ``V_i = Z_i G Z_i' + s2 I`` (``Z_i`` = polynomial in the patient's own
times: ``[1]`` for ``ri``, ``[1, t]`` for ``ris``) nothing needs a grid of
positions: with ``G = L L'`` and ``B_i = s2 I + L'Z_i'Z_i L`` (r x r),

    V_i^-1 = (I - Z_i H_i Z_i') / s2,  H_i = L B_i^-1 L',
    log|V_i| = (n_i - r) log s2 + log|B_i|,

so the likelihood, its gradient and its Hessian need only, per patient,
``Z_i'Z_i`` and ``Z_i'[X_i y_i]`` (computed once), and the global ``[X y]'[X y]``.
An evaluation costs O(n_patients r^2 (p + 1)) whatever the times: irregular
measurement times (a time per patient) are as cheap as a visit grid. Powers
of ``V_i^-1`` follow from ``(I - Z Q_m Z')`` with ``Q_1 = H``,
``Q_{m+1} = Q_m + H - Q_m Z'Z H``.

The structure is read from the covariance table itself: ``G`` is recovered
from the structure's covariance at ``r`` probe times ``t0 = 0..r-1``
(``G = A S(t0) A'``, ``A = Z(t0)^-1``), after checking that the structure is
exactly of this form at other times (:func:`re_design`), so derivatives with
respect to any parameterisation come from the same ``sigma`` functions as in
the pattern layout. Formulas of the Hessian: see
:mod:`longmod.engines.core.information` (same decomposition, with ``dV_a =
Z dG_a Z' + ds2_a I``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
from longmod.engines.core.likelihood import LOG2PI, _gls

#: More distinct times than this: the covariance matrix reported for display is over time quantiles.
MAX_DISPLAY_TIMES = 200


def re_design(s) -> tuple[int, np.ndarray, np.ndarray] | None:
    """``(r, t0, A)`` when structure ``s`` is ``Z G Z' + nugget I`` with Z = [1, t, ..., t^(r-1)], else None.

    Examples
    --------
    >>> from longmod.engines.core.covariance import get_structure
    >>> [re_design(get_structure(n))[0] for n in ("ri", "ris")], re_design(get_structure("ar1"))
    ([1, 2], None)
    """
    if s.kind != "re":
        return None
    th0 = np.asarray(s.start(np.array([1.0, 1.3, 0.7])), float)
    th0 = th0 + 0.1 * np.sin(np.arange(len(th0)) + 1.0)
    tt = np.array([-1.3, 0.0, 0.4, 2.5, 7.0])
    for r in (1, 2, 3):
        t0 = np.arange(r, dtype=float)
        phi = np.real(s.to_phi(th0.astype(complex), r))
        S0, n0 = s.sigma(phi, t0)
        A = np.linalg.inv(np.vander(t0, r, increasing=True))
        G = A @ np.real(S0) @ A.T
        St, nt = s.sigma(phi, tt)
        Zt = np.vander(tt, r, increasing=True)
        if np.allclose(np.real(St), Zt @ G @ Zt.T, rtol=1e-9, atol=1e-12) and np.isclose(float(np.real(nt)), float(np.real(n0))):
            return r, t0, A
    return None


@dataclass(frozen=True)
class SubjectData:
    """Per-patient sufficient statistics for ``V_i = Z_i G Z_i' + s2 I``.

    ``K``/``t`` are the structure's probe positions (``r`` of them), so
    ``sigma(phi, t)`` gives ``S(t0)`` and ``G = A S A'``. Per-patient arrays keep
    the patient as their last axis (``(r, r, n)``, ``(r, p + 1, n)``), so that the
    small r x r algebra runs as a few vector operations over all patients.
    """

    n_obs: int
    n_subjects: int
    p: int
    X: np.ndarray
    y: np.ndarray
    subject_of_row: np.ndarray
    K: int
    t: np.ndarray
    A: np.ndarray
    ni: np.ndarray  # (n,)
    ZtZ: np.ndarray  # (r, r, n)
    ZtXa: np.ndarray  # (r, p + 1, n): Z_i'[X_i y_i]
    XatXa: np.ndarray  # (p + 1, p + 1)
    order: np.ndarray  # rows sorted by subject
    starts: np.ndarray  # first sorted row of each subject
    times: np.ndarray  # time of each fitted row

    def display_grid(self) -> tuple[np.ndarray, list[str]]:
        """Positions over which a covariance matrix is shown (not used in the fit).

        Row order 1..max rows per patient when V does not depend on time (``ri``);
        else the distinct times, or 11 time quantiles (0, 10, ..., 100%) when there
        are more than :data:`MAX_DISPLAY_TIMES`.
        """
        if self.K == 1:
            k = int(self.ni.max()) if len(self.ni) else 1
            return np.arange(1.0, k + 1), [str(j + 1) for j in range(k)]
        u = np.unique(self.times)
        if len(u) > MAX_DISPLAY_TIMES:
            u = np.quantile(self.times, np.linspace(0.0, 1.0, 11))
        return u, [f"{x:g}" for x in u]


def build_subject_data(y, X, subject_codes, times, s) -> SubjectData | None:
    """Per-patient statistics for structure ``s``; None when ``s`` is not of the ``Z G Z' + s2 I`` form.

    Examples
    --------
    >>> import numpy as np
    >>> from longmod.engines.core.covariance import get_structure
    >>> d = build_subject_data(np.arange(5.0), np.ones((5, 1)), np.array([0, 0, 1, 1, 1]),
    ...                        np.array([0.0, 1.5, 0.2, 0.9, 3.0]), get_structure("ris"))
    >>> d.n_subjects, d.ni.tolist(), d.ZtZ[:, :, 1].tolist()
    (2, [2, 3], [[3.0, 4.1], [4.1, 9.85]])
    """
    des = re_design(s)
    if des is None:
        return None
    r, t0, A = des
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    times = np.asarray(times, float)
    subj = np.asarray(subject_codes)
    order = np.argsort(subj, kind="stable")
    ss = subj[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]]) if len(ss) else np.zeros(0, int)
    ni = np.diff(np.r_[starts, len(ss)])
    Z = np.vander(times[order], r, increasing=True)
    Xa = np.column_stack([X, y])[order]
    ZtZ = np.stack([np.stack([np.add.reduceat(Z[:, k] * Z[:, j], starts) for j in range(r)]) for k in range(r)])
    ZtXa = np.stack([np.add.reduceat(Z[:, k:k + 1] * Xa, starts, axis=0).T for k in range(r)])
    return SubjectData(len(y), len(starts), X.shape[1], X, y, subj, r, t0, A, ni, ZtZ, np.ascontiguousarray(ZtXa),
                       Xa.T @ Xa, order, starts, times)


@dataclass
class WEvaluation:
    """Quantities at one covariance value (per-subject layout)."""

    value: float
    beta: np.ndarray
    M: np.ndarray
    Minv: np.ndarray
    ok: bool = True
    s2: float = 1.0
    H: np.ndarray | None = None  # (r, r, n): V_i^-1 = (I - Z H Z') / s2
    XaVXa: np.ndarray | None = None
    HZX: np.ndarray | None = None  # (r, p + 1, n): H_i Z_i'[X_i y_i]
    cache: dict = field(default_factory=dict)


def _mm(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per-patient products of stacks (a, b, n) and (b, c, n) -> (a, c, n)."""
    return np.einsum("ijn,jkn->ikn", A, B)


def _gram(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """sum over patients of A_i' B_i for stacks (r, k, n) and (r, m, n) -> (k, m)."""
    return sum(A[i] @ B[i].T for i in range(A.shape[0]))


def _spd_inv_logdet(B: np.ndarray):
    """Inverse and log-determinant of a stack (r, r, n) of small SPD matrices (closed forms for r <= 2)."""
    r = B.shape[0]
    if r == 1:
        b = B[0, 0]
        if np.any(b <= 0):
            raise np.linalg.LinAlgError
        return (1.0 / b)[None, None], np.log(b)
    if r == 2:
        a, c, d = B[0, 0], B[0, 1], B[1, 1]
        det = a * d - c * c
        if np.any(a <= 0) or np.any(det <= 0):
            raise np.linalg.LinAlgError
        return np.stack([np.stack([d, -c]), np.stack([-c, a])]) / det, np.log(det)
    Bt = np.moveaxis(B, 2, 0)
    Lc = np.linalg.cholesky(Bt)
    Li = np.linalg.inv(Lc)
    return np.moveaxis(np.swapaxes(Li, 1, 2) @ Li, 0, 2), 2.0 * np.sum(np.log(np.diagonal(Lc, axis1=1, axis2=2)), axis=1)


def _bad(data: SubjectData) -> WEvaluation:
    p = data.p
    return WEvaluation(np.inf, np.full(p, np.nan), np.zeros((p, p)), np.zeros((p, p)), ok=False)


def evaluate(data: SubjectData, S: np.ndarray, nugget: float, reml: bool) -> WEvaluation:
    """-2 (restricted) log-likelihood with ``G = A S A'`` and residual variance ``nugget``.

    Examples
    --------
    The same value as the pattern layout for a random intercept:

    >>> import numpy as np
    >>> from longmod.engines.core.covariance import get_structure
    >>> from longmod.engines.core import likelihood
    >>> y, X = np.array([1.0, 2.0, 0.0, 3.0, 2.5]), np.ones((5, 1))
    >>> subj, pos = np.array([0, 0, 1, 1, 1]), np.array([0, 1, 0, 1, 2])
    >>> w = evaluate(build_subject_data(y, X, subj, np.zeros(5), get_structure("ri")), np.array([[0.7]]), 1.3, True)
    >>> d = likelihood.build_long_data(y, X, subj, pos, np.arange(1.0, 4.0))
    >>> bool(np.isclose(w.value, likelihood.evaluate(d, np.full((3, 3), 0.7), 1.3, True).value, rtol=1e-12))
    True
    """
    p, r = data.p, data.K
    s2 = float(nugget)
    G = data.A @ np.asarray(S, float) @ data.A.T
    w, U = np.linalg.eigh(0.5 * (G + G.T))
    if not (s2 > 0) or not np.all(np.isfinite(w)) or w.min() < -1e-10 * max(1.0, np.abs(w).max()):
        return _bad(data)
    L = U * np.sqrt(np.clip(w, 0.0, None))
    B = np.einsum("ji,jln,lk->ikn", L, data.ZtZ, L, optimize=True)
    B[np.arange(r), np.arange(r)] += s2
    try:
        Binv, logdetB = _spd_inv_logdet(B)
    except np.linalg.LinAlgError:
        return _bad(data)
    H = np.einsum("ij,jkn,lk->iln", L, Binv, L, optimize=True)
    HZX = _mm(H, data.ZtXa)
    XaVXa = (data.XatXa - _gram(data.ZtXa, HZX)) / s2
    XaVXa = 0.5 * (XaVXa + XaVXa.T)
    logdet = (data.n_obs - data.n_subjects * r) * np.log(s2) + float(np.sum(logdetB))
    M, b, yVy = XaVXa[:p, :p], XaVXa[:p, p], float(XaVXa[p, p])
    gls = _gls(M, b, yVy)
    if gls is None:
        return _bad(data)
    beta, Minv, logdetM, rVr = gls
    n = data.n_obs
    if reml:
        val = (n - p) * LOG2PI + logdet + logdetM + rVr
    else:
        val = n * LOG2PI + logdet + rVr
    return WEvaluation(float(val), beta, M.copy(), Minv, True, s2, H, XaVXa, HZX)


def _moments(data: SubjectData, ev: WEvaluation, hessian: bool = False) -> SimpleNamespace:
    """Powers of V^-1 between Z, X and r (cached on ``ev``; ``hessian`` adds what the Hessian needs).

    With ``Y = Z'Z H Z'[X y]`` and ``W = Z'Z H Z'Z``: ``Z'V^-1[X y] = (Z'[X y] - Y) / s2``,
    ``Z'V^-2[X y] = (Z'[X y] - 2 Y + W H Z'[X y]) / s2^2``, and
    ``[X y]'V^-m[X y]`` from ``Q_2 = 2H - HZ'ZH``, ``Q_3 = 3H - 3HZ'ZH + HZ'ZHZ'ZH``.
    """
    m = ev.cache.get("m")
    if m is not None and (m.hessian or not hessian):
        return m
    p, s2, H, HZX, r = data.p, ev.s2, ev.H, ev.HZX, data.K
    ZZ, ZX = data.ZtZ, data.ZtXa
    c = np.r_[-ev.beta, 1.0]
    if m is None:
        Y = _mm(ZZ, HZX)
        ZV1Xa = (ZX - Y) / s2
        A1 = _gram(ZX, HZX)  # sum Z'Xa' H Z'Xa
        A2 = _gram(HZX, Y)  # sum (H Z'Xa)' Z'Z (H Z'Xa)
        XaV2Xa = (data.XatXa - 2.0 * A1 + A2) / s2**2
        HZZ = _mm(H, ZZ)
        Wm = _mm(ZZ, HZZ)
        Psi = ZV1Xa[:, :p]
        m = SimpleNamespace(
            hessian=False, Y=Y, A1=A1, A2=A2, HZZ=HZZ, Wm=Wm,
            Omega=(ZZ - Wm) / s2, Psi=Psi, ur=np.tensordot(c, ZV1Xa, axes=(0, 1)),
            trV1=(data.n_obs - float(sum(HZZ[i, i].sum() for i in range(r)))) / s2,
            XV2X=XaV2Xa[:p, :p], XV2r=XaV2Xa[:p] @ c, rV2r=float(c @ XaV2Xa @ c),
            PsiM=np.einsum("ipn,pq->iqn", Psi, ev.Minv, optimize=True),  # Psi Minv
        )
    if hessian:
        WHZX = _mm(m.Wm, HZX)
        ZV2Xa = (ZX - 2.0 * m.Y + WHZX) / s2**2
        XaV3Xa = (data.XatXa - 3.0 * m.A1 + 3.0 * m.A2 - _gram(HZX, WHZX)) / s2**3
        Q2ZZ = 2.0 * m.HZZ - _mm(m.HZZ, m.HZZ)  # Q2 Z'Z
        m.ZV2Z = (ZZ.sum(axis=2) - _mm(ZZ, Q2ZZ).sum(axis=2)) / s2**2
        m.ZV2X, m.ur2 = ZV2Xa[:, :p], np.tensordot(c, ZV2Xa, axes=(0, 1))
        m.trV2 = (data.n_obs - float(sum(Q2ZZ[i, i].sum() for i in range(r)))) / s2**2
        m.XV3X, m.rV3r = XaV3Xa[:p, :p], float(c @ XaV3Xa @ c)
        m.Phi = np.einsum("kpn,lpn->kln", m.PsiM, m.Psi)  # Psi Minv Psi'
        m.hessian = True
    ev.cache["m"] = m
    return m


def gradient_weights(data: SubjectData, ev: WEvaluation, reml: bool) -> tuple[np.ndarray, float]:
    """G over the probe positions and the nugget weight: d(-2l)/dpsi_a = sum(G * dS_a) + dnugget_a * trG."""
    m = _moments(data, ev)
    Gam = m.Omega.sum(axis=2) - m.ur @ m.ur.T
    gam = m.trV1 - m.rV2r
    if reml:
        Gam = Gam - np.tensordot(m.PsiM, m.Psi, axes=([1, 2], [1, 2]))  # sum Psi Minv Psi'
        gam -= float(np.sum(ev.Minv * m.XV2X))
    return data.A.T @ Gam @ data.A, float(gam)


def _dG(data: SubjectData, dS: np.ndarray) -> np.ndarray:
    return np.matmul(data.A, np.matmul(np.asarray(dS, float), data.A.T))


def _zpsi(data: SubjectData, ev: WEvaluation):
    if "zpsi" in ev.cache:
        return ev.cache["zpsi"]
    m = _moments(data, ev)
    r, p = data.K, data.p
    Pf = m.Psi.reshape(r * p, -1)
    Zpsi = (Pf @ Pf.T).reshape(r, p, r, p).transpose(0, 2, 1, 3)  # sum_i Psi_i[k]' Psi_i[l]
    gpsi = np.tensordot(m.Psi, m.ur, axes=(2, 1)).transpose(0, 2, 1)  # sum_i Psi_i[k] ur_i[l]
    ev.cache["zpsi"] = (Zpsi, gpsi)
    return Zpsi, gpsi


def p_matrices(data: SubjectData, ev: WEvaluation, dS: np.ndarray, dn: np.ndarray | None = None) -> np.ndarray:
    """``P_a = X'V^-1 V_a V^-1 X`` (q, p, p)."""
    m = _moments(data, ev)
    Zpsi, _ = _zpsi(data, ev)
    dG = _dG(data, dS)
    r, p = data.K, data.p
    P = (dG.reshape(len(dG), r * r) @ Zpsi.reshape(r * r, p * p)).reshape(len(dG), p, p)
    if dn is not None:
        P = P + np.asarray(dn, float)[:, None, None] * m.XV2X[None]
    return P


def _kron(Om: np.ndarray, X: np.ndarray, D: np.ndarray) -> np.ndarray:
    """``sum_i tr(D_a Om_i D_b X_i)`` for stacks (r, r, n)."""
    r = Om.shape[0]
    T = (Om.reshape(r * r, -1) @ X.reshape(r * r, -1).T).reshape(r, r, r, r).transpose(3, 0, 1, 2)
    Df = D.reshape(len(D), r * r)
    H = Df @ T.reshape(r * r, r * r) @ Df.T
    return 0.5 * (H + H.T)


def information(data: SubjectData, ev: WEvaluation, dS, dn, reml: bool, C=None,
                kinds: tuple[str, ...] = ("observed", "expected")) -> dict[str, np.ndarray]:
    """Observed / expected / average Hessian of -2 log L (see :func:`longmod.engines.core.information.information`)."""
    m = _moments(data, ev, hessian=True)
    Zpsi, gpsi = _zpsi(data, ev)
    dG = _dG(data, dS)
    s = np.zeros(len(dG)) if dn is None else np.asarray(dn, float)
    q, r, p = len(dG), data.K, data.p
    Minv = ev.Minv
    P = p_matrices(data, ev, dS, s)
    g = dG.reshape(q, r * r) @ gpsi.reshape(r * r, p) + s[:, None] * m.XV2r[None]
    MP = np.matmul(Minv, P)
    E3 = (MP.reshape(q, -1) @ np.swapaxes(MP, 1, 2).reshape(q, -1).T) if reml else np.zeros((q, q))
    gMg = g @ Minv @ g.T
    UR = m.ur[:, None] * m.ur[None, :]
    Y1 = np.tensordot(m.ZV2X, m.PsiM, axes=([1, 2], [1, 2])) if reml else 0.0  # sum ZV2X Minv Psi'
    Y2 = m.ur2 @ m.ur.T
    XV3 = float(np.sum(Minv * m.XV3X)) if reml else 0.0

    def form(kern, Y, yss):
        tau = np.einsum("akl,lk->a", dG, Y) if np.ndim(Y) else np.zeros(q)
        return _kron(m.Omega, kern, dG) + np.outer(tau, s) + np.outer(s, tau) + yss * np.outer(s, s)

    out = {"P": P, "g": g}
    if "observed" in kinds:
        H = form(-m.Omega + 2.0 * reml * m.Phi + 2.0 * UR, -m.ZV2Z + 2.0 * Y1 + 2.0 * Y2,
                 -m.trV2 + 2.0 * XV3 + 2.0 * m.rV3r) - E3 - 2.0 * gMg
        if C is not None:
            H = H + C
        out["observed"] = 0.5 * (H + H.T)
    if "expected" in kinds:
        E = form(m.Omega - 2.0 * reml * m.Phi, m.ZV2Z - 2.0 * Y1, m.trV2 - 2.0 * XV3) + E3
        out["expected"] = 0.5 * (E + E.T)
    if "average" in kinds:
        A = form(UR, Y2, m.rV3r) - gMg
        out["average"] = 0.5 * (A + A.T)
    return out


def kr_sums(data: SubjectData, ev: WEvaluation, dS, dn, W, D2S=None, D2n: float = 0.0):
    """Kenward-Roger's ``sum_ab W_ab Q_ab`` and ``sum_ab W_ab R_ab`` (see :func:`longmod.engines.core.information.kr_sums`)."""
    m = _moments(data, ev, hessian=True)
    Zpsi, _ = _zpsi(data, ev)
    dG = _dG(data, dS)
    s = np.zeros(len(dG)) if dn is None else np.asarray(dn, float)
    r, p = data.K, data.p
    Df = dG.reshape(len(dG), r * r)
    T5 = (Df.T @ (W @ Df)).reshape(r, r, r, r).transpose(1, 2, 0, 3).reshape(r * r, r * r)  # [(m, n), (k, l)]
    Xi = (T5.T @ m.Omega.reshape(r * r, -1)).reshape(r, r, -1)  # sum_ab W_ab dG_a Omega_i dG_b
    Qsum = _gram(m.Psi, _mm(Xi, m.Psi))
    Gs = np.tensordot(W @ s, dG, axes=1)
    cross = _gram(m.Psi, np.tensordot(Gs, m.ZV2X, axes=1))
    Qsum = Qsum + cross + cross.T + float(s @ W @ s) * m.XV3X
    Rsum = np.zeros((p, p))
    if D2S is not None:
        D2G = data.A @ np.asarray(D2S, float) @ data.A.T
        Rsum = (D2G.reshape(-1) @ Zpsi.reshape(r * r, p * p)).reshape(p, p) + D2n * m.XV2X
    return 0.5 * (Qsum + Qsum.T), 0.5 * (Rsum + Rsum.T)


def sandwich_meat(data: SubjectData, ev: WEvaluation) -> np.ndarray:
    """``sum_i X_i'V_i^-1 r_i r_i'V_i^-1 X_i`` (the CR0 meat)."""
    o, p = data.order, data.p
    res = data.y[o] - data.X[o] @ ev.beta
    Xr = np.add.reduceat(data.X[o] * res[:, None], data.starts, axis=0)
    Ztr = np.tensordot(np.r_[-ev.beta, 1.0], data.ZtXa, axes=(0, 1))  # (r, n)
    HZtr = np.einsum("ijn,jn->in", ev.H, Ztr)
    sc = (Xr - np.einsum("ipn,in->np", data.ZtXa[:, :p], HZtr)) / ev.s2
    return sc.T @ sc


OPS = SimpleNamespace(name="subjects", evaluate=evaluate, gradient_weights=gradient_weights, information=information,
                      p_matrices=p_matrices, kr_sums=kr_sums, sandwich_meat=sandwich_meat)
