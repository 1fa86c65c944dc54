"""Report figures of the time-to-event, ordinal and meta-analysis kinds of a plan.

:func:`analysis_figure_specs` lists, for a reanalysis, one figure per
``survival`` analysis (Kaplan-Meier curves with numbers at risk), per
``competing_risks`` analysis (cumulative incidence of the event and of the
competing events), per ordinal outcome (stacked category bars by day and arm)
and per ``meta_analysis`` (the forest of studies, pooled estimate, prediction
interval and Bayesian posteriors). Each spec is ``(description, draw)`` as in
:mod:`longmod.report.figures`; drawing rebuilds the figure from the trial's
data and the analysis's options (the same functions the runners use), so the
figures show exactly what was analysed.
"""

from __future__ import annotations

import pandas as pd

#: Kinds whose rows are drawn by a figure of this module instead of the generic forest plot.
OWN_FOREST_KINDS: tuple[str, ...] = ("meta_analysis",)


def _sd_for_plot(res, analysis, *, competing: bool):
    from longmod.engines.survival.data import survival_data
    from longmod.pipeline.tte import EVENT, event_table

    et = event_table(res.trial, dict(analysis.options))
    f = et.frame
    if not competing:
        f = f.assign(code=(f["code"] == EVENT).astype(int))
    meta = res.trial.meta
    active = meta.active_arms[0]
    g = f[f["arm"].isin([meta.reference_arm, active])]
    sd = survival_data(g, time="time", event="code", arm="arm", arms=(meta.reference_arm, active),
                       max_event_code=2 if competing else 1)
    return sd, et


def _event_label(res, name: str) -> str:
    ev = res.trial.meta.events.get(name)
    return (ev.label or name.replace("_", " ")) if ev is not None else name.replace("_", " ")


def _survival_specs(res, a) -> list[tuple[dict, object]]:
    from longmod.report.survival_plots import cif_plot, km_plot

    comp = a.kind == "competing_risks"
    sd, et = _sd_for_plot(res, a, competing=comp)
    label = "synthetic" if res.trial.meta.synthetic else "user"
    ev = _event_label(res, et.event)
    name = f"{'cif' if comp else 'km'}_{a.name}"
    if comp:
        comp_label = ", ".join(_event_label(res, c) for c in et.competing) or "competing event"
        caption = (f"{a.label}: cumulative incidence of {ev} (solid, 95% band) and of {comp_label} (dashed) by arm, "
                   f"numbers at risk below ({label} data)."
                   + ("" if et.has_competing else f" No {comp_label} in the data: the curve is 1 - Kaplan-Meier."))
        return [({"name": name, "kind": "cumulative_incidence", "analysis": a.name, "alt": f"Cumulative incidence of {ev} "
                  f"by arm with {comp_label} competing", "caption": caption, "title": f"Cumulative incidence: {ev}"},
                 lambda: cif_plot(sd, title=f"{a.label} ({label} data)", event_label=ev, competing_label=comp_label))]
    death = any(res.trial.meta.events[e].kind == "death" for e in [et.event] if e in res.trial.meta.events)
    ylabel = "Alive" if death else f"Without {ev}"
    caption = (f"{a.label}: Kaplan-Meier curves by arm (95% pointwise band, censoring marks), numbers at risk below "
               f"({label} data)." + (" Competing events censored (cause-specific)." if et.has_competing else ""))
    return [({"name": name, "kind": "kaplan_meier", "analysis": a.name, "alt": f"Kaplan-Meier curves of {ev} by arm "
              "with numbers at risk", "caption": caption, "title": f"Kaplan-Meier: {ev}"},
             lambda: km_plot(sd, title=f"{a.label} ({label} data)", ylabel=f"{ylabel} (probability)", event_label=ev))]


