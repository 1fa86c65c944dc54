r"""The MMRM's masked multivariate-normal log-likelihood as one PyTensor Op with a numba kernel.

For residuals ``r`` (``n x K``, zero outside each patient's prefix), a lower
Cholesky factor ``L`` (``K x K``) and weights ``w`` (``n x K``: 1 on a
patient's prefix of visits, 0 after it), with ``z_i = L^{-1} r_i``,

.. math::

    \ell = -\tfrac12 \sum_{i,k} w_{ik} z_{ik}^2 - \sum_k m_k \log L_{kk}
           - \tfrac12 \Big(\sum_k m_k\Big) \log 2\pi, \qquad m_k = \sum_i w_{ik},

the expression :func:`longmod.engines.bayes.mmrm.build_mmrm` uses (see its
module docstring for why it is the exact likelihood of every monotone
pattern). Written with PyTensor's own operations it is a triangular solve and
reductions, and its gradient five triangular solves and a dozen elementwise
nodes, each allocating its result. :class:`PrefixMvnLogp` computes it in one
pass over the visits with the patients as the inner loop (as LAPACK's
multi-right-hand-side solve does), and its gradient Op
:class:`PrefixMvnLogpGrad` in one more: with ``u_i = w_i * z_i`` and
``v_i = L^{-T} u_i``,

.. math::

    \partial\ell/\partial r_i = -v_i, \qquad
    \partial\ell/\partial L = \operatorname{tril}\Big(\sum_i v_i z_i^\top\Big)
        - \operatorname{diag}(m_k / L_{kk}).

Value + gradient at 45 patients x 7 visits, called from numba: 3.8-4.4 us
against 6.9-10.3 us for PyTensor's graph of the same expression; one NUTS
step of the bundled Bayesian MMRM 23-25 us against 28-32 us
(``benchmarks/README.md``, "Bayesian warm start").

The Ops have three implementations: numba kernels (registered with PyTensor's
numba backend, cached on disk under a key that includes this module's code),
vectorised NumPy/SciPy for PyTensor's Python and C modes (PyMC's own
sampler, ``model.point_logps()``), and JAX (registered when JAX is importable,
for the ``nutpie-jax`` backend). ``tests/bayes/test_prefix_mvn.py`` checks the
numba and NumPy ones against SciPy's multivariate normal per patient and the
gradients against finite differences; JAX is not a dependency, so the JAX ones
were checked by hand against the numba ones (differences <= 2e-15).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from longmod.engines.bayes.covstruct import LOG_2PI


def _singular(L: np.ndarray) -> bool:
    """A zero on the diagonal: the NumPy implementations return NaN, as the numba kernels do (SciPy would raise)."""
    return not np.all(np.diag(L) != 0.0)


def _reference_parts(r: np.ndarray, L: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``z`` (``n x K``) and ``m`` (``K``) with NumPy/SciPy, for the Python/C implementations."""
    from scipy.linalg import solve_triangular

    z = np.full(r.shape, np.nan) if _singular(L) else solve_triangular(L, r.T, lower=True).T
    return z, w.sum(axis=0)


def prefix_mvn_logp_numpy(r: np.ndarray, L: np.ndarray, w: np.ndarray) -> float:
    """The log-likelihood :math:`\\ell` above, with NumPy (the Python/C implementation of :class:`PrefixMvnLogp`).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> S = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> r = np.array([[0.5, -1.0], [2.0, 0.0]])
    >>> w = np.array([[1.0, 1.0], [1.0, 0.0]])  # the second patient is seen at the first visit only
    >>> ll = prefix_mvn_logp_numpy(r, np.linalg.cholesky(S), w)
    >>> ref = stats.multivariate_normal([0, 0], S).logpdf(r[0]) + stats.norm(0, 2).logpdf(2.0)
    >>> bool(np.isclose(ll, ref))
    True
    """
    z, m = _reference_parts(r, L, w)
    with np.errstate(divide="ignore", invalid="ignore"):  # a singular L: NaN, as the numba kernel gives
        return float(-0.5 * np.sum(w * z**2) - m @ np.log(np.diag(L)) - 0.5 * m.sum() * LOG_2PI)


