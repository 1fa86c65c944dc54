"""Public plots of a reanalysis: trajectories, prior vs posterior (and the forest plot, see :mod:`.forest`).

Every plot function takes ``ax=None`` (draw into a new figure, or into the
given matplotlib Axes) and returns the :class:`matplotlib.figure.Figure`.
Each has a data-only twin (``*_data``) returning the tidy DataFrame that is
drawn, so that tests and users can check what a figure shows without
rendering it. matplotlib is imported lazily (:mod:`longmod.report.canvas`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from longmod.report.canvas import figure_to_png, figure_to_svg, new_figure
from longmod.report.forest import (FAMILY_ORDER, base_variable, comparison_day, engine_family, forest_data,
                                   forest_outcomes, forest_plot)

__all__ = [
    "FAMILY_ORDER", "base_variable", "comparison_day", "engine_family", "figure_to_png", "figure_to_svg",
    "forest_data", "forest_outcomes", "forest_plot", "prior_grid_rows", "prior_posterior_data",
    "prior_posterior_plot", "trajectory_data", "trajectory_plot", "trajectory_variables",
]

_ARM_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e")


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
        A measured variable.

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
    >>> pts = pd.DataFrame({"patient_id": ["1", "2", "3", "4"], "arm": ["a", "a", "b", "b"]})
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
        A measured variable.
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
    >>> pts = pd.DataFrame({"patient_id": ["1", "2"], "arm": ["a", "b"]})
    >>> ms = pd.DataFrame({"patient_id": ["1", "1", "2", "2"], "day": [0, 7, 0, 7], "variable": "pf",
    ...     "value": [100.0, 150, 120, 130]})
    >>> fig = trajectory_plot(from_frames(pts, ms, meta), "pf")
    >>> fig.axes[0].get_ylabel()
    'P/F'
    """
    summ = trajectory_data(trial, variable)
    if ax is None:
        fig, axes = new_figure((7.5, 4.2))
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
        fig, axes = new_figure((5.6 * ncols, 2.6 * nrows), nrows, ncols, sharex=True)
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


#: Most trajectory figures in a report (the primary outcome first, then the declared variables).
MAX_TRAJECTORIES: int = 8


def trajectory_variables(trial, max_variables: int = MAX_TRAJECTORIES) -> list[str]:
    """Measured variables worth a trajectory plot: the primary outcome, then the declared ones, no biomarkers.

    Biomarkers (variables with an LLOQ) have their own section. Variables
    measured on fewer than two days are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> class T:  # a stand-in with the attributes used
    ...     class meta:
    ...         primary_outcome, variables = "pf", {"sofa": None, "pf": None, "il6": None}
    ...     measurements = pd.DataFrame({"variable": ["sofa", "sofa", "pf", "pf", "il6", "il6"],
    ...                                  "day": [0, 7] * 3, "lloq": [None, None, None, None, 2.0, 2.0]})
    >>> trajectory_variables(T())
    ['pf', 'sofa']
    """
    m = trial.measurements
    if m.empty or "day" not in m:
        return []
    lloq = m["lloq"] if "lloq" in m else pd.Series(np.nan, index=m.index)
    biomarkers = set(m.loc[lloq.notna(), "variable"].astype(str))
    days = m.groupby(m["variable"].astype(str))["day"].nunique()
    measured = [v for v in days.index if days[v] >= 2 and v not in biomarkers]
    meta = trial.meta
    order = [getattr(meta, "primary_outcome", None), *dict(getattr(meta, "variables", {}) or {}),
             *sorted(measured)]
    out = [v for v in dict.fromkeys(o for o in order if o) if v in measured]
    return out[:max_variables]
