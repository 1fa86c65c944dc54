"""The report's section on estimands for death and ICU discharge: a table, a text per estimand, tipping-point figures.

Rows of the effects table that carry an ``assumes`` text (the estimand
analyses of :mod:`longmod.pipeline.runners_estimands` and
:mod:`longmod.pipeline.runners_tipping`) are summarised beside the published
result, each with what its estimand assumes; each tipping-point sweep gets a
contour figure (value imputed at death x discharge multiplier, the
protocol's choice marked, the p = 0.05 and P(benefit) = 0.95 contours drawn).
The HTML, Markdown and figure modules call the three public functions below
(one hook each); nothing here changes the rest of the report.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

#: Id of the section (HTML anchor).
SECTION_ID = "estimands-icu"
#: Title of the section.
TITLE = "Estimands for death and ICU discharge"
#: Summary measures of the worst-rank rows shown in the table.
_WORST_RANK_SHOWN = ("win_ratio", "mann_whitney_odds")


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(np.nan, index=frame.index, dtype=object)


def estimand_rows(effects: pd.DataFrame) -> pd.DataFrame:
    """Reproduced rows with an ``assumes`` text (not the published ones), in effects order.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> eff = reanalyse("stroma-cov2", only=["primary_ancova", "while_alive_auc"]).effects
    >>> estimand_rows(eff)["analysis"].tolist()
    ['while_alive_auc']
    >>> bool(estimand_rows(eff)["assumes"].str.len().gt(0).all())
    True
    """
    if effects is None or len(effects) == 0 or "assumes" not in effects:
        return pd.DataFrame(columns=list(getattr(effects, "columns", [])))
    a = effects["assumes"]
    ok = a.notna() & (a.astype(str) != "") & (effects["engine"] != "published")
    return effects[ok]


def tipping_sweeps(effects: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """The tipping-point grid of each (analysis, contrast): rows with a ``death_value``.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([{"analysis": "t", "contrast": "a - b", "estimate": 1.0, "engine": "ancova-ols",
    ...                       "death_value": 0.0, "assumes": "x"}])
    >>> list(tipping_sweeps(eff))
    [('t', 'a - b')]
    """
    e = estimand_rows(effects)
    if e.empty or "death_value" not in e:
        return {}
    e = e[e["death_value"].notna()]
    return {(str(a), str(c)): g.copy() for (a, c), g in e.groupby(["analysis", "contrast"], sort=False)}


def summary_table(effects: pd.DataFrame) -> pd.DataFrame:
    """One line per estimand analysis (and contrast): its estimate beside the published primary result.

    Returns
    -------
    pandas.DataFrame
        ``analysis``, ``label``, ``estimand_label``, ``measure``, ``estimate``,
        ``conf_low``, ``conf_high``, ``p_value``, ``prob_benefit``,
        ``assumes``, ``contrast``: the published rows first, then the
        tipping-point sweep's protocol point, every MI and while-alive row and
        the worst-rank win ratio and Mann-Whitney odds.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> eff = reanalyse("stroma-cov2", only=["primary_ancova", "while_alive_auc"]).effects
    >>> summary_table(eff)[["analysis", "measure", "estimate"]].round(2)
              analysis     measure  estimate
    0  while_alive_auc  difference      4.11
    """
    cols = ["analysis", "label", "estimand_label", "measure", "contrast", "estimate", "conf_low", "conf_high",
            "p_value", "prob_benefit", "assumes"]
    if effects is None or len(effects) == 0:
        return pd.DataFrame(columns=cols)
    e = estimand_rows(effects)
    if e.empty:
        return pd.DataFrame(columns=cols)
    pub = effects[(effects["engine"] == "published") & effects["estimate"].notna()]
    outcomes = set(e["outcome"].dropna().astype(str))
    pub = pub[pub["outcome"].astype(str).isin(outcomes)]
    out = []
    for _, r in pub.iterrows():
        out.append({"analysis": r["analysis"], "label": r.get("label") or r["analysis"],
                    "estimand_label": r.get("estimand_label") or "", "measure": "difference (published)",
                    "contrast": r["contrast"], "estimate": r["estimate"], "conf_low": r["conf_low"],
                    "conf_high": r["conf_high"], "p_value": r.get("p_value"), "prob_benefit": np.nan, "assumes": ""})
    sm, proto = _col(e, "summary_measure"), _col(e, "is_protocol")
    for (a, c), g in e.groupby(["analysis", "contrast"], sort=False):
        if "death_value" in g and g["death_value"].notna().any():
            g = g[proto.loc[g.index].eq(True)]
            measure = "difference at the protocol's constants"
        elif sm.loc[g.index].notna().any():
            g = g[sm.loc[g.index].isin(_WORST_RANK_SHOWN)]
            measure = None
        else:
            measure = "difference"
        for i, r in g.iterrows():
            out.append({"analysis": a, "label": r.get("label") or a, "estimand_label": r.get("estimand_label") or "",
                        "measure": measure or str(sm.loc[i]).replace("_", " "), "contrast": c,
                        "estimate": r["estimate"], "conf_low": r["conf_low"], "conf_high": r["conf_high"],
                        "p_value": r.get("p_value"), "prob_benefit": r.get("prob_benefit", np.nan),
                        "assumes": r["assumes"]})
    return pd.DataFrame(out, columns=cols)


def tipping_summary(sweep: pd.DataFrame) -> str:
    """One sentence: where on the grid the conclusion changes (p < 0.05, P(benefit) >= 0.95).

    Examples
    --------
    >>> s = pd.DataFrame({"p_value": [0.5, 0.01], "prob_benefit": [0.7, 0.99], "death_value": [0., 150.]})
    >>> tipping_summary(s)
    'p < 0.05 at 1 of 2 grid points (value at death 150 to 150); P(benefit) >= 0.95 at 1 of 2 (value at death 150 to 150).'
    """
    n = len(sweep)
    sig = sweep[sweep["p_value"] < 0.05]
    def where(d: pd.DataFrame) -> str:
        if not len(d):
            return ""
        out = f" (value at death {d['death_value'].min():g} to {d['death_value'].max():g}"
        if "active_delta" in d and sweep["active_delta"].nunique() > 1:
            out += f"; smallest delta on the active arm {d['active_delta'].min():g}"
        return out + ")"

    parts = [f"p < 0.05 at {len(sig)} of {n} grid points" + where(sig)]
    if "prob_benefit" in sweep and sweep["prob_benefit"].notna().any():
        pb = sweep[sweep["prob_benefit"] >= 0.95]
        parts.append(f"P(benefit) >= 0.95 at {len(pb)} of {n}" + where(pb))
    return "; ".join(parts) + "."


def _figure_name(analysis: str, contrast: str, first: bool, suffix: str) -> str:
    stem = analysis if first else f"{analysis}_{contrast}"
    return "tipping_" + "".join(ch if ch.isalnum() else "_" for ch in stem) + suffix


def add_estimand_figures(res, add) -> None:
    """Register the tipping-point figures with the report's figure list (``add`` of ``_figure_specs``).

    Per tipping-point sweep and contrast: the estimate over value imputed at
    death x discharge multiplier (no delta) and, when the sweep has deltas,
    over value imputed at death x delta (the protocol's discharge factor);
    the protocol's choice marked, the p = 0.05 and P(benefit) = 0.95 contours
    drawn where the grid crosses them.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline import reanalyse
    >>> from longmod.pipeline.run import bundled_trial
    >>> from longmod.spec.plan import load_plan
    >>> p = load_plan(bundled_trial("stroma-cov2")[1])
    >>> small = {"death_values": [0, 60], "discharge_multipliers": [1.0, 0.5], "discharge_fractions": [], "active_deltas": [0, -10]}
    >>> p = replace(p, analyses=tuple(replace(a, options={**a.options, **small}) if a.kind == "tipping_point" else a
    ...                               for a in p.analyses))
    >>> res = reanalyse("stroma-cov2", plan=p, only=["tipping_point", "while_alive_auc"])
    >>> added = []
    >>> add_estimand_figures(res, lambda name, kind, alt, caption, draw, **extra: added.append((name, kind)))
    >>> added
    [('tipping_tipping_point', 'tipping_point'), ('tipping_tipping_point_delta', 'tipping_point')]
    """
    from longmod.estimands.tipping_plot import tipping_plot

    label = "synthetic" if res.trial.meta.synthetic else "user"
    for k, ((a, c), sweep) in enumerate(tipping_sweeps(res.effects).items()):
        rules = set(sweep["discharge_rule"].dropna())
        rule = "locf_multiplier" if "locf_multiplier" in rules else sorted(rules)[0]
        proto = sweep[sweep["is_protocol"].eq(True)] if "is_protocol" in sweep else sweep.iloc[:0]
        factor = float(proto["discharge_factor"].iloc[0]) if len(proto) else float(
            sweep.loc[sweep["discharge_rule"] == rule, "discharge_factor"].iloc[0])
        views = [("discharge_factor", {"discharge_rule": rule, "active_delta": 0.0}, "",
                  f"the discharge factor ({rule}), no delta"),
                 ("active_delta", {"discharge_rule": rule, "discharge_factor": factor}, "_delta",
                  f"the delta added to the active arm's imputed values (discharge factor {factor:g})")]
        for y, where, suffix, what in views:
            sl = sweep
            for col, v in where.items():
                sl = sl[sl[col] == v]
            if sl["death_value"].nunique() < 2 or sl[y].nunique() < 2:
                continue
            caption = (f"Tipping-point sweep '{a}' ({c}, {label} data): estimated difference of the primary ANCOVA "
                       f"over the value imputed at death and {what}; star = the protocol's choice; lines = "
                       f"p = 0.05 and P(benefit) = 0.95 where the grid crosses them. " + tipping_summary(sl))
            add(_figure_name(a, c, k == 0, suffix), "tipping_point",
                f"Tipping-point map of {a} ({c}): estimate by value imputed at death and {y.replace('_', ' ')}",
                caption, lambda s=sweep, y=y, w=where: tipping_plot(s, fill="estimate", y=y, where=w),
                title=f"Tipping-point map, {a}: death value x {y.replace('_', ' ')}", analysis=a)


def _fmt(x, digits: int = 1) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return ""
    if math.isnan(x):
        return ""
    return f"{x:.{digits}f}"


def _p(x) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(x) else ("< 0.001" if x < 0.001 else f"{x:.3f}")


def _lines(res) -> tuple[pd.DataFrame, dict, list[tuple[str, str, str]]]:
    t = summary_table(res.effects)
    sweeps = tipping_sweeps(res.effects)
    texts = list(dict.fromkeys((str(r.estimand_label), str(r.analysis), str(r.assumes))
                               for r in t.itertuples() if r.assumes))
    return t, sweeps, texts


def estimands_section_html(res, figs: dict, img) -> str:
    """The section as HTML (empty string when the run has no estimand analysis).

    ``figs`` maps figure names to report figures and ``img(figure)`` embeds
    one (the HTML report's own helper).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["while_alive_auc"])
    >>> html = estimands_section_html(res, {}, img=lambda f: "")
    >>> html.startswith("<h2"), "while_alive_auc" in html
    (True, True)
    >>> estimands_section_html(reanalyse("stroma-cov2", only=["rank_sum"]), {}, img=lambda f: "")  # no estimand analysis
    ''
    """
    t, sweeps, texts = _lines(res)
    if t.empty:
        return ""
    esc = html.escape
    head = ["analysis", "estimand", "measure", "contrast", "estimate", "95% interval", "P", "P(benefit)"]
    rows = "".join(
        "<tr>" + "".join(f"<td>{v}</td>" for v in (
            esc(str(r.label)), esc(str(r.estimand_label)), esc(str(r.measure)), esc(str(r.contrast)),
            _fmt(r.estimate, 2 if abs(float(r.estimate or 0)) < 10 else 1),
            f"{_fmt(r.conf_low, 2)} to {_fmt(r.conf_high, 2)}", _p(r.p_value), _fmt(r.prob_benefit, 3))) + "</tr>"
        for r in t.itertuples())
    parts = [f'<h2 id="{SECTION_ID}">{TITLE}</h2>',
             "<p>How each analysis treats patients who died or left the ICU, beside the published result. "
             "Win ratio and Mann-Whitney odds are ratios (no effect = 1).</p>",
             "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr></thead><tbody>{rows}</tbody></table>"]
    for (a, c), s in sweeps.items():
        parts.append(f"<p>Tipping-point sweep <code>{esc(a)}</code> ({esc(c)}): {esc(tipping_summary(s))}</p>")
    parts += [img(f) for n, f in figs.items() if n.startswith("tipping_")]
    parts.append("<h3>What each estimand assumes</h3><dl>"
                 + "".join(f"<dt>{esc(lab)} (<code>{esc(a)}</code>)</dt><dd>{esc(txt)}</dd>" for lab, a, txt in texts)
                 + "</dl>")
    return "\n".join(parts)


def estimands_section_markdown(res, figs: list[dict]) -> list[str]:
    """The section as Markdown lines (none when the run has no estimand analysis).

    ``figs`` is :func:`longmod.report.figures.figure_list`; the tipping-point
    figures are linked as ``figures/<name>.png``.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> lines = estimands_section_markdown(reanalyse("stroma-cov2", only=["while_alive_auc"]), [])
    >>> lines[0], any("while_alive_auc" in line for line in lines)
    ('## Estimands for death and ICU discharge', True)
    """
    t, sweeps, texts = _lines(res)
    if t.empty:
        return []
    out = [f"## {TITLE}", "",
           "How each analysis treats patients who died or left the ICU, beside the published result. Win ratio and "
           "Mann-Whitney odds are ratios (no effect = 1).", "",
           "| analysis | estimand | measure | contrast | estimate | 95% interval | P | P(benefit) |",
           "|---|---|---|---|---|---|---|---|"]
    for r in t.itertuples():
        cells = [str(r.label), str(r.estimand_label), str(r.measure), str(r.contrast),
                 _fmt(r.estimate, 2 if abs(float(r.estimate or 0)) < 10 else 1),
                 f"{_fmt(r.conf_low, 2)} to {_fmt(r.conf_high, 2)}", _p(r.p_value), _fmt(r.prob_benefit, 3)]
        out.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    out.append("")
    for (a, c), s in sweeps.items():
        out += [f"Tipping-point sweep `{a}` ({c}): {tipping_summary(s)}", ""]
    for f in figs:
        if f.get("kind") == "tipping_point":
            out += [f"![{f['title']}]({f['png']})", "", f"*{f['caption']}* ([PNG]({f['png']}), [SVG]({f['svg']}))", ""]
    out += ["### What each estimand assumes", ""]
    for lab, a, txt in texts:
        out += [f"- **{lab}** (`{a}`): {txt}"]
    return out + [""]
