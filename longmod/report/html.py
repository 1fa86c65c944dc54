"""Self-contained HTML report of a reanalysis.

:func:`write_html_report` writes one ``report.html`` that opens offline: the
CSS is inline, the figures (:mod:`longmod.report.figures`) are embedded as
base64 PNG, and no fonts, scripts or other files are fetched.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import pandas as pd

from longmod.report import plots
from longmod.report.estimands_section import estimands_section_html
from longmod.report.figures import ReportFigure, _png, build_figures, figure_list, save_figures
from longmod.report.mdlite import markdown_to_html
from longmod.report.tables import (ESS_MIN, RHAT_MAX, analysis_table, biomarker_rows, calibration_path,
                                   estimand_table, prior_grid_table, published_vs_reproduced)

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;
padding:0 1.2rem 3rem;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6rem;margin-top:1.2rem}h2{border-bottom:2px solid #e5e5e5;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}th,td{border:1px solid #d8d8d8;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f4f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.published td{background:#fff6dc;font-weight:600}tr.construction td{background:#eef3fb}tr.problem td{background:#fde2e1}
.banner{background:#b00020;color:#fff;padding:.7rem 1rem;border-radius:6px;font-weight:600;margin:1rem 0}
.userdata{background:#0b5394;color:#fff;padding:.7rem 1rem;border-radius:6px;margin:1rem 0}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#444}code{background:#f4f4f6;padding:0 .2rem;border-radius:3px}
blockquote{border-left:4px solid #b00020;margin:.5rem 0;padding:.2rem .8rem;background:#fff4f4}
nav.toc{font-size:.9rem}nav.toc a{margin-right:.8rem}.ok{color:#1b7f3b}.bad{color:#b00020;font-weight:600}
.note{color:#555;font-size:.9rem}
"""


def _esc(x) -> str:
    return html.escape("" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x))


def _num(x, digits: int = 1) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _esc(x)
    if math.isnan(v):
        return ""
    return f"{v:.{digits}f}"


def _p(x) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(v) else ("&lt;0.001" if v < 0.001 else f"{v:.3f}")


def _est(x) -> str:
    """An estimate to 1 decimal, or 3 significant digits below 1 (a log ratio, a proportion)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    if math.isnan(v):
        return ""
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"


def _p4(x) -> str:
    """A P value to 4 significant digits (to set beside a printed one such as 0.0085)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(v) else f"{v:.4g}"


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None, num: set[int] | None = None,
           table_id: str = "") -> str:
    num = num or set()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        tds = "".join(f'<td class="num">{c}</td>' if j in num else f"<td>{c}</td>" for j, c in enumerate(r))
        body.append(f"<tr{cls}>{tds}</tr>")
    tid = f' id="{table_id}"' if table_id else ""
    return f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _ci(r) -> str:
    lo, hi = r.get("conf_low"), r.get("conf_high")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return ""
    return f"{_num(lo)} to {_num(hi)}"


def _day(d) -> str:
    return "" if d is None or pd.isna(d) else f"D{int(d)}"


def _img(f: ReportFigure, cache: dict[str, bytes] | None = None) -> str:
    data = base64.b64encode(_png(f, cache)).decode("ascii")
    return (f'<figure id="fig-{_esc(f.name)}"><img src="data:image/png;base64,{data}" alt="{_esc(f.alt)}">'
            f"<figcaption>{_esc(f.caption)}</figcaption></figure>")


def _calibration_html(res) -> str:
    path = calibration_path(res)
    if path is not None:
        return (f'<h3>Calibration of the pseudo-patient data</h3><p class="note">From <code>{_esc(path.name)}</code> '
                f"beside the data.</p>" + markdown_to_html(path.read_text(encoding="utf-8"), heading_offset=2))
    return ('<p class="note">No CALIBRATION.md was found beside the data source, so the calibration table '
            "(published summaries vs those achieved by the synthetic data) cannot be shown.</p>")