def prefix_mvn_grad_numpy(r: np.ndarray, L: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`prefix_mvn_logp_numpy` with respect to ``r`` and (the lower triangle of) ``L``.

    Examples
    --------
    >>> import numpy as np
    >>> r, L, w = np.array([[0.5, -1.0]]), np.array([[2.0, 0.0], [0.5, 1.5]]), np.ones((1, 2))
    >>> g_r, g_L = prefix_mvn_grad_numpy(r, L, w)
    >>> e = np.array([[1e-6, 0.0]])
    >>> fd = (prefix_mvn_logp_numpy(r + e, L, w) - prefix_mvn_logp_numpy(r - e, L, w)) / 2e-6
    >>> bool(np.isclose(g_r[0, 0], fd))
    True
    """
    from scipy.linalg import solve_triangular

    if _singular(L):
        return np.full(r.shape, np.nan), np.full(L.shape, np.nan)
    z, m = _reference_parts(r, L, w)
    v = solve_triangular(L, (w * z).T, lower=True, trans="T")  # K x n
    g_L = np.tril(v @ z)
    g_L[np.diag_indices_from(g_L)] -= m / np.diag(L)
    return -v.T, g_L


class PrefixMvnLogp(Op):
    """``PrefixMvnLogp()(r, L, w)``: the scalar :math:`\\ell` of the module docstring.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> r, L, w = pt.matrix("r"), pt.matrix("L"), pt.matrix("w")
    >>> ll = PrefixMvnLogp()(r, L, w)
    >>> val = ll.eval({r: np.array([[0.5, -1.0]]), L: np.array([[2.0, 0.0], [0.5, 1.5]]), w: np.ones((1, 2))})
    >>> bool(np.isclose(val, prefix_mvn_logp_numpy(np.array([[0.5, -1.0]]), np.array([[2.0, 0.0], [0.5, 1.5]]),
    ...                                               np.ones((1, 2)))))
    True
    """

    __props__ = ()

    def make_node(self, r: Any, L: Any, w: Any) -> Apply:
        r, L, w = (pt.as_tensor_variable(x) for x in (r, L, w))
        if (r.ndim, L.ndim, w.ndim) != (2, 2, 2):
            raise TypeError(f"PrefixMvnLogp needs matrices r (n x K), L (K x K), w (n x K); got ndims "
                            f"{r.ndim}, {L.ndim}, {w.ndim}")
        return Apply(self, [r, L, w], [pt.dscalar()])

    def perform(self, node: Apply, inputs: list, outputs: list) -> None:
        outputs[0][0] = np.asarray(prefix_mvn_logp_numpy(*inputs), dtype="float64")

    def grad(self, inputs: list, output_grads: list) -> list:
        r, L, w = inputs
        g_r, g_L = PrefixMvnLogpGrad()(r, L, w)
        (g,) = output_grads
        return [g * g_r, g * g_L, pt.zeros_like(w)]


class PrefixMvnLogpGrad(Op):
    """``PrefixMvnLogpGrad()(r, L, w)``: ``(d ell / d r, d ell / d L)`` of :class:`PrefixMvnLogp`.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> r, L, w = pt.matrix("r"), pt.matrix("L"), pt.matrix("w")
    >>> g_r, g_L = PrefixMvnLogpGrad()(r, L, w)
    >>> g_L.eval({r: np.array([[0.5, -1.0]]), L: np.eye(2), w: np.ones((1, 2))}).round(2).tolist()
    [[-0.75, 0.0], [-0.5, 0.0]]
    """

    __props__ = ()

    def make_node(self, r: Any, L: Any, w: Any) -> Apply:
        r, L, w = (pt.as_tensor_variable(x) for x in (r, L, w))
        return Apply(self, [r, L, w], [pt.dmatrix(), pt.dmatrix()])

    def perform(self, node: Apply, inputs: list, outputs: list) -> None:
        g_r, g_L = prefix_mvn_grad_numpy(*inputs)
        outputs[0][0] = np.ascontiguousarray(g_r, dtype="float64")
        outputs[1][0] = np.ascontiguousarray(g_L, dtype="float64")


def prefix_mvn_logp(r: Any, L: Any, w: Any) -> Any:
    """The masked MVN log-likelihood of residuals ``r`` (PyTensor), registering the numba (and JAX) kernels first.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> ll = prefix_mvn_logp(pt.as_tensor(np.array([[1.0, 0.0]])), pt.as_tensor(np.eye(2)),
    ...                      pt.as_tensor(np.array([[1.0, 0.0]])))
    >>> round(float(ll.eval()), 4)  # log N(1 | 0, 1)
    -1.4189
    """
    register_kernels()
    return PrefixMvnLogp()(r, L, w)


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

    # Patients are the inner loop (contiguous rows of z = L^{-1} r', shape K x n), as in LAPACK's
    # multi-right-hand-side solve: the loops vectorise and no division sits on a dependency chain.
    @njit
    def solve(r, L, w, z):  # fills z; returns (sum w z^2, m)
        n, K = r.shape
        m = np.zeros(K)
        quad = 0.0
        for k in range(K):
            inv = 1.0 / L[k, k]
            zk = z[k]
            for i in range(n):
                zk[i] = r[i, k]
            for j in range(k):
                lkj = L[k, j]
                zj = z[j]
                for i in range(n):
                    zk[i] -= lkj * zj[i]
            for i in range(n):
                zk[i] *= inv
                quad += w[i, k] * zk[i] * zk[i]
                m[k] += w[i, k]
        return quad, m

    @njit
    def logp(r, L, w):
        z = np.empty((r.shape[1], r.shape[0]))
        quad, m = solve(r, L, w, z)
        return np.array(-0.5 * quad - np.sum(m * np.log(np.diag(L))) - 0.5 * m.sum() * LOG_2PI)

    @njit
    def grad(r, L, w):
        n, K = r.shape
        z = np.empty((K, n))
        _, m = solve(r, L, w, z)
        v = np.empty((K, n))  # v = L^{-T} (w' * z)
        g_r, g_L = np.empty((n, K)), np.zeros((K, K))
        for k in range(K - 1, -1, -1):
            inv = 1.0 / L[k, k]
            vk, zk = v[k], z[k]
            for i in range(n):
                vk[i] = w[i, k] * zk[i]
            for j in range(k + 1, K):
                ljk = L[j, k]
                vj = v[j]
                for i in range(n):
                    vk[i] -= ljk * vj[i]
            for i in range(n):
                vk[i] *= inv
                g_r[i, k] = -vk[i]
        for k in range(K):
            vk = v[k]
            for j in range(k + 1):
                zj = z[j]
                acc = 0.0
                for i in range(n):
                    acc += vk[i] * zj[i]
                g_L[k, j] = acc
            g_L[k, k] -= m[k] / L[k, k]
        return g_r, g_L

    numba_basic.register_funcify_default_op_cache_key(PrefixMvnLogp)(lambda op, node=None, **kw: (logp, salt))
    numba_basic.register_funcify_default_op_cache_key(PrefixMvnLogpGrad)(lambda op, node=None, **kw: (grad, salt))


def _register_jax() -> None:
    import jax.numpy as jnp
    from jax.scipy.linalg import solve_triangular
    from pytensor.link.jax.dispatch import jax_funcify

    def parts(r, L, w):
        return solve_triangular(L, r.T, lower=True).T, w.sum(axis=0)

    def logp(r, L, w):
        z, m = parts(r, L, w)
        return -0.5 * jnp.sum(w * z**2) - m @ jnp.log(jnp.diag(L)) - 0.5 * m.sum() * LOG_2PI

    def grad(r, L, w):
        z, m = parts(r, L, w)
        v = solve_triangular(L, (w * z).T, lower=True, trans="T")
        return -v.T, jnp.tril(v @ z) - jnp.diag(m / jnp.diag(L))

    jax_funcify.register(PrefixMvnLogp)(lambda op, **kw: logp)
    jax_funcify.register(PrefixMvnLogpGrad)(lambda op, **kw: grad)
