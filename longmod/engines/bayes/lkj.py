r"""The Cholesky factor of an LKJ correlation matrix from its partial correlations, as one PyTensor Op.

PyMC's ``LKJCholeskyCov`` + ``MvNormal`` compiled to numba in 45-90 s for
three visits here, and a scalar-unrolled version exhausted memory (24 GB) at
ten visits, so the correlation is built from its **canonical partial
correlations** (C-vine, Lewandowski, Kurowicka & Joe, J Multivar Anal
2009;100:1989, sec. 3.2): for a ``d x d`` correlation matrix the partial
correlations ``z[i, j]`` (``i > j``; level ``j`` conditions on the first ``j``
variables) are independent ``2 * Beta(b_j, b_j) - 1`` with
``b_j = eta + (d - 2 - j) / 2``; this gives exactly the LKJ density
``det(R)^(eta - 1)``. The Cholesky factor is (Stan's ``read_corr_L``)

.. math::

    L_{ij} = z_{ij} \sqrt{P_{ij}}, \quad L_{ii} = \sqrt{P_{ii}}, \qquad
    P_{ij} = \prod_{k<j} (1 - z_{ik}^2),

using ``1 - sum_{k<j} L[i, k]^2 = P[i, j]``. With PyTensor's own operations
that is an indexed assignment, a cumulative product and four elementwise
nodes, and its gradient about twenty more (5.5 us per value + gradient at
``d = 7``, called from numba). :class:`LkjCholesky` computes it in one loop and
its gradient Op :class:`LkjCholeskyGrad` in another: for row ``i`` and
``k < i``, with ``G`` the gradient with respect to ``L``,

.. math::

    \partial / \partial z_{ik} = G_{ik} \sqrt{P_{ik}}
        - \frac{z_{ik}}{1 - z_{ik}^2} \sum_{k < j \le i} G_{ij} L_{ij}.

Implementations: numba kernels (registered with PyTensor's numba backend and
cached on disk under a key that includes this module's code), NumPy for the
Python/C modes and JAX when JAX is importable, as in
:mod:`longmod.engines.bayes.prefix_mvn`. ``tests/bayes/test_lkj_op.py`` checks
them against the formula written with PyTensor's operations, against
``L L'`` having a unit diagonal and against finite differences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op


def lkj_corr_cholesky(name: str, d: int, eta: float) -> Any:
    """Lower-triangular Cholesky factor (``d x d`` tensor) of an LKJ(eta) correlation matrix.

    Creates the PyMC variable ``{name}_cpc`` (Beta, one entry per partial
    correlation, row-major over the strict lower triangle) in the current
    model.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> with pm.Model() as model:
    ...     L = lkj_corr_cholesky("corr", 3, eta=2.0)
    >>> [v.name for v in model.free_RVs]
    ['corr_cpc']
    >>> Lv = pm.draw(L, random_seed=1)
    >>> bool(np.allclose(np.diag(Lv @ Lv.T), 1.0)), bool(np.allclose(np.triu(Lv, 1), 0.0))
    (True, True)
    """
    import pymc as pm

    cols = np.tril_indices(d, -1)[1]
    b = eta + (d - 2 - cols) / 2.0
    cpc = pm.Beta(f"{name}_cpc", alpha=b, beta=b, shape=len(cols))
    register_kernels()
    return LkjCholesky(d)(2.0 * cpc - 1.0)


def _partial_products(z: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``Z`` (``d x d``, ``z`` on the strict lower triangle) and ``P`` (the products above; 1 in column 0)."""
    Z = np.zeros((d, d))
    Z[np.tril_indices(d, -1)] = z
    P = np.concatenate([np.ones((d, 1)), np.cumprod(1.0 - Z**2, axis=1)[:, :-1]], axis=1)
    return Z, P


def lkj_cholesky_numpy(z: np.ndarray, d: int) -> np.ndarray:
    """``L`` from the partial correlations ``z`` (row-major strict lower triangle), with NumPy.

    Examples
    --------
    >>> L = lkj_cholesky_numpy(np.array([0.5]), 2)
    >>> L.round(4).tolist()
    [[1.0, 0.0], [0.5, 0.866]]
    """
    Z, P = _partial_products(z, d)
    return (Z + np.eye(d)) * np.sqrt(P)


def lkj_cholesky_grad_numpy(z: np.ndarray, G: np.ndarray, d: int) -> np.ndarray:
    """Gradient with respect to ``z`` of ``sum(G * L)``, ``L = lkj_cholesky_numpy(z, d)`` (formula above).

    Examples
    --------
    >>> z, G = np.array([0.5]), np.array([[0.0, 0.0], [1.0, 1.0]])
    >>> fd = (lkj_cholesky_numpy(z + 1e-6, 2) - lkj_cholesky_numpy(z - 1e-6, 2)) / 2e-6
    >>> bool(np.isclose(lkj_cholesky_grad_numpy(z, G, 2)[0], (G * fd).sum()))
    True
    """
    Z, P = _partial_products(z, d)
    M = np.tril(G * (Z + np.eye(d)) * np.sqrt(P))
    later = np.cumsum(M[:, ::-1], axis=1)[:, ::-1] - M  # sum over k < j <= i of G_ij L_ij
    with np.errstate(divide="ignore", invalid="ignore"):  # |z| = 1: inf/NaN, as the numba kernel gives
        return (G * np.sqrt(P) - Z / (1.0 - Z**2) * later)[np.tril_indices(d, -1)]