def _provenance_html(res) -> str:
    meta = res.trial.meta
    prov = res.provenance if isinstance(res.provenance, dict) else {}
    data = prov.get("data", {})
    parts = ['<h3 id="provenance">Data provenance</h3>']
    if meta.synthetic:
        parts.append("<p>The data are <strong>SYNTHETIC</strong> pseudo-patient data: reconstructed by longmod from "
                     "published summaries so that they reproduce them. Results computed on them describe the "
                     "reconstruction, not the trial.</p>")
    else:
        parts.append("<p>User data: the file hashes below identify exactly which files were analysed.</p>")
    rows = [["source", f"<code>{_esc(data.get('source', ''))}</code>"]]
    if meta.source:
        rows.append(["trial publication", _esc(meta.source)])
    if prov.get("published"):
        rows.append(["published results from", _esc(prov["published"])])
    rows.append(["analysis plan", f"<code>{_esc(prov.get('plan', ''))}</code>"])
    rows.append(["longmod / Python", f"{_esc(prov.get('longmod_version', ''))} / {_esc(prov.get('python', ''))}"])
    parts.append(_table(["item", "value"], rows))
    sha = data.get("sha256", {})
    if sha:
        parts.append("<h3>File hashes (sha256)</h3>")
        parts.append(_table(["file", "sha256"], [[_esc(k), f"<code>{_esc(v)}</code>"] for k, v in sha.items()]))
    if meta.synthetic:
        parts.append(_calibration_html(res))
    return "\n".join(parts)


def _estimands_html(res) -> str:
    rows = [[f"<code>{_esc(r.estimand)}</code>", _esc(r.label), _esc(r.strategies), _esc(r.why)]
            for r in estimand_table(res).itertuples()]
    arows = [[_esc(r.label), f"<code>{_esc(r.analysis)}</code>", _esc(r.engine), f"<code>{_esc(r.estimand)}</code>"]
             for r in analysis_table(res.effects).itertuples()]
    return ('<h2 id="estimands">Estimands</h2><p>Each analysis targets one estimand: how intercurrent events '
            "(death, ICU discharge, incomplete dosing) are handled before the model is fitted.</p>"
            + _table(["estimand", "label", "strategies", "why its estimate can differ from the published one"], rows)
            + "<h3>Analysis to estimand</h3>" + _table(["analysis", "name", "engine", "estimand"], arows))


def _published_html(res) -> str:
    from longmod.report.published import calibration_targets

    t = published_vs_reproduced(res.effects, calibration_targets(res.trial))
    head = '<h2 id="published">Published result beside its reproduction</h2>'
    if t.empty:
        return head + "<p>No published results registered.</p>"
    intro = ('<p class="note">Each published number (bold) is followed by every reproduction: rows of the same '
             "analysis and contrast for the estimate, every between-arm test for a P value. <em>Agreement</em>: "
             "<strong>matches by construction</strong> = the published number was a calibration target of the "
             "synthetic data, so agreement is no evidence; <em>reproduced (independent check)</em> = it prints as "
             "published without having been calibrated; <em>differs</em> = it does not.</p>")
    rows, cls = [], []
    for _, r in t.iterrows():
        pub = r["source"] == "published"
        test = "" if pub else (f"{_esc(r['test'])} <span class=\"note\">[{_esc(r['source'])}]</span>"
                               if _esc(r["test"]) != _esc(r["source"]) else _esc(r["source"]))
        iqr = f"IQR {_num(r['q1'])} to {_num(r['q3'])}" if pd.notna(r.get("q1")) and pd.notna(r.get("q3")) else ""
        agree = _esc(r["agreement"]).replace("matches by construction", "<strong>matches by construction</strong>")
        rows.append([f"<code>{_esc(r['analysis'])}</code>", _day(r["day"]), _esc(r["contrast"]),
                     "published" if pub else f"reproduced: {test}", _esc(r["data_label"]),
                     _est(r["estimate"]),
                     _ci(r) or iqr, _p4(r["p_value"]), agree, _esc(r["source_quote"]) if pub else ""])
        cls.append("published" if pub else ("construction" if bool(r["by_construction"]) else ""))
    return (head + intro + _table(["analysis", "day", "contrast", "result", "data", "estimate", "95% interval / IQR",
                                   "P", "agreement", "source quote"], rows, cls, {5, 6, 7},
                                  table_id="published-vs-reproduced"))


def _banner(res) -> str:
    meta = res.trial.meta
    if meta.synthetic:
        return ('<div class="banner" id="synthetic-banner">SYNTHETIC DATA: pseudo-patient data reconstructed from '
                "published summaries; not the trial's patient data. Published numbers are shown for comparison; "
                "reproduced numbers are computed on the synthetic data.</div>")
    if res.data_label == "published summary":
        return ('<div class="userdata" id="summaries-banner">PUBLISHED SUMMARIES: no patient data. Every number is '
                "computed from the trials' published summaries, converted as the studies file states; values that are "
                "not published are declared assumptions, varied in sensitivity analyses.</div>")
    return f'<div class="userdata">User data from <code>{_esc(res.provenance["data"].get("source"))}</code>.</div>'


