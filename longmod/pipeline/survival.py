"""Time-to-event analyses of a plan: Kaplan-Meier, weighted log-rank, Cox, event status at a day, competing risks.

Kinds (see :mod:`longmod.pipeline.registry`):

* ``survival`` - median time to the event per arm (Kaplan-Meier, R's CI),
  the percentage event-free at the declared ``days``, and at each of those
  days (follow-up ended there) the weighted log-rank tests and the Cox
  hazard ratio, stratified by a matching or stratification covariate when
  ``strata`` is given; ``status_tests`` adds tests of "event by day D"
  (Fisher exact unmatched; McNemar on the treated-control pairs,
  conditional logistic regression and the exact conditional test by matched
  set). Competing events (death) are censored in these rows (a
  cause-specific analysis) and the row's warnings say so;
* ``competing_risks`` - cumulative incidence of the event with death as a
  competing event (Aalen-Johansen, Gray's variance), the difference at each
  day, the cause-specific Cox hazard ratio and, when follow-up ends
  administratively, the Fine-Gray subdistribution hazard ratio;
* ``bayes_matched`` - Bayesian conditional logistic regression of "event by
  day D" by matched set (exact posterior by quadrature, declared prior).

Every row carries ``ctx.base_row(analysis)``, the ``test``/``model`` it
comes from, ``n_dropped`` and ``warnings``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from longmod.pipeline.tte import COMPETING, EVENT, EventTable, check_event, event_table
from longmod.results.schema import effects_frame

#: Weightings of the log-rank family a plan may ask for.
WEIGHTS = ("logrank", "gehan", "peto", "tarone-ware")
#: Tests of the event status at a day.
STATUS_TESTS = ("fisher", "mcnemar", "clogit")


def _opts(analysis) -> dict:
    return dict(analysis.options)


def check_survival(ctx, analysis) -> list[str]:
    """Problems of a ``survival`` / ``competing_risks`` / ``bayes_matched`` analysis found before fitting.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("gregoire-2022")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["death_bayes_clogit"]
    >>> check_survival(ctx, a)
    []
    >>> check_survival(ctx, replace(a, options={k: v for k, v in a.options.items() if k != "prior_sd"}))
    ["analysis 'death_bayes_clogit': declare the prior of the log odds ratio: prior_sd = <number> (e.g. 1.5)"]
    """
    meta = ctx.trial.meta
    o = _opts(analysis)
    where = f"analysis {analysis.name!r}"
    problems = check_event(meta, set(ctx.trial.measurements["variable"]), o, where)
    bad = [w for w in o.get("tests", []) if w not in WEIGHTS]
    if bad:
        problems.append(f"{where}: tests {bad} are not log-rank weightings; valid: {', '.join(WEIGHTS)}")
    bad = [w for w in o.get("status_tests", []) if w not in STATUS_TESTS]
    if bad:
        problems.append(f"{where}: status_tests {bad} unknown; valid: {', '.join(STATUS_TESTS)}")
    strata = o.get("strata")
    if strata is not None and strata not in meta.covariates:
        problems.append(f"{where}: strata {strata!r} is not a declared covariate; declared: {', '.join(meta.covariates)}")
    needs_sets = {"mcnemar", "clogit"} & set(o.get("status_tests", [])) or analysis.kind == "bayes_matched"
    if needs_sets and strata is None:
        problems.append(f"{where}: matched-set analyses need strata = <the matching covariate>")
    if analysis.kind == "bayes_matched" and not o.get("prior_sd"):
        problems.append(f"{where}: declare the prior of the log odds ratio: prior_sd = <number> (e.g. 1.5)")
    horizon = o.get("horizon", meta.followup_days)
    for d in o.get("days", []):
        if horizon is not None and d > horizon:
            problems.append(f"{where}: day {d} is after the end of follow-up ({horizon})")
    return problems


def _sd(table: pd.DataFrame, ctx, strata: str | None, *, competing: bool):
    from longmod.engines.survival.data import survival_data

    f = table if competing else table.assign(code=(table["code"] == EVENT).astype(int))
    ref = ctx.trial.meta.reference_arm
    return {t.active: survival_data(f[f["arm"].isin([ref, t.active])], time="time", event="code", arm="arm",
                                    arms=(ref, t.active), strata=strata, max_event_code=2 if competing else 1)
            for t in ctx.treatments}


def _base(ctx, analysis, et: EventTable, day, warnings: list[str]) -> dict:
    return {**ctx.base_row(analysis), "outcome": et.event, "day": float(day), "n_dropped": et.n_dropped,
            "warnings": "; ".join(dict.fromkeys([*et.warnings, *warnings])), "note": "; ".join(et.notes),
            "status": "ok"}


def _cs_warning(et: EventTable) -> list[str]:
    if not et.has_competing:
        return []
    n = int((et.frame["code"] == COMPETING).sum())
    return [f"{n} competing event(s) ({', '.join(et.competing)}) censored at their day: a cause-specific analysis "
            "(see a competing_risks analysis for cumulative incidence)"]


def _km_rows(ctx, analysis, et, sds) -> list[dict]:
    from longmod.engines.survival.km import km_rows, survival_rows

    o = _opts(analysis)
    warn = _cs_warning(et)
    out = []
    for active, sd in sds.items():
        km = km_rows(sd, analysis=analysis.name, outcome=et.event)
        for _, r in km.iterrows():
            if r["contrast"] == ctx.trial.meta.reference_arm and active != ctx.treatments[0].active:
                continue  # the reference arm once
            out.append({**r.to_dict(), **_base(ctx, analysis, et, et.horizon, warn), "test": "kaplan-meier median"})
        for d in o.get("days", []):
            s = survival_rows(sd, day=d, analysis=analysis.name, outcome=et.event)
            for _, r in s.iterrows():
                if r["contrast"] == ctx.trial.meta.reference_arm and active != ctx.treatments[0].active:
                    continue
                row = {**r.to_dict(), **_base(ctx, analysis, et, d, warn), "statistic": "event-free %",
                       "test": "kaplan-meier", "units": "%"}
                for c in ("estimate", "conf_low", "conf_high"):
                    row[c] = 100.0 * r[c]
                row["std_error"] = np.nan
                out.append(row)
    return out


def _status_rows(ctx, analysis, et, day, tests, strata) -> list[dict]:
    from longmod.engines.matched import mcnemar_rows
    from longmod.engines.survival.clogit import clogit_rows, matched_binary

    f = et.frame
    censored_early = (f["code"] != EVENT) & (f["time"] < day) & (f["code"] != COMPETING)
    rows = []
    for t in ctx.treatments:
        g = f[f["arm"].isin([t.reference, t.active])]
        base = {**_base(ctx, analysis, et, day, []), "contrast": t.label}
        if censored_early[g.index].any():
            msg = f"not run: {int(censored_early[g.index].sum())} patient(s) censored before D{day:g}: status unknown"
            rows += [{**base, "test": s, "engine": "longmod.matched", "status": msg, "warnings": msg} for s in tests]
            continue
        y = ((g["code"] == EVENT) & (g["time"] <= day)).astype(int).to_numpy()
        x = (g["arm"] == t.active).astype(int).to_numpy()
        n_pat = len(g)
        if "fisher" in tests:
            table = [[int(y[x == 1].sum()), int((1 - y[x == 1]).sum())], [int(y[x == 0].sum()), int((1 - y[x == 0]).sum())]]
            rows.append({**base, "test": "fisher", "p_value": float(stats.fisher_exact(table)[1]),
                         "engine": "scipy.fisher_exact", "engine_version": _scipy(), "n_obs": n_pat, "n_patients": n_pat,
                         "n_events": int(y.sum()), "counts": f"{table[0][0]}/{sum(table[0])} vs {table[1][0]}/{sum(table[1])}"})
        if strata is None:
            continue
        sets = g[strata].astype(str).to_numpy()
        if "mcnemar" in tests:
            for _, r in mcnemar_rows(y, x, sets).iterrows():
                rows.append({**base, **r.to_dict(), "n_patients": n_pat})
        if "clogit" in tests:
            mb = matched_binary(pd.DataFrame({"y": y, "arm": g["arm"].to_numpy(), "s": sets}), outcome="y", arm="arm",
                                arms=(t.reference, t.active), matched_set="s")
            cl = clogit_rows(mb, analysis=analysis.name, outcome=et.event, day=day)
            for _, r in cl.iterrows():
                d = r.to_dict()
                rows.append({**d, **base, "test": "exact conditional" if d["method"] == "exact conditional" else "clogit",
                             "warnings": d.get("warnings", "")})
                if d["method"] != "exact conditional" and np.isfinite(d.get("p_score", np.nan)):
                    rows.append({**base, "test": "clogit score (= Mantel-Haenszel, no correction)",
                                 "p_value": d["p_score"], "engine": d["engine"], "engine_version": d["engine_version"],
                                 "n_obs": n_pat, "n_patients": n_pat})
    return rows


def _scipy() -> str:
    import scipy

    return f"scipy {scipy.__version__}"


def run_survival(ctx, analysis) -> pd.DataFrame:
    """Kaplan-Meier medians and event-free %, log-rank family and Cox at each day, status tests (see module).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("gregoire-2022", only=["survival"])  # doctest: +SKIP
    """
    from longmod.engines.survival.cox import cox_rows
    from longmod.engines.survival.logrank import logrank_rows

    o = _opts(analysis)
    et = event_table(ctx.trial, o)
    strata = o.get("strata")
    rows = _km_rows(ctx, analysis, et, _sd(et.frame, ctx, strata, competing=False))
    weights = tuple(o.get("tests", ["logrank"]))
    warn = _cs_warning(et)
    for day in o.get("days", []) or [et.horizon]:
        trunc = EventTable(et.truncated(day), et.event, float(day), et.competing, et.censoring, et.n_dropped,
                           et.warnings, et.notes)
        for active, sd in _sd(trunc.frame, ctx, strata, competing=False).items():
            base = _base(ctx, analysis, trunc, day, warn)
            if (sd.event == 1).sum() == 0:
                msg = f"not run: no event by D{day:g}"
                rows.append({**base, "contrast": sd.contrast, "test": "logrank", "engine": "statsmodels.survdiff",
                             "status": msg, "warnings": msg})
                continue
            for r in logrank_rows(sd, analysis=analysis.name, outcome=et.event, weights=weights).to_dict("records"):
                rows.append({**r, **base, "test": r["test"]})
            if strata is not None:
                for r in logrank_rows(sd, analysis=analysis.name, outcome=et.event, weights=("logrank",),
                                      stratified=True).to_dict("records"):
                    rows.append({**r, **base, "test": r["test"] + f" by {strata}"})
            if o.get("cox", True):
                for strat in ([False, True] if strata is not None else [False]):
                    r = cox_rows(sd, analysis=analysis.name, outcome=et.event, stratified=strat).iloc[0].to_dict()
                    w = "; ".join(x for x in (r.get("warnings", ""), base["warnings"]) if x)
                    rows.append({**r, **base, "test": r["model"] + (f" by {strata}" if strat else ""), "warnings": w})
        if o.get("status_tests"):
            rows += _status_rows(ctx, analysis, trunc, day, list(o["status_tests"]), strata)
    return effects_frame(rows)


def run_competing_risks(ctx, analysis) -> pd.DataFrame:
    """Cumulative incidence with competing events, its difference at each day, cause-specific Cox and Fine-Gray.

    Without any competing event in the data the cumulative incidence is 1 - Kaplan-Meier; the rows say so.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("martinez-munoz-2024", only=["o2_stop_competing"]).effects
    >>> r = r[r["engine"] != "published"]
    >>> r.loc[r["day"] == 14, ["contrast", "statistic", "estimate"]]
               contrast             statistic  estimate
    3           placebo  cumulative_incidence       0.3
    4            bm_msc  cumulative_incidence       0.5
    5  bm_msc - placebo        cif_difference       0.2
    >>> r.loc[r["day"] == 365, ["test", "estimate", "p_value"]].round(3)
            test  estimate  p_value
    6        cox     1.609    0.011
    7  fine-gray     1.489    0.011
    """
    from longmod.engines.survival.competing import cif_rows
    from longmod.engines.survival.fine_gray import fine_gray_rows
    from longmod.engines.survival.cox import cox_rows

    o = _opts(analysis)
    et = event_table(ctx.trial, o)
    sds = _sd(et.frame, ctx, None, competing=True)
    extra = [] if et.has_competing else [f"no competing event ({', '.join(et.competing) or 'none declared'}) in the "
                                         "data: the cumulative incidence equals 1 - Kaplan-Meier"]
    rows = []
    for active, sd in sds.items():
        for day in o.get("days", []) or [et.horizon]:
            with np.errstate(divide="ignore", over="ignore"):  # cloglog limits at a CIF near 0 or 1 (-> 0 or 1)
                cif = cif_rows(sd, day=day, analysis=analysis.name, outcome=et.event)
            late = [f"D{day:g} is after the last follow-up time of an arm: the cumulative incidence is not estimated "
                    "there (as cmprsk::timepoints)"] if cif["estimate"].isna().any() else []
            for r in cif.to_dict("records"):
                if r["contrast"] == ctx.trial.meta.reference_arm and active != ctx.treatments[0].active:
                    continue
                rows.append({**r, **_base(ctx, analysis, et, day, extra + late),
                             "test": "cumulative incidence (Aalen-Johansen)"})
        base = _base(ctx, analysis, et, et.horizon, extra)
        if (sd.event == 1).any():
            r = cox_rows(sd, analysis=analysis.name, outcome=et.event, cause=1).iloc[0].to_dict()
            rows.append({**r, **base, "test": r["model"],
                         "warnings": "; ".join(x for x in (r.get("warnings", ""), base["warnings"]) if x)})
            r = fine_gray_rows(sd, analysis=analysis.name, outcome=et.event, cause=1).iloc[0].to_dict()
            rows.append({**r, **base, "test": "fine-gray",
                         "warnings": "; ".join(x for x in (r.get("warnings", ""), base["warnings"]) if x),
                         "note": "; ".join(x for x in (r.get("note", ""), base["note"]) if x)})
    return effects_frame(rows)


def run_bayes_matched(ctx, analysis) -> pd.DataFrame:
    """Bayesian conditional logistic regression of "event by day D" by matched set, one row per day.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("gregoire-2022", only=["death_bayes_clogit"], sampler={"chains": 2, "draws": 300}).effects  # doctest: +SKIP
    >>> r.loc[r["engine"] != "published", ["day", "test", "prob_benefit", "r_hat"]]  # doctest: +SKIP
    """
    from longmod.engines.survival.bayes_clogit import bayes_clogit_rows
    from longmod.engines.survival.clogit import matched_binary

    o = _opts(analysis)
    et = event_table(ctx.trial, o)
    strata = o["strata"]
    bad = ctx.trial.meta.events[et.event].kind == "death" if et.event in ctx.trial.meta.events else True
    rows = []
    for day in o.get("days", []) or [et.horizon]:
        f = et.frame
        y = ((f["code"] == EVENT) & (f["time"] <= day)).astype(int)
        for t in ctx.treatments:
            m = f["arm"].isin([t.reference, t.active])
            mb = matched_binary(pd.DataFrame({"y": y[m], "arm": f.loc[m, "arm"], "s": f.loc[m, strata].astype(str)}),
                                outcome="y", arm="arm", arms=(t.reference, t.active), matched_set="s")
            r = bayes_clogit_rows(mb, analysis=analysis.name, outcome=et.event, day=day,
                                  prior_sd=float(o["prior_sd"]), event_is_bad=bool(o.get("event_is_bad", bad)))
            rows.append({**r.iloc[0].to_dict(), **_base(ctx, analysis, et, day, []), "test": "bayesian clogit"})
    return effects_frame(rows)


def engines_survival(ctx, analysis) -> list[str]:
    """Engines a time-to-event analysis uses (all in-process).

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("gregoire-2022")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["survival"]
    >>> engines_survival(ctx, a)  # in-process only: nothing can be unavailable
    []
    """
    return []
