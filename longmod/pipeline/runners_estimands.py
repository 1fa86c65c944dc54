"""Runners of the estimand analyses for death and ICU discharge: MI (MAR, J2R, CR, CIR), while-alive, worst rank.

Each runner wires an engine of :mod:`longmod.estimands` into the pipeline:
columns, arms, days and events come from the trial's ``trial.toml`` and the
plan's estimand; each row carries the estimand label and the ``assumes`` text
of :data:`longmod.estimands.descriptions.ESTIMANDS`. A trial where an analysis
does not apply (no death event, an estimand whose strategies clash with the
analysis, a day off the schedule) is refused by the ``check_*`` functions
before anything is fitted. The tipping-point runner is in
:mod:`longmod.pipeline.runners_tipping`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

import numpy as np
import pandas as pd

from longmod.estimands.descriptions import estimand_description
from longmod.results.schema import effects_frame

#: Defaults of the multiple-imputation kind (kept small: the whole STROMA main job stays < 2 minutes).
MI_IMPUTATIONS = 20
MI_SEED = 20221202
MI_METHODS = ("mar", "j2r", "cr", "cir")
#: Where the imputation model's parameter draws come from (plan option ``draws``).
MI_DRAWS = ("bootstrap", "bayes")


# --- shared -------------------------------------------------------------------------------------
def _covariates(ctx, analysis) -> list[str]:
    return list(analysis.options.get("covariates", ctx.default_covariates()))


def _covariate_problems(ctx, analysis) -> list[str]:
    valid = ["baseline", *ctx.trial.meta.covariates]
    bad = [c for c in _covariates(ctx, analysis) if c not in valid]
    if bad:
        return [f"analysis {analysis.name!r}: covariate(s) {', '.join(bad)} are not declared; valid: "
                f"{', '.join(valid)} (declare patient covariates in trial.toml [covariates.*])"]
    return []


def _event_problems(ctx, analysis, kinds: tuple[str, ...]) -> list[str]:
    have = [k for k in kinds if ctx.trial.meta.events_of_kind(k)]
    if not have:
        return [f"analysis {analysis.name!r} ({analysis.kind}): the trial declares no event of kind "
                f"{' or '.join(kinds)} ([events.*] kind = ...), so this analysis does not apply"]
    return []


def label_rows(ctx, analysis, rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """Set the plan's names and the estimand registry's label and ``assumes`` text on an engine's rows.

    ``estimand`` stays the plan's estimand name (empty: ``key``);
    ``estimand_label`` and ``assumes`` come from
    :data:`~longmod.estimands.descriptions.ESTIMANDS` entry ``key``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ctx = SimpleNamespace(base_row=lambda a: {"analysis": a.name, "estimand": "", "label": a.name,
    ...                                           "estimand_label": "", "estimand_day": float("nan")})
    >>> a = SimpleNamespace(name="wa", estimand=None)
    >>> r = label_rows(ctx, a, pd.DataFrame({"analysis": ["x"], "estimate": [1.0]}), "while_alive_auc")
    >>> r[["analysis", "estimand", "estimand_label"]].iloc[0].tolist()
    ['wa', 'while_alive_auc', 'While alive: mean outcome per day at risk']
    """
    info = estimand_description(key)
    out = rows.copy()
    for col, val in ctx.base_row(analysis).items():
        out[col] = val
    if not analysis.estimand:
        out["estimand"] = key
    if info is not None:
        out["estimand_label"] = info.label
        out["assumes"] = info.assumes
    out["estimand_key"] = key
    return out


def _two_arms(frame: pd.DataFrame, t) -> pd.DataFrame:
    return frame[frame["arm"].astype(str).isin([t.active, t.reference])].reset_index(drop=True)


# --- multiple imputation ------------------------------------------------------------------------
def _method(analysis) -> str | dict:
    m = analysis.options.get("method", "mar")
    return dict(m) if isinstance(m, dict) else str(m)


def _method_key(method) -> str:
    return f"mi_{method}" if isinstance(method, str) else "mi_" + "_".join(sorted(set(method.values())))


def _mi_days(ctx, analysis) -> list[int]:
    e = ctx.estimand(analysis)
    base = ctx.trial.meta.baseline_day if e.baseline_day is None else e.baseline_day
    if "days" in analysis.options:
        return sorted(int(d) for d in analysis.options["days"])
    return [d for d in ctx.trial.meta.schedule if base < d <= e.day]


def check_multiple_imputation(ctx, analysis) -> list[str]:
    """Problems of a ``multiple_imputation`` analysis found before anything is fitted.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["mi_j2r"]
    >>> check_multiple_imputation(ctx, a)
    []
    >>> check_multiple_imputation(ctx, replace(a, options={**a.options, "imputations": 1}))
    ["analysis 'mi_j2r': imputations must be a whole number >= 2, got 1"]
    """
    from longmod.estimands.reference_based import METHODS

    where = f"analysis {analysis.name!r}"
    out = _covariate_problems(ctx, analysis)
    e = ctx.estimand(analysis)
    if e is None:
        return out
    clash = [f"{k} = {getattr(e, k).name!r}" for k in ("death", "discharge") if getattr(e, k).name != "hypothetical"]
    if clash:
        out.append(f"{where}: multiple imputation imputes the values missing after death and ICU discharge itself; "
                   f"its estimand {analysis.estimand!r} must declare death = \"hypothetical\" and discharge = "
                   f"\"hypothetical\" (it declares {', '.join(clash)})")
    m = _method(analysis)
    used = [m] if isinstance(m, str) else list(m.values())
    bad = sorted(set(used) - set(METHODS))
    if bad:
        out.append(f"{where}: method {', '.join(bad)} is not one of {', '.join(METHODS)}")
    if isinstance(m, dict):
        kinds = {ev.kind for ev in ctx.trial.meta.events.values()} - {"other"}
        missing = sorted(kinds - set(m))
        if missing:
            out.append(f"{where}: method names no imputation for event kind(s) {', '.join(missing)}; give one of "
                       f"{', '.join(METHODS)} for each (e.g. {{ death = \"j2r\", discharge = \"mar\" }})")
    days = _mi_days(ctx, analysis)
    post = [d for d in ctx.trial.meta.schedule if d > ctx.trial.meta.baseline_day]
    off = [d for d in days if d not in post]
    if off:
        out.append(f"{where}: day(s) {off} are not scheduled days after the baseline; valid: {post}")
    if e.day not in days:
        out.append(f"{where}: the estimand's day {e.day} must be one of the imputation model's days {days}")
    n = analysis.options.get("imputations", MI_IMPUTATIONS)
    if not (isinstance(n, (int, float)) and n >= 2 and float(n).is_integer()):
        out.append(f"{where}: imputations must be a whole number >= 2, got {n!r}")
    draws = analysis.options.get("draws", "bootstrap")
    if draws not in MI_DRAWS:
        out.append(f"{where}: draws = {draws!r} is not one of {', '.join(map(repr, MI_DRAWS))} (the approximate "
                   "Bayesian bootstrap of the ML fit, or the posterior of a Bayesian MMRM)")
    return out


def _imputation_wide(ctx, analysis, t):
    """WideData of the imputation model (MMRM, unstructured, ML) for one comparison."""
    from longmod.estimands.longitudinal import visit_label
    from longmod.estimands.wide import wide_data
    from longmod.spec.model import ModelSpec

    e = ctx.estimand(analysis)
    days = _mi_days(ctx, analysis)
    visits = [visit_label(d) for d in days]
    cov = _covariates(ctx, analysis)
    patients = _two_arms(ctx.analysis_data(analysis.estimand).frame, t)
    patients["ice_event"] = patients["event"].where(patients["event"] != "none", "")
    long = _two_arms(ctx.long_data(e.outcome, days=days, population=e.population), t)
    long = long[long["patient_id"].isin(patients["patient_id"])]
    fixed = " + ".join(["arm * visit", *cov])
    spec = ModelSpec(name=f"{analysis.name}_imputation", outcome="change", fixed=fixed, subject="patient_id",
                     visit="visit", covariance="us", method="ml", treatment=t,
                     levels={"arm": [t.reference, t.active], "visit": visits})
    w = wide_data(long, patients, spec, visits=visits, visit_days=days, ice_day="event_day", ice_event="ice_event")
    return w, visit_label(e.day), fixed, spec


def _draws(ctx, data, n: int, seed: int):
    """Approximate-Bayesian-bootstrap parameter draws, shared by the analyses of a run with the same data."""
    from longmod.estimands.imputation_params import bootstrap_params, em_fitter

    h = hashlib.sha256(np.ascontiguousarray(data.y).tobytes() + np.ascontiguousarray(data.X_own).tobytes())
    key = ("mi_draws", h.hexdigest(), data.ids.tobytes() if data.ids.dtype != object else tuple(data.ids), n, seed)
    cache = ctx.cache
    if key not in cache:
        cache[key] = bootstrap_params(data, em_fitter(), n_draws=n, seed=seed)
    return cache[key]


def _bayes_draws(ctx, analysis, data, spec, n: int):
    """Posterior draws of a Bayesian MMRM (unstructured) fitted to the imputation data, and its fit."""
    from longmod.engines.bayes import fit_bayes
    from longmod.estimands.imputation_params import params_from_bayes

    bspec = spec.replace(engine="pymc", method="reml", levels={**dict(spec.levels), "visit": list(data.visits)})
    sampler = {**dict(analysis.options.get("sampler", {})), **dict(ctx.sampler or {})}
    fit = fit_bayes(bspec, data.to_long(), sampler=sampler or None)
    params = params_from_bayes(fit, data, n_draws=n)
    # the thinning is how the draws were taken, not a warning: it goes to imputation_model
    thinning = tuple(x for x in params.notes if x.endswith("posterior draws, evenly spaced"))
    return replace(params, notes=tuple(x for x in params.notes if x not in thinning)), fit, "; ".join(thinning)


def run_multiple_imputation(ctx, analysis) -> pd.DataFrame:
    """MI of the visits missing after death, discharge or dropout; ANCOVA at the estimand's day; Rubin's rules.

    The imputation model is an MMRM of the change (``arm * visit`` +
    covariates, unstructured covariance, ML by ECM) on the days up to the
    estimand's day; parameter draws by the approximate Bayesian bootstrap;
    each completed dataset is analysed by the primary ANCOVA and pooled with
    the Barnard-Rubin df (:func:`longmod.estimands.mi.multiple_imputation`).
    One row per active arm. Plan option ``draws``: ``"bootstrap"`` (default)
    or ``"bayes"``: the parameter draws are the posterior of a Bayesian MMRM
    of the same model (PyMC, default priors, the plan's ``sampler``), evenly
    thinned to ``imputations`` draws; its R-hat, bulk ESS and divergences are
    the row's (``r_hat``, ``ess_bulk``, ``divergences``), so the run's
    diagnostics count covers it.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("stroma-cov2", only=["mi_j2r"]).effects  # doctest: +SKIP
    >>> r.loc[r["analysis"] == "mi_j2r", "estimand_label"].iloc[0]  # doctest: +SKIP
    'Jump to reference, multiple imputation'
    """
    from longmod.estimands.mi import multiple_imputation
    from longmod.estimands.reference_based import apply_strategy

    e = ctx.estimand(analysis)
    method = _method(analysis)
    n = int(analysis.options.get("imputations", MI_IMPUTATIONS))
    seed = int(analysis.options.get("seed", MI_SEED))
    cov = _covariates(ctx, analysis)
    frames = []
    for t in ctx.treatments:
        wide, target, fixed, spec = _imputation_wide(ctx, analysis, t)
        data, _ = apply_strategy(wide, method)  # the model is fitted without values after a non-MAR event
        fit, thinning = None, ""
        if analysis.options.get("draws", "bootstrap") == "bayes":
            params, fit, thinning = _bayes_draws(ctx, analysis, data, spec, n)
        else:
            params = _draws(ctx, data, n, seed)
        key = _method_key(method)
        rows = multiple_imputation(data, params, strategy=method, covariates=cov, target_visit=target, seed=seed,
                                   analysis=key if estimand_description(key) else "mi_mixed",
                                   outcome=f"{e.outcome}_change")
        rows["n_removed_post_ice"] = data.removed
        rows = label_rows(ctx, analysis, rows, key if estimand_description(key) else "mi_mar")
        if not isinstance(method, str):
            rows["estimand_label"] = "Per event: " + "; ".join(
                f"{k}: {estimand_description('mi_' + v).label}" for k, v in sorted(method.items()))
            rows["assumes"] = " ".join(f"After {k}: {estimand_description('mi_' + v).assumes}"
                                       for k, v in sorted(method.items()))
        rows["imputation_model"] = f"MMRM change ~ {fixed}, unstructured, ML (ECM), visits {', '.join(wide.visits)}"
        rows["covariates"] = " + ".join(cov)
        rows["seed"] = seed
        rows["status"] = "ok"
        if fit is not None:
            rows["imputation_model"] += f"; posterior draws of a Bayesian MMRM (PyMC): {thinning}"
            for col in ("r_hat", "ess_bulk", "divergences"):
                rows[col] = params.diagnostics[col]
            rows["converged"] = bool(fit.convergence.converged)
            rows["sampler"] = str(fit.effects["sampler"].iloc[0]) if "sampler" in fit.effects else ""
        frames.append(rows)
    return effects_frame(pd.concat(frames, ignore_index=True).to_dict("records"))


# --- while alive --------------------------------------------------------------------------------
def _wa_target(ctx, analysis) -> tuple[str, float, str]:
    """(outcome, horizon, population) of a while-alive or worst-rank analysis."""
    e = ctx.estimand(analysis)
    m = ctx.trial.meta
    outcome = analysis.options.get("outcome") or (e.outcome if e else m.primary_outcome)
    horizon = analysis.options.get("horizon") or (e.day if e else m.primary_day)
    return outcome, (float(horizon) if horizon is not None else math.nan), (e.population if e else "mitt")


def check_while_alive(ctx, analysis) -> list[str]:
    """Problems of a ``while_alive`` analysis found before anything is fitted.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["while_alive_auc"]
    >>> check_while_alive(ctx, a)
    []
    >>> check_while_alive(ctx, replace(a, options={**a.options, "stop_at": ["death"]}))
    ["analysis 'while_alive_auc': stop_at ['death']: valid event kinds are discharge, other"]
    """
    where = f"analysis {analysis.name!r}"
    out = _covariate_problems(ctx, analysis) + _event_problems(ctx, analysis, ("death",))
    outcome, horizon, _ = _wa_target(ctx, analysis)
    measured = set(ctx.trial.measurements["variable"])
    if not outcome or outcome not in measured:
        out.append(f"{where}: outcome {outcome!r} is not measured; give `outcome` (measured: "
                   f"{', '.join(sorted(measured))}) or an estimand")
    if not (horizon > ctx.trial.meta.baseline_day):
        out.append(f"{where}: horizon {horizon} must be a day after the baseline day {ctx.trial.meta.baseline_day} "
                   "(give `horizon`, an estimand or [trial] primary_day)")
    bad = sorted(set(analysis.options.get("stop_at", [])) - {"discharge", "other"})
    if bad:
        out.append(f"{where}: stop_at {bad}: valid event kinds are discharge, other")
    return out


def _event_days(ctx) -> pd.DataFrame:
    """patient_id and the earliest day of each event kind (``<kind>_day``, NaN: none)."""
    pts = ctx.trial.patients
    out = pd.DataFrame({"patient_id": pts["patient_id"].astype(str)})
    for kind in ("death", "discharge", "other"):
        cols = [ev.column for ev in ctx.trial.meta.events_of_kind(kind)]
        out[f"{kind}_day"] = pts[cols].apply(pd.to_numeric, errors="coerce").min(axis=1).to_numpy(float) \
            if cols else np.nan
    return out


def run_while_alive(ctx, analysis) -> pd.DataFrame:
    """Mean outcome per day at risk while alive (AUC / days at risk), ANCOVA; one row per active arm.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["while_alive_auc"])
    >>> row = res.effects[res.effects["analysis"] == "while_alive_auc"].iloc[0]
    >>> row["outcome"] == f"{res.trial.meta.primary_outcome}_while_alive", float(row["day"])
    (True, 7.0)
    """
    from longmod.estimands.while_alive import while_alive_auc

    outcome, horizon, population = _wa_target(ctx, analysis)
    m = ctx.trial.meta
    cov = _covariates(ctx, analysis)
    stop = [f"{k}_day" for k in analysis.options.get("stop_at", [])]
    pts = ctx.trial.patients
    if population == "per_protocol" and m.doses_planned is not None:
        pts = pts[pts["doses_received"] >= m.doses_planned]
    pts = pts[["patient_id", "arm", *m.covariates]].copy()
    pts["patient_id"] = pts["patient_id"].astype(str)
    pts = pts.merge(_event_days(ctx), on="patient_id", how="left")
    values = ctx.trial.variable(outcome)[["patient_id", "day", "value"]].copy()
    values["patient_id"] = values["patient_id"].astype(str)
    frames = []
    for t in ctx.treatments:
        rows = while_alive_auc(values, _two_arms(pts, t), treatment=t, subject="patient_id", day="day",
                               value="value", death_day="death_day", horizon=horizon, covariates=cov,
                               baseline_day=float(m.baseline_day), stop_days=stop,
                               outcome=f"{outcome}_while_alive")
        rows = label_rows(ctx, analysis, rows, "while_alive_auc")
        rows["day"] = horizon
        rows["estimand_day"] = horizon
        rows["stop_at"] = ", ".join(analysis.options.get("stop_at", []))
        rows["covariates"] = " + ".join(cov)
        rows["status"] = "ok"
        frames.append(rows)
    return effects_frame(pd.concat(frames, ignore_index=True).to_dict("records"))


# --- worst rank ---------------------------------------------------------------------------------
def check_worst_rank(ctx, analysis) -> list[str]:
    """Problems of a ``worst_rank`` analysis found before anything is ranked.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["worst_rank"]
    >>> check_worst_rank(ctx, a)
    []
    >>> print(*check_worst_rank(ctx, replace(a, options={**a.options, "rank_by": "slope"})))
    analysis 'worst_rank': rank_by = 'slope'; valid: "change", "value"
    """
    where = f"analysis {analysis.name!r}"
    out = _event_problems(ctx, analysis, ("death",))
    e = ctx.estimand(analysis)
    if e is not None and e.death.name == "exclude":
        out.append(f"{where}: its estimand {analysis.estimand!r} excludes patients who died (death = \"exclude\"); "
                   "the worst-rank composite ranks them worst, so use an estimand that keeps them")
    rank_by = analysis.options.get("rank_by", "change")
    if rank_by not in ("change", "value"):
        out.append(f"{where}: rank_by = {rank_by!r}; valid: \"change\", \"value\"")
    return out


def run_worst_rank(ctx, analysis) -> pd.DataFrame:
    """Worst-rank composite (death by the estimand's day ranked worst, earlier worse; survivors by the outcome).

    Survivors are ranked by their value (or change) at the estimand's day
    under the estimand's rules (e.g. the discharge rule); the value imputed
    at death is not used. Three rows per active arm: win ratio, Mann-Whitney
    odds and probabilistic index (``summary_measure``).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("stroma-cov2", only=["worst_rank"]).effects
    >>> sorted(r.loc[r["analysis"] == "worst_rank", "summary_measure"])
    ['mann_whitney_odds', 'probabilistic_index', 'win_ratio']
    """
    from longmod.estimands.worst_rank import worst_rank

    e = ctx.estimand(analysis)
    rank_by = analysis.options.get("rank_by", "change")
    frame = ctx.analysis_data(analysis.estimand).frame.copy()
    frame["patient_id"] = frame["patient_id"].astype(str)
    frame = frame.merge(_event_days(ctx)[["patient_id", "death_day"]], on="patient_id", how="left")
    better = ctx.variable(e.outcome).higher_is_better
    frames = []
    for t in ctx.treatments:
        rows = worst_rank(_two_arms(frame, t), treatment=t, death_day="death_day", outcome=rank_by,
                          horizon=float(e.day), higher_is_better=better,
                          outcome_label=f"death_then_{e.outcome}_{rank_by}")
        rows = label_rows(ctx, analysis, rows, "worst_rank")
        rows["rank_by"] = rank_by
        rows["status"] = "ok"
        frames.append(rows)
    return effects_frame(pd.concat(frames, ignore_index=True).to_dict("records"))