class LkjCholesky(Op):
    """``LkjCholesky(d)(z)``: the ``d x d`` factor ``L`` from the partial correlations ``z``.

    Examples
    --------
    >>> z = pt.vector("z")
    >>> LkjCholesky(2)(z).eval({z: np.array([0.5])}).round(4).tolist()
    [[1.0, 0.0], [0.5, 0.866]]
    """

    __props__ = ("d",)

    def __init__(self, d: int):
        self.d = int(d)

    def make_node(self, z: Any) -> Apply:
        z = pt.as_tensor_variable(z)
        if z.ndim != 1:
            raise TypeError(f"LkjCholesky needs a vector of d(d-1)/2 partial correlations, got ndim {z.ndim}")
        return Apply(self, [z], [pt.tensor(dtype="float64", shape=(self.d, self.d))])

    def perform(self, node: Apply, inputs: list, outputs: list) -> None:
        outputs[0][0] = lkj_cholesky_numpy(inputs[0], self.d)

    def grad(self, inputs: list, output_grads: list) -> list:
        return [LkjCholeskyGrad(self.d)(inputs[0], output_grads[0])]


class LkjCholeskyGrad(Op):
    """``LkjCholeskyGrad(d)(z, G)``: the gradient of ``sum(G * LkjCholesky(d)(z))`` with respect to ``z``.

    Examples
    --------
    >>> z, G = pt.vector("z"), pt.matrix("G")
    >>> LkjCholeskyGrad(2)(z, G).eval({z: np.array([0.0]), G: np.ones((2, 2))}).tolist()
    [1.0]
    """

    __props__ = ("d",)

    def __init__(self, d: int):
        self.d = int(d)

    def make_node(self, z: Any, G: Any) -> Apply:
        z, G = pt.as_tensor_variable(z), pt.as_tensor_variable(G)
        return Apply(self, [z, G], [pt.dvector()])

    def perform(self, node: Apply, inputs: list, outputs: list) -> None:
        outputs[0][0] = lkj_cholesky_grad_numpy(inputs[0], inputs[1], self.d)


def register_kernels() -> None:
    """Register this module's numba kernels (and JAX ones when JAX is importable) with PyTensor, once per process.

    Examples
    --------
    >>> register_kernels(); register_kernels()  # idempotent
    """
    from longmod.engines.bayes.compile_cache import register_kernels_once

    register_kernels_once(__file__, _register_numba, _register_jax)


def _register_numba(salt: int, njit: Callable) -> None:
    from pytensor.link.numba.dispatch import basic as numba_basic

    def funcify_forward(op, node=None, **kw):
        d = op.d

        @njit
        def lkj_cholesky(z):
            L = np.zeros((d, d))
            q = 0
            for i in range(d):
                P = 1.0
                for j in range(i):
                    L[i, j] = z[q] * np.sqrt(P)
                    P *= 1.0 - z[q] * z[q]
                    q += 1
                L[i, i] = np.sqrt(P)
            return L

        return lkj_cholesky, salt

    def funcify_grad(op, node=None, **kw):
        d = op.d

        @njit
        def lkj_cholesky_grad(z, G):
            out = np.empty(len(z))
            sqrtP = np.empty(d)
            Lrow = np.empty(d)
            q0 = 0
            for i in range(d):
                P = 1.0
                for j in range(i):
                    sqrtP[j] = np.sqrt(P)
                    Lrow[j] = z[q0 + j] * sqrtP[j]
                    P *= 1.0 - z[q0 + j] * z[q0 + j]
                later = G[i, i] * np.sqrt(P)  # running sum over k < j <= i of G_ij L_ij
                for k in range(i - 1, -1, -1):
                    zk = z[q0 + k]
                    out[q0 + k] = G[i, k] * sqrtP[k] - zk / (1.0 - zk * zk) * later
                    later += G[i, k] * Lrow[k]
                q0 += i
            return out

        return lkj_cholesky_grad, salt

    numba_basic.register_funcify_default_op_cache_key(LkjCholesky)(funcify_forward)
    numba_basic.register_funcify_default_op_cache_key(LkjCholeskyGrad)(funcify_grad)


def _register_jax() -> None:
    import jax
    import jax.numpy as jnp
    from pytensor.link.jax.dispatch import jax_funcify

    def forward(d):
        rows, cols = np.tril_indices(d, -1)

        def lkj_cholesky(z):
            Z = jnp.zeros((d, d)).at[rows, cols].set(z)
            P = jnp.concatenate([jnp.ones((d, 1)), jnp.cumprod(1.0 - Z**2, axis=1)[:, :-1]], axis=1)
            return (Z + jnp.eye(d)) * jnp.sqrt(P)

        return lkj_cholesky

    def grad(d):
        f = forward(d)
        return lambda z, G: jax.vjp(f, z)[1](G)[0]

    jax_funcify.register(LkjCholesky)(lambda op, **kw: forward(op.d))
    jax_funcify.register(LkjCholeskyGrad)(lambda op, **kw: grad(op.d))
