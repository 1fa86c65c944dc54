"""Kaplan-Meier curves, medians with CIs, numbers at risk and restricted means.

Definitions follow R's ``survival`` package (validated in
``tests/reference/survival``):

* the curve is evaluated at every distinct time (events and censorings), with
  Greenwood's standard error of ``log S`` and R ``survfit``'s default
  ``conf.type = "log"`` interval ``exp(log S -/+ z se)``, the upper limit capped
  at 1, and no interval where ``S = 0``;
* a quantile (the median) is R ``quantile.survfit``'s: the first time the
  curve drops to or below ``1 - p``; where it sits exactly on ``1 - p`` over
  an interval, the midpoint of that interval (so 10 patients with 5 deaths by
  day 14 and the next death on day 21 give a median of 17.5); the CI is the
  same rule applied to the upper and lower curves, missing (NaN) when that
  curve never reaches ``1 - p``;
* survival at a day (:func:`survival_at`, :func:`survival_rows`) is the curve's
  value at the last time <= that day, as R ``summary(survfit, times =)``;
* the restricted mean survival time to ``tau`` is the area under the curve
  on ``[0, tau]`` with R ``print.survfit(rmean = tau)``'s standard error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from longmod.engines.survival.data import SurvivalData

#: R's tolerance in ``quantile.survfit`` (sqrt of double epsilon)
_TOL = float(np.sqrt(np.finfo(float).eps))


def km_table(time: np.ndarray, event: np.ndarray, level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier estimate at every distinct time (R ``survfit`` default).

    Parameters
    ----------
    time : array_like
        Follow-up times.
    event : array_like
        1 = event, 0 = censored (other codes count as censored only if the
        caller mapped them so; this function treats ``event == 1`` as events).
    level : float
        Confidence level of the pointwise log-transformed interval.

    Returns
    -------
    pandas.DataFrame
        ``time, n_risk, n_event, n_censor, surv, std_err`` (Greenwood SE of
        ``log S``, R's ``std.err``), ``conf_low, conf_high``.

    Examples
    --------
    >>> t = km_table([1, 2, 2, 3, 5], [1, 1, 0, 1, 0])
    >>> t[["time", "n_risk", "surv"]].round(3).values.tolist()
    [[1.0, 5.0, 0.8], [2.0, 4.0, 0.6], [3.0, 2.0, 0.3], [5.0, 1.0, 0.3]]
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event) == 1
    ut = np.unique(t)
    n_risk = np.array([(t >= u).sum() for u in ut], dtype=float)
    d = np.array([(e & (t == u)).sum() for u in ut], dtype=float)
    c = np.array([(~e & (t == u)).sum() for u in ut], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d / n_risk)
        g = np.where(d > 0, d / (n_risk * (n_risk - d)), 0.0)
        se = np.sqrt(np.cumsum(g))
        z = stats.norm.ppf(0.5 + level / 2)
        lo = np.exp(np.log(surv) - z * se)
        hi = np.minimum(np.exp(np.log(surv) + z * se), 1.0)
    none = (surv <= 0) | ~np.isfinite(se)
    se[surv <= 0] = np.nan  # R: no standard error once the curve is at 0
    lo[none] = np.nan
    hi[none] = np.nan
    return pd.DataFrame({"time": ut, "n_risk": n_risk, "n_event": d, "n_censor": c, "surv": surv,
                         "std_err": se, "conf_low": lo, "conf_high": hi})


def _first_at_or_above(y: np.ndarray, idx: np.ndarray, p: float) -> float:
    """R ``approx(y, idx, p, method = "constant", f = 1)``: index of the first y >= p."""
    ok = ~np.isnan(y)
    y, idx = y[ok], idx[ok]
    if y.size == 0 or p < y[0] or p > y[-1]:
        return np.nan
    return float(idx[np.searchsorted(y, p, side="left")])


def _findq(x: np.ndarray, y: np.ndarray, p: float) -> float:
    """R ``survival:::findq`` for one probability (``y`` = 1 - curve, non-decreasing)."""
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return np.nan
    xmax = x[-1]
    _, first = np.unique(np.where(np.isnan(y), -1.0, y), return_index=True)
    keep = np.sort(first)
    x, y = x[keep], y[keep]
    idx = np.arange(y.size)
    i1 = _first_at_or_above(y + _TOL, idx, p)
    i2 = _first_at_or_above(y - _TOL, idx, p)
    if p == 0:
        return float(x[0])
    last = y[-1]
    if not np.isnan(last) and abs(p - last) < _TOL and not np.isnan(i1):
        return float((x[int(i1)] + xmax) / 2)
    if np.isnan(i1) or np.isnan(i2):
        return np.nan
    return float((x[int(i1)] + x[int(i2)]) / 2)


def km_quantile(table: pd.DataFrame, prob: float = 0.5) -> tuple[float, float, float]:
    """Time by which a fraction ``prob`` has had the event, with its CI (R rule).

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`km_table`.
    prob : float
        0.5 for the median.

    Returns
    -------
    tuple of float
        ``(estimate, conf_low, conf_high)``; NaN where the curve (or the
        interval's curve) never reaches ``1 - prob``.

    Examples
    --------
    >>> km_quantile(km_table([3, 7, 14, 21, 28], [1, 1, 1, 1, 0]))[0]
    14.0
    >>> km_quantile(km_table([3, 7, 14, 14, 21, 28], [1, 1, 1, 0, 1, 0]))[0]  # S = 0.5 on [14, 21): midpoint
    17.5
    """
    x = np.concatenate([[0.0], table["time"].to_numpy(float)])
    est = _findq(x, np.concatenate([[0.0], 1 - table["surv"].to_numpy(float)]), prob)
    # the lower survival curve reaches 1 - prob first: it gives the lower time limit
    low = _findq(x, np.concatenate([[0.0], 1 - table["conf_low"].to_numpy(float)]), prob)
    high = _findq(x, np.concatenate([[0.0], 1 - table["conf_high"].to_numpy(float)]), prob)
    return est, low, high


def survival_at(table: pd.DataFrame, times: Sequence[float]) -> pd.DataFrame:
    """KM survival and its log CI at given times (R ``summary(survfit, times = t)``).

    Times after the last follow-up time give NaN (R drops them).

    Examples
    --------
    >>> survival_at(km_table([3, 7, 14, 21, 28], [1, 1, 1, 1, 0]), [0, 10, 30])["surv"].round(2).tolist()
    [1.0, 0.6, nan]
    """
    tt = table["time"].to_numpy(float)
    out = []
    for u in times:
        k = int(np.searchsorted(tt, u, side="right")) - 1
        if u > tt[-1]:
            out.append({"time": float(u), "surv": np.nan, "std_err": np.nan, "conf_low": np.nan, "conf_high": np.nan})
        elif k < 0:
            out.append({"time": float(u), "surv": 1.0, "std_err": 0.0, "conf_low": 1.0, "conf_high": 1.0})
        else:
            r = table.iloc[k]
            out.append({"time": float(u), "surv": float(r["surv"]), "std_err": float(r["std_err"]),
                        "conf_low": float(r["conf_low"]), "conf_high": float(r["conf_high"])})
    return pd.DataFrame(out)


def survival_rows(sd: SurvivalData, *, day: float, analysis: str, outcome: str, estimand: str | None = None,
                  level: float = 0.95) -> pd.DataFrame:
    """KM probability of being event-free at ``day`` per arm (e.g. D28 survival), common schema.

    Returns
    -------
    pandas.DataFrame
        One row per arm (``contrast`` = the arm, ``statistic = "survival"``),
        ``estimate`` = KM survival, ``std_error`` = Greenwood SE of ``log S``
        (R's ``std.err``), log CI, ``n_events`` by ``day``, ``n_risk`` at ``day``.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [60] * 8 + [6, 11, 15, 22, 27, 41, 53] + [60] * 17, "e": [0] * 8 + [1] * 7 + [0] * 17,
    ...                   "g": ["msc"] * 8 + ["ctrl"] * 24})
    >>> r = survival_rows(survival_data(d, time="t", event="e", arm="g", arms=("ctrl", "msc")), day=28,
    ...                   analysis="s28", outcome="death")
    >>> r[["contrast", "estimate"]].round(3).values.tolist()
    [['ctrl', 0.792], ['msc', 1.0]]
    """
    import longmod
    from longmod.results.schema import effects_frame

    if (sd.event >= 2).any():
        raise ValueError("survival_rows: event codes >= 2 (competing events) found; use cif_rows for them")
    rows = []
    for a in sd.arms:
        m = sd.arm == a
        r = survival_at(km_table(sd.time[m], sd.event[m], level), [day]).iloc[0]
        rows.append({"analysis": analysis, "estimand": estimand, "outcome": outcome, "day": float(day), "contrast": a,
                     "statistic": "survival", "estimate": r["surv"], "std_error": r["std_err"], "df": np.nan,
                     "conf_low": r["conf_low"], "conf_high": r["conf_high"], "p_value": np.nan,
                     "engine": "longmod.survival", "engine_version": longmod.__version__, "n_obs": int(m.sum()),
                     "n_patients": int(m.sum()), "n_events": int(((sd.event[m] == 1) & (sd.time[m] <= day)).sum()),
                     "n_risk": int((sd.time[m] >= day).sum()), "conf_type": "log"})
    return effects_frame(rows)


def numbers_at_risk(sd: SurvivalData, times: Sequence[float]) -> pd.DataFrame:
    """Numbers at risk per arm at given times (the table under a KM plot).

    A patient is at risk at ``t`` when their follow-up time is ``>= t``
    (R ``summary(survfit, times = t)$n.risk``).

    Returns
    -------
    pandas.DataFrame
        ``arm, time, n_risk, n_event_cum`` (events of code 1 up to and
        including ``t``), ``n_censor_cum`` (censored up to ``t``; competing
        events count as leaving the risk set, in ``n_competing_cum``).

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [2, 5, 9, 4], "e": [1, 0, 1, 1], "g": ["x", "x", "x", "y"]})
    >>> numbers_at_risk(survival_data(d, time="t", event="e", arm="g", arms=("x", "y")), [0, 5])[["arm", "time", "n_risk"]].values.tolist()
    [['x', 0.0, 3], ['x', 5.0, 2], ['y', 0.0, 1], ['y', 5.0, 0]]
    """
    rows = []
    for a in sd.arms:
        m = sd.arm == a
        t, e = sd.time[m], sd.event[m]
        for u in times:
            rows.append({"arm": a, "time": float(u), "n_risk": int((t >= u).sum()),
                         "n_event_cum": int(((e == 1) & (t <= u)).sum()),
                         "n_competing_cum": int(((e >= 2) & (t <= u)).sum()),
                         "n_censor_cum": int(((e == 0) & (t <= u)).sum())})
    return pd.DataFrame(rows)


def rmst(time: np.ndarray, event: np.ndarray, tau: float) -> tuple[float, float]:
    """Restricted mean survival time to ``tau`` and its standard error.

    The area under the KM curve on ``[0, tau]``; the variance is R
    ``print.survfit(rmean = tau)``'s: the sum over event times ``t_j <= tau``
    of ``A_j^2 d_j / (n_j (n_j - d_j))`` with ``A_j`` the area from ``t_j``
    to ``tau``.

    Examples
    --------
    >>> round(rmst([2, 4, 6, 8], [1, 1, 1, 1], tau=8)[0], 6)  # 2 + 0.75*2 + 0.5*2 + 0.25*2
    5.0
    """
    tab = km_table(time, event)
    tab = tab[tab["time"] <= tau]
    ev = tab[tab["n_event"] > 0]
    knots = np.concatenate([[0.0], ev["time"].to_numpy(float), [float(tau)]])
    levels = np.concatenate([[1.0], ev["surv"].to_numpy(float)])
    pieces = levels * np.diff(knots)
    area = float(pieces.sum())
    after = np.cumsum(pieces[::-1])[::-1][1:]  # area from each event time to tau
    n, d = ev["n_risk"].to_numpy(float), ev["n_event"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(n > d, d / (n * (n - d)), 0.0)
    return area, float(np.sqrt(np.sum(after**2 * w)))


def km_rows(
    sd: SurvivalData,
    *,
    analysis: str,
    outcome: str,
    estimand: str | None = None,
    level: float = 0.95,
    tau: float | None = None,
) -> pd.DataFrame:
    """Median time to event per arm (and the RMST difference) in the common schema.

    Parameters
    ----------
    sd : SurvivalData
        From :func:`~longmod.engines.survival.data.survival_data`; competing
        events (codes >= 2) are rejected here (use
        :mod:`longmod.engines.survival.competing`).
    analysis, outcome, estimand : str
        Labels of the rows.
    level : float
    tau : float, optional
        When given, adds per-arm restricted means to ``tau`` and their
        difference (active - reference, normal CI).

    Returns
    -------
    pandas.DataFrame
        One row per arm with ``contrast`` = the arm, ``statistic =
        "median"``, ``estimate`` = median (NaN when not reached), its CI
        (R's log-interval rule), ``n_patients``, ``n_events``; then with
        ``tau`` rows ``statistic = "rmst"`` per arm and ``"rmst_difference"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [5, 8, 12, 14, 20, 9, 15, 23, 25, 30], "e": [1] * 10, "g": ["a"] * 5 + ["b"] * 5})
    >>> r = km_rows(survival_data(d, time="t", event="e", arm="g", arms=("b", "a")), analysis="km", outcome="o2")
    >>> r[["contrast", "estimate"]].values.tolist()
    [['b', 23.0], ['a', 12.0]]
    """
    from longmod.results.schema import effects_frame

    if (sd.event >= 2).any():
        raise ValueError("km_rows: event codes >= 2 (competing events) found; use cumulative_incidence for them, "
                         "or recode them explicitly as censored (0) if that is the intended estimand")
    import longmod

    rows = []
    base = {"analysis": analysis, "estimand": estimand, "outcome": outcome, "df": np.nan, "p_value": np.nan,
            "engine": "longmod.survival", "engine_version": longmod.__version__}
    rm = {}
    for a in sd.arms:
        m = sd.arm == a
        tab = km_table(sd.time[m], sd.event[m], level)
        est, lo, hi = km_quantile(tab, 0.5)
        rows.append({**base, "contrast": a, "statistic": "median", "estimate": est, "std_error": np.nan,
                     "conf_low": lo, "conf_high": hi, "n_obs": int(m.sum()), "n_patients": int(m.sum()),
                     "n_events": int((sd.event[m] == 1).sum()), "conf_type": "log"})
        if tau is not None:
            rm[a] = rmst(sd.time[m], sd.event[m], tau)
    if tau is not None:
        z = stats.norm.ppf(0.5 + level / 2)
        for a in sd.arms:
            v, s = rm[a]
            m = sd.arm == a
            rows.append({**base, "contrast": a, "statistic": "rmst", "tau": float(tau), "estimate": v, "std_error": s,
                         "conf_low": v - z * s, "conf_high": v + z * s, "n_obs": int(m.sum()), "n_patients": int(m.sum()),
                         "n_events": int((sd.event[m] == 1).sum())})
        diff = rm[sd.arms[1]][0] - rm[sd.arms[0]][0]
        se = float(np.hypot(rm[sd.arms[1]][1], rm[sd.arms[0]][1]))
        rows.append({**base, "contrast": sd.contrast, "statistic": "rmst_difference", "tau": float(tau), "estimate": diff,
                     "std_error": se, "conf_low": diff - z * se, "conf_high": diff + z * se,
                     "p_value": float(2 * stats.norm.sf(abs(diff / se))) if se > 0 else np.nan,
                     "n_obs": sd.n, "n_patients": sd.n, "n_events": int((sd.event == 1).sum())})
    return effects_frame(rows)
