"""The LKJ Cholesky Op (``longmod.engines.bayes.lkj``) against PyTensor's own graph and finite differences.

References: the same formula written with PyTensor's operations (indexed
assignment, cumulative product: what ``lkj_corr_cholesky`` built before the
Op), the defining property of a correlation factor (``L L'`` has a unit
diagonal, ``L`` is lower triangular with a positive diagonal), and central
finite differences for the gradient (``pytensor.gradient.verify_grad``); in
PyTensor's numba mode (the sampler's) and its Python mode (the NumPy ``perform``).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode

from longmod.engines.bayes import lkj, runtime
from longmod.engines.bayes.lkj import LkjCholesky, LkjCholeskyGrad

from .kernel_cache import assert_cache_key_follows_code

MODES = {"numba": "NUMBA", "python": Mode(linker="py", optimizer="fast_run")}


@pytest.fixture(autouse=True, scope="module")
def _pytensor_configured():
    runtime.configure_pytensor()
    lkj.register_kernels()


def _pytensor_formula(z, d):
    rows, cols = np.tril_indices(d, -1)
    Z = pt.set_subtensor(pt.zeros((d, d))[rows, cols], z)
    P = pt.concatenate([pt.ones((d, 1)), pt.cumprod(1.0 - Z**2, axis=1)[:, :-1]], axis=1)
    return (Z + pt.eye(d)) * pt.sqrt(P)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("d", [1, 2, 3, 7, 12])
def test_value_and_gradient_equal_pytensors_own_graph(mode, d):
    rng = np.random.default_rng(d)
    zv = rng.uniform(-0.95, 0.95, d * (d - 1) // 2)
    Gv = rng.normal(size=(d, d))
    z, G = pt.vector("z"), pt.matrix("G")
    outs = []
    for L in (LkjCholesky(d)(z), _pytensor_formula(z, d)):
        e = pt.sum(L * G)
        outs.append(pytensor.function([z, G], [L, pt.grad(e, z)], mode=MODES[mode], on_unused_input="ignore")(zv, Gv))
    (L, g), (L_ref, g_ref) = outs
    np.testing.assert_allclose(L, L_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-12)
    assert np.allclose(np.diag(L @ L.T), 1.0) and np.all(np.triu(L, 1) == 0.0) and np.all(np.diag(L) > 0)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_gradient_matches_finite_differences(mode):
    rng = np.random.default_rng(5)
    G = rng.normal(size=(5, 5))
    pytensor.gradient.verify_grad(lambda z: pt.sum(LkjCholesky(5)(z) * G), [rng.uniform(-0.9, 0.9, 10)],
                                  rng=np.random.default_rng(0), mode=MODES[mode], abs_tol=1e-6, rel_tol=1e-6)


def test_numba_kernels_are_cached_under_a_key_that_follows_the_code(monkeypatch):
    z, G = pt.vector("z"), pt.matrix("G")
    nodes = [LkjCholesky(4).make_node(z), LkjCholeskyGrad(4).make_node(z, G), LkjCholesky(5).make_node(z)]
    assert_cache_key_follows_code(monkeypatch, lkj, nodes, ("P *= 1.0", "P *= 2.0"))  # d is part of the key


def test_a_matrix_input_is_refused():
    with pytest.raises(TypeError, match="needs a vector"):
        LkjCholesky(3)(pt.matrix("z"))


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_partial_correlation_of_one_gives_a_non_finite_gradient_not_an_error(mode):
    z = pt.vector("z")
    L = LkjCholesky(3)(z)
    f = pytensor.function([z], [L, pt.grad(pt.sum(L), z)], mode=MODES[mode])
    Lv, g = f(np.array([1.0, 0.2, 0.3]))
    assert np.allclose(np.diag(Lv @ Lv.T), 1.0) and not np.all(np.isfinite(g))
