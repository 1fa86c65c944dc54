"""Markdown report of a reanalysis: published vs reproduced, estimand per row."""

from __future__ import annotations

import math

import pandas as pd


def _fmt(x, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.{digits}f}"


def _p(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def effects_table_markdown(effects: pd.DataFrame) -> str:
    """Markdown table of effects: analysis, estimand, estimate, 95% interval, P, engine, data.

    Examples
    --------
    >>> from longmod.published import published_effects
    >>> print(effects_table_markdown(published_effects("stroma-cov2")).splitlines()[2][:40])
    | primary_ancova | primary | D7 | uc_msc -
    """
    rows = []
    for _, r in effects.iterrows():
        day = "" if pd.isna(r.get("day")) else f"D{int(r['day'])}"
        rows.append([
            str(r["analysis"]), str(r.get("estimand", "")), day, str(r.get("contrast", "")),
            _fmt(r["estimate"]), f"{_fmt(r['conf_low'])} to {_fmt(r['conf_high'])}" if pd.notna(r.get("conf_low")) else "",
            _p(r.get("p_value")), str(r["engine"]), str(r.get("data_label", "")),
        ])
    return _table(["analysis", "estimand", "day", "contrast", "estimate", "95% interval", "P", "engine", "data"], rows)


def render_markdown(res) -> str:
    """Render a :class:`~longmod.reanalyse.Reanalysis` as Markdown.

    Examples
    --------
    >>> from longmod.reanalyse import reanalyse
    >>> md = render_markdown(reanalyse("stroma-cov2", only=["primary_ancova"]))
    >>> "SYNTHETIC" in md
    True
    """
    meta = res.trial.meta
    lines = [f"# Reanalysis: {meta.title or meta.name}", ""]
    if meta.synthetic:
        lines += [
            "> **SYNTHETIC DATA.** These are pseudo-patient data reconstructed by longmod from the published "
            "summaries (see the fixture's CALIBRATION.md); they are not the trial's patient data. Published "
            "numbers are shown for comparison; reproduced numbers are computed on the synthetic data.",
            "",
        ]
    else:
        lines += [f"Data: user data from `{res.provenance['data'].get('source')}`.", ""]
    if res.provenance.get("published"):
        lines += [f"Published source: {res.provenance['published']}", ""]

    pub = res.effects[res.effects["engine"] == "published"]
    if len(pub):
        lines += ["## Published primary result beside its reproduction", ""]
        for _, r in pub.iterrows():
            ours = res.effects[(res.effects["analysis"] == r["analysis"]) & (res.effects["engine"] != "published")]
            lines.append(f"- **Published** ({r['estimand']}): {_fmt(r['estimate'])} (95% CI {_fmt(r['conf_low'])} to "
                         f"{_fmt(r['conf_high'])}), P = {_p(r['p_value'])}. Source: \"{r['source_quote']}\"")
            for _, o in ours.iterrows():
                lines.append(f"- **Reproduced** on {o['data_label']} data ({o['engine']}): {_fmt(o['estimate'])} "
                             f"(95% CI {_fmt(o['conf_low'])} to {_fmt(o['conf_high'])}), P = {_p(o['p_value'])}")
        lines.append("")

    lines += ["## Estimands", ""]
    used = set(res.effects["estimand"].dropna())
    rows = [[name, e.label, e.describe()] for name, e in res.plan.estimands.items() if name in used]
    lines += [_table(["estimand", "label", "strategies"], rows), ""]

    lines += ["## All treatment effects", "", effects_table_markdown(res.effects), ""]

    if len(res.descriptives) and "published" in res.descriptives:
        d = res.descriptives.dropna(subset=["published"])
        if len(d):
            lines += ["## Descriptive statistics: published vs reproduced", ""]
            rows = [[r.estimand, r.variable, r.arm, f"D{int(r.day)}", r.statistic, _fmt(r.published, 2),
                     _fmt(r.reproduced, 2), _fmt(r.difference, 2)] for r in d.itertuples()]
            lines += [_table(["estimand", "variable", "arm", "day", "statistic", "published", "reproduced", "difference"], rows), ""]
    if len(res.imputations):
        lines += ["## Imputations per estimand", ""]
        rows = [[r.estimand, r.arm, r.rule, str(r.n)] for r in res.imputations.itertuples()]
        lines += [_table(["estimand", "arm", "rule", "patients"], rows), ""]
    lines += ["## Provenance", "", f"- longmod {res.provenance['longmod_version']}, Python {res.provenance['python']}",
              f"- plan: `{res.provenance['plan']}`"]
    for name, sha in res.provenance["data"].get("sha256", {}).items():
        lines.append(f"- {name}: sha256 `{sha}`")
    return "\n".join(lines) + "\n"
