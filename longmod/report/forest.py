"""The forest plot: every between-arm effect of one outcome, compared at ONE day.

A comparison of analyses is only meaningful at one time point. The day is the
day of the estimand the analyses target (``estimand_day`` of the effects rows,
the first analysis of the plan that has the outcome deciding); a row at any
other day is never shown beside it (no "nearest day"). The CLI summary, the
report's forest plots and their tables all use :func:`forest_data`.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from longmod.report.canvas import new_figure

#: Order in which engine families are listed in the forest plot.
FAMILY_ORDER: tuple[str, ...] = (
    "published", "ANCOVA", "rank-based", "LMM/MMRM", "Bayesian", "Bayesian prior grid", "other",
)

_FAMILY_COLOURS = {
    "published": "#111111", "ANCOVA": "#1f77b4", "rank-based": "#8c564b", "LMM/MMRM": "#2ca02c",
    "Bayesian": "#9467bd", "Bayesian prior grid": "#e377c2", "other": "#7f7f7f",
}


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
    """The measured variable an outcome is derived from (``pf_ratio_change`` -> ``pf_ratio``).

    Examples
    --------
    >>> base_variable("pf_ratio_change"), base_variable("il6_log"), base_variable("sofa")
    ('pf_ratio', 'il6', 'sofa')
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


def _between_arm_rows(effects: pd.DataFrame) -> pd.DataFrame:
    e = effects.copy()
    for c in ("label", "prior", "data_label", "estimand", "p_value", "estimand_day"):
        if c not in e:
            e[c] = np.nan
    ok = e["contrast"].map(_is_between_arm) & e["estimate"].notna() & e["conf_low"].notna() & e["conf_high"].notna()
    e = e[ok].copy()
    e["base"] = e["outcome"].map(base_variable)
    return e


def comparison_day(effects: pd.DataFrame, outcome: str | None = None) -> float:
    """The one day at which the analyses of ``outcome`` are compared.

    It is the estimand's day (``estimand_day``) of the first reproduced
    between-arm row of that outcome (plan order: the primary analysis first);
    without ``estimand_day``, the published row's day; else the latest day.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([
    ...     {"analysis": "p", "outcome": "y_change", "day": 7, "contrast": "a - b", "estimate": 1.0,
    ...      "conf_low": 0.0, "conf_high": 2.0, "engine": "published"},
    ...     {"analysis": "m", "outcome": "y", "day": 7, "contrast": "a - b", "estimate": 1.0,
    ...      "conf_low": 0.0, "conf_high": 2.0, "engine": "native", "estimand_day": 14},
    ...     {"analysis": "m", "outcome": "y", "day": 14, "contrast": "a - b", "estimate": 2.0,
    ...      "conf_low": 0.0, "conf_high": 4.0, "engine": "native", "estimand_day": 14}])
    >>> comparison_day(eff)
    14.0
    """
    if effects is None or len(effects) == 0:
        return math.nan
    e = _between_arm_rows(effects)
    if e.empty:
        return math.nan
    if outcome is None:
        pub = e[e["engine"] == "published"]
        outcome = pub["base"].iloc[0] if len(pub) else e["base"].value_counts().index[0]
    e = e[e["base"] == base_variable(outcome)]
    ours = pd.to_numeric(e.loc[e["engine"] != "published", "estimand_day"], errors="coerce").dropna()
    if len(ours):
        return float(ours.iloc[0])
    pdays = e.loc[e["engine"] == "published", "day"].dropna()
    if len(pdays):
        return float(pdays.iloc[0])
    days = e["day"].dropna()
    return float(days.max()) if len(days) else math.nan


