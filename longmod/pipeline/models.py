"""Analyses of a plan that fit a model through the engine registry: ``model``, ``bayes_ancova``, ``bayes_model``.

The heavy engines are imported only when an analysis runs. Each runner returns
common-schema rows (one per outcome, visit, active arm and engine) with the
fit's convergence as data (``converged``, ``warnings``), ``df_method`` (what
was computed), ``n_dropped`` (rows left out for a missing value) and
``status`` (``ok``, ``not run: ...`` or ``failed: ...``). Timing and compile
facts go to the context's timings (timings.csv), never to the effects.
"""

from __future__ import annotations

import re
import time
import warnings

import pandas as pd

from longmod.errors import reraise_interrupt
from longmod.pipeline.context import TIMING_COLUMNS
from longmod.results.schema import concat_effects, effects_frame
from longmod.spec.model import SpecError


def _longitudinal_kind(analysis) -> bool:
    return analysis.kind in ("model", "bayes_model")


def _spec(ctx, analysis):
    engine = "pymc" if analysis.kind.startswith("bayes") else "native"
    return ctx.model_spec(analysis, longitudinal=_longitudinal_kind(analysis), engine=engine)


def engines_of_model(ctx, analysis) -> list[str]:
    """Engines a ``model`` analysis uses: its ``engines`` option, else its spec's engine.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["mmrm_us_kr"]
    >>> engines_of_model(ctx, a)
    ['native']
    >>> engines_of_model(ctx, replace(a, options={**a.options, "engines": ["native", "statsmodels"]}))
    ['native', 'statsmodels']
    """
    if "engines" in analysis.options:
        return list(analysis.options["engines"])
    try:
        return [_spec(ctx, analysis).engine]
    except (SpecError, OSError, ValueError):
        return []  # reported by check_model_analysis


def engines_bayes(ctx, analysis) -> list[str]:
    """The Bayesian kinds sample with PyMC.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["bayes_ancova"]
    >>> engines_bayes(ctx, a)
    ['pymc']
    """
    return ["pymc"]


def _outcomes(ctx, analysis) -> list[str]:
    e = ctx.estimand(analysis)
    return list(analysis.options.get("outcomes", [e.outcome] if e else []))


def check_model_analysis(ctx, analysis) -> list[str]:
    """Problems of a model analysis found before fitting: its spec, outcomes, days, engines and MCID.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["mmrm_us_kr"]
    >>> check_model_analysis(ctx, a)
    []
    >>> check_model_analysis(ctx, replace(a, options={**a.options, "days": [0]}))
    ["analysis 'mmrm_us_kr': day(s) [0] are not post-baseline scheduled days; valid: [1, 2, 3, 4, 5, 6, 7, 14, 21, 28]"]
    """
    from longmod.engines.registry import ENGINE_TABLE, check_model

    where = f"analysis {analysis.name!r}"
    out = []
    if "spec" not in analysis.options and "model" not in analysis.options and analysis.kind == "model":
        out.append(f"{where}: give spec = \"file.toml\" or an inline model = {{ ... }}")
        return out
    try:
        spec = _spec(ctx, analysis)
    except (SpecError, OSError, ValueError, TypeError) as exc:
        return [f"{where}: {exc}"]
    if _longitudinal_kind(analysis) and spec.visit is None:
        out.append(f"{where}: the model has no visit; use kind 'ancova' or 'bayes_ancova' for one row per patient")
    measured = set(ctx.trial.measurements["variable"])
    outcomes = _outcomes(ctx, analysis) if _longitudinal_kind(analysis) else [ctx.estimand(analysis).outcome]
    for o in outcomes:
        if o not in measured:
            out.append(f"{where}: outcome {o!r} is not measured in the trial; measured: {', '.join(sorted(measured))}")
        info = ctx.variable(o)
        if spec.mcid is not None and spec.mcid != info.mcid:
            out.append(f"{where}: the spec declares mcid = {spec.mcid:g} but trial.toml declares "
                       f"{'none' if info.mcid is None else f'{info.mcid:g}'} for {o!r}; declare the MCID in "
                       "trial.toml only")
    days = analysis.options.get("days")
    if days is not None:
        off = [d for d in days if d not in ctx.trial.meta.schedule or d <= ctx.trial.meta.baseline_day]
        if off:
            out.append(f"{where}: day(s) {off} are not post-baseline scheduled days; valid: "
                       f"{[d for d in ctx.trial.meta.schedule if d > ctx.trial.meta.baseline_day]}")
    engines = analysis.options.get("engines", [spec.engine])
    for eng in engines:
        if eng not in ENGINE_TABLE:
            out.append(f"{where}: engine {eng!r} is unknown; engines: {', '.join(ENGINE_TABLE)}")
            continue
        s = spec.replace(df="asymptotic") if eng == "statsmodels" else spec
        try:
            check_model(s.replace(treatment=ctx.treatments[0]), eng)
        except SpecError as exc:
            out.append(f"{where}: {exc}")
    return out