def _forest_html(res, figs: dict[str, ReportFigure], cache: dict[str, bytes], own: list | None = None) -> str:
    fd = plots.forest_data(res.effects)
    parts = ['<h2 id="forest">Forest plot of every treatment effect</h2>']
    if own:
        parts += [_img(f, cache) for f in own]
        if fd.empty or "forest" not in figs:
            return "\n".join(parts)
    if "forest" in figs:
        parts.append(_img(figs["forest"], cache))
    others = [f for n, f in figs.items() if n.startswith("forest_")]
    rows = [[_esc(r["label"]), _esc(r["family"]), _day(r["day"]), _num(r["estimate"]), _ci(r), _p(r["p_value"])]
            for _, r in fd.iterrows()]
    day = plots.comparison_day(res.effects)
    parts.append(f"<p>Rows of the forest plot, all at day {_day(day) or '-'} (the estimand's day; an analysis "
                 "without a result at that day is not shown):</p>")
    parts.append(_table(["analysis", "family", "day", "estimate", "95% interval", "P"], rows,
                        ["published" if p else "" for p in fd["is_published"]], {3, 4, 5}, table_id="forest-rows"))
    if others:
        parts.append("<h3>Other outcomes</h3>" + "".join(_img(f, cache) for f in others))
    return "\n".join(parts)


def _effects_html(res) -> str:
    e = res.effects.copy()
    e["family"] = [plots.engine_family(r["engine"], r) for _, r in e.iterrows()]
    order = {f: i for i, f in enumerate(plots.FAMILY_ORDER)}
    e = e.assign(_o=e["family"].map(order)).sort_values("_o", kind="stable")
    parts = ['<h2 id="effects">All results by engine family</h2>']
    extra_cols = [c for c in ("prob_benefit", "prob_mcid", "prob_harm") if c in e and e[c].notna().any()]
    for fam, g in e.groupby("family", sort=False):
        parts.append(f"<h3>{_esc(fam)}</h3>")
        rows = []
        for _, r in g.iterrows():
            lab = r.get("label") if isinstance(r.get("label"), str) else r["analysis"]
            if isinstance(r.get("prior"), str) and r.get("prior"):
                lab = f"{lab} ({r['prior']})"
            rows.append([_esc(lab), _esc(r["estimand"]), _esc(r["outcome"]), _day(r["day"]), _esc(r["contrast"]),
                         _num(r["estimate"]), _ci(r), _p(r.get("p_value")), _esc(r["engine"]), _esc(r.get("data_label"))]
                        + [_num(r.get(c), 3) for c in extra_cols])
        parts.append(_table(["analysis", "estimand", "outcome", "day", "contrast", "estimate", "95% interval", "P",
                             "engine", "data"] + [c.replace("_", " ") for c in extra_cols], rows,
                            ["published" if fam == "published" else ""] * len(rows),
                            {5, 6, 7} | set(range(10, 10 + len(extra_cols)))))
    return "\n".join(parts)


def _prior_grid_html(res) -> str:
    g = prior_grid_table(res.effects)
    if g.empty:
        return ""
    rows = [[f"<code>{_esc(r.analysis)}</code>", _esc(r.prior), _esc(r.prior_family), _num(r.prior_mean),
             _num(r.prior_sd), _num(r.posterior_mean), _num(r.posterior_sd), _ci({"conf_low": r.conf_low,
             "conf_high": r.conf_high}), _num(r.prob_benefit, 3), _num(r.prob_mcid, 3)] for r in g.itertuples()]
    return _table(["analysis", "prior", "family", "prior mean", "prior SD", "posterior mean", "posterior SD",
                   "95% credible interval", "P(benefit)", "P(effect > MCID)"], rows, num=set(range(3, 10)),
                  table_id="prior-posterior-table")


