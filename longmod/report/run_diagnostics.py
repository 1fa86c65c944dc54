"""One diagnostics table for a whole run: every fitted analysis, the biomarker models included.

:func:`run_diagnostics` is what the terminal summary, ``report.md``,
``report.html`` and ``report.json`` count ("N of M fits flagged"), so the
four always agree. Besides convergence (:func:`~longmod.report.tables.diagnostics_table`)
it flags small-sample results: a denominator df below :data:`DF_MIN`, and a
95% interval wider than the outcome's declared plausible range
(``min``/``max`` in ``trial.toml``): such an interval says the data cannot
tell the arms apart on the outcome's own scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: A denominator df below this is flagged: the interval and P value rest on a small-sample approximation.
DF_MIN: float = 10.0


def small_sample_problems(effects: pd.DataFrame, ranges: Mapping[str, float] | None = None) -> pd.Series:
    """Per effects row: "df ... < 10" and "95% interval ... wider than the plausible range ..." ("" when neither).

    Parameters
    ----------
    effects : pandas.DataFrame
        Common-schema effects (``df``, ``conf_low``, ``conf_high``, ``outcome``); the
        biomarker models' log10-scale rows are not checked against a plausible range.
    ranges : mapping, optional
        Outcome -> width of its declared plausible range (``max - min``).

    Returns
    -------
    pandas.Series
        Text per row, aligned with ``effects``; rows are never modified.

    Examples
    --------
    >>> e = pd.DataFrame({"outcome": ["pf", "pf"], "df": [4.5, 40.0], "conf_low": [-267.0, -40.0],
    ...                   "conf_high": [210.0, 55.0]})
    >>> small_sample_problems(e, {"pf": 680.0}).tolist()
    ['df 4.5 < 10', '']
    >>> small_sample_problems(e, {"pf": 400.0}).tolist()[0]
    'df 4.5 < 10; 95% interval 477 wider than the plausible range of pf (400)'

    The df flag is for the t/F denominator df of an interval; a test without
    an interval (a log-rank chi-square with df 1) is not flagged:

    >>> small_sample_problems(pd.DataFrame({"outcome": ["death"], "df": [1.0], "conf_low": [np.nan],
    ...                                     "conf_high": [np.nan]})).tolist()
    ['']
    """
    df = pd.to_numeric(effects["df"], errors="coerce") if "df" in effects else pd.Series(np.nan, index=effects.index)
    lo = pd.to_numeric(effects.get("conf_low", pd.Series(np.nan, index=effects.index)), errors="coerce")
    hi = pd.to_numeric(effects.get("conf_high", pd.Series(np.nan, index=effects.index)), errors="coerce")
    outcome = effects.get("outcome", pd.Series("", index=effects.index)).astype(str)
    out = []
    for i in effects.index:
        msgs = []
        width = hi[i] - lo[i]
        if np.isfinite(df[i]) and df[i] < DF_MIN and np.isfinite(width):
            msgs.append(f"df {df[i]:.3g} < {DF_MIN:g}")
        r = (ranges or {}).get(outcome[i])
        if r is not None and np.isfinite(width) and width > r:
            msgs.append(f"95% interval {width:.3g} wider than the plausible range of {outcome[i]} ({r:g})")
        out.append("; ".join(msgs))
    return pd.Series(out, index=effects.index, dtype=object)


def plausible_ranges(trial: Any) -> dict[str, float]:
    """Outcome -> ``max - min`` for every measured variable of ``trial.toml`` that declares both.

    Examples
    --------
    >>> from longmod.data import load_trial
    >>> from longmod.resources import fixtures_dir
    >>> r = plausible_ranges(load_trial(fixtures_dir() / "stroma_cov2"))
    >>> all(w > 0 for w in r.values())
    True
    """
    out = {}
    for name, info in getattr(getattr(trial, "meta", None), "variables", {}).items():
        lo, hi = getattr(info, "min", None), getattr(info, "max", None)
        if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi) and hi > lo:
            out[str(name)] = float(hi - lo)
    return out


def biomarker_fit_rows(section: Mapping[str, pd.DataFrame] | None) -> pd.DataFrame:
    """The biomarker section's fits as diagnostics rows: each marker's censored model (one row per day, pooled
    into one fit per marker by the diagnostics table) and the pooled Bayesian model.

    Examples
    --------
    >>> sec = {"censored_mixed": pd.DataFrame({"analysis": ["m", "m"], "engine": ["tobit", "tobit"],
    ...                                        "outcome": ["il6", "il6"], "day": [0, 7], "converged": [True, True]}),
    ...        "pooled_diagnostics": pd.DataFrame({"prior": ["horseshoe"], "max_r_hat": [1.02],
    ...                                            "min_ess_bulk": [161.0], "divergences": [0], "warnings": [""]})}
    >>> biomarker_fit_rows(sec)[["analysis", "day", "r_hat"]].values.tolist()
    [['m (il6)', 0.0, nan], ['m (il6)', 7.0, nan], ['biomarkers pooled (horseshoe prior)', nan, 1.02]]
    """
    from longmod.report.tables import ESS_MIN, RHAT_MAX

    if not section:
        return pd.DataFrame()
    frames = []
    mixed = section.get("censored_mixed")
    if mixed is not None and len(mixed):
        m = mixed.copy()
        m["analysis"] = m["analysis"].astype(str) + " (" + m["outcome"].astype(str) + ")"
        frames.append(m)
    diag = section.get("pooled_diagnostics")
    if diag is not None and len(diag):
        pooled = section.get("pooled")
        engine = str(pooled["engine"].iloc[0]) if pooled is not None and len(pooled) else "pymc"
        frames.append(pd.DataFrame({
            "analysis": [f"biomarkers pooled ({p} prior)" for p in diag["prior"]], "engine": engine,
            "r_hat": diag["max_r_hat"].to_numpy(float), "ess_bulk": diag["min_ess_bulk"].to_numpy(float),
            "divergences": diag["divergences"].to_numpy(float), "warnings": diag["warnings"].to_numpy(object),
            "converged": ((diag["max_r_hat"] <= RHAT_MAX) & (diag["min_ess_bulk"] >= ESS_MIN)
                          & (diag["divergences"] == 0)).to_numpy(bool)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_diagnostics(res: Any) -> pd.DataFrame:
    """Diagnostics of every fit of a run (:class:`~longmod.pipeline.Reanalysis`), one row per fit.

    The effects' analyses (:func:`~longmod.report.tables.diagnostics_table`),
    each biomarker model, and the small-sample flags of
    :func:`small_sample_problems` (added to ``problems``).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["primary_ancova"])
    >>> d = run_diagnostics(res)
    >>> list(d["analysis"]), bool(d["problem"].any())
    (['primary_ancova'], False)
    """
    from longmod.report.tables import diagnostics_table

    effects = res.effects[res.effects["engine"] != "published"].reset_index(drop=True)
    flags = small_sample_problems(effects, plausible_ranges(res.trial))
    if flags.str.len().any():
        effects = effects.copy()
        old = effects["diagnostic_flags"].fillna("").astype(str) if "diagnostic_flags" in effects else ""
        effects["diagnostic_flags"] = (old + "; " + flags).str.strip("; ")
    # biomarker estimates are on the log10 scale: no plausible-range check
    bio = biomarker_fit_rows(res.biomarkers)
    return diagnostics_table(pd.concat([effects, bio], ignore_index=True) if len(bio) else effects)
