"""Bayesian engine (PyMC models sampled with nutpie; PyMC NUTS as a reported fallback).

PyMC, PyTensor and nutpie are imported only inside the fitting functions, so
importing this package is cheap and has no side effects. The first fitting
call points PyTensor's compile cache at a persistent folder
(:func:`longmod.engines.bayes.pytensor_setup.configure_pytensor`).

Public functions
----------------
fit_bayes
    Dispatch a ModelSpec: ANCOVA (no ``visit``), LMM (``ri``/``ris``) or MMRM
    (a structure of the covariance table: ``us``, ``cs``, ``ar1``, ``toep``, ...).
fit_bayes_ancova, fit_bayes_longitudinal
    The model families.
compare_covariances
    Fit one MMRM spec with several covariance structures and rank them (PSIS-LOO).
prior_effect_check
    Prior draws of the per-visit treatment contrasts (the declared prior, checked).
prior_predictive_ancova
    Prior draws of the ANCOVA.
prior_grid_reanalysis
    Closed-form reanalysis of a published estimate + 95% CI over a prior grid.
save_inference_data
    InferenceData to netCDF with provenance attributes.
"""

from longmod.engines.bayes.ancova import fit_bayes_ancova, prior_predictive_ancova
from longmod.engines.bayes.compare import compare_covariances
from longmod.engines.bayes.longitudinal import fit_bayes, fit_bayes_longitudinal
from longmod.engines.bayes.prior_check import prior_effect_check
from longmod.engines.bayes.summaries import save_inference_data
from longmod.engines.bayes.summary_grid import (
    normal_posterior,
    prior_grid,
    prior_grid_reanalysis,
    se_from_ci,
)

__all__ = [
    "compare_covariances",
    "fit_bayes",
    "fit_bayes_ancova",
    "fit_bayes_longitudinal",
    "normal_posterior",
    "prior_effect_check",
    "prior_grid",
    "prior_grid_reanalysis",
    "prior_predictive_ancova",
    "save_inference_data",
    "se_from_ci",
]
