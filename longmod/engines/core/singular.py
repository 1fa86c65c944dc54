"""Singular (boundary) covariance fits, detected as lme4's ``isSingular()`` does.

A fit on the boundary of its parameter space (a variance at 0, a correlation at +-1)
can still be the maximum of the likelihood, so ``converged`` stays True; the fit is
flagged ``singular`` and a warning says why (Wald df and SEs of the covariance
parameters are unreliable there).
"""

from __future__ import annotations

import numpy as np

from longmod.engines.core.covariance import Structure, get_structure

SINGULAR_TOL = 1e-4  # lme4's isSingular() tolerance on the relative Cholesky factor


def singular_message(s: Structure, phi: np.ndarray, t: np.ndarray, tol: float = SINGULAR_TOL) -> str | None:
    """Why a fitted covariance is singular (on its boundary), or None.

    Random-effects structures follow lme4's ``isSingular()``: the Cholesky factor of
    G / s2 (lme4's ``theta``) has a diagonal element below ``tol``, i.e. a variance at
    0 or a correlation at +-1. Other structures: the covariance over the positions
    has a standard deviation below ``tol`` times the largest, or its correlation matrix
    has a Cholesky diagonal below ``tol`` (a correlation at +-1, or one visit a linear
    function of others).

    Examples
    --------
    >>> s = get_structure("ris")
    >>> singular_message(s, np.array([1.0, 0.0, 0.5, 1.0]), np.arange(3.0)) is None
    True
    >>> singular_message(s, np.array([1.0, 1.0, 1.0, 1.0]), np.arange(3.0))
    'random-effects covariance is singular (relative Cholesky factor diagonal 0 < 1e-04: a variance at 0 or a correlation at +-1), as lme4 isSingular()'
    """
    phi = np.asarray(np.real(phi), dtype=float)
    if s.kind == "re":
        if s.name == "ri":
            G, s2 = np.array([[phi[0]]]), phi[1]
        elif s.name == "ris":
            G, s2 = np.array([[phi[0], phi[1]], [phi[1], phi[2]]]), phi[3]
        else:
            G, s2 = np.diag(phi[:2]), phi[2]
        d = _chol_diag(G / s2)
        what = "random-effects covariance"
    else:
        S, _ = s.sigma(phi, np.asarray(t, float))
        S = np.real(np.asarray(S, float))
        sd = np.sqrt(np.clip(np.diag(S), 0, None))
        if sd.max() <= 0 or sd.min() < tol * sd.max():
            return (f"residual covariance is singular: a standard deviation is {sd.min():.3g}, below "
                    f"{tol:g} x the largest ({sd.max():.3g})")
        d = _chol_diag(S / np.outer(sd, sd))
        what = "residual correlation matrix"
    if d.min() < tol:
        return (f"{what} is singular (relative Cholesky factor diagonal {d.min():.3g} < {tol:.0e}: a variance "
                "at 0 or a correlation at +-1)" + (", as lme4 isSingular()" if s.kind == "re" else ""))
    return None


def _chol_diag(A: np.ndarray) -> np.ndarray:
    """Diagonal of the Cholesky factor, 0 from the first non-positive pivot on."""
    A = np.array(A, dtype=float)
    n = len(A)
    out = np.zeros(n)
    L = np.zeros_like(A)
    for j in range(n):
        v = A[j, j] - L[j, :j] @ L[j, :j]
        if v <= 0:
            return out
        L[j, j] = out[j] = np.sqrt(v)
        for i in range(j + 1, n):
            L[i, j] = (A[i, j] - L[i, :j] @ L[j, :j]) / L[j, j]
    return out