def _row_extras(fit, ctx, analysis, outcome: str, spec) -> pd.DataFrame:
    """A fit's effects with the plan's names and labels, its convergence and honest labels as data."""
    eff = fit.effects.copy()
    for k, v in ctx.base_row(analysis).items():
        eff[k] = v
    eff["outcome"] = outcome
    eff["converged"] = bool(fit.convergence.converged)
    warns = list(fit.convergence.warnings)
    n_dropped = fit.provenance.get("rows_dropped_missing")
    if n_dropped is None:  # engines that only say it in words (the Bayesian design front end)
        said = [re.match(r"(\d+) row\(s\)[^;]*dropped", w) for w in warns]
        n_dropped = sum(int(m.group(1)) for m in said if m)
    n_dropped = int(n_dropped or 0)
    if n_dropped and not any("dropped" in w for w in warns):
        msg = f"{n_dropped} row(s) dropped for missing values"
        warnings.warn(f"analysis {analysis.name!r}, {outcome}: {msg}", stacklevel=3)
        warns.append(msg)
    eff["n_dropped"] = n_dropped
    eff["warnings"] = "; ".join(warns)
    eff["status"] = "ok"
    eff["covariance"] = spec.covariance
    return eff


def _timing_facts(fit, eff: pd.DataFrame) -> dict:
    facts = {}
    attrs = getattr(fit.extras.get("inference_data"), "attrs", {}) if fit.extras else {}
    for k in TIMING_COLUMNS:
        v = attrs.get(k, fit.fit_stats.get(k)) if fit.fit_stats is not None else attrs.get(k)
        if v is None and k in eff and len(eff):
            v = eff[k].iloc[0]
        if v is not None:
            facts[k] = v
    return facts


def _fit(ctx, analysis, spec, data, engine: str, outcome: str, **kwargs) -> pd.DataFrame:
    from longmod.engines.registry import fit_model

    t0 = time.perf_counter()
    if engine == "pymc":
        from longmod.engines.bayes import fit_bayes

        fit = fit_bayes(spec, data, sampler=dict(ctx.sampler) if ctx.sampler else None, **kwargs)
    else:
        fit = fit_model(spec, data, engine=engine)
    eff = _row_extras(fit, ctx, analysis, outcome, spec)
    ctx.record_timing(analysis, time.perf_counter() - t0, outcome=outcome, engine=engine,
                      contrast=spec.treatment.label, **{k: v for k, v in _timing_facts(fit, eff).items() if k != "seconds"})
    if engine == "pymc":
        key = analysis.name if spec.visit is None else f"{analysis.name}_{outcome}"
        if len(ctx.treatments) > 1:
            key += f"_{spec.treatment.active}"
        ctx.posteriors[key] = (fit.extras["inference_data"], dict(fit.provenance))
    return eff.drop(columns=[c for c in TIMING_COLUMNS if c in eff])


