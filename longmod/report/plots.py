"""Public plots of a reanalysis: forest plot, trajectories, prior vs posterior.

Every plot function takes ``ax=None`` (draw into a new figure, or into the
given matplotlib Axes) and returns the :class:`matplotlib.figure.Figure`.
Each has a data-only twin (``*_data``) returning the tidy DataFrame that is
drawn, so that tests and users can check what a figure shows without
rendering it.

matplotlib is imported lazily, inside the functions, and new figures are
created with the non-interactive Agg canvas: importing this module changes no
global state and never opens a window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Order in which engine families are listed in the forest plot.
FAMILY_ORDER: tuple[str, ...] = (
    "published", "ANCOVA", "rank-based", "LMM/MMRM", "Bayesian", "Bayesian prior grid", "other",
)

_FAMILY_COLOURS = {
    "published": "#111111", "ANCOVA": "#1f77b4", "rank-based": "#8c564b", "LMM/MMRM": "#2ca02c",
    "Bayesian": "#9467bd", "Bayesian prior grid": "#e377c2", "other": "#7f7f7f",
}
_ARM_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e")


def _new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, **kw):
    """A Figure on the Agg canvas (no pyplot, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def engine_family(engine: str, row: pd.Series | None = None) -> str:
    """Group an engine name into a family shown in plots and tables.

    Parameters
    ----------
    engine : str
        The ``engine`` column of an effects row, e.g. ``"ancova-ols"``.
    row : pandas.Series, optional
        The whole row; a row with a ``prior_mean`` is put in the prior-grid family.

    Returns
    -------
    str
        One of :data:`FAMILY_ORDER`.

    Examples
    --------
    >>> engine_family("published"), engine_family("ancova-ols"), engine_family("core-mmrm")
    ('published', 'ANCOVA', 'LMM/MMRM')
    >>> engine_family("wilcoxon-rank-sum"), engine_family("pymc-nuts")
    ('rank-based', 'Bayesian')
    """
    e = str(engine).lower()
    if e == "published":
        return "published"
    if row is not None and pd.notna(row.get("prior_mean", np.nan)) and "summary" in e:
        return "Bayesian prior grid"
    if "bayes" in e or "pymc" in e or "nutpie" in e or "stan" in e:
        return "Bayesian"
    if "ancova" in e or e.startswith("ols"):
        return "ANCOVA"
    if "wilcoxon" in e or "rank" in e or "hodges" in e:
        return "rank-based"
    if any(k in e for k in ("mmrm", "lmm", "mixed", "lme4", "pymer", "nlme", "core", "native", "gls", "reml",
                            "statsmodels", "glmm")):
        return "LMM/MMRM"
    return "other"


def base_variable(outcome: str) -> str:
    """The measured variable an outcome is derived from (``pao2_fio2_change`` -> ``pao2_fio2``).

    Examples
    --------
    >>> base_variable("pao2_fio2_change"), base_variable("il6_log"), base_variable("sofa")
    ('pao2_fio2', 'il6', 'sofa')
    """
    return re.sub(r"_(change|log|log10|ratio_to_baseline|pct_change)$", "", str(outcome))


def _is_between_arm(contrast) -> bool:
    """Between-arm contrasts look like ``"active - reference"``; within-arm ones contain ``:``."""
    if not isinstance(contrast, str) or not contrast:
        return False
    return ":" not in contrast and (" - " in contrast or " vs " in contrast)


def _row_label(r: pd.Series, max_len: int = 60) -> str:
    base = r.get("label")
    base = str(base) if isinstance(base, str) and base else str(r["analysis"])
    if base.startswith("Published: "):
        base = base[len("Published: "):]
    prior = r.get("prior")
    if isinstance(prior, str) and prior:
        base = f"{str(r['analysis'])}: {prior} prior"
    if len(base) > max_len:
        base = base[: max_len - 1].rstrip() + "…"
    if str(r["engine"]) == "published":
        return f"Published: {base}"
    return f"{base} [{r['engine']}]"


def forest_data(effects: pd.DataFrame, *, outcome: str | None = None, day: float | None = None) -> pd.DataFrame:
    """The rows a forest plot shows: one between-arm effect per analysis and engine.

    Within-arm contrasts (``contrast`` containing ``:``) and rows without an
    estimate and interval are left out. Only outcomes on the scale of
    ``outcome`` are shown (the published outcome by default, e.g.
    ``pao2_fio2`` and ``pao2_fio2_change``). Longitudinal engines give one
    contrast per day; the one at ``day`` is kept (default: the published
    day, else 7, else the last day), or the nearest day when that day is absent.

    Parameters
    ----------
    effects : pandas.DataFrame
        An effects table in the common schema (see :mod:`longmod.results.schema`);
        not modified.
    outcome : str, optional
        Base variable to show; default the published row's outcome.
    day : float, optional
        Day of the contrast to show.

    Returns
    -------
    pandas.DataFrame
        One row per plotted effect, in plotting order (top first): ``row``
        (0-based position), ``label``, ``family`` (see :func:`engine_family`),
        ``analysis``, ``engine``, ``estimand``, ``outcome``, ``day``,
        ``contrast``, ``estimate``, ``conf_low``, ``conf_high``, ``p_value``,
        ``is_published``, ``data_label``.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([
    ...     {"analysis": "primary", "outcome": "pf_change", "day": 7, "contrast": "a - b",
    ...      "estimate": 7.4, "conf_low": -44.7, "conf_high": 59.7, "engine": "published"},
    ...     {"analysis": "primary", "outcome": "pf_change", "day": 7, "contrast": "a - b",
    ...      "estimate": 6.0, "conf_low": -40.0, "conf_high": 52.0, "engine": "ancova-ols"},
    ...     {"analysis": "within", "outcome": "pf_change", "day": 7, "contrast": "a: D7 vs D0",
    ...      "estimate": 50.0, "conf_low": 10.0, "conf_high": 90.0, "engine": "wilcoxon-signed-rank"}])
    >>> forest_data(eff)[["family", "estimate"]].values.tolist()
    [['published', 7.4], ['ANCOVA', 6.0]]
    """
    cols = ["row", "label", "family", "analysis", "engine", "estimand", "outcome", "day", "contrast",
            "estimate", "conf_low", "conf_high", "p_value", "is_published", "data_label"]
    if effects is None or len(effects) == 0:
        return pd.DataFrame(columns=cols)
    e = effects.copy()
    for c in ("label", "prior", "data_label", "estimand", "p_value"):
        if c not in e:
            e[c] = np.nan
    ok = e["contrast"].map(_is_between_arm) & e["estimate"].notna() & e["conf_low"].notna() & e["conf_high"].notna()
    e = e[ok].copy()
    if e.empty:
        return pd.DataFrame(columns=cols)
    e["base"] = e["outcome"].map(base_variable)
    pub = e[e["engine"] == "published"]
    if outcome is None:
        outcome = base_variable(pub["outcome"].iloc[0]) if len(pub) else e["base"].value_counts().index[0]
    e = e[e["base"] == base_variable(outcome)]
    if e.empty:
        return pd.DataFrame(columns=cols)
    if day is None:
        pdays = e.loc[e["engine"] == "published", "day"].dropna()
        days = e["day"].dropna()
        day = float(pdays.iloc[0]) if len(pdays) else (7.0 if (days == 7).any() else (float(days.max()) if len(days) else np.nan))
    e["prior_key"] = e["prior"].fillna("").astype(str)
    keep = []
    for _, g in e.groupby(["analysis", "engine", "contrast", "prior_key", "outcome"], sort=False, dropna=False):
        if g["day"].notna().any() and not math.isnan(day):
            dist = (g["day"] - day).abs()
            keep.append(g.loc[dist.idxmin()])
        else:
            keep.append(g.iloc[0])
    out = pd.DataFrame(keep)
    out["family"] = [engine_family(r["engine"], r) for _, r in out.iterrows()]
    out["label"] = [_row_label(r) for _, r in out.iterrows()]
    shown_day = out["day"]
    out["label"] = [lab if (pd.isna(d) or math.isnan(day) or d == day) else f"{lab} (D{int(d)})"
                    for lab, d in zip(out["label"], shown_day)]
    out["is_published"] = out["engine"] == "published"
    out["_f"] = out["family"].map({f: i for i, f in enumerate(FAMILY_ORDER)})
    out = out.reset_index(drop=True)
    out["_i"] = np.arange(len(out))
    out = out.sort_values(["_f", "_i"], kind="stable").reset_index(drop=True)
    out["row"] = np.arange(len(out))
    return out[cols]


def forest_plot(effects: pd.DataFrame, *, outcome: str | None = None, day: float | None = None, ax=None):
    """Forest plot of every between-arm effect with the published 95% CI as a band.

    Parameters
    ----------
    effects : pandas.DataFrame
        Common-schema effects (published rows have ``engine == "published"``).
    outcome, day : optional
        Passed to :func:`forest_data`.
    ax : matplotlib.axes.Axes, optional
        Draw here; by default a new figure sized to the number of rows.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([
    ...     {"analysis": "primary", "outcome": "pf_change", "day": 7, "contrast": "a - b",
    ...      "estimate": 7.4, "conf_low": -44.7, "conf_high": 59.7, "engine": "published"},
    ...     {"analysis": "primary", "outcome": "pf_change", "day": 7, "contrast": "a - b",
    ...      "estimate": 6.0, "conf_low": -40.0, "conf_high": 52.0, "engine": "ancova-ols"}])
    >>> fig = forest_plot(eff)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()][:1]
    ['Published: primary']
    """
    d = forest_data(effects, outcome=outcome, day=day)
    if ax is None:
        fig, axes = _new_figure((11.0, 1.4 + 0.3 * max(len(d), 2)))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    if d.empty:
        ax.text(0.5, 0.5, "no between-arm treatment effects to show", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    pub = d[d["is_published"]]
    for i, (_, p) in enumerate(pub.iterrows()):
        ax.axvspan(p["conf_low"], p["conf_high"], color="#f2c14e", alpha=0.25, lw=0,
                   label="published 95% CI" if i == 0 else None)
        ax.axvline(p["estimate"], color="#b8860b", lw=1.2, ls="--", label="published estimate" if i == 0 else None)
    ax.axvline(0, color="#555555", lw=0.8)
    y = -d["row"].to_numpy(dtype=float)
    seen = set()
    for yi, (_, r) in zip(y, d.iterrows()):
        col = _FAMILY_COLOURS.get(r["family"], "#7f7f7f")
        lab = r["family"] if r["family"] not in seen else None
        seen.add(r["family"])
        ax.plot([r["conf_low"], r["conf_high"]], [yi, yi], color=col, lw=1.6)
        ax.plot([r["estimate"]], [yi], marker="D" if r["is_published"] else "o", color=col,
                ms=7 if r["is_published"] else 5, ls="none", label=lab)
    ax.set_yticks(y, [str(s) for s in d["label"]], fontsize=8)
    ax.set_ylim(y.min() - 0.7, 0.7)
    contrast = str(d["contrast"].iloc[0])
    outc = str(d["outcome"].iloc[0])
    shown_days = d["day"].dropna().unique()
    dtxt = f", day {int(shown_days[0])}" if len(shown_days) == 1 else ""
    ax.set_xlabel(f"{contrast}, {base_variable(outc)}{dtxt}: estimate and 95% interval", fontsize=9)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return fig


def _with_arm(trial, variable: str) -> pd.DataFrame:
    v = trial.variable(variable)
    if "arm" in v:
        v = v.drop(columns="arm")
    return v.merge(trial.patients[["patient_id", "arm"]], on="patient_id", how="left")


def trajectory_data(trial, variable: str) -> pd.DataFrame:
    """Mean and 95% CI of one variable by arm and day.

    Parameters
    ----------
    trial : longmod.data.TrialData
        Not modified.
    variable : str
        A measured variable, e.g. ``"pao2_fio2"``.

    Returns
    -------
    pandas.DataFrame
        ``arm``, ``day``, ``n``, ``mean``, ``sd``, ``conf_low``, ``conf_high``
        (t interval of the mean; NaN when ``n < 2``), sorted by arm and day.

    Raises
    ------
    KeyError
        If the variable is not measured (the message lists those that are).

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.data import TrialMeta, VariableInfo, from_frames
    >>> meta = TrialMeta(name="demo", arms=("a", "b"), reference_arm="b", schedule=(0, 7),
    ...                  variables={"pf": VariableInfo("pf", min=20, max=700)})
    >>> pts = pd.DataFrame({"patient_id": ["1", "2", "3", "4"], "arm": ["a", "a", "b", "b"],
    ...     "age_gt70": 0, "sofa_gt11": 0, "death_day": None, "icu_discharge_day": None, "doses_received": 3})
    >>> ms = pd.DataFrame({"patient_id": ["1", "1", "2", "2", "3", "3", "4", "4"], "day": [0, 7] * 4,
    ...     "variable": "pf", "value": [100.0, 150, 120, 170, 110, 120, 130, 140]})
    >>> trajectory_data(from_frames(pts, ms, meta), "pf")[["arm", "day", "n", "mean"]].values.tolist()
    [['a', 0, 2, 110.0], ['a', 7, 2, 160.0], ['b', 0, 2, 120.0], ['b', 7, 2, 130.0]]
    """
    from scipy import stats

    v = _with_arm(trial, variable)
    g = v[v["value"].notna()].groupby(["arm", "day"], sort=True)["value"]
    out = g.agg(n="count", mean="mean", sd="std").reset_index()
    q = np.array([stats.t.ppf(0.975, n - 1) if n > 1 else np.nan for n in out["n"]])
    half = q * out["sd"].to_numpy() / np.sqrt(out["n"].to_numpy())
    out["conf_low"] = out["mean"] - half
    out["conf_high"] = out["mean"] + half
    out["n"] = out["n"].astype(int)
    order = {a: i for i, a in enumerate(trial.meta.arms)}
    out = out.sort_values(["arm", "day"], key=lambda s: s.map(order) if s.name == "arm" else s).reset_index(drop=True)
    return out


def trajectory_plot(trial, variable: str, *, ax=None, individual: bool = True):
    """Individual trajectories and mean ± 95% CI by arm over days.

    Parameters
    ----------
    trial : longmod.data.TrialData
    variable : str
        A measured variable, e.g. ``"pao2_fio2"``.
    ax : matplotlib.axes.Axes, optional
    individual : bool
        Draw one thin line per patient beneath the means.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.data import TrialMeta, VariableInfo, from_frames
    >>> meta = TrialMeta(name="demo", arms=("a", "b"), reference_arm="b", schedule=(0, 7),
    ...                  variables={"pf": VariableInfo("pf", label="P/F", min=20, max=700)})
    >>> pts = pd.DataFrame({"patient_id": ["1", "2"], "arm": ["a", "b"], "age_gt70": 0, "sofa_gt11": 0,
    ...     "death_day": None, "icu_discharge_day": None, "doses_received": 3})
    >>> ms = pd.DataFrame({"patient_id": ["1", "1", "2", "2"], "day": [0, 7, 0, 7], "variable": "pf",
    ...     "value": [100.0, 150, 120, 130]})
    >>> fig = trajectory_plot(from_frames(pts, ms, meta), "pf")
    >>> fig.axes[0].get_ylabel()
    'P/F'
    """
    summ = trajectory_data(trial, variable)
    if ax is None:
        fig, axes = _new_figure((7.5, 4.2))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    arms = list(trial.meta.arms)
    colours = {a: _ARM_COLOURS[i % len(_ARM_COLOURS)] for i, a in enumerate(arms)}
    if individual:
        from matplotlib.collections import LineCollection

        v = _with_arm(trial, variable).dropna(subset=["value"]).sort_values(["patient_id", "day"])
        for arm, ga in v.groupby("arm", sort=False):
            lines = [g[["day", "value"]].to_numpy(dtype=float) for _, g in ga.groupby("patient_id", sort=False)]
            ax.add_collection(LineCollection(lines, colors=colours.get(arm, "#999999"), alpha=0.18, lw=0.7,
                                             label=f"_{arm} patients", gid=f"patients-{arm}"))
    offset = {a: (i - (len(arms) - 1) / 2) * 0.12 for i, a in enumerate(arms)}
    for arm, g in summ.groupby("arm", sort=False):
        x = g["day"].to_numpy(dtype=float) + offset.get(arm, 0.0)
        ax.errorbar(x, g["mean"], yerr=[g["mean"] - g["conf_low"], g["conf_high"] - g["mean"]],
                    color=colours.get(arm, "#333333"), lw=2, marker="o", ms=4, capsize=3,
                    label=f"{arm}: mean ± 95% CI")
    info = trial.meta.variables.get(variable)
    ax.set_ylabel(info.display if info is not None else variable)
    ax.set_xlabel("Day")
    days = sorted(summ["day"].unique())
    ax.set_xticks(days)
    ax.grid(color="#eeeeee", lw=0.6)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"{info.label if info is not None and info.label else variable} by arm "
                 f"({'synthetic data' if trial.meta.synthetic else 'user data'})", fontsize=10)
    return fig


def prior_grid_rows(effects: pd.DataFrame) -> pd.DataFrame:
    """Rows of a summary-level prior grid (those with ``prior_mean`` and ``prior_sd``).

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> len(prior_grid_rows(effects_frame([{"analysis": "a", "estimate": 1.0}])))
    0
    """
    need = {"prior_mean", "prior_sd", "estimate", "std_error"}
    if effects is None or not need <= set(effects.columns):
        return effects.iloc[0:0].copy() if effects is not None else pd.DataFrame()
    ok = effects[list(need)].notna().all(axis=1) & (effects["prior_sd"] > 0) & (effects["std_error"] > 0)
    return effects[ok].copy()


def prior_posterior_data(prior_grid_rows_: pd.DataFrame, *, n_points: int = 301) -> pd.DataFrame:
    """Normal prior and posterior densities of each prior-grid row, on a shared grid.

    Parameters
    ----------
    prior_grid_rows_ : pandas.DataFrame
        Rows with ``prior_mean``, ``prior_sd`` (the prior), ``estimate`` and
        ``std_error`` (posterior mean and SD); ``prior`` names the prior
        (default ``"prior 1"``, ...). Rows missing these are ignored.
    n_points : int
        Points of the x grid.

    Returns
    -------
    pandas.DataFrame
        Long table: ``prior``, ``prior_family``, ``kind`` (``"prior"`` or
        ``"posterior"``), ``x``, ``density``, ``mean``, ``sd``.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"prior": ["sceptical"], "prior_mean": [0.0], "prior_sd": [20.0],
    ...                      "estimate": [5.0], "std_error": [10.0]})
    >>> d = prior_posterior_data(rows, n_points=11)
    >>> sorted(d["kind"].unique()), len(d)
    (['posterior', 'prior'], 22)
    """
    cols = ["prior", "prior_family", "kind", "x", "density", "mean", "sd"]
    rows = prior_grid_rows(prior_grid_rows_)
    if rows.empty:
        return pd.DataFrame(columns=cols)
    rows = rows.reset_index(drop=True)
    names = rows["prior"].astype(str) if "prior" in rows else pd.Series([f"prior {i + 1}" for i in range(len(rows))])
    fams = rows["prior_family"].astype(str) if "prior_family" in rows else names
    post_lo = (rows["estimate"] - 4 * rows["std_error"]).min()
    post_hi = (rows["estimate"] + 4 * rows["std_error"]).max()
    informative = rows["prior_sd"] < 10 * (post_hi - post_lo)
    if informative.any():
        post_lo = min(post_lo, (rows.loc[informative, "prior_mean"] - 3 * rows.loc[informative, "prior_sd"]).min())
        post_hi = max(post_hi, (rows.loc[informative, "prior_mean"] + 3 * rows.loc[informative, "prior_sd"]).max())
    x = np.linspace(post_lo, post_hi, n_points)
    parts = []
    for i, r in rows.iterrows():
        for kind, m, s in (("prior", r["prior_mean"], r["prior_sd"]), ("posterior", r["estimate"], r["std_error"])):
            dens = np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
            parts.append(pd.DataFrame({"prior": names[i], "prior_family": fams[i], "kind": kind, "x": x,
                                       "density": dens, "mean": float(m), "sd": float(s)}))
    return pd.concat(parts, ignore_index=True)[cols]


def prior_posterior_plot(prior_grid_rows_: pd.DataFrame, *, ax=None, mcid: float | None = None):
    """Prior (dashed) and posterior (solid) normal densities of a prior grid.

    With ``ax=None`` the figure has one panel per prior family (sceptical,
    optimistic, ...); with an ``ax`` every curve is drawn there.

    Parameters
    ----------
    prior_grid_rows_ : pandas.DataFrame
        See :func:`prior_posterior_data`.
    ax : matplotlib.axes.Axes, optional
    mcid : float, optional
        Marked as dotted lines at ``±mcid``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"prior": ["sceptical-weak", "sceptical-strong"], "prior_family": "sceptical",
    ...     "prior_mean": [0.0, 0.0], "prior_sd": [38.0, 12.0], "estimate": [6.0, 1.5], "std_error": [26.0, 11.0]})
    >>> fig = prior_posterior_plot(rows)
    >>> sorted(ln.get_label() for ln in fig.axes[0].lines if not ln.get_label().startswith("_"))[:2]
    ['sceptical-strong', 'sceptical-weak']
    """
    d = prior_posterior_data(prior_grid_rows_)
    fams = list(dict.fromkeys(d["prior_family"])) if len(d) else []
    if ax is None:
        n = max(len(fams), 1)
        ncols = min(n, 2)
        nrows = math.ceil(n / ncols)
        fig, axes = _new_figure((5.6 * ncols, 2.6 * nrows), nrows, ncols, sharex=True)
        panel = {f: axes.flat[i] for i, f in enumerate(fams)}
        for extra in list(axes.flat)[len(fams):]:
            extra.set_axis_off()
        if not fams:
            axes[0, 0].text(0.5, 0.5, "no prior-grid rows", ha="center", va="center")
    else:
        fig = ax.figure
        panel = {f: ax for f in fams}
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
    for fam in fams:
        a = panel[fam]
        sub = d[d["prior_family"] == fam]
        for j, pr in enumerate(dict.fromkeys(sub["prior"])):
            col = palette[j % len(palette)]
            for kind, ls in (("prior", "--"), ("posterior", "-")):
                s = sub[(sub["prior"] == pr) & (sub["kind"] == kind)]
                a.plot(s["x"], s["density"], ls=ls, color=col, lw=1.4,
                       label=f"{pr} ({kind})" if ax is not None else (pr if kind == "posterior" else f"_{pr} (prior)"))
        if mcid:
            for v in (-mcid, mcid):
                a.axvline(v, color="#999999", ls=":", lw=0.8)
        a.axvline(0, color="#555555", lw=0.6)
        if ax is None:
            a.set_title(f"{fam} (dashed: prior, solid: posterior)", fontsize=9)
        a.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        a.set_ylabel("density", fontsize=8)
        a.set_xlabel("treatment effect", fontsize=8)
    return fig


def figure_to_png(fig, dpi: int = 100) -> bytes:
    """PNG bytes of a figure (used to embed figures in the HTML report).

    Examples
    --------
    >>> fig = prior_posterior_plot(__import__("pandas").DataFrame())
    >>> figure_to_png(fig)[:4]
    b'\\x89PNG'
    """
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def figure_to_svg(fig) -> str:
    """SVG text of a figure.

    Examples
    --------
    >>> fig = prior_posterior_plot(__import__("pandas").DataFrame())
    >>> "<svg" in figure_to_svg(fig)
    True
    """
    import io

    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    return buf.getvalue()


def forest_outcomes(effects: pd.DataFrame) -> list[str]:
    """Base outcomes with between-arm effects, the published one first (one forest plot each).

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([
    ...     {"analysis": "m", "outcome": "sofa", "day": 7, "contrast": "a - b", "estimate": -1.0,
    ...      "conf_low": -2.0, "conf_high": 0.0, "engine": "native"},
    ...     {"analysis": "p", "outcome": "pf_change", "day": 7, "contrast": "a - b", "estimate": 7.4,
    ...      "conf_low": -44.7, "conf_high": 59.7, "engine": "published"}])
    >>> forest_outcomes(eff)
    ['pf', 'sofa']
    """
    if effects is None or len(effects) == 0:
        return []
    ok = effects["contrast"].map(_is_between_arm) & effects["estimate"].notna() & effects["conf_low"].notna()
    e = effects[ok]
    bases = list(dict.fromkeys(e["outcome"].map(base_variable)))
    pub = list(dict.fromkeys(e.loc[e["engine"] == "published", "outcome"].map(base_variable)))
    return pub + [b for b in bases if b not in pub]


def trajectory_variables(trial, preferred: Sequence[str] = ("pao2_fio2", "sofa", "driving", "compliance")) -> list[str]:
    """Measured variables worth a trajectory plot, in the order of ``preferred`` (substring match).

    Examples
    --------
    >>> class T:  # a stand-in with the one attribute used
    ...     measurements = __import__("pandas").DataFrame({"variable": ["sofa_score", "pao2_fio2", "il6"]})
    >>> trajectory_variables(T())
    ['pao2_fio2', 'sofa_score']
    """
    have = list(dict.fromkeys(trial.measurements["variable"].astype(str)))
    out: list[str] = []
    for key in preferred:
        for v in have:
            if key in v.lower() and v not in out:
                out.append(v)
    return out
