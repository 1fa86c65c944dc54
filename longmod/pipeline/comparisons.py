"""Two-group comparisons of one endpoint: per-arm summaries beside every candidate test, and responder analyses.

Kinds (see :mod:`longmod.pipeline.registry`):

* ``compare_groups`` - at the estimand's day, the value, its change from
  baseline, or each patient's slope from baseline to that day: per-arm summaries (mean and SD, median and quartiles R type 7;
  ``contrast`` = the arm, so a published per-arm number sits beside its
  reproduction) and the between-arm tests a paper may have used (t, Welch,
  t on logs, Wilcoxon rank-sum by R's rule, exact, normal approximation with
  or without continuity correction), and with ``strata`` (matched sets) the
  tests that respect them (signed-rank on pairs, sign test, van Elteren);
* ``responder`` - patients improved by at least ``threshold`` in the
  outcome's better direction from baseline to the day: counts per arm, the
  difference in proportions (Newcombe CI), Fisher's exact test and Pearson's
  chi-square with and without Yates' correction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy
from scipy import stats

from longmod.results.schema import effects_frame

#: Between-arm tests of ``compare_groups``.
TESTS = ("t", "welch", "t_log", "rank_sum", "rank_sum_exact", "rank_sum_asymptotic", "rank_sum_asymptotic_nocorrect")
_SCIPY = f"scipy {scipy.__version__}"


def check_compare_groups(ctx, analysis) -> list[str]:
    """Problems of a ``compare_groups`` analysis (tests, variable, strata) before fitting.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("martinez-munoz-2024")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["pf_increase_d7"]
    >>> check_compare_groups(ctx, a)
    []
    >>> check_compare_groups(ctx, replace(a, options={**a.options, "tests": ["z"]}))
    ["analysis 'pf_increase_d7': tests ['z'] unknown; valid: t, welch, ..."]
    """
    o = dict(analysis.options)
    where = f"analysis {analysis.name!r}"
    problems = []
    bad = [t for t in o.get("tests", []) if t not in TESTS]
    if bad:
        problems.append(f"{where}: tests {bad} unknown; valid: {', '.join(TESTS)}")
    if o.get("variable", "change") not in ("value", "change", "slope"):
        problems.append(f"{where}: variable must be 'value', 'change' or 'slope', got {o.get('variable')!r}")
    bad = [s for s in o.get("summaries", []) if s not in ("mean", "median")]
    if bad:
        problems.append(f"{where}: summaries {bad} unknown; valid: mean, median")
    s = o.get("strata")
    if s is not None and s not in ctx.trial.meta.covariates:
        problems.append(f"{where}: strata {s!r} is not a declared covariate; declared: {', '.join(ctx.trial.meta.covariates)}")
    return problems


def _slopes(ctx, e) -> pd.DataFrame:
    """Per-patient least-squares slope (units per day) of the observed values from baseline to the estimand's day."""
    base_day = ctx.trial.meta.baseline_day if e.baseline_day is None else e.baseline_day
    v = ctx.trial.variable(e.outcome)
    v = v[v["value"].notna() & (v["day"] >= base_day) & (v["day"] <= e.day)]
    rows = []
    for pid, g in v.groupby("patient_id"):
        if g["day"].nunique() >= 2:
            rows.append((pid, float(np.polyfit(g["day"].to_numpy(float), g["value"].to_numpy(float), 1)[0])))
    s = pd.DataFrame(rows, columns=["patient_id", "slope"])
    return s.merge(ctx.trial.patients, on="patient_id")


def _data(ctx, analysis) -> tuple[pd.DataFrame, str, dict]:
    data = ctx.analysis_data(analysis.estimand)
    var = analysis.options.get("variable", "change")
    e = data.estimand
    if var == "slope":
        d = _slopes(ctx, e)
        n_all = ctx.trial.n_patients
        base = {**ctx.base_row(analysis), "outcome": f"{e.outcome}_slope", "day": float(e.day), "status": "ok",
                "warnings": "", "note": "per-patient least-squares slope of the observed values (at least 2 days)",
                "n_dropped": int(n_all - len(d))}
        return d, var, base
    d = data.complete
    d = d[d[var].notna()]
    outcome = e.outcome if var == "value" else f"{e.outcome}_change"
    base = {**ctx.base_row(analysis), "outcome": outcome, "day": float(e.day), "status": "ok", "warnings": "",
            "n_dropped": int(len(data.frame) - len(d))}
    return d, var, base


