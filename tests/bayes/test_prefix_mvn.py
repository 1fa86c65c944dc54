"""The MMRM's fused likelihood Op (``longmod.engines.bayes.prefix_mvn``) against SciPy and finite differences.

References: SciPy's ``multivariate_normal.logpdf`` of each patient's observed
prefix (independent of the Op), PyTensor's own graph of the same expression
(triangular solve + reductions, what ``build_mmrm`` used before the Op) for
arbitrary weights, and central finite differences for the gradients
(``pytensor.gradient.verify_grad``). Each in PyTensor's numba mode (the
sampler's) and its Python mode (the Op's NumPy ``perform``).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from pytensor.tensor.slinalg import solve_triangular
from scipy import stats

from longmod.engines.bayes import runtime
from longmod.engines.bayes.covstruct import LOG_2PI
from longmod.engines.bayes.prefix_mvn import PrefixMvnLogp, PrefixMvnLogpGrad, prefix_mvn_logp

from .kernel_cache import assert_cache_key_follows_code

MODES = {"numba": "NUMBA", "python": Mode(linker="py", optimizer="fast_run")}


@pytest.fixture(autouse=True, scope="module")
def _pytensor_configured():
    """PyTensor's flags and compile cache as longmod sets them (BLAS found, the session's cache)."""
    runtime.configure_pytensor()


def _case(seed: int, n: int, K: int, prefix: bool = True):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(K, K))
    S = A @ A.T + 0.5 * np.eye(K)
    last = rng.integers(0, K, n)
    w = (np.arange(K)[None, :] <= last[:, None]).astype(float) if prefix else rng.random((n, K)).round(1)
    r = rng.normal(scale=2.0, size=(n, K)) * (w > 0)
    return r, S, w


def _function(mode: str, grad: bool = True):
    r, L, w = pt.matrix("r"), pt.matrix("L"), pt.matrix("w")
    ll = prefix_mvn_logp(r, L, w)
    outs = [ll, *pt.grad(ll, [r, L])] if grad else [ll]
    return pytensor.function([r, L, w], outs, mode=MODES[mode])


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("seed,n,K", [(1, 45, 7), (2, 3, 1), (3, 200, 10), (4, 1, 4)])
def test_log_likelihood_is_scipys_per_patient_sum(mode, seed, n, K):
    r, S, w = _case(seed, n, K)
    (ll,) = _function(mode, grad=False)(r, np.linalg.cholesky(S), w)
    ref = sum(stats.multivariate_normal(np.zeros(int(m.sum())), S[np.ix_(m > 0, m > 0)]).logpdf(ri[m > 0])
              for ri, m in zip(r, w))
    assert float(ll) == pytest.approx(ref, rel=1e-12, abs=1e-9)


def _pytensor_expression():
    """The expression ``build_mmrm`` wrote with PyTensor's own operations before the Op."""
    r, L, w = pt.matrix("r"), pt.matrix("L"), pt.matrix("w")
    z = solve_triangular(L, r.T, lower=True)
    m = w.sum(axis=0)
    ll = -0.5 * pt.sum(z**2 * w.T) - pt.dot(m, pt.log(pt.diag(L))) - 0.5 * pt.sum(m) * LOG_2PI
    return pytensor.function([r, L, w], [ll, *pt.grad(ll, [r, L])])


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("prefix", [True, False], ids=["prefix-masks", "any-weights"])
def test_value_and_gradient_equal_pytensors_own_graph(mode, prefix):
    r, S, w = _case(5, 60, 6, prefix=prefix)
    L = np.linalg.cholesky(S)
    got, ref = _function(mode)(r, L, w), _pytensor_expression()(r, L, w)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[2], np.tril(ref[2]), rtol=1e-10, atol=1e-12)
    assert np.all(np.triu(got[2], 1) == 0.0)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_gradient_matches_finite_differences(mode):
    r, S, w = _case(6, 8, 4)
    L = np.linalg.cholesky(S)
    lower = np.tril_indices(4)

    def of_r_and_lower(r_, l_):  # L through its lower triangle, as every structure builds it
        Lm = pt.zeros((4, 4))
        Lm = pt.set_subtensor(Lm[lower], l_)
        return prefix_mvn_logp(r_, Lm, pt.as_tensor(w))

    pytensor.gradient.verify_grad(of_r_and_lower, [r, L[lower]], rng=np.random.default_rng(0),
                                  mode=MODES[mode], abs_tol=1e-6, rel_tol=1e-6)


def test_numba_kernels_are_cached_under_a_key_that_follows_the_code(monkeypatch):
    from longmod.engines.bayes import prefix_mvn

    r, L, w = pt.matrix("r"), pt.matrix("L"), pt.matrix("w")
    nodes = [PrefixMvnLogp().make_node(r, L, w), PrefixMvnLogpGrad().make_node(r, L, w)]
    assert_cache_key_follows_code(monkeypatch, prefix_mvn, nodes, ("quad +=", "quad -="))


def test_wrong_ranks_are_refused():
    with pytest.raises(TypeError, match="needs matrices r"):
        PrefixMvnLogp()(pt.vector("r"), pt.matrix("L"), pt.matrix("w"))


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_zero_on_the_diagonal_gives_a_non_finite_value_not_an_error(mode):
    """The sampler rejects a non-finite log density; an exception inside numba would not be a rejection."""
    r, S, w = _case(7, 10, 3)
    L = np.linalg.cholesky(S)
    L[1, 1] = 0.0
    ll, g_r, g_L = _function(mode)(r, L, w)
    assert not np.isfinite(ll) and not np.all(np.isfinite(g_r)) and not np.all(np.isfinite(g_L))
