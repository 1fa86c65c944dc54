"""Inference for the Gaussian core: vcov, Satterthwaite, Kenward-Roger, sandwich, BW/residual df.

All derivatives are taken with respect to the structure's natural parameters
``phi`` (SAS's covariance parameters), using

* ``P_a = X'V^-1 (dV/dphi_a) V^-1 X``,
* ``W = 2 H^-1`` with H the observed Hessian of -2 log L in ``phi`` (numerical
  differentiation of the analytic gradient), the asymptotic covariance of
  ``phi``, as in mmrm and SAS; or twice the expected information (pbkrtest).

Kenward-Roger follows Kenward & Roger (1997): adjusted vcov
``Phi_A = Phi + 2 Phi {sum_ab W_ab (Q_ab - P_a Phi P_b - R_ab / 4)} Phi``
(``R = 0`` for ``kenward-roger-linear``), and the F approximation with
E* = 1 / (1 - A2 / l).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from longmod.engines.core.covariance import Structure, hessian_sigma, jacobian
from longmod.engines.core.likelihood import Evaluation, LongData, objective


@dataclass
class InferenceState:
    """Everything the df / vcov methods need at the optimum."""

    beta: np.ndarray
    vcov: np.ndarray  # model-based (X'V^-1X)^-1
    phi: np.ndarray
    W: np.ndarray  # asymptotic covariance of phi
    P: np.ndarray  # (q, p, p)
    dS: np.ndarray
    dn: np.ndarray
    warnings: list[str] = field(default_factory=list)


def _phi_funcs(s: Structure, data: LongData, at: np.ndarray | None = None):
    def sig(phi):
        return s.sigma(phi, data.t)

    def jac(phi):
        return jacobian(sig, phi)

    if at is not None:  # V linear in phi (us, cs, toep, ind, ri, ris): the Jacobian is constant
        j0 = jac(at)
        j1 = jac(np.asarray(at, float) * 1.01 + 1e-3)
        if all(np.array_equal(a, b) for a, b in zip(j0, j1)):
            return sig, lambda phi: j0
    return sig, jac


def _pattern_dV(pat, dS, dn):
    ix = np.ix_(pat.idx, pat.idx)
    dV = dS[:, ix[0], ix[1]]
    if np.any(dn):
        dV = dV + dn[:, None, None] * np.eye(len(pat.idx))[None]
    return dV


def prepare(data: LongData, s: Structure, phi: np.ndarray, ev: Evaluation, reml: bool,
            information: str = "observed") -> InferenceState:
    """Compute P_a and W (from the ``"observed"`` or ``"expected"`` information) at the optimum.

    The observed information (numerical derivative of the analytic gradient) is what
    SAS and mmrm use; the expected REML information
    ``I_ab = tr(P V_a P V_b) / 2`` (P = V^-1 - V^-1 X Phi X' V^-1) is pbkrtest's choice.
    """
    sig, jac = _phi_funcs(s, data, phi)
    dS, dn = jac(phi)
    q, p = len(phi), data.p
    P = np.zeros((q, p, p))
    E1 = np.zeros((q, q))
    E2 = np.zeros((q, q))
    for pat, Vi in zip(data.patterns, ev.Vinv):
        dV = _pattern_dV(pat, dS, dn)
        A = np.einsum("kl,alm,mn->akn", Vi, dV, Vi, optimize=True)
        P += np.tensordot(A, pat.T, axes=([1, 2], [0, 1]))
        if information == "expected":
            B = np.einsum("kl,alm->akm", Vi, dV, optimize=True)
            E1 += pat.n * np.einsum("akl,blk->ab", B, B, optimize=True)
            Sx = np.tensordot(pat.T, ev.Minv, axes=([2, 3], [0, 1]))
            E2 += np.einsum("akl,blm,mn,nk->ab", B, B, Vi, Sx, optimize=True)
    if information == "expected":
        E3 = np.einsum("pq,aqr,rs,bsp->ab", ev.Minv, P, ev.Minv, P, optimize=True)
        H = E1 - 2 * E2 + E3 if reml else E1  # tr(P V_a P V_b) = 2 x expected information of -l
    else:
        H = np.zeros((q, q))
        for a in range(q):
            h = 1e-5 * max(abs(phi[a]), 1e-2)
            e = np.zeros(q)
            e[a] = h
            gp = objective(data, sig, jac, phi + e, reml)[1]
            gm = objective(data, sig, jac, phi - e, reml)[1]
            H[:, a] = (gp - gm) / (2 * h)
    H = 0.5 * (H + H.T)
    warnings = []
    try:
        W = 2.0 * np.linalg.inv(H)
        if np.any(np.linalg.eigvalsh(H) <= 0):
            warnings.append("Hessian of the covariance parameters is not positive definite; df may be unreliable")
    except np.linalg.LinAlgError:
        W = 2.0 * np.linalg.pinv(H)
        warnings.append("Hessian of the covariance parameters is singular; pseudo-inverse used for df")
    return InferenceState(ev.beta, ev.Minv, phi, W, P, dS, dn, warnings)


def satterthwaite_df(st: InferenceState, c: np.ndarray) -> float:
    """Satterthwaite df of the 1-d contrast ``c'beta``."""
    c = np.asarray(c, float)
    v = c @ st.vcov @ c
    g = -np.einsum("p,apq,q->a", st.vcov @ c, st.P, st.vcov @ c)
    den = g @ st.W @ g
    return float(2 * v * v / den) if den > 0 else np.inf


def satterthwaite_md(st: InferenceState, L: np.ndarray, vcov: np.ndarray | None = None) -> tuple[float, float]:
    """F statistic and Satterthwaite denominator df of ``L beta = 0`` (mmrm's eigen method)."""
    L = np.atleast_2d(L)
    vc = st.vcov if vcov is None else vcov
    M = L @ vc @ L.T
    ell = L.shape[0]
    Lb = L @ st.beta
    F = float(Lb @ np.linalg.solve(M, Lb) / ell)
    if ell == 1:
        return F, satterthwaite_df(st, L[0])
    d, U = np.linalg.eigh(M)
    nus = np.array([satterthwaite_df(st, u @ L) for u in U.T])
    E = np.sum(nus[nus > 2] / (nus[nus > 2] - 2))
    return F, float(2 * E / (E - ell)) if E > ell else np.inf


@dataclass
class KRState:
    """Kenward-Roger adjusted vcov and the pieces for its df."""

    vcov_adj: np.ndarray
    linear: bool


def kenward_roger(data: LongData, s: Structure, st: InferenceState, ev: Evaluation, linear: bool) -> KRState:
    """Kenward-Roger adjusted covariance of beta (``linear`` drops second derivatives of V)."""
    W, Phi, P = st.W, st.vcov, st.P
    p = data.p
    Qsum = np.zeros((p, p))
    Rsum = np.zeros((p, p))
    if not linear:
        sig, _ = _phi_funcs(s, data)
        d2S, d2n = hessian_sigma(sig, st.phi)
        D2 = np.einsum("ab,abkl->kl", W, d2S)
        d2nug = float(np.sum(W * d2n))
    for pat, Vi in zip(data.patterns, ev.Vinv):
        dV = _pattern_dV(pat, st.dS, st.dn)
        B = np.einsum("kl,alm->akm", Vi, dV, optimize=True)  # V^-1 dV_a
        C = np.einsum("ab,akl,blm,mn->kn", W, B, B, Vi, optimize=True)
        Qsum += np.tensordot(C, pat.T, axes=([0, 1], [0, 1]))
        if not linear:
            D2p = D2[np.ix_(pat.idx, pat.idx)] + d2nug * np.eye(len(pat.idx))
            Rsum += np.tensordot(Vi @ D2p @ Vi, pat.T, axes=([0, 1], [0, 1]))
    PPsum = np.einsum("ab,apq,qr,brs->ps", W, P, Phi, P, optimize=True)
    inner = Qsum - PPsum - 0.25 * Rsum
    adj = Phi + 2 * Phi @ inner @ Phi
    return KRState(0.5 * (adj + adj.T), linear)


def kr_df(st: InferenceState, kr: KRState, L: np.ndarray) -> tuple[float, float, float]:
    """Kenward-Roger F test of ``L beta = 0``: (F, denominator df m, scale lambda).

    For one row the t statistic is ``c'beta / sqrt(c' Phi_A c)`` with df ``m``.
    """
    L = np.atleast_2d(np.asarray(L, float))
    ell = L.shape[0]
    Phi, W = st.vcov, st.W
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    tvp = np.einsum("pq,qr,ars,st->apt", Theta, Phi, st.P, Phi, optimize=True)
    tr = np.einsum("app->a", tvp)
    A1 = float(tr @ W @ tr)
    A2 = float(np.einsum("ab,apq,bqp->", W, tvp, tvp, optimize=True))
    B = (A1 + 6 * A2) / (2 * ell)
    g = ((ell + 1) * A1 - (ell + 4) * A2) / ((ell + 2) * A2)
    den = 3 * ell + 2 * (1 - g)
    c1, c2, c3 = g / den, (ell - g) / den, (ell + 2 - g) / den
    E = 1.0 / (1.0 - A2 / ell)
    V = 2.0 / ell * (1 + c1 * B) / ((1 - c2 * B) ** 2 * (1 - c3 * B))
    rho = V / (2 * E * E)
    m = 4 + (ell + 2) / (ell * rho - 1)
    lam = m / (E * (m - 2))
    Lb = L @ st.beta
    F = float(lam * Lb @ np.linalg.solve(L @ kr.vcov_adj @ L.T, Lb) / ell)
    return F, float(m), float(lam)


def sandwich(data: LongData, ev: Evaluation) -> np.ndarray:
    """Empirical (CR0) covariance of beta: Phi (sum_i X_i'V_i^-1 r_i r_i'V_i^-1 X_i) Phi."""
    meat = np.zeros((data.p, data.p))
    for pat, Vi in zip(data.patterns, ev.Vinv):
        r = pat.y - pat.X @ ev.beta
        u = np.einsum("nkp,nk->np", pat.X, r @ Vi)
        meat += u.T @ u
    return ev.Minv @ meat @ ev.Minv


def between_within_df(data: LongData) -> np.ndarray:
    """SAS-style between-within df per coefficient.

    Columns constant within every patient are between-patient effects with
    df = n_patients - rank(X_between); the others get
    df = n_obs - rank(X) - (n_patients - rank(X_between)).
    """
    X, subj = data.X, data.subject_of_row
    order = np.argsort(subj, kind="stable")
    Xs, ss = X[order], subj[order]
    same = ss[1:] == ss[:-1]
    between = np.array([np.allclose(Xs[1:, j][same], Xs[:-1, j][same]) for j in range(X.shape[1])])
    rb = np.linalg.matrix_rank(X[:, between]) if between.any() else 0
    df_b = data.n_subjects - rb
    df_w = data.n_obs - np.linalg.matrix_rank(X) - (data.n_subjects - rb)
    return np.where(between, df_b, df_w).astype(float)


def contrast_test(estimate: float, se: float, df: float) -> tuple[float, float]:
    """t statistic and two-sided p value (normal when df is infinite)."""
    t = estimate / se
    p = 2 * (stats.norm.sf(abs(t)) if not np.isfinite(df) else stats.t.sf(abs(t), df))
    return float(t), float(p)
