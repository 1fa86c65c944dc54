"""Markdown report of a reanalysis, with the same content as the HTML report.

Sections, in the HTML report's order (results first): the data banner
(SYNTHETIC / published summaries / user data), the published result beside its
reproduction (with the agreement of each number: matches by construction,
independent check, differs), the forest plot and its rows, the estimands with
why each can differ from the published result, time-to-event, ordinal and
trajectory figures, prior vs posterior (figures and summaries), the
diagnostics table with problems marked, every treatment effect (with P(benefit),
P(MCID), P(harm) where any row has them), descriptive statistics, imputations,
and an appendix with the data provenance (the calibration table for bundled
fixtures, file hashes for user data) (timings are in timings.csv and report.json, so the
report's bytes do not change from one run to the next). Figures are referenced by relative links
to ``figures/<name>.png`` (and ``.svg``), the files that
:func:`longmod.report.html.save_figures` writes beside ``report.md``.
"""

from __future__ import annotations

import math

import pandas as pd


def _float(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def _fmt(x, digits: int = 1) -> str:
    v = _float(x)
    return "" if math.isnan(v) else f"{v:.{digits}f}"


def _p(x) -> str:
    v = _float(x)
    if math.isnan(v):
        return ""
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _p4(x) -> str:
    v = _float(x)
    return "" if math.isnan(v) else f"{v:.4g}"


def _text(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return ""
    return str(x)


def _cell(x) -> str:
    return _text(x).replace("|", "\\|").replace("\n", " ")


def _day(d) -> str:
    v = _float(d)
    return "" if math.isnan(v) else f"D{int(v)}"


def _ci(r) -> str:
    lo, hi = _fmt(r.get("conf_low")), _fmt(r.get("conf_high"))
    return f"{lo} to {hi}" if lo and hi else ""


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def effects_table_markdown(effects: pd.DataFrame) -> str:
    """Markdown table of effects: analysis, estimand, outcome, day, contrast, estimate, 95% interval, P, engine, data,
    and P(benefit), P(MCID), P(harm) when any row has them (as the HTML report).

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([{"analysis": "primary", "estimand": "e", "outcome": "y_change", "day": 7,
    ...     "contrast": "a - b", "estimate": 7.4, "conf_low": -44.7, "conf_high": 59.7, "p_value": 0.77,
    ...     "engine": "published", "data_label": "published"}])
    >>> print(effects_table_markdown(eff).splitlines()[2])
    | primary | e | y_change | D7 | ... | 7.4 | -44.7 to 59.7 | 0.770 | published | published |
    """
    probs = [c for c in ("prob_benefit", "prob_mcid", "prob_harm") if c in effects and effects[c].notna().any()]
    rows = []
    for _, r in effects.iterrows():
        rows.append([
            _text(r["analysis"]), _text(r.get("estimand")), _text(r.get("outcome")), _day(r.get("day")),
            _text(r.get("contrast")), _fmt(r["estimate"]), _ci(r), _p(r.get("p_value")), _text(r["engine"]),
            _text(r.get("data_label")), *[_fmt(r.get(c), 3) for c in probs],
        ])
    names = {"prob_benefit": "P(benefit)", "prob_mcid": "P(MCID)", "prob_harm": "P(harm)"}
    return _table(["analysis", "estimand", "outcome", "day", "contrast", "estimate", "95% interval", "P", "engine",
                   "data", *[names[c] for c in probs]], rows)


def _figure_md(fig: dict) -> list[str]:
    alt = fig["title"].replace("[", "(").replace("]", ")").replace("\n", " ")
    return [f"![{alt}]({fig['png']})", "", f"*{fig['caption']}* ([PNG]({fig['png']}), [SVG]({fig['svg']}))", ""]


def _provenance_md(res) -> list[str]:
    from longmod.report.tables import calibration_path

    meta = res.trial.meta
    prov = res.provenance if isinstance(res.provenance, dict) else {}
    data = prov.get("data", {})
    lines = ["### Data provenance", ""]
    if meta.synthetic:
        lines += ["The data are **SYNTHETIC** pseudo-patient data: reconstructed by longmod from published summaries "
                  "so that they reproduce them. Results computed on them describe the reconstruction, not the trial.", ""]
    else:
        lines += ["User data: the file hashes below identify exactly which files were analysed.", ""]
    rows = [["source", f"`{data.get('source', '')}`"]]
    if meta.source:
        rows.append(["trial publication", meta.source])
    if prov.get("published"):
        rows.append(["published results from", prov["published"]])
    rows.append(["analysis plan", f"`{prov.get('plan', '')}`"])
    rows.append(["longmod / Python", f"{prov.get('longmod_version', '')} / {prov.get('python', '')}"])
    lines += [_table(["item", "value"], rows), ""]
    sha = data.get("sha256", {})
    if sha:
        lines += ["#### File hashes (sha256)", "", _table(["file", "sha256"], [[k, f"`{v}`"] for k, v in sha.items()]), ""]
    if meta.synthetic:
        path = calibration_path(res)
        if path is not None:
            lines += ["### Calibration of the pseudo-patient data", "", f"From `{path.name}` beside the data.", ""]
            for line in path.read_text(encoding="utf-8").splitlines():
                lines.append("###" + line if line.startswith("#") else line)
            lines.append("")
        else:
            lines += ["No CALIBRATION.md was found beside the data source, so the calibration table (published "
                      "summaries vs those achieved by the synthetic data) cannot be shown.", ""]
    return lines


def _estimands_md(res) -> list[str]:
    from longmod.report.tables import analysis_table, estimand_table

    est = estimand_table(res)
    ana = analysis_table(res.effects)
    return ["## Estimands", "",
            "Each analysis targets one estimand: how intercurrent events (death, ICU discharge, incomplete dosing) "
            "are handled before the model is fitted; analyses without an estimand (time to event, meta-analysis) "
            "define what they estimate themselves.", "",
            _table(["estimand", "label", "strategies", "why its estimate can differ from the published one"],
                   [[f"`{r.estimand}`", r.label, r.strategies, r.why] for r in est.itertuples()]), "",
            "### Analysis to estimand", "",
            _table(["analysis", "name", "engine", "estimand"], [[r.label, f"`{r.analysis}`", r.engine, f"`{r.estimand}`"]
                                                                for r in ana.itertuples()]), ""]


def _published_md(res) -> list[str]:
    from longmod.report.published import calibration_targets
    from longmod.report.tables import published_vs_reproduced

    t = published_vs_reproduced(res.effects, calibration_targets(res.trial))
    lines = ["## Published result beside its reproduction", ""]
    if t.empty:
        return lines + ["No published results registered.", ""]
    lines += ["Each published number (bold) is followed by every reproduction: rows of the same analysis and contrast "
              "for the estimate, every between-arm test for a P value. Agreement: **matches by construction** = the "
              "published number was a calibration target of the synthetic data, so agreement is no evidence; "
              "*reproduced (independent check)* = it prints as published without having been calibrated; *differs* = "
              "it does not.", ""]
    rows = []
    for _, r in t.iterrows():
        pub = r["source"] == "published"
        b = "**" if pub else ""
        test = "" if pub else (f"{_text(r['test'])} [{r['source']}]" if _text(r["test"]) != _text(r["source"])
                               else _text(r["source"]))
        iqr = f"IQR {_fmt(r['q1'])} to {_fmt(r['q3'])}" if _text(r.get("q1")) and _text(r.get("q3")) else ""
        agree = _text(r["agreement"]).replace("matches by construction", "**matches by construction**")
        v = _float(r["estimate"])
        est = "" if math.isnan(v) else (f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}")
        rows.append([f"`{r['analysis']}`", _day(r["day"]), _text(r["contrast"]),
                     f"{b}published{b}" if pub else f"reproduced: {test}", _text(r["data_label"]),
                     f"{b}{est}{b}", _ci(r) or iqr, _p4(r["p_value"]), agree,
                     f"\"{_text(r['source_quote'])}\"" if pub and _text(r["source_quote"]) else ""])
    return lines + [_table(["analysis", "day", "contrast", "result", "data", "estimate", "95% interval / IQR", "P",
                            "agreement", "source quote"], rows), ""]


def _forest_md(res, figs: list[dict]) -> list[str]:
    from longmod.report import plots

    lines = ["## Forest plot of every treatment effect", ""]
    for f in figs:
        if f["kind"] == "meta_forest":
            lines += _figure_md(f)
    forests = [f for f in figs if f["kind"] == "forest"]
    for i, f in enumerate(forests):
        if i == 1:
            lines += ["### Other outcomes", ""]
        lines += _figure_md(f)
        fd = plots.forest_data(res.effects, outcome=f["outcome"])
        rows = []
        for _, r in fd.iterrows():
            b = "**" if r["is_published"] else ""
            rows.append([f"{b}{r['label']}{b}", r["family"], _day(r["day"]), f"{b}{_fmt(r['estimate'])}{b}", _ci(r),
                         _p(r["p_value"])])
        lines += [f"Rows of the forest plot ({f['outcome']} at day {f['day']:g}, the estimand's day; every row is "
                  "at that day; the published row in bold):", "",
                  _table(["analysis", "family", "day", "estimate", "95% interval", "P"], rows), ""]
    if not forests and not any(f["kind"] == "meta_forest" for f in figs):
        lines += ["No between-arm effects with an interval to plot.", ""]
    return lines


def _prior_posterior_md(res, figs: list[dict]) -> list[str]:
    from longmod.report.tables import prior_grid_table

    lines = ["## Prior vs posterior", ""]
    prior = [f for f in figs if f["kind"] == "prior_posterior"]
    for f in prior:
        lines += _figure_md(f)
    g = prior_grid_table(res.effects)
    if g.empty:
        return lines + ["No prior-grid analyses in this run.", ""]
    rows = [[f"`{r.analysis}`", r.prior, r.prior_family, _fmt(r.prior_mean), _fmt(r.prior_sd), _fmt(r.posterior_mean),
             _fmt(r.posterior_sd), _ci({"conf_low": r.conf_low, "conf_high": r.conf_high}), _fmt(r.prob_benefit, 3),
             _fmt(r.prob_mcid, 3)] for r in g.itertuples()]
    return lines + [_table(["analysis", "prior", "family", "prior mean", "prior SD", "posterior mean", "posterior SD",
                            "95% credible interval", "P(benefit)", "P(effect > MCID)"], rows), ""]


def _diagnostics_md(res) -> list[str]:
    from longmod.report.run_diagnostics import DF_MIN, run_diagnostics
    from longmod.report.tables import ESS_MIN, RHAT_MAX

    d = run_diagnostics(res)
    lines = ["## Diagnostics", "",
             f"Flagged (**PROBLEM**): not run (an engine missing here, or a failed fit), not converged, R-hat > "
             f"{RHAT_MAX}, bulk or tail ESS < {ESS_MIN:.0f}, any divergent transition, rows dropped for missing "
             f"values, warning or engine flag, a df below {DF_MIN:g}, a 95% interval wider than the outcome's "
             "plausible range (trial.toml); the biomarker models are included. Closed-form fits (OLS ANCOVA, rank "
             "tests, conjugate prior grid) report no convergence.", ""]
    if d.empty:
        return lines + ["No fitted analyses.", ""]
    rows = []
    for _, r in d.iterrows():
        conv = "" if r["converged"] is None else ("yes" if r["converged"] else "**NO**")
        rows.append([f"**{r['analysis']}**" if r["problem"] else r["analysis"], r["engine"], r["prior"], conv,
                     _fmt(r["r_hat"], 3), _fmt(r["ess_bulk"], 0), _fmt(r["ess_tail"], 0), _fmt(r["divergences"], 0),
                     _fmt(r["n_dropped"], 0), r["warnings"], r["notes"], f"**PROBLEM: {r['problems']}**" if r["problem"] else "none"])
    n = int(d["problem"].sum())
    return lines + [_table(["analysis", "engine", "prior", "converged", "R-hat", "bulk ESS", "tail ESS", "divergences",
                            "rows dropped", "warnings", "method notes", "problems"], rows), "",
                    f"{n} of {len(d)} fits flagged." if n else f"None of the {len(d)} fits flagged.",
                    ""]


def render_markdown(res) -> str:
    """Render a :class:`~longmod.pipeline.Reanalysis` as Markdown.

    The content is that of the HTML report (:func:`longmod.report.html.render_html`);
    figures are linked as ``figures/<name>.png`` and ``.svg``, which
    :meth:`~longmod.pipeline.Reanalysis.write` saves beside ``report.md``.

    Parameters
    ----------
    res : longmod.pipeline.Reanalysis

    Returns
    -------
    str

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> md = render_markdown(reanalyse("stroma-cov2", only=["primary_ancova"]))
    >>> "SYNTHETIC" in md, "](figures/forest.png)" in md
    (True, True)
    >>> [line for line in md.splitlines() if line.startswith("## ")][:3]
    ['## Published result beside its reproduction', '## Forest plot of every treatment effect', '## Estimands']
    """
    from longmod.report.html import figure_list

    meta = res.trial.meta
    figs = figure_list(res)
    lines = [f"# Reanalysis: {meta.title or meta.name}", ""]
    if meta.synthetic:
        lines += [
            "> **SYNTHETIC DATA.** These are pseudo-patient data reconstructed by longmod from the published "
            "summaries (see the fixture's CALIBRATION.md); they are not the trial's patient data. Published "
            "numbers are shown for comparison; reproduced numbers are computed on the synthetic data.",
            "",
        ]
    elif res.data_label == "published summary":
        lines += ["> **PUBLISHED SUMMARIES.** No patient data: every number is computed from the trials' published "
                  "summaries, converted as the studies file states; values that are not published are declared "
                  "assumptions, varied in sensitivity analyses.", ""]
    else:
        lines += [f"Data: user data from `{res.provenance['data'].get('source')}`.", ""]
    lines += _published_md(res)
    lines += _forest_md(res, figs)
    lines += _estimands_md(res)
    from longmod.report.estimands_section import estimands_section_markdown  # MI, tipping point, while alive, ...

    lines += estimands_section_markdown(res, figs)
    for kinds, title, empty in ((("kaplan_meier", "cumulative_incidence"), "Time to event",
                                 "No time-to-event analyses in this run."),
                                (("ordinal_bars",), "Ordinal scale by day and arm", "No ordinal analyses in this run."),
                                (("trajectory",), "Trajectories by arm", "No longitudinal variables to plot.")):
        lines += [f"## {title}", ""]
        shown = [f for f in figs if f["kind"] in kinds]
        for f in shown:
            lines += _figure_md(f)
        if not shown:
            lines += [empty, ""]
    lines += _prior_posterior_md(res, figs)
    lines += _diagnostics_md(res)
    from longmod.report.biomarkers import biomarker_markdown  # biomarker section (empty without one)

    lines += biomarker_markdown(res)

    lines += ["## All treatment effects", "", effects_table_markdown(res.effects), ""]

    if len(res.descriptives) and "published" in res.descriptives:
        d = res.descriptives.dropna(subset=["published"])
        if len(d):
            lines += ["## Descriptive statistics: published vs reproduced", ""]
            rows = [[r.estimand, r.variable, r.arm, _day(r.day), r.statistic, _fmt(r.published, 2),
                     _fmt(r.reproduced, 2), _fmt(r.difference, 2)] for r in d.itertuples()]
            lines += [_table(["estimand", "variable", "arm", "day", "statistic", "published", "reproduced", "difference"], rows), ""]
    if len(res.imputations):
        lines += ["## Imputations per estimand", ""]
        rows = [[r.estimand, r.arm, r.rule, str(r.n)] for r in res.imputations.itertuples()]
        lines += [_table(["estimand", "arm", "rule", "patients"], rows), ""]
    lines += ["## Appendix: provenance and calibration", ""]
    lines += _provenance_md(res)
    return "\n".join(lines).rstrip("\n") + "\n"