def _summary_rows(d: pd.DataFrame, var: str, base: dict, arms, which) -> list[dict]:
    rows = []
    for arm in arms:
        x = d.loc[d["arm"] == arm, var].to_numpy(float)
        n = len(x)
        common = {**base, "contrast": arm, "engine": "numpy", "engine_version": f"numpy {np.__version__}", "n_obs": n,
                  "n_patients": n}
        if "mean" in which:
            sd = float(np.std(x, ddof=1)) if n > 1 else np.nan
            se = sd / np.sqrt(n) if n > 1 else np.nan
            q = stats.t.ppf(0.975, n - 1) if n > 1 else np.nan
            rows.append({**common, "statistic": "mean", "test": "per-arm mean (SD)", "estimate": float(np.mean(x)),
                         "std_error": se, "sd": sd, "df": n - 1.0, "conf_low": float(np.mean(x)) - q * se, "conf_high": float(np.mean(x)) + q * se})
        if "median" in which:
            rows.append({**common, "statistic": "median", "test": "per-arm median [IQR]", "estimate": float(np.median(x)),
                         "q1": float(np.quantile(x, 0.25)), "q3": float(np.quantile(x, 0.75)), "quantile_type": 7})
    return rows


def _test_rows(x: np.ndarray, y: np.ndarray, tests, base: dict) -> list[dict]:
    from longmod.engines.ancova import rank_sum_test

    rows = []
    n = len(x) + len(y)
    common = {**base, "n_obs": n, "n_patients": n}
    for t in tests:
        if t in ("t", "welch"):
            r = stats.ttest_ind(x, y, equal_var=t == "t")
            ci = r.confidence_interval(0.95)
            rows.append({**common, "test": "t test" if t == "t" else "Welch t test", "estimate": float(x.mean() - y.mean()),
                         "conf_low": float(ci.low), "conf_high": float(ci.high), "df": float(r.df),
                         "std_error": float((x.mean() - y.mean()) / r.statistic) if r.statistic else np.nan,
                         "p_value": float(r.pvalue), "statistic": "mean difference", "engine": "scipy.ttest_ind",
                         "engine_version": _SCIPY})
        elif t == "t_log":
            if (x <= 0).any() or (y <= 0).any():
                rows.append({**common, "test": "t test on log values", "engine": "scipy.ttest_ind",
                             "status": "not run: values <= 0 have no logarithm", "warnings": "values <= 0"})
                continue
            lx, ly = np.log(x), np.log(y)
            r = stats.ttest_ind(lx, ly)
            ci = r.confidence_interval(0.95)
            rows.append({**common, "test": "t test on log values", "estimate": float(lx.mean() - ly.mean()),
                         "conf_low": float(ci.low), "conf_high": float(ci.high), "df": float(r.df),
                         "p_value": float(r.pvalue), "statistic": "difference in mean log (log ratio of geometric means)",
                         "scale": "log ratio of geometric means",
                         "ratio": float(np.exp(lx.mean() - ly.mean())), "engine": "scipy.ttest_ind",
                         "engine_version": _SCIPY})
        elif t == "rank_sum":
            r = rank_sum_test(x, y)
            rows.append({**common, "test": "Wilcoxon rank-sum (R rule: exact without ties, n < 50)",
                         "estimate": r.estimate, "conf_low": r.conf_low, "conf_high": r.conf_high, "p_value": r.p_value,
                         "statistic": "Hodges-Lehmann shift", "exact": r.exact, "engine": "wilcoxon-rank-sum",
                         "engine_version": _SCIPY})
        else:
            method = "exact" if t == "rank_sum_exact" else "asymptotic"
            correct = t == "rank_sum_asymptotic"
            r = stats.mannwhitneyu(x, y, method=method, use_continuity=correct)
            label = {"rank_sum_exact": "Wilcoxon rank-sum, exact",
                     "rank_sum_asymptotic": "Wilcoxon rank-sum, normal approximation with continuity correction",
                     "rank_sum_asymptotic_nocorrect": "Wilcoxon rank-sum, normal approximation, no correction"}[t]
            rows.append({**common, "test": label, "p_value": float(r.pvalue), "statistic": "W",
                         "w": float(r.statistic), "engine": "scipy.mannwhitneyu", "engine_version": _SCIPY})
    return rows


def run_compare_groups(ctx, analysis) -> pd.DataFrame:
    """Per-arm summaries and every declared between-arm test of the value (or change) at the estimand's day.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("martinez-munoz-2024", only=["pf_increase_d7"]).effects
    >>> r = r[r["engine"] != "published"]
    >>> sorted(set(r["contrast"]))
    ['bm_msc', 'bm_msc - placebo', 'placebo']
    >>> d = r[r["contrast"] == "bm_msc - placebo"]
    >>> [(t[:17], round(e, 2)) for t, e in zip(d["test"], d["estimate"])]
    [('t test', 25.69), ('Welch t test', 25.69), ('Wilcoxon rank-sum', 25.1)]
    >>> r.loc[r["test"] == "t test", ["df", "p_value"]].round(3).iloc[0].tolist()
    [18.0, 0.475]
    """
    from longmod.engines.matched import matched_rank_rows

    o = dict(analysis.options)
    d, var, base = _data(ctx, analysis)
    rows = _summary_rows(d, var, base, ctx.arm_levels, o.get("summaries", ["mean", "median"]))
    strata = o.get("strata")
    for t in ctx.treatments:
        x = d.loc[d["arm"] == t.active, var].to_numpy(float)
        y = d.loc[d["arm"] == t.reference, var].to_numpy(float)
        b = {**base, "contrast": t.label}
        rows += _test_rows(x, y, o.get("tests", ["t", "rank_sum"]), b)
        if strata is not None:
            g = d[d["arm"].isin([t.reference, t.active])]
            mr = matched_rank_rows(g[var].to_numpy(float), (g["arm"] == t.active).astype(int).to_numpy(),
                                   g[strata].astype(str).to_numpy())
            for r in mr.to_dict("records"):
                rows.append({**r, **b, "test": f"{r['test']} ({strata})", "n_patients": len(g)})
    return effects_frame(rows)


