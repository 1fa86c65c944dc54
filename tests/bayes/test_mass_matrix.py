"""The sampler's ``mass_matrix`` option: passed to nutpie, recorded, and never silently lost.

``low_rank`` is nutpie's diagonal-plus-low-rank mass-matrix adaptation; the
sampler reports its eigenvalue count (``num_eigenvalues``) in the sample
statistics only when it runs, so the tests read the sampler's own output.
Both adaptations sample the same posterior: the means of a 2-parameter
model with a strongly correlated posterior (only ``mu[0] + mu[1]`` is
identified by the data, the difference by the N(0, 10) prior) agree with
the exact conjugate posterior within 5 Monte Carlo standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from longmod.engines.bayes import runtime

Y = np.array([1.0, 2.0, 1.5])


def _build():
    import pymc as pm

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0, shape=2)
        pm.Normal("y", mu[0] + mu[1], 1.0, observed=Y)
    return model


def _exact_mean() -> np.ndarray:
    """Posterior mean of mu under N(0, 100 I) and y ~ N(a'mu, 1), a = (1, 1)."""
    a = np.ones((1, 2))
    prec = np.eye(2) / 100.0 + len(Y) * a.T @ a
    return np.linalg.solve(prec, a.T[:, 0] * Y.sum())


@pytest.mark.parametrize("mass_matrix", ["diag", "low_rank"])
def test_nutpie_runs_the_declared_mass_matrix_and_records_it(mass_matrix):
    import arviz as az

    settings = runtime.SamplerSettings.from_mapping(
        {"chains": 2, "draws": 400, "tune": 400, "cores": 1, "seed": 3, "mass_matrix": mass_matrix})
    idata, info = runtime.sample_model(_build, {}, settings)
    assert info.backend == "nutpie" and info.mass_matrix == mass_matrix
    assert idata.attrs["mass_matrix"] == mass_matrix
    assert ("num_eigenvalues" in idata.sample_stats) == (mass_matrix == "low_rank")
    summ = az.summary(idata, var_names=["mu"], round_to="none")
    assert (np.abs(summ["mean"].to_numpy() - _exact_mean()) < 5 * summ["mcse_mean"].to_numpy()).all()


def test_a_pymc_fallback_says_the_mass_matrix_is_diagonal(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(runtime, "_nutpie_compile", fail)
    settings = runtime.SamplerSettings.from_mapping(
        {"chains": 1, "draws": 50, "tune": 50, "cores": 1, "seed": 3, "mass_matrix": "low_rank"})
    idata, info = runtime.sample_model(_build, {}, settings)
    assert info.backend == "pymc" and info.mass_matrix == "diag" == idata.attrs["mass_matrix"]
    assert any("a diagonal mass matrix, not 'low_rank'" in w for w in info.warnings), info.warnings


def test_unknown_mass_matrix_is_refused_with_the_valid_values():
    with pytest.raises(runtime.SamplerError, match="mass_matrix must be one of diag, low_rank, got 'full'"):
        runtime.SamplerSettings.from_mapping({"mass_matrix": "full"})
