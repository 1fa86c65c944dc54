"""Single-endpoint analyses of a plan: ANCOVA, rank-sum, within-arm signed-rank, and descriptives.

Each runner takes the :class:`~longmod.pipeline.context.RunContext` and the
:class:`~longmod.spec.plan.Analysis` and returns common-schema rows, one per
active arm (each compared with the trial's reference arm).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy

from longmod.engines.ancova import fit_ancova, rank_sum_test, signed_rank_test
from longmod.estimands import AnalysisData
from longmod.results.schema import effects_frame


def _rows_base(ctx, analysis, data: AnalysisData) -> dict:
    e = data.estimand
    return {**ctx.base_row(analysis), "outcome": f"{e.outcome}_change", "day": float(e.day)}


def _dropped(ctx, analysis, data: AnalysisData, used: int) -> tuple[int, str]:
    """(rows dropped for a missing value, warning text) of a single-endpoint analysis."""
    n = len(data.frame) - used
    if not n:
        return 0, ""
    msg = (f"{n} of {len(data.frame)} patient(s) dropped for a missing value (outcome left missing by the "
           f"estimand, or a missing covariate)")
    warnings.warn(f"analysis {analysis.name!r}: {msg}", stacklevel=3)
    return n, msg


def covariates_of(ctx, analysis) -> list[str]:
    """The ANCOVA's covariates: the plan's ``covariates`` or the trial's default adjustment.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["primary_ancova"]
    >>> covariates_of(ctx, a) == ctx.default_covariates()  # none declared: baseline + the strata
    True
    """
    return list(analysis.options.get("covariates", ctx.default_covariates()))


def check_covariates(ctx, analysis) -> list[str]:
    """Covariates of an ANCOVA that the analysis data do not have.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["primary_ancova"]
    >>> check_covariates(ctx, a)
    []
    >>> (msg,) = check_covariates(ctx, replace(a, options={**a.options, "covariates": ["baseline", "weight"]}))
    >>> msg.split(";")[0]  # then the valid names
    "analysis 'primary_ancova': covariate(s) weight are not in the analysis data"
    """
    valid = ["baseline", *ctx.trial.meta.covariates] + (["doses_received"] if ctx.trial.meta.doses_planned else [])
    bad = [c for c in covariates_of(ctx, analysis) if c not in valid]
    if bad:
        return [f"analysis {analysis.name!r}: covariate(s) {', '.join(bad)} are not in the analysis data; valid: "
                f"{', '.join(valid)} (declare patient covariates in trial.toml [covariates.*])"]
    return []


def run_ancova(ctx, analysis) -> pd.DataFrame:
    """ANCOVA of the change on every arm + covariates (t-based 95% CI), one row per active arm.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["primary_ancova"])
    >>> row = res.effects[res.effects["engine"] == "ancova-ols"].iloc[0]
    >>> row["df_method"], int(row["n_dropped"]), bool(row["day"] == row["estimand_day"])
    ('residual', 0, True)
    """
    data = ctx.analysis_data(analysis.estimand)
    d = data.complete
    cov = covariates_of(ctx, analysis)
    rows = []
    for t in ctx.treatments:
        fit = fit_ancova(d, treatment=t, outcome="change", covariates=cov, arms=ctx.arm_levels)
        n_dropped, msg = _dropped(ctx, analysis, data, fit.n_obs)
        rows.append({
            **_rows_base(ctx, analysis, data), "contrast": t.label, **fit.as_row(), "n_dropped": n_dropped,
            "engine": "ancova-ols", "engine_version": f"numpy {np.__version__}", "n_patients": fit.n_obs,
            "df_method": "residual", "residual_sd": fit.residual_sd, "covariates": " + ".join(cov),
            "status": "ok", "warnings": msg,
        })
    return effects_frame(rows)


def run_rank_sum(ctx, analysis) -> pd.DataFrame:
    """Wilcoxon rank-sum test of the change, each active arm vs the reference (Hodges-Lehmann shift, exact CI).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("stroma-cov2", only=["rank_sum"]).effects
    >>> r.loc[r["engine"] != "published", ["estimate", "p_value", "engine"]].round(3)
       estimate  p_value             engine
    1      17.4    0.847  wilcoxon-rank-sum
    """
    data = ctx.analysis_data(analysis.estimand)
    d = data.complete
    d = d[d["change"].notna()]
    rows = []
    for t in ctx.treatments:
        x = d.loc[d["arm"] == t.active, "change"].to_numpy()
        y = d.loc[d["arm"] == t.reference, "change"].to_numpy()
        r = rank_sum_test(x, y)
        n_dropped, msg = _dropped(ctx, analysis, data, len(d))
        rows.append({
            **_rows_base(ctx, analysis, data), "contrast": t.label, "estimate": r.estimate,
            "conf_low": r.conf_low, "conf_high": r.conf_high, "p_value": r.p_value,
            "engine": "wilcoxon-rank-sum", "engine_version": f"scipy {scipy.__version__}",
            "n_obs": r.n, "n_patients": r.n, "n_dropped": n_dropped, "statistic": r.statistic, "exact": r.exact,
            "status": "ok", "warnings": msg,
        })
    return effects_frame(rows)


def run_signed_rank(ctx, analysis) -> pd.DataFrame:
    """Within-arm Wilcoxon signed-rank test of baseline vs endpoint value, one row per arm (trial order).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("stroma-cov2", only=["signed_rank_observed"]).effects
    >>> r.loc[r["engine"] != "published", ["estimate", "p_value"]].round(3)  # active arm, then the reference
       estimate  p_value
    1     54.50    0.020
    2      0.15    0.632
    """
    data = ctx.analysis_data(analysis.estimand)
    d = data.complete
    e = data.estimand
    base = ctx.trial.meta.baseline_day if e.baseline_day is None else e.baseline_day
    rows = []
    for arm in ctx.trial.meta.arms:
        g = d[d["arm"] == arm]
        r = signed_rank_test(g["baseline"].to_numpy(), g["value"].to_numpy())
        rows.append({
            **_rows_base(ctx, analysis, data), "contrast": f"{arm}: D{e.day} - D{base}",
            "estimate": r.estimate, "p_value": r.p_value, "engine": "wilcoxon-signed-rank",
            "engine_version": f"scipy {scipy.__version__}", "n_obs": 2 * r.n, "n_patients": r.n,
            "statistic": r.statistic, "exact": r.exact, "status": "ok", "warnings": "",
        })
    return effects_frame(rows)


def descriptive_rows(data: AnalysisData, baseline_day: int) -> pd.DataFrame:
    """Per-arm mean, SD, median and quartiles (R type 7) of baseline, value and change.

    Returns
    -------
    pandas.DataFrame
        Columns ``estimand``, ``variable``, ``arm``, ``day``, ``statistic``,
        ``reproduced``, ``n``.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["primary_ancova"])
    >>> sorted(res.descriptives["statistic"].unique())
    ['mean', 'median', 'n', 'q1', 'q3', 'sd']
    """
    d = data.complete
    e = data.estimand
    base = baseline_day if e.baseline_day is None else e.baseline_day
    out = []
    for arm, g in d.groupby("arm", sort=True):
        for var, day in (("baseline", base), ("value", e.day), ("change", e.day)):
            x = g[var].dropna().to_numpy(float)
            if not len(x):
                continue
            stats_ = {
                "n": len(x), "mean": x.mean(), "sd": x.std(ddof=1) if len(x) > 1 else np.nan, "median": np.median(x),
                "q1": np.quantile(x, 0.25), "q3": np.quantile(x, 0.75),
            }
            for s, v in stats_.items():
                out.append({"estimand": e.name, "variable": var, "arm": arm, "day": day, "statistic": s,
                            "reproduced": float(v), "n": len(x)})
    return pd.DataFrame(out, columns=["estimand", "variable", "arm", "day", "statistic", "reproduced", "n"])
