"""Inference for the Gaussian core: vcov, Satterthwaite, Kenward-Roger, sandwich, BW/residual df.

All derivatives are taken with respect to the structure's natural parameters
``phi`` (SAS's covariance parameters), using

* ``P_a = X'V^-1 (dV/dphi_a) V^-1 X``,
* ``W = 2 H^-1`` with H the observed Hessian of -2 log L in ``phi``, the
  asymptotic covariance of ``phi``, as in mmrm and SAS; or twice the expected
  information (pbkrtest). Both are analytic (:mod:`longmod.engines.core.information`,
  :mod:`longmod.engines.core.woodbury`): first derivatives of V by complex step,
  second derivatives (only for structures non-linear in ``phi``) by central
  differences of complex steps.

Kenward-Roger follows Kenward & Roger (1997): adjusted vcov
``Phi_A = Phi + 2 Phi {sum_ab W_ab (Q_ab - P_a Phi P_b - R_ab / 4)} Phi``
(``R = 0`` for ``kenward-roger-linear``), and the F approximation with
E* = 1 / (1 - A2 / l).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from longmod.engines.core.covariance import Structure, hessian_sigma, jacobian
from longmod.engines.core.likelihood import Evaluation
from longmod.engines.core.ops import ops


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
    d2S: np.ndarray | None = None  # (q, q, K, K) second derivatives of V in phi (None: linear in phi)
    d2n: np.ndarray | None = None
    information: str = "observed"
    H: np.ndarray | None = None  # the Hessian of -2 log L in phi that W inverts

    def __post_init__(self):
        self.PhiPPhi = np.matmul(np.matmul(self.vcov, self.P), self.vcov)  # Phi P_a Phi


def phi_derivatives(s: Structure, data, phi: np.ndarray):
    """dS/dphi, dnugget/dphi (complex step) and the second derivatives (None when V is linear in phi)."""
    def sig(ph):
        return s.sigma(ph, data.t)

    from longmod.engines.core.optimize import linear_in_phi

    phi = np.asarray(phi, float)
    dS, dn = jacobian(sig, phi)
    if linear_in_phi(s, data.t, data.K):
        return dS, dn, None, None
    d2S, d2n = hessian_sigma(sig, phi)
    return dS, dn, d2S, d2n


def prepare(data, s: Structure, phi: np.ndarray, ev: Evaluation, reml: bool,
            information: str = "observed") -> InferenceState:
    """Compute P_a and W (from the ``"observed"`` or ``"expected"`` information) at the optimum.

    The observed information (the analytic Hessian of -2 log L in ``phi``) is what
    SAS and mmrm use; the expected REML information ``I_ab = tr(P V_a P V_b) / 2``
    (P = V^-1 - V^-1 X Phi X' V^-1) is pbkrtest's choice.
    """
    o = ops(data)
    dS, dn, d2S, d2n = phi_derivatives(s, data, phi)
    C = None
    if d2S is not None and information == "observed":
        G, trG = o.gradient_weights(data, ev, reml)
        C = np.einsum("abkl,kl->ab", d2S, G) + d2n * trG
    out = o.information(data, ev, dS, dn, reml, C, (information,))
    H = out[information]
    warnings = []
    try:
        W = 2.0 * np.linalg.inv(H)
        if np.any(np.linalg.eigvalsh(H) <= 0):
            warnings.append("Hessian of the covariance parameters is not positive definite; df may be unreliable")
    except np.linalg.LinAlgError:
        W = 2.0 * np.linalg.pinv(H)
        warnings.append("Hessian of the covariance parameters is singular; pseudo-inverse used for df")
    return InferenceState(ev.beta, ev.Minv, np.asarray(phi, float), W, out["P"], dS, dn, warnings, d2S, d2n,
                          information, H)


def satterthwaite_df(st: InferenceState, c: np.ndarray) -> float:
    """Satterthwaite df of the 1-d contrast ``c'beta``."""
    c = np.asarray(c, float)
    v = c @ st.vcov @ c
    g = -np.einsum("p,apq,q->a", c, st.PhiPPhi, c)
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


def kenward_roger(data, s: Structure, st: InferenceState, ev: Evaluation, linear: bool) -> KRState:
    """Kenward-Roger adjusted covariance of beta (``linear`` drops second derivatives of V)."""
    W, Phi, P = st.W, st.vcov, st.P
    D2S = D2n = None
    if not linear and st.d2S is not None:
        D2S = np.einsum("ab,abkl->kl", W, st.d2S)
        D2n = float(np.sum(W * st.d2n))
    Qsum, Rsum = ops(data).kr_sums(data, ev, st.dS, st.dn, W, D2S, D2n or 0.0)
    WP = np.tensordot(W, P, axes=(1, 0))  # sum_b W_ab P_b
    PPsum = np.einsum("apq,aqr->pr", np.matmul(P, Phi), WP, optimize=True)
    inner = Qsum - PPsum - 0.25 * Rsum
    adj = Phi + 2 * Phi @ inner @ Phi
    return KRState(0.5 * (adj + adj.T), linear)


def kr_df(st: InferenceState, kr: KRState, L: np.ndarray) -> tuple[float, float, float]:
    """Kenward-Roger F test of ``L beta = 0``: (F, denominator df m, scale lambda).

    For one row the t statistic is ``c'beta / sqrt(c' Phi_A c)`` with df ``m``.

    Examples
    --------
    A balanced random-intercept design: the KR df of the treatment effect (between
    patients) is the between-patient residual df, 30 - 2.

    >>> import numpy as np
    >>> from longmod.engines.core.covariance import get_structure
    >>> from longmod.engines.core.likelihood import build_long_data
    >>> from longmod.engines.core.optimize import fit_covariance
    >>> rng = np.random.default_rng(0)
    >>> subj = np.repeat(np.arange(30), 3)
    >>> X = np.column_stack([np.ones(90), subj % 2])
    >>> y = X @ [1.0, 0.5] + rng.normal(size=90) + np.repeat(rng.normal(size=30), 3)
    >>> data = build_long_data(y, X, subj, np.tile(np.arange(3), 30), np.arange(1.0, 4.0))
    >>> s = get_structure("cs")
    >>> opt = fit_covariance(data, s, reml=True)
    >>> st = prepare(data, s, opt.phi, opt.evaluation, True)
    >>> kr = kenward_roger(data, s, st, opt.evaluation, linear=False)
    >>> F, m, lam = kr_df(st, kr, np.array([[0.0, 1.0]]))
    >>> round(m, 6), round(satterthwaite_df(st, np.array([0.0, 1.0])), 6)
    (28.0, 28.0)
    """
    L = np.atleast_2d(np.asarray(L, float))
    ell = L.shape[0]
    Phi, W = st.vcov, st.W
    # tr(Theta Phi P_a Phi ...) with Theta = L'(L Phi L')^-1 L, in the l x l space of L
    if ell == 1:
        c = L[0]
        tr = (st.PhiPPhi @ c) @ c / float(c @ Phi @ c)
        A1 = A2 = float(tr @ W @ tr)
    else:
        Mi = np.linalg.inv(L @ Phi @ L.T)
        MA = np.matmul(Mi, np.matmul(np.matmul(L, st.PhiPPhi), L.T))  # (q, l, l): Mi L Phi P_a Phi L'
        tr = np.trace(MA, axis1=1, axis2=2)
        A1 = float(tr @ W @ tr)
        A2 = float(np.sum(W * (MA.reshape(len(MA), -1) @ np.swapaxes(MA, 1, 2).reshape(len(MA), -1).T)))
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
    LVL = L @ kr.vcov_adj @ L.T
    F = float(lam * (Lb[0] ** 2 / LVL[0, 0] if ell == 1 else Lb @ np.linalg.solve(LVL, Lb)) / ell)
    return F, float(m), float(lam)


def sandwich(data, ev: Evaluation) -> np.ndarray:
    """Empirical (CR0) covariance of beta: Phi (sum_i X_i'V_i^-1 r_i r_i'V_i^-1 X_i) Phi."""
    return ev.Minv @ ops(data).sandwich_meat(data, ev) @ ev.Minv


def between_within_df(data) -> np.ndarray:
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
    """t statistic and two-sided p value (normal when df is infinite).

    Examples
    --------
    >>> t, p = contrast_test(2.0, 1.0, np.inf)
    >>> t, round(p, 6)
    (2.0, 0.0455)
    """
    t = estimate / se
    p = 2 * (special.ndtr(-abs(t)) if not np.isfinite(df) else special.stdtr(df, -abs(t)))
    return float(t), float(p)