def _diagnostics_html(res) -> str:
    from longmod.report.run_diagnostics import DF_MIN, run_diagnostics

    d = run_diagnostics(res)
    parts = ['<h2 id="diagnostics">Diagnostics</h2>',
             f'<p class="note">Flagged: not run (an engine missing here, or a failed fit), not converged, R-hat '
             f"&gt; {RHAT_MAX}, bulk or tail ESS &lt; {ESS_MIN:.0f}, any divergent transition, rows dropped for "
             f"missing values, warning or engine flag, a df below {DF_MIN:g}, a 95% interval wider than the "
             f"outcome's plausible range (trial.toml); the biomarker models are included. Closed-form fits (OLS "
             f"ANCOVA, rank tests, conjugate prior grid) report no convergence.</p>"]
    if d.empty:
        return "\n".join(parts + ["<p>No fitted analyses.</p>"])
    rows = []
    for _, r in d.iterrows():
        conv = "" if r["converged"] is None else ('<span class="ok">yes</span>' if r["converged"] else '<span class="bad">NO</span>')
        rows.append([_esc(r["analysis"]), _esc(r["engine"]), _esc(r["prior"]), conv, _num(r["r_hat"], 3),
                     _num(r["ess_bulk"], 0), _num(r["ess_tail"], 0), _num(r["divergences"], 0),
                     _num(r["n_dropped"], 0), _esc(r["warnings"]), _esc(r["notes"]),
                     f'<span class="bad">{_esc(r["problems"])}</span>' if r["problem"] else '<span class="ok">none</span>'])
    parts.append(_table(["analysis", "engine", "prior", "converged", "R-hat", "bulk ESS", "tail ESS", "divergences",
                         "rows dropped", "warnings", "method notes", "problems"], rows, ["problem" if p else "" for p in d["problem"]],
                        {4, 5, 6, 7, 8},
                        table_id="diagnostics-table"))
    return "\n".join(parts)


#: Most biomarker rows listed in the report (the full table is effects.csv).
BIOMARKER_ROWS_SHOWN: int = 30


def _biomarkers_html(res, figs: dict[str, ReportFigure], cache: dict[str, bytes]) -> str:
    b = biomarker_rows(res.effects, res.trial)
    parts = ['<h2 id="biomarkers">Biomarkers</h2>']
    if getattr(res, "biomarkers", None):  # the biomarker section of reanalyse (longmod.report.biomarkers)
        from longmod.report.biomarkers import VOLCANO_NAME, biomarker_html

        volcano = figs.get(VOLCANO_NAME)
        parts.append(biomarker_html(res, png=_png(volcano, cache) if volcano is not None else None))
        if b.empty:
            return "\n".join(parts)
    if b.empty:
        parts.append('<p class="note">No biomarker analyses in this run (biomarker outcomes appear here when the plan '
                     "includes them).</p>")
        return "\n".join(parts)
    p_col = "p_value_bh" if "p_value_bh" in b and b["p_value_bh"].notna().any() else "p_value"
    summary = []
    for (analysis, engine), g in b.groupby(["analysis", "engine"], sort=False):
        p = pd.to_numeric(g.get(p_col), errors="coerce") if p_col in g else pd.Series(dtype=float)
        summary.append([f"<code>{_esc(analysis)}</code>", _esc(engine), str(g["outcome"].nunique()), str(len(g)),
                        str(int((p < 0.05).sum())) if p.notna().any() else ""])
    parts.append(_table(["analysis", "engine", "outcomes", "rows", f"{p_col.replace('_', ' ')} < 0.05"], summary,
                        num={2, 3, 4}, table_id="biomarker-summary"))
    shown = b.assign(_p=pd.to_numeric(b[p_col], errors="coerce")).sort_values("_p", kind="stable", na_position="last")
    shown = shown.head(BIOMARKER_ROWS_SHOWN)
    if len(b) > len(shown):
        parts.append(f'<p class="note">The {len(shown)} rows with the smallest {_esc(p_col)} of {len(b)}; every row is '
                     "in effects.csv.</p>")
    rows = [[_esc(r.get("label") if isinstance(r.get("label"), str) else r["analysis"]), _esc(r["outcome"]),
             _day(r["day"]), _esc(r["contrast"]), _num(r["estimate"], 3), _ci(r), _p(r.get("p_value")),
             _p(r.get("p_value_bh")), _esc(r["engine"])]
            for _, r in shown.iterrows()]
    parts.append(_table(["analysis", "outcome", "day", "contrast", "estimate", "95% interval", "P", "P (BH)", "engine"],
                        rows, num={4, 5, 6, 7}, table_id="biomarker-table"))
    return "\n".join(parts)


def _descriptives_html(res) -> str:
    d = res.descriptives
    if d is None or d.empty or "published" not in d:
        return ""
    d = d.dropna(subset=["published"])
    if d.empty:
        return ""
    rows = [[_esc(r.estimand), _esc(r.variable), _esc(r.arm), _day(r.day), _esc(r.statistic), _num(r.published, 2),
             _num(r.reproduced, 2), _num(r.difference, 2)] for r in d.itertuples()]
    return ('<h2 id="descriptives">Descriptive statistics: published vs reproduced</h2>'
            + _table(["estimand", "variable", "arm", "day", "statistic", "published", "reproduced", "difference"],
                     rows, num={5, 6, 7}))