def _ordinal_specs(res, analyses) -> list[tuple[dict, object]]:
    from longmod.report.ordinal_plots import ordinal_bars_plot

    out, seen = [], set()
    meta = res.trial.meta
    for a in analyses:
        e = res.plan.estimands.get(a.estimand) if a.estimand else None
        if e is None or e.outcome in seen:
            continue
        seen.add(e.outcome)
        info = meta.variable_info(e.outcome)
        days = sorted({meta.baseline_day, e.day, *a.options.get("days", [])})
        m = res.trial.variable(e.outcome).merge(res.trial.patients[["patient_id", "arm"]], on="patient_id")
        m = m[m["day"].isin(days)]
        arms = [meta.reference_arm, *meta.active_arms]
        label = "synthetic" if meta.synthetic else "user"
        title = f"{info.display if hasattr(info, 'display') else e.outcome} by day and arm"
        out.append(({"name": f"ordinal_{e.outcome}", "kind": "ordinal_bars", "variable": e.outcome,
                     "alt": f"Stacked bars of {e.outcome} categories by day and arm", "title": title,
                     "caption": f"{title}: share of patients in each category (worst in black), arms side by side, "
                                f"patients per bar on top ({label} data)."},
                    lambda m=m, info=info, days=days, arms=arms, title=title: ordinal_bars_plot(
                        m, levels=info.levels, arms=arms, days=days, better=info.better, title=f"{title} ({label} data)")))
    return out


def _meta_specs(res, a) -> list[tuple[dict, object]]:
    from longmod.report.meta_plots import meta_forest_plot

    e = res.effects
    rows = e[(e["analysis"] == a.name) & (e["engine"] == "longmod.meta")]
    if "scenario" in rows:
        rows = rows[rows["scenario"].fillna("base") == "base"]
    if "status" in rows:
        rows = rows[rows["status"].fillna("ok") == "ok"]
    method = "REML" if (rows.get("method") == "REML").any() else None
    if method:
        rows = rows[(rows["method"] == method) | rows["method"].isna()]
    rows = rows[rows["estimate"].notna()]
    if rows.empty:
        return []
    bayes = e[(e["analysis"] == a.name) & (e["engine"] == "pymc")]
    ratio = str(rows["measure"].iloc[0]) == "log_odds_ratio" if "measure" in rows else False
    higher = not ratio
    fav = ("favours control", "favours MSC") if higher else ("favours MSC", "favours control")
    units = str(rows["units"].iloc[0]) if "units" in rows else ""
    x = "Odds ratio (MSC vs control)" if ratio else f"Difference, MSC - control ({units})"
    excluded = e[(e["analysis"] == a.name) & e.get("study_status", pd.Series(index=e.index, dtype=object))
                 .fillna("").astype(str).str.startswith("excluded")]
    note = "; ".join(f"{r.study_label}: {r.study_status}" for r in excluded.itertuples()) if len(excluded) else ""
    caption = (f"{a.label}: each study's effect from its published summary (square sized by weight), the pooled "
               f"random-effects estimate ({method}, diamond), the prediction interval for a new trial (bar) and the "
               "Bayesian posteriors of the mean effect and of a new trial's effect, one per heterogeneity prior."
               + (f" Not included: {note}." if note else ""))
    return [({"name": f"meta_{a.name}", "kind": "meta_forest", "analysis": a.name,
              "alt": f"Meta-analysis forest plot: {a.label}", "caption": caption, "title": f"Meta-analysis: {a.label}"},
             lambda: meta_forest_plot(rows, bayes if len(bayes) else None, ratio=ratio, xlabel=x,
                                      title=f"{a.label} (published summaries)", favours=fav))]


def analysis_figure_specs(res) -> list[tuple[dict, object]]:
    """``(description, draw)`` of the figures of the plan's time-to-event, ordinal and meta-analyses.

    Descriptions have ``name``, ``kind`` (``kaplan_meier``,
    ``cumulative_incidence``, ``ordinal_bars``, ``meta_forest``), ``alt``,
    ``caption``, ``title`` and ``analysis`` or ``variable``.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("martinez-munoz-2024", only=["o2_stop_competing", "who_po_d7"])
    >>> specs = analysis_figure_specs(res)
    >>> [(d["name"], d["kind"]) for d, draw in specs]
    [('cif_o2_stop_competing', 'cumulative_incidence'), ('ordinal_who_scale', 'ordinal_bars')]
    >>> type(specs[0][1]()).__name__  # draw() returns the matplotlib Figure
    'Figure'
    """
    plan = getattr(res, "plan", None)
    if plan is None:
        return []
    ran = set(res.effects["analysis"]) if len(res.effects) else set()
    analyses = [a for a in plan.analyses if a.name in ran]
    specs: list[tuple[dict, object]] = []
    for a in analyses:
        if a.kind in ("survival", "competing_risks"):
            specs += _survival_specs(res, a)
        elif a.kind == "meta_analysis":
            specs += _meta_specs(res, a)
    specs += _ordinal_specs(res, [a for a in analyses if a.kind in ("ordinal", "ordinal_longitudinal")])
    return specs
