"""Free days (e.g. ventilator-free or organ-failure-free days) with death as the worst outcome.

Kind ``free_days`` (see :mod:`longmod.pipeline.registry`): for each patient,
the number of days 1..``horizon`` spent alive and out of a state, the state
being read from scheduled measurements:

* ``state = { variable = "driving_pressure", measured = true }`` - in the
  state on the days the variable is measured (e.g. recorded only under
  invasive ventilation);
* ``state = { variable = "sofa", above = 5 }`` (or ``below``) - in the state
  while the value is beyond the threshold.

Between two visits the state of the last visit holds (the status carried
forward, stated in the rows); after a discharge event (``free_after``,
default: the trial's discharge events) the patient is free; patients who die
by the horizon get ``death_value`` (default -1: worse than any survivor, so
rank tests treat death as the worst outcome). Rows: per-arm median and
quartiles (R type 7) and the Wilcoxon rank-sum test with the Hodges-Lehmann
shift (normal approximation with continuity correction, as R with ties).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from longmod.results.schema import effects_frame


def check_free_days(ctx, analysis) -> list[str]:
    """The state must name a measured variable and exactly one of measured, above or below.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["ventilator_free_days"]
    >>> check_free_days(ctx, a)
    []
    >>> check_free_days(ctx, replace(a, options={**a.options, "free_after": ["stroke"]}))
    ["analysis 'ventilator_free_days': free_after event 'stroke' is not declared in trial.toml"]
    """
    o = analysis.options
    where = f"analysis {analysis.name!r}"
    st = o.get("state", {})
    measured = set(ctx.trial.measurements["variable"])
    problems = []
    if st.get("variable") not in measured:
        problems.append(f"{where}: state variable {st.get('variable')!r} is not measured; measured: "
                        f"{', '.join(sorted(measured))}")
    if len(set(st) & {"measured", "above", "below"}) != 1:
        problems.append(f"{where}: state needs exactly one of measured = true, above = <x>, below = <x>")
    for e in o.get("free_after", []):
        if e not in ctx.trial.meta.events:
            problems.append(f"{where}: free_after event {e!r} is not declared in trial.toml")
    if o.get("horizon") is None and ctx.trial.meta.followup_days is None:
        problems.append(f"{where}: give horizon = <days> or [trial] followup_days")
    return problems


def free_days_table(trial, state: dict, *, horizon: int, free_after: list[str] | None = None,
                    death_value: float = -1.0) -> pd.DataFrame:
    """Per patient: ``patient_id``, ``arm``, ``free_days`` (``death_value`` if dead by the horizon), ``died``.

    Examples
    --------
    >>> from longmod.data import load_trial
    >>> from longmod.resources import fixtures_dir
    >>> t = free_days_table(load_trial(fixtures_dir() / "stroma_cov2"), {"variable": "driving_pressure",
    ...                     "measured": True}, horizon=28)
    >>> int(t["free_days"].max()) <= 28, int((t["free_days"] == -1).sum())
    (True, 8)
    """
    meta = trial.meta
    pts = trial.patients
    deaths = [e.column for e in meta.events_of_kind("death")]
    after = free_after if free_after is not None else [e.name for e in meta.events_of_kind("discharge")]
    out_cols = [meta.events[e].column for e in after]
    v = trial.variable(state["variable"])
    v = v[v["value"].notna()]
    if "measured" in state:
        in_state = v.assign(s=True)
    elif "above" in state:
        in_state = v.assign(s=v["value"] > state["above"])
    else:
        in_state = v.assign(s=v["value"] < state["below"])
    by = {pid: g.sort_values("day") for pid, g in in_state.groupby("patient_id")}
    sched = sorted(meta.schedule)
    rows = []
    for _, p in pts.iterrows():
        death = min([float(p[c]) for c in deaths if pd.notna(p[c])], default=math.inf)
        if death <= horizon:
            rows.append((p["patient_id"], p["arm"], float(death_value), True))
            continue
        out = min([float(p[c]) for c in out_cols if pd.notna(p[c])], default=math.inf)
        g = by.get(p["patient_id"])
        measured_days = dict(zip(g["day"], g["s"])) if g is not None else {}
        free, status = 0, False
        for d in range(1, horizon + 1):
            if d >= out:
                free += 1
                continue
            visit = max([s for s in sched if s <= d], default=None)
            if visit in measured_days:
                status = bool(measured_days[visit])
            elif "measured" in state and visit is not None and visit in sched:
                status = False  # a scheduled visit without the variable: out of the state
            free += 0 if status else 1
        rows.append((p["patient_id"], p["arm"], float(free), False))
    return pd.DataFrame(rows, columns=["patient_id", "arm", "free_days", "died"])


def run_free_days(ctx, analysis) -> pd.DataFrame:
    """Per-arm median [IQR] of the free days and the Wilcoxon rank-sum test (death worst).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("stroma-cov2", only=["ventilator_free_days"]).effects
    >>> r = r[r["engine"] != "published"]
    >>> r[["estimate", "p_value", "engine"]].round(3)  # the two arms, then the contrast
       estimate  p_value             engine
    1      20.5      NaN              numpy
    2      23.0      NaN              numpy
    3       0.0    0.805  wilcoxon-rank-sum
    """
    import scipy

    from longmod.engines.ancova import rank_sum_test

    o = dict(analysis.options)
    horizon = int(o.get("horizon", ctx.trial.meta.followup_days))
    st = dict(o["state"])
    t = free_days_table(ctx.trial, st, horizon=horizon, free_after=o.get("free_after"),
                        death_value=float(o.get("death_value", -1)))
    name = f"{st['variable']}_free_days"
    note = ("state between visits carried forward from the last visit; free after discharge; death by "
            f"D{horizon} = {float(o.get('death_value', -1)):g} (worst)")
    base = {**ctx.base_row(analysis), "outcome": name, "day": float(horizon), "status": "ok", "warnings": "",
            "note": note, "n_dropped": 0}
    rows = []
    for arm in ctx.arm_levels:
        x = t.loc[t["arm"] == arm, "free_days"].to_numpy(float)
        rows.append({**base, "contrast": arm, "statistic": "median", "test": "per-arm median [IQR]",
                     "estimate": float(np.median(x)), "q1": float(np.quantile(x, 0.25)),
                     "q3": float(np.quantile(x, 0.75)), "n_deaths": int(t.loc[t["arm"] == arm, "died"].sum()),
                     "n_obs": len(x), "n_patients": len(x), "engine": "numpy", "engine_version": f"numpy {np.__version__}"})
    for tr in ctx.treatments:
        x = t.loc[t["arm"] == tr.active, "free_days"].to_numpy(float)
        y = t.loc[t["arm"] == tr.reference, "free_days"].to_numpy(float)
        r = rank_sum_test(x, y)
        rows.append({**base, "contrast": tr.label, "statistic": "Hodges-Lehmann shift",
                     "test": "Wilcoxon rank-sum (death worst)", "estimate": r.estimate, "conf_low": r.conf_low,
                     "conf_high": r.conf_high, "p_value": r.p_value, "exact": r.exact, "n_obs": len(x) + len(y),
                     "n_patients": len(x) + len(y), "engine": "wilcoxon-rank-sum",
                     "engine_version": f"scipy {scipy.__version__}"})
    return effects_frame(rows)
