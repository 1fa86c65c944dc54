"""The biomarker section of a reanalysis report: Markdown, HTML fragment, JSON, volcano plot.

Renders the tables of :func:`longmod.biomarkers.section.biomarker_section`
(stored as ``Reanalysis.biomarkers``): a per-day summary of discoveries, the
BH table (Wilcoxon P and its Benjamini-Hochberg adjustment, the censored
mixed model, and the pooled posterior: effect, P(decrease), local false sign
rate), the pooled model's diagnostics (flagged when bad) and hyperparameters,
and a volcano plot. The report hooks (:mod:`longmod.report.markdown`,
:mod:`~longmod.report.json_report`, :mod:`~longmod.report.html`) call
:func:`biomarker_markdown`, :func:`biomarker_json` and :func:`biomarker_html`,
which return nothing when a reanalysis has no biomarker section.

Decision thresholds (constants below): BH-adjusted P < :data:`BH_ALPHA` and
lfsr < :data:`LFSR_THRESHOLD`; a pooled-model diagnostic is flagged when
divergences > 0, R-hat > :data:`~longmod.report.tables.RHAT_MAX` or bulk ESS
< :data:`~longmod.report.tables.ESS_MIN`.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.report.biomarker_plots import (BH_ALPHA, LFSR_THRESHOLD, VOLCANO_NAME, arms_of, volcano_plot,
                                            volcano_plot_data)
from longmod.report.tables import ESS_MIN, RHAT_MAX

__all__ = ["BH_ALPHA", "LFSR_THRESHOLD", "ROWS_SHOWN", "VOLCANO_NAME", "biomarker_html", "biomarker_json",
           "biomarker_markdown", "diagnostics_flags", "per_day_summary", "shown_rows", "volcano_plot",
           "volcano_plot_data"]

#: Most BH-table rows shown in the Markdown/HTML report (every row is in biomarkers/bh_table.csv).
ROWS_SHOWN: int = 25


def _section(res_or_section: Any) -> Mapping[str, pd.DataFrame] | None:
    if isinstance(res_or_section, Mapping):
        return res_or_section or None
    return getattr(res_or_section, "biomarkers", None) or None


def _synthetic(res_or_section: Any) -> bool:
    if isinstance(res_or_section, Mapping):
        lab = res_or_section.get("paper_tests", pd.DataFrame()).get("data_label")
        return lab is not None and lab.astype(str).str.contains("SYNTHETIC").any()
    return bool(getattr(getattr(getattr(res_or_section, "trial", None), "meta", None), "synthetic", False))


def per_day_summary(section: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Discoveries per day by each method of the section.

    Parameters
    ----------
    section : mapping
        Output of :func:`~longmod.biomarkers.section.biomarker_section`.

    Returns
    -------
    pandas.DataFrame
        ``day``, ``markers`` (compared between arms), ``wilcoxon_bh``
        (Wilcoxon BH-adjusted P < :data:`BH_ALPHA`), ``tobit_bh`` (censored
        mixed model, BH-adjusted P < :data:`BH_ALPHA`), ``pooled_lfsr``
        (pooled posterior lfsr < :data:`LFSR_THRESHOLD`; NaN without the
        pooled model), ``pooled_decrease`` (of those, how many decrease),
        ``median_censored`` (median fraction of samples below the LLOQ that
        day, both arms).

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> from longmod.biomarkers.section import biomarker_section
    >>> sec = biomarker_section(simulate_biomarkers(3, seed=3), pooled=False)
    >>> per_day_summary(sec)[["day", "markers"]].values.tolist()[0]
    [0.0, 3.0]
    """
    t = section["bh_table"]
    rows = []
    cens = section["paper_tests"]
    # between-arm tests: the contrast that the BH table shows ("<active> - <reference>")
    contrasts = {c for c in cens["contrast"].unique() if " - " in str(c) and ":" not in str(c)}
    for day, g in t.groupby("day", sort=True):
        row = {"day": float(day), "markers": float(g["outcome"].nunique()),
               "wilcoxon_bh": float((g["wilcoxon_p_bh"] < BH_ALPHA).sum())}
        row["tobit_bh"] = float((g["tobit_p_bh"] < BH_ALPHA).sum()) if "tobit_p_bh" in g else np.nan
        if "pooled_lfsr" in g:
            hit = g["pooled_lfsr"] < LFSR_THRESHOLD
            row["pooled_lfsr"] = float(hit.sum())
            row["pooled_decrease"] = float((hit & (g["pooled_estimate"] < 0)).sum())
        else:
            row["pooled_lfsr"] = row["pooled_decrease"] = np.nan
        c = cens[(cens["day"] == day) & cens["outcome"].isin(g["outcome"])] if "n_censored" in cens else cens.iloc[:0]
        c = c[c["contrast"].isin(set(c["contrast"]) & contrasts)] if len(c) else c
        frac = (c["n_censored"] / c["n_obs"]).replace([np.inf], np.nan) if len(c) else pd.Series(dtype=float)
        row["median_censored"] = float(frac.median()) if frac.notna().any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["day", "markers", "wilcoxon_bh", "tobit_bh", "pooled_lfsr", "pooled_decrease",
                                       "median_censored"])