def check_responder(ctx, analysis) -> list[str]:
    """Problems of a ``responder`` analysis before fitting.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("martinez-munoz-2024")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["who_improvement_d7"]
    >>> check_responder(ctx, a)
    []
    >>> check_responder(ctx, replace(a, options={**a.options, "threshold": 0}))
    ["analysis 'who_improvement_d7': threshold must be a positive number, got 0"]
    """
    t = analysis.options.get("threshold", 1)
    if not (isinstance(t, (int, float)) and t > 0):
        return [f"analysis {analysis.name!r}: threshold must be a positive number, got {t!r}"]
    return []


def run_responder(ctx, analysis) -> pd.DataFrame:
    """Improvement by at least ``threshold`` from baseline at the estimand's day: counts, difference, exact tests.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("martinez-munoz-2024", only=["who_improvement_d7"]).effects
    >>> r = r[r["engine"] != "published"]
    >>> r[["contrast", "estimate", "p_value", "engine"]].round(4)
               contrast  estimate  p_value                  engine
    2           placebo       0.0      NaN                   numpy
    3            bm_msc       5.0      NaN                   numpy
    4  bm_msc - placebo       0.5      NaN  statsmodels.proportion
    5  bm_msc - placebo       NaN   0.0325      scipy.fisher_exact
    6  bm_msc - placebo       NaN   0.0098  scipy.chi2_contingency
    7  bm_msc - placebo       NaN   0.0389  scipy.chi2_contingency
    """
    from statsmodels.stats.proportion import confint_proportions_2indep

    data = ctx.analysis_data(analysis.estimand)
    e = data.estimand
    info = ctx.variable(e.outcome)
    thr = float(analysis.options.get("threshold", 1))
    d = data.complete
    d = d[d["change"].notna()]
    step = -d["change"] if not info.higher_is_better else d["change"]
    d = d.assign(improved=(step >= thr).astype(int))
    word = "lower" if not info.higher_is_better else "higher"
    definition = f"{e.outcome} {thr:g} or more {word} (better) at D{e.day} than at baseline"
    base = {**ctx.base_row(analysis), "outcome": f"{e.outcome}_improved", "day": float(e.day), "status": "ok",
            "warnings": "", "n_dropped": int(len(data.frame) - len(d)), "definition": definition}
    rows = []
    for arm in ctx.arm_levels:
        g = d[d["arm"] == arm]
        rows.append({**base, "contrast": arm, "statistic": "patients improved", "estimate": float(g["improved"].sum()),
                     "proportion": float(g["improved"].mean()) if len(g) else np.nan, "n_obs": len(g),
                     "n_patients": len(g), "engine": "numpy", "engine_version": f"numpy {np.__version__}",
                     "test": "count"})
    for t in ctx.treatments:
        a = d[d["arm"] == t.active]["improved"]
        r = d[d["arm"] == t.reference]["improved"]
        tab = np.array([[a.sum(), len(a) - a.sum()], [r.sum(), len(r) - r.sum()]])
        b = {**base, "contrast": t.label, "n_obs": int(tab.sum()), "n_patients": int(tab.sum()),
             "counts": f"{tab[0, 0]}/{len(a)} vs {tab[1, 0]}/{len(r)}"}
        lo, hi = confint_proportions_2indep(int(tab[0, 0]), len(a), int(tab[1, 0]), len(r), method="newcomb")
        diff = a.mean() - r.mean()
        rows.append({**b, "test": "difference in proportions (Newcombe CI)", "statistic": "risk difference",
                     "estimate": float(diff), "conf_low": float(lo), "conf_high": float(hi),
                     "engine": "statsmodels.proportion", "engine_version": _sm()})
        rows.append({**b, "test": "Fisher exact, two-sided", "p_value": float(stats.fisher_exact(tab)[1]),
                     "engine": "scipy.fisher_exact", "engine_version": _SCIPY})
        for correct, label in ((False, "Pearson chi-square"), (True, "Pearson chi-square with Yates' correction")):
            with np.errstate(all="ignore"):
                p = stats.chi2_contingency(tab, correction=correct)[1]
            rows.append({**b, "test": label, "p_value": float(p), "engine": "scipy.chi2_contingency",
                         "engine_version": _SCIPY})
    return effects_frame(rows)


def _sm() -> str:
    import statsmodels

    return f"statsmodels {statsmodels.__version__}"
