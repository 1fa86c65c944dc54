"""Bayesian engine (PyMC models sampled with nutpie; PyMC NUTS as fallback).

PyMC, PyTensor and nutpie are imported only inside the fitting functions, so
importing this package is cheap and has no side effects. The first fitting
call points PyTensor's compile cache at a persistent folder (see
:func:`longmod.engines.bayes.runtime.configure_pytensor`).
"""

from longmod.engines.bayes.summary_grid import (
    normal_posterior,
    prior_grid,
    prior_grid_reanalysis,
    se_from_ci,
)

__all__ = ["normal_posterior", "prior_grid", "prior_grid_reanalysis", "se_from_ci"]
