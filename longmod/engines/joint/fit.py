"""Fit the joint longitudinal-survival model and report it in the common schema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from longmod.engines.joint.data import JointData, Scaling, prepare_joint_data
from longmod.engines.joint.model import ASSOCIATIONS, build_joint_model, resolve_priors
from longmod.results.schema import effects_frame

ANALYSIS = "joint_model"
ENGINE = "pymc"
#: Sampler defaults of the joint model (override with ``sampler=``).
#: 4 chains: with 2 chains the split R-hat of some of the ~90 standardised random effects ``z`` (bulk ESS
#: > 2,000) fluctuated to 1.012-1.021 from tail noise; 4 x 1000 draws keep every parameter's R-hat <= 1.01.
JOINT_SAMPLER: Mapping[str, Any] = {"chains": 4, "draws": 1000, "tune": 1000, "target_accept": 0.9,
                                    "seed": 20240607}
#: Bumped when the graph changes (part of the compile-cache key).
MODEL_VERSION = 1
#: Convergence thresholds behind ``converged`` (the report's thresholds).
RHAT_MAX, ESS_MIN = 1.01, 400.0


@dataclass(frozen=True)
class JointModelFit:
    """Result of :func:`fit_joint_model`.

    Attributes
    ----------
    effects : common-schema rows (analysis ``joint_model``), see :func:`fit_joint_model`.
    parameters : every model parameter's posterior summary with diagnostics.
    diagnostics : one row: divergences, max R-hat, min bulk ESS, timings, sampler settings, warnings.
    idata : arviz.InferenceData (internal, standardised parametrisation).
    data : the packed :class:`~longmod.engines.joint.data.JointData`.
    priors : prior scales used (standardised scale).
    sample_info : what the sampler did (backend, compile source, seconds).

    Examples
    --------
    Sampling takes a minute, so only the fields are shown here
    (``fit_joint_model(measurements, patients, ...)`` returns one):

    >>> import dataclasses
    >>> [f.name for f in dataclasses.fields(JointModelFit)][:3]
    ['effects', 'parameters', 'diagnostics']
    """

    effects: pd.DataFrame
    parameters: pd.DataFrame
    diagnostics: pd.DataFrame
    idata: Any
    data: JointData
    priors: Mapping[str, float]
    sample_info: Mapping[str, Any]


def _summ(x: np.ndarray) -> dict[str, float]:
    """Posterior summary of a (chains, draws) array."""
    from longmod.engines.mcmc_diagnostics import diagnostics

    flat = x.ravel()
    d = diagnostics(x).iloc[0]
    return {"estimate": float(np.median(flat)), "posterior_mean": float(flat.mean()),
            "std_error": float(flat.std(ddof=1)), "conf_low": float(np.quantile(flat, 0.025)),
            "conf_high": float(np.quantile(flat, 0.975)),
            **{k: float(d[k]) for k in ("r_hat", "ess_bulk", "ess_tail")}}


def joint_estimand(causes: Sequence[str]) -> str:
    """The estimand label of the joint model's rows.

    Examples
    --------
    >>> joint_estimand(["death", "discharge"])
    'joint model: underlying trajectory with shared random effects; cause-specific hazards of death, discharge'
    """
    return ("joint model: underlying trajectory with shared random effects; cause-specific hazards of "
            + ", ".join(causes))


def fit_joint_model(
    measurements: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    id: str,
    time: str,
    value: str,
    arm: str,
    event_time: str,
    event: str,
    active: str,
    reference: str,
    causes: Mapping[str, str],
    better: str = "higher",
    landmark: float | None = None,
    mcid: float | None = None,
    association: Sequence[str] = ("value",),
    covariates: Sequence[str] = (),
    cuts: Mapping[str, Sequence[float]] | None = None,
    n_pieces: int = 3,
    followup: float | None = None,
    after_event: str = "error",
    scaling: Scaling | None = None,
    baseline_center: Mapping[str, float] | None = None,
    priors: Mapping[str, float] | None = None,
    sampler: Mapping[str, Any] | None = None,
    outcome: str | None = None,
    horizon: float | None = None,
) -> JointModelFit:
    """Bayesian joint model of a trajectory and cause-specific hazards sharing random effects.

    Random intercept and slope per patient for the outcome; for each event
    type a cause-specific hazard with a piecewise-constant baseline, linked to
    the patient's current underlying value (``association = ("value",)``)
    and/or slope (``"slope"``); the treatment acts on the trajectory (intercept
    and slope) and on each hazard (log hazard ratio). Model and
    parametrisation: :mod:`longmod.engines.joint.model`. Sampled with nutpie
    (:func:`longmod.engines.bayes.runtime.sample_model`).

    Parameters
    ----------
    measurements : pandas.DataFrame
        Long frame, one row per measurement: columns ``id``, ``time`` (days
        from randomisation) and ``value``. Not modified.
    patients : pandas.DataFrame
        One row per patient: ``id``, ``arm``, ``event_time`` (day of the
        event, or of censoring) and ``event`` (the event type, e.g. a label
        for death or ICU discharge; empty/NaN = censored), plus any
        ``covariates``. Not modified.
    id, time, value, arm, event_time, event : str
        Column names.
    active, reference : str
        Arm labels; contrasts are ``active - reference``.
    causes : mapping of str to {"lower", "higher"}
        Every event type in ``event`` -> the direction of its hazard that is a
        benefit (death: ``"lower"``; alive ICU discharge: ``"higher"``). Each
        gets its own cause-specific hazard (competing events).
    better : {"higher", "lower"}
        Direction of benefit of the outcome.
    landmark : float, optional
        Day of the trajectory contrast (default: the last measurement day).
    mcid : float, optional
        Minimal clinically important difference of the outcome at ``landmark``
        (then ``prob_mcid``).
    association : sequence of {"value", "slope"}
        How the hazards depend on the random effects.
    covariates : sequence of str
        Numeric patient-level columns (centred) entering the trajectory's
        intercept and every log hazard.
    cuts : mapping of cause -> sequence of float, optional
        Inner boundaries (days) of the baseline hazard pieces; default
        :func:`~longmod.engines.joint.data.default_cuts` with ``n_pieces``.
    followup : float, optional
        Administrative censoring day (later events are censored there; reported).
    after_event : {"error", "drop"}
        Measurements after a patient's event/censoring time: an error, or left
        out (reported in ``warnings``).
    scaling : Scaling, optional
        Fixed standardisation (default: from the data: the outcome's mean and
        SD over all measurements, the last measurement day).
    baseline_center : mapping of cause -> float, optional
        Centre of each cause's log baseline hazard prior, as a log hazard per
        day at the mean outcome (default: the log crude rate, events per day
        at risk).
    priors : mapping, optional
        Prior scales (keys of :data:`~longmod.engines.joint.model.DEFAULT_PRIORS`).
    sampler : mapping, optional
        Overrides of :data:`JOINT_SAMPLER`.
    outcome : str, optional
        Label of the trajectory rows' ``outcome`` (default ``value``).
    horizon : float, optional
        Day of the cumulative-incidence rows (default ``followup``, else the
        last event or censoring day).

    Returns
    -------
    JointModelFit
        ``effects``: the common schema (``analysis = "joint_model"``,
        ``estimate`` = posterior median, ``std_error`` = posterior SD,
        ``conf_*`` = 95% equal-tailed credible interval, ``df`` and ``p_value``
        NaN) + ``prob_benefit``, ``prob_mcid``, ``r_hat``, ``ess_bulk``,
        ``divergences`` and ``parameter``, ``scale``, ``benefit_direction``,
        ``posterior_mean``, ``ess_tail``, ``hazard_ratio``, ``n_events``,
        ``association``, ``baseline_hazard``, ``converged``, ``warnings``. Rows:
        ``value_at_day`` (difference of the underlying trajectories at
        ``landmark``, outcome units), ``slope_per_day`` (difference of slopes,
        outcome units per day), and per cause ``log_hr`` (the treatment's log
        hazard ratio given the current value/slope, i.e. its direct effect
        beyond the trajectory; ``outcome`` = the cause) and
        ``cumulative_incidence_difference`` (the difference of the arms'
        probabilities that the cause is the first event and happens by
        ``horizon``, averaged over the random effects and the trial's
        covariates: the total effect, ``day`` = ``horizon``, with
        ``risk_active`` and ``risk_reference``;
        :mod:`~longmod.engines.joint.incidence`). ``prob_benefit`` is
        P(difference in the direction of ``better``) for the trajectory and
        P(log HR, or the incidence difference, in the cause's benefit
        direction) for the hazards.

    Examples
    --------
    >>> from longmod.engines.joint.simulate import JointTruth, simulate_joint
    >>> m, p = simulate_joint(JointTruth(), n_per_arm=20, seed=1)
    >>> fit = fit_joint_model(m, p, id="patient_id", time="day", value="value", arm="arm",
    ...                       event_time="event_day", event="event", active="active",
    ...                       reference="control", causes={"death": "lower", "discharge": "higher"},
    ...                       landmark=7, sampler={"draws": 200, "tune": 200})  # doctest: +SKIP
    >>> list(fit.effects.parameter)  # doctest: +SKIP
    ['value_at_day', 'slope_per_day', 'log_hr', 'log_hr', 'cumulative_incidence_difference', 'cumulative_incidence_difference']
    """
    from longmod.engines.bayes import runtime
    from longmod.engines.bayes.summaries import count_divergences

    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")
    assoc = tuple(dict.fromkeys(association))
    bad = [a for a in assoc if a not in ASSOCIATIONS]
    if bad:
        raise ValueError(f"unknown association(s) {', '.join(map(repr, bad))}; choose from {', '.join(ASSOCIATIONS)}")
    jd, benefit = prepare_joint_data(measurements, patients, id=id, time=time, value=value, arm=arm,
                                     event_time=event_time, event=event, active=active, reference=reference,
                                     causes=causes, covariates=covariates, cuts=cuts, n_pieces=n_pieces,
                                     followup=followup, scaling=scaling, after_event=after_event,
                                     baseline_center=baseline_center)
    pri = resolve_priors(priors)
    n_pieces_map = {c: len(jd.cuts[c]) - 1 for c in jd.causes}
    settings = runtime.SamplerSettings.from_mapping({**JOINT_SAMPLER, **dict(sampler or {})})
    key = ("joint_model", MODEL_VERSION, jd.packed.shape, tuple(n_pieces_map.values()), len(jd.covariates), assoc,
           tuple(sorted(pri.items())))
    packed, layout, causes_t, covs = jd.packed, dict(jd.layout), jd.causes, jd.covariates

    def build():
        return build_joint_model(packed, layout, causes_t, n_pieces_map, covs, assoc, pri)

    rt = runtime.configure_pytensor()
    idata, info = runtime.sample_model(build, {"patients": packed}, settings, cache_key=key)
    post = idata.posterior
    sc = jd.scaling
    landmark = float(landmark) if landmark is not None else float(sc.time_scale)
    beta = post["beta"].values
    div = count_divergences(idata)
    names = [v for v in post.data_vars if v not in ("re_corr", "re")]  # the free parameters
    from longmod.engines.mcmc_diagnostics import summary_table

    allsum = summary_table(post, names)
    max_rhat, min_ess = float(allsum["r_hat"].max()), float(allsum["ess_bulk"].min())
    warnings = list(jd.warnings) + list(info.warnings) + list(rt["warnings"])
    converged = bool(max_rhat <= RHAT_MAX and min_ess >= ESS_MIN and div == 0)
    if not converged:
        warnings.append(f"convergence: max R-hat {max_rhat:.3f} (<= {RHAT_MAX}), min bulk ESS {min_ess:.0f} "
                        f"(>= {ESS_MIN:.0f}), divergences {div} (0) over all parameters")
    ver = runtime.versions()
    sign = 1.0 if better == "higher" else -1.0
    base = {"analysis": ANALYSIS, "estimand": joint_estimand(jd.causes), "contrast": f"{active} - {reference}",
            "df": np.nan, "p_value": np.nan, "engine": ENGINE,
            "engine_version": f"pymc {ver['pymc']}, nutpie {ver['nutpie']}, longmod {ver['longmod']}",
            "n_obs": jd.n_obs, "n_patients": jd.n_patients, "divergences": div, "association": "+".join(assoc),
            "baseline_hazard": "piecewise constant: " + "; ".join(
                f"{c} cuts {', '.join(f'{x:g}' for x in jd.cuts[c][1:-1]) or 'none'}" for c in jd.causes),
            "converged": converged, "warnings": "; ".join(warnings)}
    traj = {
        "value_at_day": (sc.y_scale * (beta[..., 2] + beta[..., 3] * landmark / sc.time_scale), landmark,
                         "outcome units"),
        "slope_per_day": (sc.y_scale * beta[..., 3] / sc.time_scale, np.nan, "outcome units per day"),
    }
    rows = []
    for par, (x, day, scale) in traj.items():
        s = _summ(x)
        pmcid = float(np.mean(sign * x > mcid)) if (mcid is not None and par == "value_at_day") else np.nan
        rows.append({**base, **s, "outcome": outcome or value, "day": day, "parameter": par, "scale": scale,
                     "benefit_direction": better, "prob_benefit": float(np.mean(sign * x > 0)), "prob_mcid": pmcid,
                     "hazard_ratio": np.nan, "n_events": np.nan})
    for k, cause in enumerate(jd.causes):
        x = post[f"log_hr_{k}"].values
        s = _summ(x)
        ben = benefit[cause]
        pb = float(np.mean(x < 0)) if ben == "lower" else float(np.mean(x > 0))
        rows.append({**base, **s, "outcome": cause, "day": np.nan, "parameter": "log_hr", "scale": "log hazard ratio",
                     "benefit_direction": ben, "prob_benefit": pb, "prob_mcid": np.nan,
                     "hazard_ratio": float(np.exp(s["estimate"])), "n_events": jd.n_events[cause]})
    from longmod.engines.joint.incidence import cumulative_incidence

    hz = float(horizon if horizon is not None else followup if followup is not None
               else jd.column("time").max() * sc.time_scale)
    ci = cumulative_incidence(post, jd, assoc, hz, seed=settings.seed)
    for cause in jd.causes:
        act, ref = ci[f"{cause}:active"], ci[f"{cause}:reference"]
        x = act - ref
        s = _summ(x)
        ben = benefit[cause]
        pb = float(np.mean(x < 0)) if ben == "lower" else float(np.mean(x > 0))
        rows.append({**base, **s, "outcome": cause, "day": hz, "parameter": "cumulative_incidence_difference",
                     "scale": "probability (risk difference)", "benefit_direction": ben, "prob_benefit": pb,
                     "prob_mcid": np.nan, "hazard_ratio": np.nan, "n_events": jd.n_events[cause],
                     "risk_active": float(np.median(act)), "risk_reference": float(np.median(ref))})
    effects = effects_frame(rows)
    params = _parameter_table(post, jd, assoc)
    diag = pd.DataFrame([{
        "analysis": ANALYSIS, "divergences": div, "max_r_hat": max_rhat, "min_ess_bulk": min_ess,
        "converged": converged, "sample_seconds": info.sample_seconds, "compile_seconds": info.compile_seconds,
        "compile_source": info.compile_source, "backend": info.backend, "chains": settings.chains,
        "draws": settings.draws, "tune": settings.tune, "seed": settings.seed,
        "target_accept": settings.target_accept, "mass_matrix": info.mass_matrix,
        "n_patients": jd.n_patients, "n_obs": jd.n_obs,
        "y_center": sc.y_center, "y_scale": sc.y_scale, "time_scale": sc.time_scale,
        "warnings": "; ".join(warnings),
    }])
    return JointModelFit(effects=effects, parameters=params, diagnostics=diag, idata=idata, data=jd, priors=pri,
                         sample_info=vars(info))


def _parameter_table(post: Any, jd: JointData, assoc: Sequence[str]) -> pd.DataFrame:
    """Every parameter, summarised on the data's scale where it has one."""
    sc = jd.scaling
    ys, ts = sc.y_scale, sc.time_scale
    beta = post["beta"].values
    out: list[tuple[str, str, np.ndarray, str]] = [
        ("intercept", "", sc.y_center + ys * beta[..., 0], "outcome units (reference arm, day 0)"),
        ("slope", "", ys * beta[..., 1] / ts, "outcome units per day (reference arm)"),
        ("arm", "", ys * beta[..., 2], "outcome units (day 0)"),
        ("arm_slope", "", ys * beta[..., 3] / ts, "outcome units per day"),
        ("re_sd_intercept", "", ys * post["re_sd"].values[..., 0], "outcome units"),
        ("re_sd_slope", "", ys * post["re_sd"].values[..., 1] / ts, "outcome units per day"),
        ("re_corr", "", post["re_corr"].values, "correlation"),
        ("sigma", "", ys * post["sigma"].values, "outcome units"),
    ]
    for j, c in enumerate(jd.covariates):
        out.append(("beta_cov", c, ys * post["beta_cov"].values[..., j], "outcome units per covariate unit"))
    for k, cause in enumerate(jd.causes):
        lb = post[f"log_base_{k}"].values
        cuts = jd.cuts[cause]
        for j in range(lb.shape[-1]):
            out.append(("log_baseline_hazard", f"{cause} [{cuts[j]:g}, {cuts[j + 1]:g})",
                        lb[..., j] - np.log(ts), "log hazard per day at the mean outcome, reference arm"))
        out.append(("log_hr", cause, post[f"log_hr_{k}"].values, "log hazard ratio, active vs reference"))
        if "value" in assoc:
            out.append(("association_value", cause, post[f"assoc_{k}"].values / ys,
                        "log hazard ratio per outcome unit of the current value"))
        if "slope" in assoc:
            out.append(("association_slope", cause, post[f"assoc_slope_{k}"].values * ts / ys,
                        "log hazard ratio per outcome unit per day of slope"))
        for j, c in enumerate(jd.covariates):
            out.append(("covariate_log_hr", f"{cause}: {c}", post[f"eta_{k}"].values[..., j],
                        "log hazard ratio per covariate unit"))
    rows = [{"parameter": p, "term": t, **_summ(x), "units": u} for p, t, x, u in out]
    return pd.DataFrame(rows).rename(columns={"estimate": "median", "posterior_mean": "mean", "std_error": "sd"})
