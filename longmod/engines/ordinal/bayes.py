"""Bayesian cumulative-logit model with a random intercept per patient (PyMC).

Same model and parameterisation as :mod:`longmod.engines.ordinal.cumlogit`:
``logit P(Y_ij <= k) = theta_k - x_ij' beta - sigma_b u_i`` (``u_i ~ N(0, 1)``,
non-centred), ``P(Y = k)`` by PyMC's ``OrderedLogistic`` (which uses exactly
this form). Without a subject column the random intercept is left out (the
proportional-odds model on one day).

Priors (declared, never tuned to the data; recorded in every row):
``beta ~ N(0, beta_sd^2)`` (log odds ratio scale; default 2.5, i.e. odds
ratios within about 1/130 to 130), thresholds ``theta ~ N(0, theta_sd^2)``
constrained to increase (default 5), ``sigma_b ~ HalfNormal(sigma_sd)``
(default 2.5).

The treatment row reports the log odds ratio of a *better* category (active
vs reference): ``prob_benefit`` = P(OR > 1) in that direction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.engines.ordinal.design import OrdinalData

DEFAULT_PRIORS: Mapping[str, float] = {"beta_sd": 2.5, "theta_sd": 5.0, "sigma_sd": 2.5}
DEFAULT_SAMPLER: Mapping[str, Any] = {"chains": 4, "draws": 1000, "tune": 1000, "target_accept": 0.9}


def _build(od: OrdinalData, priors: Mapping[str, float]):
    import pymc as pm
    import pytensor.tensor as pt

    K1 = od.n_levels - 1
    start = np.linspace(-2, 2, K1) if K1 > 1 else np.zeros(1)
    with pm.Model() as model:
        y = pm.Data("y", od.y)
        X = pt.specify_shape(pm.Data("X", od.X), (y.shape[0], od.X.shape[1]))
        hp = pm.Data("hyper", np.array([priors["beta_sd"], priors["theta_sd"], priors["sigma_sd"]], dtype=float))
        beta = pm.Normal("beta", 0.0, hp[0], shape=od.X.shape[1])
        theta = pm.Normal("theta", 0.0, hp[1], shape=K1, transform=pm.distributions.transforms.ordered,
                          initval=start)
        eta = pt.dot(X, beta)
        if od.group is not None:
            g = pt.specify_shape(pm.Data("group", od.group), (y.shape[0],))
            sigma_b = pm.HalfNormal("sigma_b", hp[2])
            # non-centred; the arm effect is informed only between patients, so it trades off against
            # the arm's mean intercept: measured ess_bulk ~ 20% of the draws for the treatment effect
            # (243 of 2 x 600 on tests/reference/ordinal/who_long.csv; the centred form gave 209 and
            # r_hat 1.018), so keep >= 2 x 1500 draws when ess_bulk >= 400 is wanted
            u = pm.Normal("u", 0.0, 1.0, shape=od.n_patients)
            eta = eta + sigma_b * u[g]
        pm.OrderedLogistic("obs", eta=eta, cutpoints=theta, observed=y, shape=y.shape[0])
    return model


def fit_bayes_ordinal(
    od: OrdinalData,
    *,
    priors: Mapping[str, float] | None = None,
    sampler: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], Any, Any]:
    """Sample the Bayesian cumulative-logit model.

    Returns
    -------
    summary : dict
        :func:`longmod.engines.bayes.summaries.summarise_draws` of the log
        odds ratio of a better category (``prob_benefit`` = P(OR > 1)).
    idata : arviz.InferenceData
        Posterior of ``beta`` (R convention), ``theta``, ``sigma_b``.
    info : longmod.engines.bayes.runtime.SampleInfo

    Examples
    --------
    >>> from longmod.engines.ordinal.design import ordinal_data
    >>> d = pd.DataFrame({"who": [3, 4, 5, 3, 6, 4, 4, 5, 3, 3], "arm": ["a", "b"] * 5})
    >>> od = ordinal_data(d, outcome="who", levels=range(11), better="lower", fixed="arm", treatment="arm", arms=("a", "b"))
    >>> s, idata, info = fit_bayes_ordinal(od, sampler={"draws": 300, "chains": 2})  # doctest: +SKIP
    >>> s["prob_benefit"]  # P(OR > 1)  # doctest: +SKIP
    """
    from longmod.engines.bayes import runtime
    from longmod.engines.bayes.summaries import count_divergences, summarise_draws

    p = {**DEFAULT_PRIORS, **dict(priors or {})}
    unknown = set(p) - set(DEFAULT_PRIORS)
    if unknown:
        raise ValueError(f"unknown prior option(s) {sorted(unknown)}; valid: {', '.join(DEFAULT_PRIORS)}")
    runtime.configure_pytensor()
    settings = runtime.SamplerSettings.from_mapping({**DEFAULT_SAMPLER, **dict(sampler or {})})
    data = {"y": od.y, "X": od.X, "hyper": np.array([p["beta_sd"], p["theta_sd"], p["sigma_sd"]], dtype=float)}
    if od.group is not None:
        data["group"] = od.group
    key = ("ordinal", od.n_levels, od.X.shape[1], od.group is not None, od.n_patients)
    idata, info = runtime.sample_model(lambda: _build(od, p), data, settings, cache_key=key)
    j = od.columns.index(od.treatment_column)
    b = idata.posterior["beta"].values[..., j]
    log_or_better = b if od.higher_is_better else -b
    s = summarise_draws(log_or_better, mcid=1.0, divergences=count_divergences(idata), higher_is_better=True)
    s["prob_mcid"] = np.nan  # no MCID on the odds-ratio scale unless the caller defines one
    return {**s, "priors": p}, idata, info


def bayes_ordinal_rows(od: OrdinalData, *, analysis: str, outcome: str, estimand: str | None = None,
                       day: float | None = None, priors: Mapping[str, float] | None = None,
                       sampler: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The Bayesian treatment effect as a common-schema row.

    Returns
    -------
    pandas.DataFrame
        ``estimate`` = posterior mean log odds ratio of a better category
        (active vs reference), ``conf_*`` the 95% credible interval,
        ``prob_benefit`` = P(OR > 1), ``r_hat``, ``ess_bulk``,
        ``divergences``, ``odds_ratio`` (exp of the posterior median),
        ``direction``, ``sigma_b`` (posterior median), ``priors``,
        ``model``, ``sampler``.

    Examples
    --------
    >>> from longmod.engines.ordinal.design import ordinal_data
    >>> d = pd.DataFrame({"who": [3, 4, 5, 3, 6, 4, 4, 5, 3, 3], "arm": ["a", "b"] * 5})
    >>> od = ordinal_data(d, outcome="who", levels=range(11), better="lower", fixed="arm", treatment="arm", arms=("a", "b"))
    >>> bayes_ordinal_rows(od, analysis="po", outcome="who", sampler={"draws": 300, "chains": 2})  # doctest: +SKIP
    """
    from longmod.engines.bayes import runtime
    from longmod.results.schema import effects_frame

    s, idata, info = fit_bayes_ordinal(od, priors=priors, sampler=sampler)
    v = runtime.versions()
    word = "higher" if od.higher_is_better else "lower"
    sig = float(np.median(idata.posterior["sigma_b"].values)) if od.group is not None else np.nan
    row = {"analysis": analysis, "estimand": estimand, "outcome": outcome, "day": day,
           "contrast": f"{od.arms[1]} - {od.arms[0]}", "df": np.nan, "p_value": np.nan, "engine": "pymc",
           "engine_version": v["pymc"], "n_obs": int(od.y.size), "n_patients": od.n_patients,
           **{k: s[k] for k in ("estimate", "std_error", "conf_low", "conf_high", "prob_benefit", "prob_mcid", "r_hat",
                                "ess_bulk", "divergences", "posterior_median", "ess_tail", "mcse_mean",
                                "diagnostics_ok", "diagnostic_flags")},
           "scale": f"log odds ratio of a {word} (better) category", "odds_ratio": float(np.exp(s["posterior_median"])),
           "direction": f"OR > 1 favours {od.arms[1]}: odds of a {word} (better) category, {od.arms[1]} vs {od.arms[0]}",
           "sigma_b": sig, "priors": ", ".join(f"{k}={v_:g}" for k, v_ in s["priors"].items()),
           "model": "bayes clmm" if od.group is not None else "bayes clm", "levels_used": ",".join(map(str, od.levels)),
           "sampler": info.backend, "warnings": "; ".join([*od.warnings, *info.warnings])}
    return effects_frame([row])