def forest_data(effects: pd.DataFrame, *, outcome: str | None = None, day: float | None = None) -> pd.DataFrame:
    """The rows a forest plot shows: one between-arm effect per analysis and engine, all at one day.

    Within-arm contrasts (``contrast`` containing ``:``) and rows without an
    estimate and interval are left out. Only outcomes on the scale of
    ``outcome`` are shown (the published outcome by default, e.g. ``y`` and
    ``y_change``). Only rows at ``day`` are shown (default:
    :func:`comparison_day`, the estimand's day): an analysis without a
    result at that day is left out rather than shown at another day.

    Parameters
    ----------
    effects : pandas.DataFrame
        An effects table in the common schema (see :mod:`longmod.results.schema`);
        not modified.
    outcome : str, optional
        Base variable to show; default the published row's outcome.
    day : float, optional
        Day of the comparison.

    Returns
    -------
    pandas.DataFrame
        One row per plotted effect, in plotting order (top first): ``row``
        (0-based position), ``label``, ``family`` (see :func:`engine_family`),
        ``analysis``, ``engine``, ``estimand``, ``outcome``, ``day`` (the same
        in every row), ``contrast``, ``estimate``, ``conf_low``,
        ``conf_high``, ``p_value``, ``is_published``, ``data_label``.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([
    ...     {"analysis": "primary", "outcome": "pf_change", "day": 7, "contrast": "a - b",
    ...      "estimate": 7.4, "conf_low": -44.7, "conf_high": 59.7, "engine": "published"},
    ...     {"analysis": "primary", "outcome": "pf_change", "day": 7, "contrast": "a - b",
    ...      "estimate": 6.0, "conf_low": -40.0, "conf_high": 52.0, "engine": "ancova-ols"},
    ...     {"analysis": "mmrm", "outcome": "pf", "day": 14, "contrast": "a - b",
    ...      "estimate": 9.0, "conf_low": -30.0, "conf_high": 50.0, "engine": "native"},
    ...     {"analysis": "within", "outcome": "pf_change", "day": 7, "contrast": "a: D7 vs D0",
    ...      "estimate": 50.0, "conf_low": 10.0, "conf_high": 90.0, "engine": "wilcoxon-signed-rank"}])
    >>> forest_data(eff)[["family", "estimate", "day"]].values.tolist()
    [['published', 7.4, 7.0], ['ANCOVA', 6.0, 7.0]]
    """
    cols = ["row", "label", "family", "analysis", "engine", "estimand", "outcome", "day", "contrast",
            "estimate", "conf_low", "conf_high", "p_value", "is_published", "data_label"]
    if effects is None or len(effects) == 0:
        return pd.DataFrame(columns=cols)
    e = _between_arm_rows(effects)
    if e.empty:
        return pd.DataFrame(columns=cols)
    if outcome is None:
        pub = e[e["engine"] == "published"]
        outcome = pub["base"].iloc[0] if len(pub) else e["base"].value_counts().index[0]
    if day is None:
        day = comparison_day(effects, outcome)
    e = e[e["base"] == base_variable(outcome)]
    e = e[(e["day"] == day) if not (day is None or math.isnan(day)) else e["day"].isna()]
    if e.empty:
        return pd.DataFrame(columns=cols)
    e["prior_key"] = e["prior"].fillna("").astype(str)
    out = e.drop_duplicates(["analysis", "engine", "contrast", "prior_key", "outcome"]).copy()
    out["family"] = [engine_family(r["engine"], r) for _, r in out.iterrows()]
    out["label"] = [_row_label(r) for _, r in out.iterrows()]
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
        fig, axes = new_figure((11.0, 1.4 + 0.3 * max(len(d), 2)))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    if d.empty:
        ax.text(0.5, 0.5, "no between-arm treatment effects to show at this day", ha="center", va="center",
                transform=ax.transAxes)
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
    contrast = ", ".join(dict.fromkeys(d["contrast"].astype(str)))
    outc = str(d["outcome"].iloc[0])
    shown = d["day"].iloc[0]
    dtxt = f" at day {int(shown)}" if pd.notna(shown) else ""
    ax.set_xlabel(f"{contrast}, {base_variable(outc)}{dtxt}: estimate and 95% interval", fontsize=9)
    ax.set_title(f"{base_variable(outc)}{dtxt}: every analysis at the estimand's day", fontsize=10)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return fig


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


