"""LKJ-Cholesky covariance and multivariate-normal likelihood as small scalar graphs.

PyMC's ``LKJCholeskyCov`` + ``MvNormal`` compile to numba in 30-90 s here (the
generic linear-algebra ops are slow to compile), which dominates small fits.
For the handful of visits of an ICU trial the same model is written out as
scalar/vector PyTensor expressions that compile in seconds:

* **LKJ(eta) correlation via canonical partial correlations** (C-vine,
  Lewandowski, Kurowicka & Joe, J Multivar Anal 2009;100:1989, sec. 3.2): for
  a ``d x d`` correlation matrix the partial correlations of level ``j``
  (``j = 0..d-2``, conditioning on the first ``j`` variables) are independent
  ``2 * Beta(b_j, b_j) - 1`` with ``b_j = eta + (d - 2 - j) / 2``; this gives
  exactly the LKJ density ``det(R)^(eta - 1)``. The Cholesky factor follows
  Stan's ``read_corr_L``: ``L[i, 0] = z[i, 0]``,
  ``L[i, j] = z[i, j] * sqrt(1 - sum_{k<j} L[i, k]^2)``,
  ``L[i, i] = sqrt(1 - sum_{k<i} L[i, k]^2)``. For ``d = 2`` this is
  ``rho = 2 * Beta(eta, eta) - 1``.
* **Marginal MVN per missingness pattern**: the Cholesky factor of
  ``Sigma[o, o]`` (leading block for monotone dropout, else an unrolled
  Cholesky of the sub-matrix), forward substitution on column vectors, and
  ``log N = -0.5 |z|^2 - sum log diag(L) - m/2 log(2 pi)`` per patient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def lkj_corr_cholesky(name: str, d: int, eta: float) -> list[list[Any]]:
    """Lower-triangular Cholesky factor of an LKJ(eta) correlation matrix (nested lists).

    Creates the PyMC variables ``{name}_cpc{j}`` (Beta, one vector per level)
    inside the current model; entries above the diagonal are ``0.0``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    z: dict[tuple[int, int], Any] = {}
    for j in range(d - 1):
        b = eta + (d - 2 - j) / 2.0
        cpc = pm.Beta(f"{name}_cpc{j}", alpha=b, beta=b, shape=d - 1 - j)
        for k, i in enumerate(range(j + 1, d)):
            z[(i, j)] = 2.0 * cpc[k] - 1.0
    L: list[list[Any]] = [[0.0] * d for _ in range(d)]
    L[0][0] = pt.as_tensor_variable(1.0)
    for i in range(1, d):
        ss = 0.0
        for j in range(i):
            L[i][j] = z[(i, j)] if j == 0 else z[(i, j)] * pt.sqrt(1.0 - ss)
            ss = ss + L[i][j] ** 2
        L[i][i] = pt.sqrt(1.0 - ss)
    return L


def corr_from_cholesky(L: Sequence[Sequence[Any]]) -> Any:
    """``L L'`` as a stacked ``d x d`` tensor (for a Deterministic)."""
    import pytensor.tensor as pt

    d = len(L)
    rows = []
    for i in range(d):
        row = []
        for j in range(d):
            if i == j:
                row.append(pt.as_tensor_variable(1.0))
            else:
                row.append(sum(L[i][k] * L[j][k] for k in range(min(i, j) + 1)))
        rows.append(pt.stack(row))
    return pt.stack(rows)


def sub_cholesky(Lfull: Sequence[Sequence[Any]], idx: Sequence[int]) -> list[list[Any]]:
    """Cholesky factor of ``Sigma[idx, idx]`` where ``Sigma = Lfull Lfull'``."""
    import pytensor.tensor as pt

    idx = list(idx)
    m = len(idx)
    if idx == list(range(m)):
        return [[Lfull[i][j] for j in range(m)] for i in range(m)]

    def sig(a: int, b: int) -> Any:
        return sum(Lfull[a][k] * Lfull[b][k] for k in range(min(a, b) + 1))

    A = [[sig(idx[i], idx[j]) for j in range(m)] for i in range(m)]
    L: list[list[Any]] = [[0.0] * m for _ in range(m)]
    for j in range(m):
        L[j][j] = pt.sqrt(A[j][j] - sum((L[j][k] ** 2 for k in range(j)), 0.0))
        for i in range(j + 1, m):
            L[i][j] = (A[i][j] - sum((L[i][k] * L[j][k] for k in range(j)), 0.0)) / L[j][j]
    return L


def mvn_chol_logp(resid: Any, L: Sequence[Sequence[Any]]) -> Any:
    """Sum of ``log MVN(resid_i | 0, L L')`` over the rows of ``resid`` (n x m tensor)."""
    import pytensor.tensor as pt

    m = len(L)
    zs = []
    for i in range(m):
        acc = resid[:, i]
        for k in range(i):
            acc = acc - L[i][k] * zs[k]
        zs.append(acc / L[i][i])
    n = resid.shape[0]
    quad = sum(pt.sum(z**2) for z in zs)
    logdet = sum(pt.log(L[i][i]) for i in range(m))
    return -0.5 * quad - n * logdet - 0.5 * n * m * math.log(2.0 * math.pi)
