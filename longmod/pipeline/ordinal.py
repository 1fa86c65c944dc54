"""Ordinal-outcome analyses of a plan (e.g. the WHO clinical progression scale), proportional odds.

Kinds (see :mod:`longmod.pipeline.registry`):

* ``ordinal`` - cumulative-logit (proportional-odds) model of the scale at the
  estimand's day on the arm and the baseline category (``covariates``), as R
  ``ordinal::clm``;
* ``ordinal_longitudinal`` - the same model over several days with a random
  intercept per patient (R ``ordinal::clmm``, Laplace or adaptive
  Gauss-Hermite) and, with ``engines = ["clmm", "pymc"]``, the Bayesian model
  (P(OR > 1) = probability that the active arm shifts patients towards better
  categories). Days enter as a factor; one common odds ratio over the days.

The scale comes from trial.toml (``type = "ordinal"``, ``levels``,
``better``); the rows report the log odds ratio of a **better** category,
active vs reference (OR > 1 favours the active arm), whatever the direction of
the scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from longmod.results.schema import effects_frame

ENGINES = ("clmm", "pymc")


def check_ordinal(ctx, analysis) -> list[str]:
    """The outcome must be declared ordinal with its levels; days must be scheduled.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("martinez-munoz-2024")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["who_po_d7"]
    >>> check_ordinal(ctx, a)
    []
    >>> check_ordinal(ctx, replace(a, options={**a.options, "engines": ["polr"]}))
    ["analysis 'who_po_d7': engines ['polr'] unknown; valid: clmm, pymc"]
    """
    where = f"analysis {analysis.name!r}"
    e = ctx.estimand(analysis)
    problems = []
    if e is not None:
        info = ctx.variable(e.outcome)
        if info.type != "ordinal" or not info.levels:
            problems.append(f"{where}: outcome {e.outcome!r} must be declared type = \"ordinal\" with its levels in "
                            "trial.toml [variables.*]")
    o = analysis.options
    post = [d for d in ctx.trial.meta.schedule if d > ctx.trial.meta.baseline_day]
    bad = [d for d in o.get("days", []) if d not in post]
    if bad:
        problems.append(f"{where}: days {bad} are not scheduled days after the baseline; valid: {post}")
    bad = [x for x in o.get("engines", []) if x not in ENGINES]
    if bad:
        problems.append(f"{where}: engines {bad} unknown; valid: {', '.join(ENGINES)}")
    bad = [c for c in o.get("covariates", []) if c != "baseline" and c not in ctx.trial.meta.covariates]
    if bad:
        problems.append(f"{where}: covariates {bad} are neither 'baseline' nor declared covariates")
    return problems


def _long(ctx, analysis, days: list[int]) -> pd.DataFrame:
    e = ctx.estimand(analysis)
    d = ctx.long_data(e.outcome, days=days)
    return d


def _fixed(analysis, *, longitudinal: bool) -> str:
    covs = list(analysis.options.get("covariates", ["baseline"]))
    return " + ".join(["arm", *(["visit"] if longitudinal else []), *covs])


def _od(ctx, analysis, frame: pd.DataFrame, t, *, longitudinal: bool):
    from longmod.engines.ordinal.design import ordinal_data

    e = ctx.estimand(analysis)
    info = ctx.variable(e.outcome)
    g = frame[frame["arm"].isin([t.reference, t.active])].copy()
    factor_levels = {"visit": list(dict.fromkeys(g.sort_values("day")["visit"]))} if longitudinal else None
    return ordinal_data(g, outcome="value", levels=info.levels, better=info.better, fixed=_fixed(analysis, longitudinal=longitudinal),
                        treatment="arm", arms=(t.reference, t.active), subject="patient_id" if longitudinal else None,
                        factor_levels=factor_levels)


def run_ordinal(ctx, analysis) -> pd.DataFrame:
    """Proportional-odds model at the estimand's day (``ordinal::clm``), one row per active arm.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("martinez-munoz-2024", only=["who_po_d7"]).effects
    >>> r = r[r["engine"] != "published"]
    >>> r[["contrast", "day", "estimate", "p_value", "engine"]].round(3)
               contrast  day  estimate  p_value           engine
    0  bm_msc - placebo  7.0     2.724    0.034  longmod.ordinal
    """
    from longmod.engines.ordinal.cumlogit import fit_clm, ordinal_rows

    e = ctx.estimand(analysis)
    d = _long(ctx, analysis, [e.day])
    rows = []
    for t in ctx.treatments:
        od = _od(ctx, analysis, d, t, longitudinal=False)
        r = ordinal_rows(fit_clm(od), analysis=analysis.name, outcome=e.outcome, estimand=analysis.estimand, day=e.day)
        rows.append({**r.iloc[0].to_dict(), **ctx.base_row(analysis), "contrast": t.label, "day": float(e.day),
                     "test": "proportional odds (clm)", "status": "ok", "covariates": " + ".join(
                         analysis.options.get("covariates", ["baseline"])),
                     "n_dropped": int(ctx.trial.n_patients - od.n_patients if od.n_patients else 0)})
    return effects_frame(rows)


def run_ordinal_longitudinal(ctx, analysis) -> pd.DataFrame:
    """Cumulative-logit mixed model over ``days`` (random intercept), frequentist and/or Bayesian.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("martinez-munoz-2024", only=["who_clmm"], sampler={"chains": 1, "draws": 200, "tune": 200}).effects  # doctest: +SKIP
    >>> r.loc[r["engine"] != "published", ["contrast", "day", "engine"]]  # doctest: +SKIP
               contrast   day           engine
    0  bm_msc - placebo  28.0  longmod.ordinal
    1  bm_msc - placebo  28.0             pymc
    """
    from longmod.engines.ordinal.bayes import bayes_ordinal_rows
    from longmod.engines.ordinal.cumlogit import fit_clmm, ordinal_rows

    o = analysis.options
    e = ctx.estimand(analysis)
    post = [d for d in ctx.trial.meta.schedule if d > ctx.trial.meta.baseline_day]
    days = list(o.get("days", post))
    d = _long(ctx, analysis, days)
    engines = list(o.get("engines", ["clmm"]))
    rows = []
    for t in ctx.treatments:
        od = _od(ctx, analysis, d, t, longitudinal=True)
        extra = {**ctx.base_row(analysis), "contrast": t.label, "day": float(e.day), "status": "ok",
                 "days": ",".join(map(str, days)), "covariates": " + ".join(o.get("covariates", ["baseline"]))}
        if "clmm" in engines:
            fit = fit_clmm(od, nagq=int(o.get("nagq", 10)))
            r = ordinal_rows(fit, analysis=analysis.name, outcome=e.outcome, estimand=analysis.estimand, day=e.day)
            rows.append({**r.iloc[0].to_dict(), **extra, "test": f"proportional-odds mixed model (clmm, nAGQ "
                         f"{int(o.get('nagq', 10))})"})
        if "pymc" in engines and "pymc" in ctx.unavailable:
            rows.append(ctx.not_run_row(analysis, "pymc", ctx.unavailable["pymc"], outcome=e.outcome, contrast=t.label))
        elif "pymc" in engines:
            sampler = {**dict(o.get("sampler", {})), **dict(ctx.sampler or {})}
            r = bayes_ordinal_rows(od, analysis=analysis.name, outcome=e.outcome, estimand=analysis.estimand,
                                   day=e.day, sampler=sampler or None)
            rows.append({**r.iloc[0].to_dict(), **extra, "test": "Bayesian proportional-odds mixed model"})
    out = effects_frame(rows)
    if "prob_benefit" in out and "prob_harm" not in out:
        out["prob_harm"] = np.where(out["prob_benefit"].notna(), 1 - out["prob_benefit"], np.nan)
    return out


def engines_ordinal(ctx, analysis) -> list[str]:
    """Engines of the analysis (``pymc`` may be unavailable here; ``clmm`` always runs).

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("martinez-munoz-2024")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["who_clmm"]
    >>> engines_ordinal(ctx, a)
    ['longmod.ordinal', 'pymc']
    """
    return ["longmod.ordinal" if e == "clmm" else e for e in analysis.options.get("engines", ["clmm"])]