def run_model(ctx, analysis) -> pd.DataFrame:
    """Fit a longitudinal model to each outcome of a ``model`` analysis, with each engine and active arm.

    Plan options: ``spec`` or ``model``, ``outcomes`` (default: the
    estimand's outcome), ``days`` (post-baseline visits; default: every
    scheduled day), ``engines`` (default: the spec's). statsmodels rows are z
    tests (``df = inf``, ``df_method = "asymptotic"``). An engine that cannot
    run here gives one "not run" row per outcome; a fit that fails gives a row
    with ``status = "failed: ..."`` -- never silently dropped.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("martinez-munoz-2024", only=["pf_mmrm"]).effects
    >>> r.loc[r["engine"] != "published", ["contrast", "day", "estimate", "p_value"]].round(3)
               contrast   day  estimate  p_value
    0  bm_msc - placebo   3.0    10.166    0.560
    1  bm_msc - placebo   7.0    29.536    0.423
    2  bm_msc - placebo  14.0    66.874    0.058
    """
    spec0 = _spec(ctx, analysis)
    engines = list(analysis.options.get("engines", [spec0.engine]))
    days = analysis.options.get("days")
    frames = []
    for outcome in _outcomes(ctx, analysis):
        data = ctx.long_data(outcome, days=days)
        levels = dict(spec0.levels)
        levels[spec0.visit or "visit"] = [f"D{d}" for d in sorted(data["day"].unique())]
        for t in ctx.treatments:
            s = spec0.replace(levels=levels, treatment=t)
            for engine in engines:
                if engine in ctx.unavailable:
                    frames.append(effects_frame([ctx.not_run_row(analysis, engine, ctx.unavailable[engine],
                                                                 outcome=outcome, contrast=t.label)]))
                    continue
                # statsmodels MixedLM offers z tests only: its rows say so (df = inf, asymptotic)
                se = s.replace(df="asymptotic") if engine == "statsmodels" else s
                try:
                    eff = _fit(ctx, analysis, se, data, engine, outcome)
                except (ValueError, ArithmeticError, RuntimeError, ImportError) as exc:
                    reraise_interrupt(exc)
                    row = ctx.not_run_row(analysis, engine, f"failed: {exc}", outcome=outcome, contrast=t.label)
                    frames.append(effects_frame([{**row, "converged": False}]))
                    continue
                if "df_method" not in eff or eff["df_method"].isna().all():
                    eff["df_method"] = {"ancova": "residual", "pymc": ""}.get(engine, se.df)
                frames.append(eff)
    return concat_effects(frames)


def run_bayes_ancova(ctx, analysis) -> pd.DataFrame:
    """Bayesian ANCOVA of the estimand's change (PyMC), one row per active arm.

    The outcome's MCID and direction of benefit come from trial.toml
    (``prob_mcid`` only when an MCID is declared); ``ctx.sampler`` overrides
    the spec's sampler settings; each posterior is stored in ``ctx.posteriors``.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("stroma-cov2", only=["bayes_ancova"], sampler={"chains": 2, "draws": 300}).effects  # doctest: +SKIP
    >>> r.loc[r["engine"] == "pymc", ["contrast", "prob_benefit", "r_hat", "divergences"]]  # doctest: +SKIP
    """
    ad = ctx.analysis_data(analysis.estimand)
    outcome = ad.estimand.outcome
    info = ctx.variable(outcome)
    spec0 = _spec(ctx, analysis).replace(mcid=info.mcid)
    frames = []
    for t in ctx.treatments:
        spec = spec0.replace(treatment=t)
        eff = _fit(ctx, analysis, spec, ad.complete, "pymc", f"{outcome}_change", estimand=analysis.estimand,
                   day=ad.estimand.day, higher_is_better=info.higher_is_better)
        eff["day"] = float(ad.estimand.day)
        frames.append(eff)
    return concat_effects(frames)


def run_bayes_model(ctx, analysis) -> pd.DataFrame:
    """Bayesian longitudinal model (MMRM ``us`` or LMM ``ri``/``ris``) of each outcome, one row per visit.

    Options as for ``model`` (``spec``/``model``, ``outcomes``, ``days``). The
    data are the observed post-baseline values: under the ``hypothetical``
    strategy values after death or ICU discharge are missing and the MMRM
    marginalises them per pattern (MAR). Rows carry the posterior summaries
    and diagnostics (``r_hat``, ``ess_bulk``, ``ess_tail``, ``divergences``,
    ``diagnostic_flags``); a flagged diagnostic sets ``converged = False`` and
    is listed in ``warnings``, never dropped. Compile and sampling times go to
    timings.csv.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["bayes_mmrm"], sampler={"chains": 2, "draws": 300})  # doctest: +SKIP
    >>> res.effects[["visit", "estimate", "conf_low", "conf_high", "prob_mcid", "r_hat"]]  # doctest: +SKIP
    """
    spec0 = _spec(ctx, analysis)
    days = analysis.options.get("days")
    frames = []
    for outcome in _outcomes(ctx, analysis):
        info = ctx.variable(outcome)
        data = ctx.long_data(outcome, days=days)
        levels = dict(spec0.levels)
        levels[spec0.visit] = [f"D{d}" for d in sorted(data["day"].unique())]
        for t in ctx.treatments:
            spec = spec0.replace(levels=levels, treatment=t, mcid=info.mcid)
            frames.append(_fit(ctx, analysis, spec, data, "pymc", outcome, estimand=analysis.estimand,
                               higher_is_better=info.higher_is_better))
    return concat_effects(frames)
