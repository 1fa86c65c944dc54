"""Bayesian random-effects meta-analysis (PyMC, normal-normal hierarchical model).

``y_i ~ N(theta_i, se_i^2)``, ``theta_i = mu + tau z_i`` (non-centred,
``z_i ~ N(0, 1)``), ``mu ~ N(mu_mean, mu_sd^2)`` and ``tau`` from a
:class:`~longmod.engines.meta.priors.HeterogeneityPrior` (half-normal on
``tau``, or log-normal on ``tau^2`` which is ``tau ~ LogNormal(mu/2, sigma/2)``).
The sampler works on ``log tau`` with the declared prior density of ``tau``
(and its Jacobian) added as a potential; the family is a data value, so one
compiled model serves every prior and study set.
The predictive distribution of a new study's true effect is ``theta_new = mu
+ tau z_new`` with ``z_new ~ N(0, 1)`` sampled with the rest.

Rows: ``mu`` (the mean effect; ``prob_benefit`` in the declared direction and
``prob_mcid`` beyond a declared MCID), ``tau`` and ``theta_new`` (its
interval is the Bayesian prediction interval; ``prob_benefit`` = probability
that a new trial's true effect favours the active arm). Sampling goes through
:func:`longmod.engines.bayes.runtime.sample_model` (nutpie, BLAS threads
limited); diagnostics are columns of every row. The posterior is validated
against exact numerical integration in R (``tests/reference/metafor``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from longmod.engines.meta.priors import HeterogeneityPrior

DEFAULT_SAMPLER: Mapping[str, Any] = {"chains": 4, "draws": 2000, "tune": 2000, "target_accept": 0.95}


def _build(y: np.ndarray, se: np.ndarray, hyper: np.ndarray):
    """One model for both prior families: the family is data (``hyper[2]``), so one compiled model serves all."""
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model() as model:
        yd = pm.Data("y", y)
        sd = pt.specify_shape(pm.Data("se", se), (yd.shape[0],))
        # mu_mean, mu_sd, is_half_normal, half-normal scale, log-normal mu and sigma (of log tau^2)
        h = pm.Data("hyper", hyper)
        mu = pm.Normal("mu", mu=h[0], sigma=h[1])
        log_tau = pm.Flat("log_tau")
        tau = pm.Deterministic("tau", pt.exp(log_tau))
        half_normal = pt.log(2.0) + pm.logp(pm.Normal.dist(0.0, h[3]), tau)
        log_normal = pm.logp(pm.Normal.dist(h[4] / 2, h[5] / 2), log_tau) - log_tau  # density of tau
        # prior density of tau in the declared family, times the Jacobian d tau / d log_tau = tau
        pm.Potential("tau_prior", pt.switch(pt.gt(h[2], 0.5), half_normal, log_normal) + log_tau)
        z = pm.Normal("z", 0.0, 1.0, shape=yd.shape[0])
        pm.Normal("obs", mu=mu + tau * z, sigma=sd, observed=yd, shape=yd.shape[0])
        z_new = pm.Normal("z_new", 0.0, 1.0)
        pm.Deterministic("theta_new", mu + tau * z_new)
    return model


def bayes_meta(
    y: Sequence[float],
    se: Sequence[float],
    *,
    tau_prior: HeterogeneityPrior,
    mu_mean: float = 0.0,
    mu_sd: float,
    higher_is_better: bool,
    mcid: float | None = None,
    sampler: Mapping[str, Any] | None = None,
) -> tuple[dict[str, dict[str, Any]], Any, Any]:
    """Sample the random-effects posterior and summarise mu, tau and theta_new.

    Parameters
    ----------
    y, se : sequence of float
        Study estimates and standard errors (analysis scale).
    tau_prior : HeterogeneityPrior
    mu_mean, mu_sd : float
        Normal prior of the mean effect (``mu_sd`` must be declared: e.g. 2.82
        for a log odds ratio, Günhan et al. 2020; a clinical range in outcome
        units for a mean difference).
    higher_is_better : bool
        Direction of benefit on the analysis scale (False for a log odds ratio
        of death).
    mcid : float, optional
        Minimal clinically important effect (> 0, on the analysis scale).
    sampler : mapping, optional
        Keys of :data:`longmod.engines.bayes.runtime.SAMPLER_KEYS`; defaults
        :data:`DEFAULT_SAMPLER` (4 x 2000 draws, target_accept 0.95).

    Returns
    -------
    summaries : dict
        ``{"mu": ..., "tau": ..., "theta_new": ...}``, each from
        :func:`longmod.engines.bayes.summaries.summarise_draws`.
    idata : arviz.InferenceData
    info : longmod.engines.bayes.runtime.SampleInfo

    Examples
    --------
    >>> from longmod.engines.meta.priors import half_normal
    >>> s, idata, info = bayes_meta([-1.99, -0.35, 0.15], [1.52, 0.62, 0.48], tau_prior=half_normal(0.5),
    ...                             mu_sd=2.82, higher_is_better=False, sampler={"draws": 500, "chains": 2})  # doctest: +SKIP
    >>> s["mu"]["prob_benefit"], s["theta_new"]["conf_low"]  # doctest: +SKIP
    """
    from longmod.engines.bayes import runtime
    from longmod.engines.bayes.summaries import count_divergences, summarise_draws
    from longmod.engines.meta.frequentist import _check

    y, se = _check(y, se)
    if not mu_sd > 0:
        raise ValueError(f"mu_sd must be > 0, got {mu_sd}")
    runtime.configure_pytensor()
    settings = runtime.SamplerSettings.from_mapping({**DEFAULT_SAMPLER, **dict(sampler or {})})
    if tau_prior.kind == "half_normal":
        hyper = np.array([mu_mean, mu_sd, 1.0, tau_prior.scale, 0.0, 1.0])
    else:
        hyper = np.array([mu_mean, mu_sd, 0.0, 1.0, tau_prior.mu, tau_prior.sigma])
    # data and prior (family and values) enter through with_data; the study count sets the shape of z
    key = ("meta_re", len(y))
    idata, info = runtime.sample_model(lambda: _build(y, se, hyper),
                                       {"y": y, "se": se, "hyper": hyper}, settings, cache_key=key)
    div = count_divergences(idata)
    m = float(mcid) if mcid is not None else np.nan
    out = {}
    for name in ("mu", "tau", "theta_new"):
        draws = idata.posterior[name].values
        s = summarise_draws(draws, mcid=m if np.isfinite(m) else 1.0, divergences=div, higher_is_better=higher_is_better)
        if not np.isfinite(m) or name == "tau":
            s["prob_mcid"] = np.nan
        if name == "tau":
            s["prob_benefit"] = s["prob_harm"] = np.nan
        out[name] = s
    return out, idata, info


def bayes_meta_rows(
    studies: pd.DataFrame,
    *,
    analysis: str,
    outcome: str,
    contrast: str,
    tau_prior: HeterogeneityPrior,
    mu_sd: float,
    higher_is_better: bool,
    mu_mean: float = 0.0,
    mcid: float | None = None,
    estimand: str | None = None,
    day: float | None = None,
    estimate: str = "estimate",
    std_error: str = "std_error",
    n_patients: str | None = None,
    sampler: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Bayesian random-effects meta-analysis as common-schema rows.

    Returns
    -------
    pandas.DataFrame
        Three rows, ``parameter`` = ``"mu"``, ``"tau"``, ``"theta_new"``:
        ``estimate`` = posterior mean (``posterior_median`` too),
        ``std_error`` = posterior SD, ``conf_*`` = 95% equal-tailed interval
        (for ``theta_new`` the prediction interval), ``prob_benefit``
        (``mu`` and ``theta_new``), ``prob_mcid``, ``r_hat``, ``ess_bulk``,
        ``divergences``, ``diagnostics_ok``, ``tau_prior`` (label),
        ``tau_prior_source``, ``mu_prior``, ``direction``, ``sampler``.

    Examples
    --------
    >>> s = pd.DataFrame({"estimate": [-1.99, -0.3, 0.2], "std_error": [1.52, 0.6, 0.5]})
    >>> from longmod.engines.meta.priors import turner2015
    >>> rows = bayes_meta_rows(s, analysis="meta", outcome="death", contrast="msc - control",
    ...                        tau_prior=turner2015("all-cause mortality"), mu_sd=2.82,
    ...                        higher_is_better=False, sampler={"draws": 500, "chains": 2})  # doctest: +SKIP
    """
    from longmod.engines.bayes import runtime
    from longmod.results.schema import effects_frame

    for c in (estimate, std_error) + ((n_patients,) if n_patients else ()):
        if c not in studies.columns:
            raise ValueError(f"column {c!r} not found in the study table; columns are: {', '.join(map(str, studies.columns))}")
    summ, _, info = bayes_meta(studies[estimate].to_numpy(float), studies[std_error].to_numpy(float),
                               tau_prior=tau_prior, mu_mean=mu_mean, mu_sd=mu_sd, higher_is_better=higher_is_better,
                               mcid=mcid, sampler=sampler)
    v = runtime.versions()
    direction = "higher is better" if higher_is_better else "lower is better"
    rows = []
    for name, s in summ.items():
        rows.append({"analysis": analysis, "estimand": estimand, "outcome": outcome, "day": day, "contrast": contrast,
                     "df": np.nan, "p_value": np.nan, "engine": "pymc", "engine_version": v["pymc"],
                     "n_obs": len(studies), "n_patients": float(studies[n_patients].sum()) if n_patients else np.nan,
                     **{k: s[k] for k in ("estimate", "std_error", "conf_low", "conf_high", "prob_benefit", "prob_mcid",
                                          "r_hat", "ess_bulk", "divergences", "posterior_median", "ess_tail",
                                          "mcse_mean", "diagnostics_ok", "diagnostic_flags")},
                     "parameter": name, "tau_prior": tau_prior.label, "tau_prior_source": tau_prior.source,
                     "mu_prior": f"mu ~ N({mu_mean:g}, {mu_sd:g}^2)", "direction": direction,
                     "sampler": info.backend, "sampler_warnings": "; ".join(info.warnings)})
    return effects_frame(rows)
