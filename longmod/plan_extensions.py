"""Analyses of a plan that need the longitudinal or Bayesian engines.

Kept apart from :mod:`longmod.reanalyse` so that the heavy engines are only
imported when a plan asks for them. Each runner returns common-schema rows
(one per outcome, day and engine) with the convergence of the fit as data
(``converged``, ``warnings``).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from longmod.data import TrialData
from longmod.estimands import AnalysisData
from longmod.estimands.longitudinal import long_analysis_data, visit_label
from longmod.results.schema import concat_effects, effects_frame
from longmod.spec.model import load_model_spec
from longmod.spec.plan import Analysis, AnalysisPlan


def _label(analysis: Analysis, plan: AnalysisPlan) -> dict:
    e = plan.estimands.get(analysis.estimand) if analysis.estimand else None
    return {
        "label": analysis.options.get("label", analysis.name),
        "estimand_label": (e.label or e.describe()) if e else "",
    }


def run_model(analysis: Analysis, plan: AnalysisPlan, trial: TrialData, analysis_data) -> pd.DataFrame:
    """Fit a longitudinal model spec to each outcome of a ``model`` analysis, with each engine.

    Plan options: ``spec`` (TOML file next to the plan), ``outcomes`` (measured
    variables; default: the estimand's outcome), ``days`` (post-baseline
    visits; default: every scheduled day), ``engines`` (default: the spec's).
    A fit that fails or does not converge is reported as a row with the
    message in ``warnings`` and ``converged = False``, never dropped.
    """
    from longmod.engines.registry import fit_model

    opts = analysis.options
    spec = load_model_spec(plan.path.parent / opts["spec"])
    est = plan.estimands.get(analysis.estimand) if analysis.estimand else None
    outcomes = list(opts.get("outcomes", [est.outcome] if est else []))
    days = opts.get("days")
    engines = list(opts.get("engines", [spec.engine]))
    measured = set(trial.measurements["variable"])
    frames = []
    for outcome in outcomes:
        if outcome not in measured:
            continue
        data = long_analysis_data(trial, outcome, days=days)
        levels = dict(spec.levels)
        levels[spec.visit or "visit"] = [visit_label(d) for d in sorted(data["day"].unique())]
        levels[plan.treatment.variable] = [plan.treatment.reference, plan.treatment.active]
        s = spec.replace(name=analysis.name, levels=levels, treatment=plan.treatment)
        for engine in engines:
            base = {"analysis": analysis.name, "estimand": analysis.estimand, "outcome": outcome, **_label(analysis, plan)}
            try:
                fit = fit_model(s, data, engine=engine)
            except ImportError as exc:
                frames.append(effects_frame([{**base, "engine": engine, "converged": False, "warnings": f"engine unavailable: {exc}"}]))
                continue
            eff = fit.effects.copy()
            eff["analysis"] = analysis.name
            eff["estimand"] = analysis.estimand
            eff["outcome"] = outcome
            for k, v in _label(analysis, plan).items():
                eff[k] = v
            eff["converged"] = bool(fit.convergence.converged)
            eff["warnings"] = "; ".join(fit.convergence.warnings)
            eff["covariance"] = s.covariance
            eff["df_method"] = s.df
            frames.append(eff)
    return concat_effects(frames)


#: Analysis kind -> runner(analysis, plan, trial, analysis_data) -> common-schema rows.
EXTENSIONS: dict[str, Callable] = {"model": run_model}


def run_extension(
    analysis: Analysis, plan: AnalysisPlan, trial: TrialData, analysis_data: Callable[[str], AnalysisData]
) -> pd.DataFrame:
    """Run a ``model``, ``bayes_ancova`` or ``prior_grid`` analysis; return common-schema rows."""
    if analysis.kind not in EXTENSIONS:
        raise NotImplementedError(f"analysis kind {analysis.kind!r} ({analysis.name}) is not available in this build")
    return EXTENSIONS[analysis.kind](analysis, plan, trial, analysis_data)
