"""Analyses of a plan that need the longitudinal or Bayesian engines.

Kept apart from :mod:`longmod.reanalyse` so that the heavy engines are only
imported when a plan asks for them. Each runner returns common-schema rows
(one per outcome, day and engine) with the convergence of the fit as data
(``converged``, ``warnings``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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


def _labelled(fit, analysis: Analysis, plan: AnalysisPlan, outcome: str) -> pd.DataFrame:
    """A fit's effects with the plan's names and labels and its convergence as data."""
    eff = fit.effects.copy()
    eff["analysis"] = analysis.name
    eff["estimand"] = analysis.estimand
    eff["outcome"] = outcome
    for k, v in _label(analysis, plan).items():
        eff[k] = v
    eff["converged"] = bool(fit.convergence.converged)
    eff["warnings"] = "; ".join(fit.convergence.warnings)
    return eff


def _per_outcome(analysis: Analysis, plan: AnalysisPlan, trial: TrialData, spec):
    """(outcome, long data, spec with the visits and arms of those data) for each measured outcome of the analysis."""
    opts = analysis.options
    est = plan.estimands.get(analysis.estimand) if analysis.estimand else None
    outcomes = list(opts.get("outcomes", [est.outcome] if est else []))
    if not outcomes:
        raise ValueError(f"analysis {analysis.name!r}: no outcome; give 'outcomes' or an estimand")
    measured = set(trial.measurements["variable"])
    for outcome in outcomes:
        if outcome not in measured:
            continue
        data = long_analysis_data(trial, outcome, days=opts.get("days"))
        levels = dict(spec.levels)
        levels[spec.visit or "visit"] = [visit_label(d) for d in sorted(data["day"].unique())]
        levels[plan.treatment.variable] = [plan.treatment.reference, plan.treatment.active]
        yield outcome, data, spec.replace(name=analysis.name, levels=levels, treatment=plan.treatment)


def run_model(analysis: Analysis, plan: AnalysisPlan, trial: TrialData, analysis_data) -> pd.DataFrame:
    """Fit a longitudinal model spec to each outcome of a ``model`` analysis, with each engine.

    Plan options: ``spec`` (TOML file next to the plan), ``outcomes`` (measured
    variables; default: the estimand's outcome), ``days`` (post-baseline
    visits; default: every scheduled day), ``engines`` (default: the spec's).
    A fit that fails or does not converge is reported as a row with the
    message in ``warnings`` and ``converged = False``, never dropped.
    """
    from longmod.engines.registry import fit_model

    spec = load_model_spec(plan.path.parent / analysis.options["spec"])
    engines = list(analysis.options.get("engines", [spec.engine]))
    frames = []
    for outcome, data, s in _per_outcome(analysis, plan, trial, spec):
        for engine in engines:
            base = {"analysis": analysis.name, "estimand": analysis.estimand, "outcome": outcome, **_label(analysis, plan)}
            try:
                # statsmodels MixedLM offers z tests only: its rows are labelled df = inf
                fit = fit_model(s.replace(df="asymptotic") if engine == "statsmodels" else s, data, engine=engine)
            except ImportError as exc:
                frames.append(effects_frame([{**base, "engine": engine, "converged": False, "warnings": f"engine unavailable: {exc}"}]))
                continue
            eff = _labelled(fit, analysis, plan, outcome)
            eff["covariance"] = s.covariance
            eff["df_method"] = s.df
            frames.append(eff)
    return concat_effects(frames)


def _keep_posterior(posteriors: dict | None, key: str, fit) -> None:
    """Store a Bayesian fit's InferenceData and provenance in ``posteriors`` (when given)."""
    if posteriors is not None:
        posteriors[key] = (fit.extras["inference_data"], dict(fit.provenance))


def run_bayes_ancova(
    analysis: Analysis, plan: AnalysisPlan, trial: TrialData, analysis_data, *, sampler: dict | None = None,
    posteriors: dict | None = None,
) -> pd.DataFrame:
    """Bayesian ANCOVA of the estimand's change (PyMC; posterior summaries and diagnostics as data).

    ``sampler`` overrides the spec's sampler settings (e.g. ``{"draws": 200}``);
    ``posteriors``, a dict, receives ``{analysis name: (InferenceData, provenance)}``.
    """
    from longmod.engines.bayes import fit_bayes_ancova

    ad = analysis_data(analysis.estimand)
    spec = load_model_spec(plan.path.parent / analysis.options["spec"]).replace(name=analysis.name, treatment=plan.treatment)
    fit = fit_bayes_ancova(spec, ad.complete, estimand=analysis.estimand, day=ad.estimand.day, sampler=sampler)
    _keep_posterior(posteriors, analysis.name, fit)
    return _labelled(fit, analysis, plan, f"{ad.estimand.outcome}_change")


def run_bayes_model(
    analysis: Analysis, plan: AnalysisPlan, trial: TrialData, analysis_data=None, *, sampler: dict | None = None,
    posteriors: dict | None = None,
) -> pd.DataFrame:
    """Bayesian longitudinal model (MMRM ``us`` or LMM ``ri``/``ris``) of each outcome, one row per visit.

    Plan options: ``spec`` (TOML next to the plan; priors and sampler settings
    are declared there), ``outcomes`` (default: the estimand's outcome),
    ``days`` (post-baseline visits; default: every scheduled day), ``label``.
    The data are the observed post-baseline values (:func:`long_analysis_data`):
    under the ``hypothetical`` estimand values after death or ICU discharge are
    missing, and the MMRM marginalises them per pattern (MAR). Rows carry the
    posterior summaries and diagnostics (``r_hat``, ``ess_bulk``, ``ess_tail``,
    ``divergences``, ``diagnostics_ok``, ``diagnostic_flags``) and the sampler's
    compile record (``compile_seconds``; ``compile_source`` = ``"memory"``,
    ``"disk"`` (numba loaded the model's graph functions from the persistent
    cache) or ``"compiled"``; ``numba_compiled``, ``graphs_compiled``) and
    ``sample_seconds`` as data; a flagged diagnostic sets ``converged = False``
    and is listed in ``warnings``, never dropped. ``sampler`` overrides the
    spec's sampler settings (e.g. ``{"draws": 200}`` in tests); ``posteriors``,
    a dict, receives ``{"<analysis>_<outcome>": (InferenceData, provenance)}``.

    Examples
    --------
    >>> from longmod.spec.plan import load_plan
    >>> from longmod.resources import models_dir
    >>> plan = load_plan(models_dir() / "stroma_cov2" / "plan.toml")
    >>> [(a.kind, a.estimand, a.options["spec"]) for a in plan.analyses if a.name == "bayes_mmrm"]
    [('bayes_model', 'hypothetical', 'bayes_mmrm.toml')]
    >>> from longmod.data import load_trial
    >>> from longmod.resources import fixtures_dir
    >>> trial = load_trial(fixtures_dir() / "stroma_cov2")
    >>> rows = run_bayes_model(next(a for a in plan.analyses if a.name == "bayes_mmrm"), plan, trial,
    ...                        sampler={"chains": 2, "draws": 300, "tune": 300})  # doctest: +SKIP
    >>> rows[["visit", "estimate", "conf_low", "conf_high", "prob_mcid", "r_hat", "ess_bulk"]]  # doctest: +SKIP
    """
    from longmod.engines.bayes import fit_bayes

    opts = analysis.options
    spec = load_model_spec(plan.path.parent / opts["spec"])
    if spec.visit is None:
        raise ValueError(f"analysis {analysis.name!r}: spec {opts['spec']} has no visit; use kind 'bayes_ancova' for one row per patient")
    frames = []
    for outcome, data, s in _per_outcome(analysis, plan, trial, spec):
        fit = fit_bayes(s, data, estimand=analysis.estimand, sampler=sampler)
        _keep_posterior(posteriors, f"{analysis.name}_{outcome}", fit)
        eff = _labelled(fit, analysis, plan, outcome)
        eff["covariance"] = s.covariance
        attrs = fit.extras["inference_data"].attrs
        for k in ("compile_seconds", "compile_source", "numba_compiled", "graphs_compiled", "sample_seconds"):
            eff[k] = attrs.get(k, fit.fit_stats.get(k))
        frames.append(eff)
    return concat_effects(frames)


def run_prior_grid(analysis: Analysis, plan: AnalysisPlan, trial: TrialData, analysis_data) -> pd.DataFrame:
    """Closed-form Bayesian reanalysis of a PUBLISHED result over a prior grid (not the synthetic data)."""
    from longmod.engines.bayes import prior_grid_reanalysis
    from longmod.published import published_results

    key = analysis.options["published"]
    pub = {r.id: r for r in published_results(plan.published)}
    if key not in pub:
        raise KeyError(f"analysis {analysis.name!r}: published result {key!r} not in the registry; have: {', '.join(pub)}")
    r = pub[key]
    mcid = float(analysis.options.get("mcid", plan.mcid or 20.0))
    grid = prior_grid_reanalysis(r.estimate, r.conf_low, r.conf_high, mcid, analysis=analysis.name, outcome=r.outcome,
                                 day=r.day, contrast=r.contrast, estimand=r.estimand)
    grid = grid.copy()
    grid["label"] = analysis.options.get("label", analysis.name)
    grid["estimand_label"] = f"published {r.estimand} result (summary level)"
    grid["data_label"] = "published summary"
    return grid


#: Analysis kind -> runner(analysis, plan, trial, analysis_data) -> common-schema rows.
EXTENSIONS: dict[str, Callable] = {
    "model": run_model, "bayes_ancova": run_bayes_ancova, "bayes_model": run_bayes_model, "prior_grid": run_prior_grid,
}


#: Kinds whose runner samples with PyMC and accepts sampler overrides.
SAMPLED_KINDS: frozenset[str] = frozenset({"bayes_ancova", "bayes_model"})


def run_extension(
    analysis: Analysis, plan: AnalysisPlan, trial: TrialData, analysis_data: Callable[[str], AnalysisData],
    *, sampler: Mapping[str, Any] | None = None, posteriors: dict | None = None,
) -> pd.DataFrame:
    """Run a ``model``, ``bayes_ancova``, ``bayes_model`` or ``prior_grid`` analysis; return common-schema rows.

    For sampled analyses, ``sampler`` (e.g. ``{"chains": 2, "draws": 500}``)
    overrides the specs' sampler settings and ``posteriors`` (a dict) receives
    each fit's ``(InferenceData, provenance)``; other kinds ignore both.
    """
    if analysis.kind not in EXTENSIONS:
        raise NotImplementedError(f"analysis kind {analysis.kind!r} ({analysis.name}) is not available in this build")
    if analysis.kind in SAMPLED_KINDS:
        return EXTENSIONS[analysis.kind](analysis, plan, trial, analysis_data, sampler=dict(sampler) if sampler else None,
                                         posteriors=posteriors)
    return EXTENSIONS[analysis.kind](analysis, plan, trial, analysis_data)
