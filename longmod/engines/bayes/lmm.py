"""Bayesian hierarchical LMM (random intercept, or intercept + slope on ``spec.time``).

Two parametrisations of the same model (same priors, same posterior of every
shared parameter), chosen with ``parametrization=``:

- ``"marginal"`` (default): the Gaussian random effects are integrated out
  analytically (:mod:`longmod.engines.bayes.marginal_lmm`). Measured at 500
  patients (``benchmarks/README.md``): bulk ESS per second of the D7 contrast
  1128 vs 135 for the latent form.
- ``"latent"``: the random effects are sampled, non-centred
  (``b = diag(sd) L_corr z``, ``z ~ N(0, 1)``); ``z0``/``z1`` are kept in the
  ``unconstrained_posterior`` group.

Random-effect SDs have the ``random_intercept_sd`` / ``random_slope_sd``
priors, the residual SD ``sigma``, the intercept-slope correlation the LKJ
prior (``correlation``). ``cov_params`` are the covariance table's ``ri`` /
``ris`` parameters (``var(Intercept)``, ``cov(Intercept,time)``,
``var(time)``, ``residual``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from longmod.engines.bayes.marginal_lmm import build_marginal_lmm, patient_loglik_lmm, patient_sums
from longmod.engines.bayes.rvs import PriorVariables

#: Parametrisations of the Bayesian LMM (first = default).
LMM_PARAMETRIZATIONS: tuple[str, ...] = ("marginal", "latent")


def build_latent_lmm(design: Any, y: np.ndarray, subj: np.ndarray, t: np.ndarray, n_subj: int, rv: PriorVariables,
                     slope: bool) -> Any:
    """PyMC model of the LMM with sampled (non-centred) random effects.

    Examples
    --------
    >>> model = build_latent_lmm(design, y, sidx, t, n_subjects, PriorVariables(pri), True)  # doctest: +SKIP
    """
    import pymc as pm
    import pytensor.tensor as pt

    from longmod.engines.bayes.lkj import lkj_corr_cholesky
    from longmod.engines.bayes.mmrm import assemble_theta

    pri = rv.priors
    coords = {"term": design.columns, "cov_param": (["var(Intercept)", "cov(Intercept,time)", "var(time)", "residual"]
                                                    if slope else ["var(Intercept)", "residual"])}
    if design.visits != ("",):
        coords["visit"] = list(design.visits)
    with pm.Model(coords=coords) as model:
        yd = pm.Data("y", y)
        # every per-row container is declared to have y's length (one length: a stable graph cache key)
        n = yd.shape[0]
        X = pt.specify_shape(pm.Data("X", design.Z), (n, None))
        idx = pt.specify_shape(pm.Data("subject_idx", subj), (n,))
        tt = pt.specify_shape(pm.Data("time", t), (n,))
        theta = assemble_theta(design, rv)
        z0 = pm.Normal("z0", 0.0, 1.0, shape=n_subj)
        sigma = rv.scale("sigma")
        if slope:
            sd = pm.Deterministic("re_sd", pt.stack([rv.scale("re_sd_intercept", prior=pri.random_intercept_sd),
                                                     rv.scale("re_sd_slope", prior=pri.random_slope_sd)]))
            Lc = lkj_corr_cholesky("re_corr", 2, rv.eta)
            rho = pm.Deterministic("re_corr", Lc[1, 0])
            z1 = pm.Normal("z1", 0.0, 1.0, shape=n_subj)
            b0 = sd[0] * z0
            b1 = sd[1] * (rho * z0 + Lc[1, 1] * z1)
            mu = pt.dot(X, theta) + b0[idx] + b1[idx] * tt
            pm.Deterministic("cov_params", pt.stack([sd[0] ** 2, sd[0] * sd[1] * rho, sd[1] ** 2, sigma**2]),
                             dims="cov_param")
        else:
            sd0 = rv.scale("re_sd", prior=pri.random_intercept_sd)
            mu = pt.dot(X, theta) + (sd0 * z0)[idx]
            pm.Deterministic("cov_params", pt.stack([sd0**2, sigma**2]), dims="cov_param")
        pm.Normal("obs", mu=mu, sigma=sigma, observed=yd, shape=n)
    return model


def lmm_model(spec: Any, data: pd.DataFrame, param: str, setup: Callable[[Any, pd.DataFrame], Any]) -> dict[str, Any]:
    """Everything an LMM fit needs before sampling (design, priors, builder, key, log-likelihood, predictive).

    Examples
    --------
    >>> m = lmm_model(spec, long_data, "marginal", _setup)  # doctest: +SKIP
    >>> model = m["build"]()  # doctest: +SKIP
    """
    from longmod.engines.bayes.idata import simulate_mvn

    design, pri = setup(spec, data)
    prep = design.prep
    slope = spec.covariance == "ris"
    t = prep.frame[spec.time].to_numpy(dtype=float) if spec.time else np.zeros(len(prep.y))
    subj = np.asarray(prep.subject, dtype=int)
    n_subj = int(subj.max()) + 1
    X = np.asarray(prep.X, dtype=float)
    if param == "marginal":
        sums = patient_sums(design.Z, prep.y, t, subj, n_subj)

        def build() -> Any:
            return build_marginal_lmm(design, prep.y, sums, PriorVariables(pri), slope)
    else:
        def build() -> Any:
            return build_latent_lmm(design, prep.y, subj, t, n_subj, PriorVariables(pri), slope)

    def loglik(beta: np.ndarray, post: Any) -> np.ndarray:
        rho = post["re_corr"].values if slope else None
        return patient_loglik_lmm(X, prep.y, t, subj, n_subj, beta, post["sigma"].values,
                                  post["re_sd"].values, rho)

    def prior_predictive(prior: Any, seed: int) -> np.ndarray:
        beta = prior["beta"].values[0]  # (D, p)
        phi = prior["cov_params"].values[0]
        D = len(beta)
        out = np.empty((D, len(prep.y)))
        rng_seed = seed
        for i in range(n_subj):  # per patient: y_i ~ N(X_i beta, Z_i G Z_i' + s2 I)
            rows = np.flatnonzero(subj == i)
            Zi = np.column_stack([np.ones(len(rows)), t[rows]])[:, : 2 if slope else 1]
            if slope:
                G = np.stack([np.stack([phi[:, 0], phi[:, 1]], -1), np.stack([phi[:, 1], phi[:, 2]], -1)], -2)
            else:
                G = phi[:, 0][:, None, None]
            V = Zi @ G @ Zi.T + phi[:, -1][:, None, None] * np.eye(len(rows))
            out[:, rows] = simulate_mvn((beta @ X[rows].T)[:, None, :], V, rng_seed + i)[:, 0]
        return out

    key = ("lmm", param, slope, len(design.theta_names), design.intercept, tuple(design.effect_idx.tolist()),
           tuple(design.coef_idx.tolist()), tuple(design.effect_map.tolist()), len(design.visits),
           pri.intercept.family, pri.treatment.family,
           tuple(pri.coefficients[design.theta_names[k]].family for k in design.coef_idx), pri.sigma.family,
           pri.random_intercept_sd.family, pri.random_slope_sd.family, n_subj if param == "latent" else None)
    diagnostics = ("sigma", "re_sd", "re_corr") if slope else ("sigma", "re_sd")
    return {"design": design, "priors": pri, "build": build, "key": key, "loglik": loglik,
            "prior_predictive": prior_predictive, "diagnostics": diagnostics}
