"""The ``prior_grid`` analysis: closed-form Bayesian reanalysis of a PUBLISHED result over a prior grid."""

from __future__ import annotations

import math

import pandas as pd


def _published(ctx, analysis):
    from longmod.published import published_results

    if not ctx.plan.published:
        raise KeyError(f"analysis {analysis.name!r}: the plan names no published results ([plan] published = ...)")
    pub = {r.id: r for r in published_results(ctx.plan.published)}
    key = analysis.options["published"]
    if key not in pub:
        raise KeyError(f"analysis {analysis.name!r}: published result {key!r} not in the registry "
                       f"{ctx.plan.published!r}; have: {', '.join(pub)}")
    return pub[key]


def _mcid(ctx, analysis, outcome: str) -> float | None:
    if "mcid" in analysis.options:
        return float(analysis.options["mcid"])
    from longmod.report.forest import base_variable

    return ctx.variable(base_variable(outcome)).mcid


def check_prior_grid(ctx, analysis) -> list[str]:
    """A prior grid needs a registered published result with a CI and an MCID (declared or given)."""
    try:
        r = _published(ctx, analysis)
    except KeyError as exc:
        return [str(exc.args[0])]
    out = []
    if r.conf_low is None or r.conf_high is None:
        out.append(f"analysis {analysis.name!r}: published result {r.id!r} has no confidence interval")
    mcid = _mcid(ctx, analysis, r.outcome)
    if mcid is None or not (mcid > 0 and math.isfinite(mcid)):
        out.append(f"analysis {analysis.name!r}: a prior grid is scaled by the MCID of {r.outcome!r}; declare mcid in "
                   "trial.toml [variables.<outcome>] or give mcid = ... in the analysis")
    return out


def run_prior_grid(ctx, analysis) -> pd.DataFrame:
    """Prior-grid reanalysis of the published estimate and CI named by ``published`` (MCID-scaled priors).

    The MCID is the analysis's ``mcid`` or the outcome's ``mcid`` in trial.toml;
    the direction of benefit is the outcome's ``better``.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["prior_grid_published"])
    >>> g = res.effects[res.effects["engine"] == "bayes-summary"]
    >>> len(g), float(g["mcid"].iloc[0]), set(g["data_label"])
    (10, 20.0, {'published summary'})
    """
    from longmod.engines.bayes import prior_grid_reanalysis
    from longmod.report.forest import base_variable

    r = _published(ctx, analysis)
    info = ctx.variable(base_variable(r.outcome))
    grid = prior_grid_reanalysis(r.estimate, r.conf_low, r.conf_high, _mcid(ctx, analysis, r.outcome),
                                 higher_is_better=info.higher_is_better, analysis=analysis.name, outcome=r.outcome,
                                 day=r.day, contrast=r.contrast, estimand=r.estimand).copy()
    grid["label"] = analysis.label
    grid["estimand_label"] = f"published {r.estimand} result (summary level)"
    grid["estimand_day"] = float(r.day)
    grid["data_label"] = "published summary"
    grid["status"] = "ok"
    return grid
