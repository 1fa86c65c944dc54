"""Bayesian engine (PyMC models sampled with nutpie; PyMC NUTS as fallback).

PyMC, PyTensor and nutpie are imported only inside the fitting functions, so
importing this package is cheap and has no side effects. The first fitting
call points PyTensor's compile cache at a persistent folder (see
:func:`longmod.engines.bayes.runtime.configure_pytensor`).

Public functions
----------------
prior_grid_reanalysis
    Closed-form reanalysis of a published estimate + 95% CI over a prior grid.
fit_bayes
    Dispatch a ModelSpec: ANCOVA (no ``visit``), LMM (``ri``/``ris``) or MMRM (``us``).
fit_bayes_ancova, fit_bayes_longitudinal
    The two model families.
prior_predictive_ancova
    Prior predictive draws of the ANCOVA.
save_inference_data
    InferenceData to netCDF with provenance attributes.
"""

from longmod.engines.bayes.ancova import fit_bayes_ancova, prior_predictive_ancova
from longmod.engines.bayes.longitudinal import fit_bayes, fit_bayes_longitudinal
from longmod.engines.bayes.summaries import save_inference_data
from longmod.engines.bayes.summary_grid import (
    normal_posterior,
    prior_grid,
    prior_grid_reanalysis,
    se_from_ci,
)

__all__ = [
    "fit_bayes",
    "fit_bayes_ancova",
    "fit_bayes_longitudinal",
    "normal_posterior",
    "prior_grid",
    "prior_grid_reanalysis",
    "prior_predictive_ancova",
    "save_inference_data",
    "se_from_ci",
]
