"""While-alive summary: area under the trajectory while alive, per day at risk.

For patient ``i`` the window at risk is ``[t0, T_i]`` with ``t0`` the
baseline day and ``T_i = min(horizon, death day, other stop days)``. The
area under the trajectory over the window (trapezoid rule between observed
values, the last observed value carried to ``T_i``; values after ``T_i``
ignored) divided by ``T_i - t0`` is the patient's mean level while alive.
The arms are compared by ANCOVA of that summary on the arm and covariates
(:func:`longmod.engines.ancova.fit_ancova`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from longmod.estimands.descriptions import estimand_description
from longmod.results.schema import effects_frame

#: Columns of :func:`while_alive_summaries`.
SUMMARY_COLUMNS: tuple[str, ...] = ("auc", "days_at_risk", "while_alive_mean", "window_end", "n_values", "end_reason")


def patient_auc(days: np.ndarray, values: np.ndarray, t0: float, t_end: float) -> float:
    """Area under one patient's trajectory on ``[t0, t_end]``.

    Trapezoids between the observed values on ``[t0, t_end]``; the last one
    carried forward to ``t_end``. ``days`` must include ``t0`` (the baseline).

    Examples
    --------
    Values 100 on day 0, 140 on day 2, then carried to day 5: 2 x 120 + 3 x 140.

    >>> patient_auc([0, 2, 9], [100.0, 140.0, 500.0], 0, 5)
    660.0
    """
    d = np.asarray(days, dtype=float)
    v = np.asarray(values, dtype=float)
    keep = (d >= t0) & (d <= t_end) & np.isfinite(v)
    d, v = d[keep], v[keep]
    order = np.argsort(d)
    d, v = d[order], v[order]
    if len(d) == 0 or d[0] != t0:
        raise ValueError(f"while-alive AUC: no value on the baseline day {t0}")
    area = float(np.sum(np.diff(d) * (v[1:] + v[:-1]) / 2.0))
    return area + float(v[-1] * (t_end - d[-1]))


def while_alive_summaries(
    values: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    subject: str,
    day: str,
    value: str,
    death_day: str,
    horizon: float,
    baseline_day: float = 0.0,
    stop_days: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-patient area under the trajectory while alive and days at risk.

    Parameters
    ----------
    values : pandas.DataFrame
        Long observed values: ``subject``, ``day``, ``value`` (the baseline
        day included). Not modified.
    patients : pandas.DataFrame
        One row per patient: ``subject``, ``death_day`` (NaN = alive at the
        horizon) and ``stop_days`` columns. Not modified.
    subject, day, value, death_day : str
        Column names.
    horizon : float
        End of follow-up for the summary (e.g. the endpoint day).
    baseline_day : float
    stop_days : sequence of str
        Other event-day columns ending the window (e.g. ICU discharge for
        "while alive in the ICU"); by default the window ends at death or
        the horizon and the last value is carried forward.

    Returns
    -------
    tuple of pandas.DataFrame
        The patients table with :data:`SUMMARY_COLUMNS` added (``end_reason``
        is ``"horizon"``, ``"death"`` or the stop column's name), and the
        excluded patients (``subject``, ``reason``: no baseline value, or no
        time at risk).

    Examples
    --------
    >>> import pandas as pd
    >>> pts = pd.DataFrame({"id": ["a", "b"], "death": [None, 2.0]})
    >>> vals = pd.DataFrame({"id": ["a", "a", "b"], "d": [0, 4, 0], "v": [100.0, 200.0, 50.0]})
    >>> s, excl = while_alive_summaries(vals, pts, subject="id", day="d", value="v", death_day="death", horizon=7)
    >>> s[["id", "auc", "days_at_risk", "while_alive_mean"]].to_numpy().tolist()
    [['a', 1200.0, 7.0, 171.42857142857142], ['b', 100.0, 2.0, 50.0]]
    """
    for col, frame, what in ((subject, values, "values"), (day, values, "values"), (value, values, "values"),
                             (subject, patients, "patients"), (death_day, patients, "patients"),
                             *((c, patients, "patients") for c in stop_days)):
        if col not in frame.columns:
            raise ValueError(f"while-alive summary: column {col!r} not in the {what} table; "
                             f"columns: {', '.join(map(str, frame.columns))}")
    if patients[subject].duplicated().any():
        raise ValueError("while-alive summary: a patient appears more than once in the patients table")
    if not np.isfinite(horizon) or horizon <= baseline_day:
        raise ValueError(f"while-alive summary: horizon must be after the baseline day {baseline_day}, got {horizon}")
    by_id = {str(k): g for k, g in values[values[value].notna()].groupby(values[subject].astype(str))}
    out, excluded = [], []
    for _, p in patients.iterrows():
        pid = str(p[subject])
        ends = [(float(horizon), "horizon")]
        for col, reason in ((death_day, "death"), *((c, c) for c in stop_days)):
            v = pd.to_numeric(pd.Series([p[col]]), errors="coerce").iloc[0]
            if pd.notna(v):
                ends.append((float(v), reason))
        t_end, reason = min(ends, key=lambda e: e[0])
        g = by_id.get(pid)
        if g is None or not (g[day].astype(float) == baseline_day).any():
            excluded.append((p[subject], f"no value on the baseline day {baseline_day:g}"))
            continue
        if t_end <= baseline_day:
            excluded.append((p[subject], f"no time at risk ({reason} on day {t_end:g})"))
            continue
        d, v = g[day].to_numpy(float), g[value].to_numpy(float)
        auc = patient_auc(d, v, baseline_day, t_end)
        n_vals = int(((d >= baseline_day) & (d <= t_end)).sum())
        out.append({**p.to_dict(), "auc": auc, "days_at_risk": t_end - baseline_day,
                    "while_alive_mean": auc / (t_end - baseline_day), "window_end": t_end, "n_values": n_vals,
                    "end_reason": reason})
    cols = [*patients.columns, *SUMMARY_COLUMNS]
    return pd.DataFrame(out, columns=cols), pd.DataFrame(excluded, columns=[subject, "reason"])


