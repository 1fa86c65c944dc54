"""The meta-analysis forest plot: each study, the pooled estimate and the prediction interval.

:func:`meta_forest_data` (the data-only twin) turns the rows of
:func:`longmod.engines.meta.frequentist.meta_rows` (and optionally the
Bayesian rows of :func:`longmod.engines.meta.bayes.bayes_meta_rows`) into the
rows drawn, top to bottom; :func:`meta_forest_plot` draws them: studies as
squares sized by their weight, the pooled estimate as a diamond, the
prediction interval for a new trial as a bar under it, Bayesian posteriors as
circles. Ratios analysed on the log scale are drawn as ratios on a log axis
(``ratio=True``). Long labels are wrapped, never cut.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from longmod.report.canvas import new_figure

#: Characters per line of a row label before it is wrapped.
LABEL_WIDTH: int = 46

_COLUMNS = ["row", "kind", "label", "estimate", "conf_low", "conf_high", "weight", "method", "note"]


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return np.nan


def meta_forest_data(rows: pd.DataFrame, bayes: pd.DataFrame | None = None, *, ratio: bool = False) -> pd.DataFrame:
    """The rows a meta-analysis forest plot draws, in order (top first).

    Parameters
    ----------
    rows : pandas.DataFrame
        Output of ``meta_rows`` (one ``statistic = "pooled"`` row and one
        ``"study"`` row per study); extra columns ``study_label`` or ``label``
        (display name of a study) and ``conversion`` (how its estimate was obtained) are used
        when present. Not modified.
    bayes : pandas.DataFrame, optional
        Output of ``bayes_meta_rows`` (``parameter`` = ``mu`` / ``theta_new``,
        ``tau_prior``): one posterior row and one predictive row per prior.
    ratio : bool
        Estimates are log ratios (log OR, log HR): the returned values are
        exponentiated (ratios).

    Returns
    -------
    pandas.DataFrame
        ``row``, ``kind`` (``study``, ``pooled``, ``prediction``,
        ``bayes_mean``, ``bayes_prediction``), ``label``, ``estimate``,
        ``conf_low``, ``conf_high``, ``weight`` (% for studies), ``method``,
        ``note``.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.meta.frequentist import meta_rows
    >>> s = pd.DataFrame({"study": ["A", "B"], "estimate": [10.0, 30.0], "std_error": [20.0, 25.0]})
    >>> d = meta_forest_data(meta_rows(s, analysis="m", outcome="y", contrast="x - c"))
    >>> d[["kind", "label"]].values.tolist()
    [['study', 'A'], ['study', 'B'], ['pooled', 'Random effects (REML)'], ['prediction', 'Prediction interval (new trial)']]
    """
    if rows is None or len(rows) == 0:
        return pd.DataFrame(columns=_COLUMNS)
    tr = np.exp if ratio else (lambda v: v)
    out = []
    studies = rows[rows["statistic"] == "study"]
    for _, r in studies.iterrows():
        lab = next((str(r.get(c)) for c in ("study_label", "label") if isinstance(r.get(c), str) and r.get(c)),
                   str(r["study"]))
        out.append({"kind": "study", "label": lab, "estimate": tr(_num(r["estimate"])),
                    "conf_low": tr(_num(r["conf_low"])), "conf_high": tr(_num(r["conf_high"])),
                    "weight": _num(r.get("weight")), "method": "", "note": str(r.get("conversion", "") or "")})
    for _, p in rows[rows["statistic"] == "pooled"].iterrows():
        method = str(p.get("method", ""))
        out.append({"kind": "pooled", "label": f"Random effects ({method})", "estimate": tr(_num(p["estimate"])),
                    "conf_low": tr(_num(p["conf_low"])), "conf_high": tr(_num(p["conf_high"])), "weight": 100.0,
                    "method": method, "note": f"tau = {_num(p.get('tau')):.3g}, I2 = {_num(p.get('i2')):.0f}%"})
        out.append({"kind": "prediction", "label": "Prediction interval (new trial)", "estimate": tr(_num(p["estimate"])),
                    "conf_low": tr(_num(p.get("pi_low"))), "conf_high": tr(_num(p.get("pi_high"))), "weight": np.nan,
                    "method": method, "note": ""})
    if bayes is not None and len(bayes):
        for prior, g in bayes.groupby("tau_prior", sort=False):
            for param, kind, what in (("mu", "bayes_mean", "mean effect"), ("theta_new", "bayes_prediction", "new trial")):
                b = g[g["parameter"] == param]
                if b.empty:
                    continue
                b = b.iloc[0]
                out.append({"kind": kind, "label": f"Bayesian {what}, tau prior {prior}",
                            "estimate": tr(_num(b["estimate"])), "conf_low": tr(_num(b["conf_low"])),
                            "conf_high": tr(_num(b["conf_high"])), "weight": np.nan, "method": "pymc",
                            "note": f"P(benefit) = {_num(b.get('prob_benefit')):.2f}"})
    d = pd.DataFrame(out)
    d.insert(0, "row", np.arange(len(d)))
    return d[_COLUMNS]


def meta_forest_plot(rows: pd.DataFrame, bayes: pd.DataFrame | None = None, *, ratio: bool = False,
                     xlabel: str = "", title: str = "", favours: tuple[str, str] | None = None, ax=None):
    """Forest plot of a random-effects meta-analysis with the prediction interval.

    Parameters
    ----------
    rows, bayes, ratio
        See :func:`meta_forest_data`.
    xlabel, title : str
    favours : (str, str), optional
        Text under the left and right ends of the axis (e.g. ``("favours
        MSC", "favours control")``).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.meta.frequentist import meta_rows
    >>> s = pd.DataFrame({"study": ["A", "B"], "estimate": [10.0, 30.0], "std_error": [20.0, 25.0]})
    >>> fig = meta_forest_plot(meta_rows(s, analysis="m", outcome="y", contrast="x - c"), title="toy")
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()][-1]
    'Prediction interval (new trial)'
    """
    d = meta_forest_data(rows, bayes, ratio=ratio)
    if ax is None:
        fig, axes = new_figure((9.5, 1.6 + 0.42 * max(len(d), 2)))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    if d.empty:
        ax.text(0.5, 0.5, "no studies to show", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    y = -d["row"].to_numpy(float)
    wmax = np.nanmax(d["weight"].where(d["kind"] == "study").to_numpy(float)) if (d["kind"] == "study").any() else 1.0
    for yi, r in zip(y, d.itertuples()):
        lo, hi, est = r.conf_low, r.conf_high, r.estimate
        if r.kind == "study":
            ax.plot([lo, hi], [yi, yi], color="#333333", lw=1.2)
            size = 5 + 9 * np.sqrt(max(r.weight, 0) / wmax) if np.isfinite(r.weight) else 6
            ax.plot([est], [yi], marker="s", ms=size, color="#333333", ls="none")
        elif r.kind == "pooled":
            ax.fill([lo, est, hi, est], [yi, yi + 0.28, yi, yi - 0.28], color="#0b5394", zorder=3)
        elif r.kind == "prediction":
            ax.plot([lo, hi], [yi, yi], color="#0b5394", lw=4, alpha=0.45, solid_capstyle="butt")
            ax.plot([est], [yi], marker="|", ms=10, color="#0b5394")
        else:
            col = "#9467bd"
            ax.plot([lo, hi], [yi, yi], color=col, lw=1.4 if r.kind == "bayes_mean" else 3.0,
                    alpha=1.0 if r.kind == "bayes_mean" else 0.45)
            ax.plot([est], [yi], marker="o", ms=6, color=col, ls="none")
    ax.axvline(1.0 if ratio else 0.0, color="#777777", lw=0.8)
    if ratio:
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    labels = ["\n".join(textwrap.wrap(str(s), LABEL_WIDTH)) for s in d["label"]]
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(y.min() - 0.8, 0.8)
    fmt = "{:.2f}" if ratio else "{:.1f}"
    right = []
    for r in d.itertuples():
        txt = f"{fmt.format(r.estimate)} [{fmt.format(r.conf_low)}, {fmt.format(r.conf_high)}]"
        if r.kind == "study" and np.isfinite(r.weight):
            txt += f"  {r.weight:.0f}%"
        right.append(txt)
    for yi, txt in zip(y, right):
        ax.text(1.02, yi, txt, transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=8,
                family="monospace")
    ax.text(1.02, 0.6, "estimate [95% interval]  weight", transform=ax.get_yaxis_transform(), ha="left",
            va="bottom", fontsize=7, color="#555555")
    if favours:
        ax.text(0.0, -0.09, f"<- {favours[0]}", transform=ax.transAxes, ha="left", va="top", fontsize=7, color="#555555")
        ax.text(1.0, -0.09, f"{favours[1]} ->", transform=ax.transAxes, ha="right", va="top", fontsize=7,
                color="#555555")
    ax.set_xlabel(xlabel, fontsize=9, labelpad=14 if favours else 4)
    if title:
        ax.set_title("\n".join(textwrap.wrap(title, 90)), fontsize=10)
    ax.grid(axis="x", color="#eeeeee", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