def render_html(res, *, figures: list[ReportFigure] | None = None, _png_cache: dict[str, bytes] | None = None) -> str:
    """The report as one self-contained HTML string (see :func:`write_html_report`).

    Parameters
    ----------
    res : longmod.pipeline.Reanalysis
    figures : list of ReportFigure, optional
        Already built figures (default: :func:`build_figures`).

    Returns
    -------
    str

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["rank_sum"])
    >>> page = render_html(res, figures=[])  # no figures: text and tables only
    >>> page.lstrip().startswith("<!DOCTYPE html>"), "<h1>Reanalysis: " in page, 'id="published"' in page
    (True, True, True)
    """
    figs = {f.name: f for f in (figures if figures is not None else build_figures(res))}
    cache = _png_cache if _png_cache is not None else {}
    meta = res.trial.meta
    title = meta.title or meta.name
    banner = _banner(res)
    traj = [f for n, f in figs.items() if n.startswith("trajectory_")]
    prior = [f for n, f in figs.items() if n.startswith("prior_posterior_")]
    kinds = {m["name"]: m["kind"] for m in figure_list(res)}
    own = [f for n, f in figs.items() if kinds.get(n) == "meta_forest"]
    tte = [f for n, f in figs.items() if kinds.get(n) in ("kaplan_meier", "cumulative_incidence")]
    ordinal = [f for n, f in figs.items() if kinds.get(n) == "ordinal_bars"]
    toc = " ".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("published", "Published vs reproduced"), ("forest", "Forest plot"), ("estimands", "Estimands"),
        ("time-to-event", "Time to event"), ("ordinal", "Ordinal scale"), ("trajectories", "Trajectories"),
        ("prior-posterior", "Prior vs posterior"), ("diagnostics", "Diagnostics"), ("biomarkers", "Biomarkers"),
        ("effects", "All results"), ("appendix", "Appendix: provenance and calibration")))
    body = [
        f"<h1>Reanalysis: {_esc(title)}</h1>", banner, f'<nav class="toc">{toc}</nav>',
        _published_html(res), _forest_html(res, figs, cache, own), _estimands_html(res),
        estimands_section_html(res, figs, lambda f: _img(f, cache)),
        '<h2 id="time-to-event">Time to event</h2>'
        + ("".join(_img(f, cache) for f in tte) or '<p class="note">No time-to-event analyses in this run.</p>'),
        '<h2 id="ordinal">Ordinal scale by day and arm</h2>'
        + ("".join(_img(f, cache) for f in ordinal) or '<p class="note">No ordinal analyses in this run.</p>'),
        '<h2 id="trajectories">Trajectories by arm</h2>'
        + ("".join(_img(f, cache) for f in traj) or '<p class="note">No longitudinal variables to plot.</p>'),
        '<h2 id="prior-posterior">Prior vs posterior</h2>'
        + ("".join(_img(f, cache) for f in prior) or '<p class="note">No prior-grid analyses in this run.</p>')
        + _prior_grid_html(res),
        _diagnostics_html(res), _biomarkers_html(res, figs, cache), _effects_html(res), _descriptives_html(res),
        '<h2 id="appendix">Appendix: provenance and calibration</h2>', _provenance_html(res),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<link rel=\"icon\" href=\"data:,\">"
            f"<title>Reanalysis: {_esc(title)}{' (SYNTHETIC data)' if meta.synthetic else ''}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_html_report(res, out_dir: str | Path, *, with_figures: bool = True) -> Path:
    """Write ``out_dir/report.html`` (self-contained) and, by default, ``out_dir/figures/``.

    Parameters
    ----------
    res : longmod.pipeline.Reanalysis
    out_dir : str or pathlib.Path
        Created if missing.
    with_figures : bool
        Also write every figure as PNG and SVG to ``out_dir/figures/``
        (drawn once, shared with the HTML).

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.

    Examples
    --------
    >>> import tempfile
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["primary_ancova"])
    >>> path = write_html_report(res, tempfile.mkdtemp())
    >>> path.name, "SYNTHETIC DATA" in path.read_text(encoding="utf-8")
    ('report.html', True)
    >>> sorted(p.name for p in (path.parent / "figures").glob("forest.*"))
    ['forest.png', 'forest.svg']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figs = build_figures(res)
    try:
        cache: dict[str, bytes] = {}
        text = render_html(res, figures=figs, _png_cache=cache)
        if with_figures:
            save_figures(res, out, figures=figs, _png_cache=cache)
    finally:
        for f in figs:
            f.figure.clf()
    path = out / "report.html"
    path.write_text(text, encoding="utf-8")
    return path