def while_alive_auc(
    values: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    treatment: Any,
    subject: str,
    day: str,
    value: str,
    death_day: str,
    horizon: float,
    covariates: Sequence[str] = (),
    baseline_day: float = 0.0,
    stop_days: Sequence[str] = (),
    level: float = 0.95,
    analysis: str = "while_alive_auc",
    estimand: str | None = None,
    outcome: str | None = None,
) -> pd.DataFrame:
    """Between-arm difference in the mean outcome per day at risk while alive (ANCOVA, t interval).

    Parameters
    ----------
    values, patients, subject, day, value, death_day, horizon, baseline_day, stop_days
        As in :func:`while_alive_summaries`.
    treatment : Treatment
        ``variable`` is the arm column of ``patients``.
    covariates : sequence of str
        ANCOVA covariates (columns of ``patients``; ``"baseline"`` may name
        the baseline value, added from ``values`` when absent).
    level : float
    analysis, estimand, outcome : str, optional
        Row labels (default estimand label from the registry, outcome
        ``"<value>_while_alive"``).

    Returns
    -------
    pandas.DataFrame
        One row, common schema (``estimate`` = active - reference) plus
        ``mean_active``, ``mean_reference``, ``days_at_risk_active``,
        ``days_at_risk_reference`` (arm means), ``n_excluded``,
        ``horizon``, ``assumes``, ``warnings``.

    Examples
    --------
    See ``docs/estimands_while_alive.md`` (executed at docs build time).
    """
    from longmod.engines.ancova import fit_ancova
    import longmod

    pts = patients.copy()
    if "baseline" in covariates and "baseline" not in pts.columns:
        b = values[(values[day].astype(float) == baseline_day) & values[value].notna()]
        pts["baseline"] = pts[subject].astype(str).map(dict(zip(b[subject].astype(str), b[value].astype(float))))
    summ, excl = while_alive_summaries(values, pts, subject=subject, day=day, value=value, death_day=death_day,
                                       horizon=horizon, baseline_day=baseline_day, stop_days=stop_days)
    fit = fit_ancova(summ, treatment=treatment, outcome="while_alive_mean", covariates=list(covariates), level=level)
    arm = summ[treatment.variable].astype(str)
    info = estimand_description(analysis)
    notes = [f"{len(excl)} patient(s) excluded: " + "; ".join(f"{a}: {r}" for a, r in excl.head(5).to_numpy())
             ] if len(excl) else []
    row = {
        "analysis": analysis, "estimand": estimand or (info.label if info else None),
        "outcome": outcome or f"{value}_while_alive", "day": float(horizon), "contrast": treatment.label,
        **fit.as_row(), "engine": "ancova-ols", "engine_version": f"longmod {longmod.__version__}",
        "n_patients": fit.n_obs, "mean_active": float(summ.loc[arm == treatment.active, "while_alive_mean"].mean()),
        "mean_reference": float(summ.loc[arm == treatment.reference, "while_alive_mean"].mean()),
        "days_at_risk_active": float(summ.loc[arm == treatment.active, "days_at_risk"].mean()),
        "days_at_risk_reference": float(summ.loc[arm == treatment.reference, "days_at_risk"].mean()),
        "n_excluded": len(excl), "horizon": float(horizon), "assumes": info.assumes if info else "",
        "warnings": "; ".join(notes),
    }
    return effects_frame([row])