def diagnostics_flags(section: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The pooled model's diagnostics with a problem flag.

    Returns
    -------
    pandas.DataFrame
        One row: ``prior``, ``divergences``, ``max_r_hat``, ``min_ess_bulk``,
        ``backend``, ``chains``, ``draws``, ``tune``, ``seed``,
        ``compile_seconds``, ``sample_seconds``, ``problem`` (bool),
        ``problems`` (text: divergences > 0, R-hat > RHAT_MAX, bulk ESS <
        ESS_MIN). Empty when the section has no pooled model.

    Examples
    --------
    >>> d = pd.DataFrame([{"prior": "horseshoe", "divergences": 0, "max_r_hat": 1.02, "min_ess_bulk": 500}])
    >>> diagnostics_flags({"pooled_diagnostics": d})[["problem", "problems"]].values.tolist()
    [[True, 'max R-hat 1.020 > 1.01']]
    """
    d = section.get("pooled_diagnostics")
    if d is None or d.empty:
        return pd.DataFrame()
    out = d.copy()
    probs = []
    for _, r in out.iterrows():
        p = []
        if pd.notna(r.get("divergences")) and r["divergences"] > 0:
            p.append(f"{int(r['divergences'])} divergent transitions")
        if pd.notna(r.get("max_r_hat")) and r["max_r_hat"] > RHAT_MAX:
            p.append(f"max R-hat {r['max_r_hat']:.3f} > {RHAT_MAX}")
        if pd.notna(r.get("min_ess_bulk")) and r["min_ess_bulk"] < ESS_MIN:
            p.append(f"min bulk ESS {r['min_ess_bulk']:.0f} < {ESS_MIN:.0f}")
        probs.append("; ".join(p))
    out["problem"] = [bool(p) for p in probs]
    out["problems"] = probs
    return out


def _fmt(x, digits: int = 2) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "" if x is None else str(x)
    return "" if math.isnan(v) else f"{v:.{digits}f}"


def _p(x) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(v) else ("<0.001" if v < 0.001 else f"{v:.3f}")


def _ci(lo, hi, digits: int = 2) -> str:
    return f"{_fmt(lo, digits)} to {_fmt(hi, digits)}" if pd.notna(lo) and pd.notna(hi) else ""


def shown_rows(section: Mapping[str, pd.DataFrame], n: int = ROWS_SHOWN) -> pd.DataFrame:
    """The BH-table rows the report lists: post-baseline days, most notable first.

    Rows are ordered by the smaller of the Wilcoxon BH-adjusted P and the
    pooled lfsr (so discoveries by either method come first), then by the
    Wilcoxon P; at most ``n`` rows.

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> from longmod.biomarkers.section import biomarker_section
    >>> sec = biomarker_section(simulate_biomarkers(3, seed=3), pooled=False)
    >>> len(shown_rows(sec, n=5))
    5
    """
    t = section["bh_table"]
    days = sorted(t["day"].unique())
    t = t[t["day"] > days[0]] if len(days) > 1 else t
    key = t["wilcoxon_p_bh"].astype(float)
    if "pooled_lfsr" in t:
        key = np.fmin(key, t["pooled_lfsr"].astype(float))
    return (t.assign(_k=key).sort_values(["_k", "wilcoxon_p"], kind="stable").drop(columns="_k").head(n)
            .reset_index(drop=True))


def _bh_rows(t: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = ["marker", "day", "log2 FC", "Wilcoxon P", "BH P", "censored model (log10)", "BH P (censored)"]
    pooled = "pooled_estimate" in t
    if pooled:
        header += ["pooled effect (log10, 95% CrI)", "P(decrease)", "lfsr"]
    rows = []
    for _, r in t.iterrows():
        row = [str(r["outcome"]), f"D{int(r['day'])}", _fmt(r["log2_fold_change"]), _p(r["wilcoxon_p"]),
               _p(r["wilcoxon_p_bh"]),
               f"{_fmt(r.get('tobit_estimate'))} ({_ci(r.get('tobit_conf_low'), r.get('tobit_conf_high'))})"
               if pd.notna(r.get("tobit_estimate")) else "not estimable", _p(r.get("tobit_p_bh"))]
        if pooled:
            row += [f"{_fmt(r['pooled_estimate'])} ({_ci(r['pooled_conf_low'], r['pooled_conf_high'])})",
                    _fmt(r["pooled_prob_decrease"], 3), _p(r["pooled_lfsr"])]
        rows.append(row)
    return header, rows


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(r) + " |" for r in rows])


def _intro(section: Mapping[str, pd.DataFrame], synthetic: bool) -> str:
    active, reference = arms_of(section)
    m = section["markers"]
    c = m["censored_fraction"]
    prior = ""
    if "pooled_diagnostics" in section and len(section["pooled_diagnostics"]):
        prior = str(section["pooled_diagnostics"]["prior"].iloc[0]) if "prior" in section["pooled_diagnostics"] else ""
    txt = (f"{len(m)} markers, log10 scale; {c.min():.0%} to {c.max():.0%} of each marker's samples below its LLOQ. "
           "The paper's analysis (LOQ/2 substitution, Wilcoxon rank-sum per day, Benjamini-Hochberg across markers "
           "within each day) beside a censored-likelihood (Tobit) random-intercept model per marker (no "
           "substitution) and, when fitted, one Bayesian censored model pooling all markers' treatment effects per "
           f"day{f' ({prior} population prior)' if prior else ''}. Discoveries: BH-adjusted P < {BH_ALPHA:g}; "
           f"pooled posterior local false sign rate (lfsr) < {LFSR_THRESHOLD:g}. Effects are {active} minus "
           f"{reference} (log10 difference; negative = lower in the {active} arm).")
    if synthetic:
        txt = "**SYNTHETIC pseudo-patient data.** " + txt
    return txt


def biomarker_markdown(res: Any) -> list[str]:
    """Markdown lines of the biomarker section (empty list when there is none).

    Parameters
    ----------
    res : Reanalysis or mapping
        A :class:`~longmod.pipeline.Reanalysis` (its ``biomarkers``) or a
        section dict.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> from longmod.biomarkers.section import biomarker_section
    >>> from longmod.biomarkers.simulate import to_trial
    >>> lines = biomarker_markdown(biomarker_section(to_trial(simulate_biomarkers(3, seed=3)), pooled=False))
    >>> lines[0], any("SYNTHETIC" in x for x in lines)
    ('## Biomarker analyses', True)
    >>> biomarker_markdown({})
    []
    """
    sec = _section(res)
    if sec is None:
        return []
    lines = ["## Biomarker analyses", "", _intro(sec, _synthetic(res)), ""]
    if not isinstance(res, Mapping):  # a Reanalysis: write() saves the volcano plot beside report.md
        lines += [f"![Volcano plot: log2 fold change against -log10 Wilcoxon P, one panel per day]"
                  f"(figures/{VOLCANO_NAME}.png)", "",
                  f"Volcano plot (also `figures/{VOLCANO_NAME}.svg`): red = BH-adjusted P < {BH_ALPHA:g}; purple ring = "
                  f"pooled lfsr < {LFSR_THRESHOLD:g}.", ""]
    lines += ["### Discoveries per day", ""]
    s = per_day_summary(sec)
    lines += _md_table(["day", "markers", f"Wilcoxon BH P < {BH_ALPHA:g}", f"censored model BH P < {BH_ALPHA:g}",
                        f"pooled lfsr < {LFSR_THRESHOLD:g}", "of which decreases", "median censored"],
                       [[f"D{int(r.day)}", _fmt(r.markers, 0), _fmt(r.wilcoxon_bh, 0), _fmt(r.tobit_bh, 0),
                         _fmt(r.pooled_lfsr, 0), _fmt(r.pooled_decrease, 0), _fmt(r.median_censored, 2)]
                        for r in s.itertuples()])
    shown = shown_rows(sec)
    n_all = int((sec["bh_table"]["day"] > sec["bh_table"]["day"].min()).sum())
    lines += ["", "### BH table and pooled posteriors", "",
              f"The {len(shown)} most notable of {n_all} post-baseline marker-days (every row: `biomarkers/bh_table.csv`).",
              ""]
    h, rows = _bh_rows(shown)
    lines += _md_table(h, rows)
    diag = diagnostics_flags(sec)
    if len(diag):
        r = diag.iloc[0]
        lines += ["", "### Pooled model diagnostics", ""]
        lines += _md_table(["prior", "divergences", "max R-hat", "min bulk ESS", "sampler", "problems"],
                           [[str(r.get("prior", "")), _fmt(r["divergences"], 0), _fmt(r["max_r_hat"], 3),
                             _fmt(r["min_ess_bulk"], 0),
                             f"{r['backend']}, {int(r['chains'])} chains x {int(r['draws'])} draws ({int(r['tune'])} tuning), "
                             f"seed {int(r['seed'])}", f"**{r['problems']}**" if r["problem"] else "none"]])
        hy = sec.get("pooled_hyper")
        if hy is not None and len(hy):
            lines += ["", "Hyperparameters (log10 scale):", ""]
            lines += _md_table(["parameter", "day", "mean", "95% CrI", "R-hat", "bulk ESS"],
                               [[str(x.parameter), "" if pd.isna(x.day) else f"D{int(x.day)}", _fmt(x.mean, 3),
                                 _ci(x.conf_low, x.conf_high, 3), _fmt(x.r_hat, 3), _fmt(x.ess_bulk, 0)]
                                for x in hy.itertuples()])
    return lines + [""]


def _esc(x) -> str:
    return html.escape("" if x is None else str(x))


def _html_table(header: list[str], rows: list[list[str]], classes: list[str] | None = None,
                table_id: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>")
    tid = f' id="{table_id}"' if table_id else ""
    return f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def biomarker_html(res: Any, *, png: bytes | None = None) -> str:
    """HTML fragment of the biomarker section ('' when there is none).

    Tables as in :func:`biomarker_markdown` plus the volcano plot embedded as
    a base64 PNG (drawn here unless ``png`` is given). Starts with
    ``<h3 id="biomarker-section">`` so it fits under the report's
    "Biomarkers" heading.

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> from longmod.biomarkers.section import biomarker_section
    >>> h = biomarker_html(biomarker_section(simulate_biomarkers(3, seed=3), pooled=False))
    >>> "data:image/png;base64," in h, 'id="biomarker-bh-table"' in h
    (True, True)
    """
    sec = _section(res)
    if sec is None:
        return ""
    synthetic = _synthetic(res)
    intro = html.escape(_intro(sec, False))
    parts = ['<h3 id="biomarker-section">Biomarker section: test by test, censored models, partial pooling</h3>',
             (f'<p><strong>SYNTHETIC pseudo-patient data.</strong> {intro}</p>' if synthetic else f"<p>{intro}</p>")]
    s = per_day_summary(sec)
    parts.append("<h4>Discoveries per day</h4>" + _html_table(
        ["day", "markers", f"Wilcoxon BH P < {BH_ALPHA:g}", f"censored model BH P < {BH_ALPHA:g}",
         f"pooled lfsr < {LFSR_THRESHOLD:g}", "of which decreases", "median censored"],
        [[f"D{int(r.day)}", _fmt(r.markers, 0), _fmt(r.wilcoxon_bh, 0), _fmt(r.tobit_bh, 0), _fmt(r.pooled_lfsr, 0),
          _fmt(r.pooled_decrease, 0), _fmt(r.median_censored, 2)] for r in s.itertuples()],
        table_id="biomarker-per-day"))
    if png is None:
        fig = volcano_plot(sec)
        from longmod.report.plots import figure_to_png

        png = figure_to_png(fig, dpi=110)
        fig.clf()
    data = base64.b64encode(png).decode("ascii")
    parts.append(f'<figure id="fig-{VOLCANO_NAME}"><img src="data:image/png;base64,{data}" '
                 'alt="Volcano plot: log2 fold change against -log10 Wilcoxon P per marker, one panel per day">'
                 f"<figcaption>Volcano plot ({'synthetic' if synthetic else 'user'} data): red = BH-adjusted P &lt; "
                 f"{BH_ALPHA:g}; purple ring = pooled posterior lfsr &lt; {LFSR_THRESHOLD:g}.</figcaption></figure>")
    shown = shown_rows(sec)
    h, rows = _bh_rows(shown)
    cls = []
    for _, r in shown.iterrows():
        hit = (r["wilcoxon_p_bh"] < BH_ALPHA) or (r.get("pooled_lfsr", 1.0) < LFSR_THRESHOLD)
        cls.append("published" if hit else "")
    parts.append(f'<h4>BH table and pooled posteriors</h4><p class="note">The {len(shown)} most notable post-baseline '
                 "marker-days (highlighted: a discovery by BH or by the pooled model); every row is in "
                 "<code>biomarkers/bh_table.csv</code>.</p>" + _html_table(h, rows, cls, "biomarker-bh-table"))
    diag = diagnostics_flags(sec)
    if len(diag):
        r = diag.iloc[0]
        prob = f'<span class="bad">{_esc(r["problems"])}</span>' if r["problem"] else '<span class="ok">none</span>'
        parts.append("<h4>Pooled model diagnostics</h4>" + _html_table(
            ["prior", "divergences", "max R-hat", "min bulk ESS", "sampler"],
            [[str(r.get("prior", "")), _fmt(r["divergences"], 0), _fmt(r["max_r_hat"], 3), _fmt(r["min_ess_bulk"], 0),
              f"{r['backend']}, {int(r['chains'])} chains x {int(r['draws'])} draws ({int(r['tune'])} tuning), "
              f"seed {int(r['seed'])}"]], ["problem" if r["problem"] else ""], "biomarker-diagnostics")
            + f"<p>Problems: {prob} (flagged: divergences &gt; 0, R-hat &gt; {RHAT_MAX}, bulk ESS &lt; {ESS_MIN:.0f}).</p>")
        hy = sec.get("pooled_hyper")
        if hy is not None and len(hy):
            parts.append("<p>Hyperparameters (log10 scale):</p>" + _html_table(
                ["parameter", "day", "mean", "95% CrI", "R-hat", "bulk ESS"],
                [[str(x.parameter), "" if pd.isna(x.day) else f"D{int(x.day)}", _fmt(x.mean, 3),
                  _ci(x.conf_low, x.conf_high, 3), _fmt(x.r_hat, 3), _fmt(x.ess_bulk, 0)] for x in hy.itertuples()]))
    return "\n".join(parts)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict("records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, (np.floating, float)):
                v = None if math.isnan(float(v)) else float(v)
            elif isinstance(v, np.integer):
                v = int(v)
            elif isinstance(v, np.bool_):
                v = bool(v)
            clean[str(k)] = v
        out.append(clean)
    return out


def biomarker_json(res: Any) -> dict[str, Any] | None:
    """The biomarker section as a JSON-serialisable dict (None when there is none).

    Returns
    -------
    dict or None
        ``data_label``, ``thresholds`` (``bh_alpha``, ``lfsr``, ``r_hat_max``,
        ``ess_min``), ``per_day`` (:func:`per_day_summary`), ``bh_table``
        (every row), ``pooled_diagnostics`` (with ``problem``/``problems``),
        ``pooled_hyper``, ``markers``, ``timings``, ``provenance``.

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> from longmod.biomarkers.section import biomarker_section
    >>> d = biomarker_json(biomarker_section(simulate_biomarkers(3, seed=3), pooled=False))
    >>> d["thresholds"]["lfsr"], len(d["bh_table"])
    (0.05, 15)
    """
    sec = _section(res)
    if sec is None:
        return None
    empty = pd.DataFrame()
    return {
        "data_label": "synthetic" if _synthetic(res) else "user data",
        "thresholds": {"bh_alpha": BH_ALPHA, "lfsr": LFSR_THRESHOLD, "r_hat_max": RHAT_MAX, "ess_min": ESS_MIN},
        "per_day": _records(per_day_summary(sec)),
        "bh_table": _records(sec["bh_table"]),
        "pooled_diagnostics": _records(diagnostics_flags(sec)),
        "pooled_hyper": _records(sec.get("pooled_hyper", empty)),
        "markers": _records(sec["markers"]),
        "timings": _records(sec.get("timings", empty)),
        "provenance": _records(sec.get("provenance", empty)),
    }
