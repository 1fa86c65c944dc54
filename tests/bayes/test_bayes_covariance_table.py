"""The Bayesian MMRM reads the native core's covariance table: Sigma(phi) is the table's own function.

For every structure the Bayesian engine supports, the covariance it builds
symbolically (PyTensor, through :func:`symbolic_sigma`) equals the native
``structure.sigma(phi, t)`` at several parameter values (tolerance 1e-12
relative: the same arithmetic in float64), and the Bayesian parametrisation
of each structure (SDs and correlations drawn from their priors) gives a
valid ``phi``: the matrix is symmetric positive definite at prior draws.
"""

from __future__ import annotations

import numpy as np
import pytest

from longmod.engines.bayes import runtime
from longmod.engines.bayes.covstruct import PARAMETRISATIONS, bayes_structures, check_structure, symbolic_sigma
from longmod.engines.core.covariance import COVARIANCE_TABLE

T = np.array([1.0, 2.0, 4.0, 7.0, 14.0])


def _phi_values(s, K, rng):
    """Valid phi: the table's own map of random unconstrained theta."""
    return [s.to_phi(rng.normal(scale=0.7, size=s.n_par(K)), K) for _ in range(3)]


def test_every_mmrm_structure_of_the_table_is_covered_or_named():
    supported = set(bayes_structures())
    mmrm = {n for n, s in COVARIANCE_TABLE.items() if s.kind == "mmrm"}
    assert {"us", "cs", "ar1", "toep"} <= supported
    assert supported <= mmrm and supported == set(PARAMETRISATIONS) & mmrm
    with pytest.raises(ValueError, match=r"supports us, ind, cs"):
        check_structure("ris", "m")
    with pytest.raises(ValueError, match="not in the covariance table"):
        check_structure("nope", "m")


@pytest.mark.parametrize("name", bayes_structures())
def test_symbolic_sigma_equals_native_sigma(name):
    import pytensor
    import pytensor.tensor as pt

    runtime.configure_pytensor()
    s = COVARIANCE_TABLE[name]
    K = len(T)
    phi = pt.vector("phi", shape=(s.n_par(K),))
    S, nug = symbolic_sigma(s, phi, T)
    f = pytensor.function([phi], [S, nug], mode="FAST_COMPILE")
    for value in _phi_values(s, K, np.random.default_rng(3)):
        native, native_nug = s.sigma(np.asarray(value, dtype=float), T)
        got, got_nug = f(np.asarray(value, dtype=float))
        np.testing.assert_allclose(got, native, rtol=1e-12, atol=1e-12 * np.abs(native).max())
        assert float(got_nug) == pytest.approx(float(np.real(native_nug)))


@pytest.mark.parametrize("name", bayes_structures())
def test_bayesian_parametrisation_gives_positive_definite_sigma(name):
    import pymc as pm

    from longmod.engines.bayes.priors import resolve_priors
    from longmod.engines.bayes.rvs import PriorVariables

    runtime.configure_pytensor()
    s = COVARIANCE_TABLE[name]
    K = len(T)
    with pm.Model():
        rv = PriorVariables(resolve_priors({"sigma": {"sigma": 3.0}}, ["x"], mcid=None))
        cov = PARAMETRISATIONS[name].build(K, T, rv)
        outs = [cov.phi] if cov.cholesky is None else [cov.phi, cov.cholesky]
        draws = pm.draw(outs, draws=50, random_seed=1)
    assert draws[0].shape == (50, s.n_par(K))
    for i, ph in enumerate(draws[0]):
        S, nug = s.sigma(ph, T)
        S = np.asarray(S) + float(np.real(nug)) * np.eye(K)
        np.testing.assert_allclose(S, S.T)
        assert np.linalg.eigvalsh(S).min() > 0, (name, ph)
        if cov.cholesky is not None:
            # the factor the likelihood uses in place of cholesky(sigma(phi, t)): the same matrix's factor
            L = draws[1][i]
            np.testing.assert_allclose(L, np.tril(L))
            assert np.all(np.diag(L) > 0)
            np.testing.assert_allclose(L, np.linalg.cholesky(S), rtol=1e-10, atol=1e-12 * np.abs(L).max())
