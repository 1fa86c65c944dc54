"""Extension of a calibrated fixture: follow-up to a horizon and more variables.

Runs *after* the calibrated part, from its own random stream, and never
changes a value the calibration produced (the outcome up to the endpoint, the
events before it). Each part is optional and configured by a table of
``[extension]``:

``deaths`` / ``discharge``
    The course after the endpoint: deaths by the horizon (``column``,
    ``total_by_horizon`` per arm, ``days``), chosen so that a log-rank test
    meets its published P value, then discharges (``column``, ``days``).
``outcome``
    The outcome on the later scheduled days until the patient's end day
    (``[reconstruction] end_columns``): a drift from the endpoint value
    towards ``drift_to`` (exponential at ``drift_rate``, or linear until the
    day in ``reach_column``), a decline before death, noise.
``score``
    An integer score (``variable``) on every day the outcome is measured,
    linked to the outcome, worse before death; its first-day value agrees with
    a binary ``stratum_column`` (in ``stratum_range`` when 1, ``range``
    otherwise).
``mechanics``
    Static compliance and driving pressure (``compliance_variable``,
    ``pressure_variable``) for patients flagged by ``flag_column`` until a
    drawn extubation day.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.reconstruct.calibrate import CalibrationError
from longmod.reconstruct.evaluate import REPORT_COLUMNS
from longmod.reconstruct.tables import MEASUREMENT_COLUMNS, Tables, as_tables


def logrank_p(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> float:
    """Two-sided log-rank test P value for two groups (chi-square, 1 df), as R's ``survdiff``.

    Parameters
    ----------
    time : array-like
        Follow-up time (event or censoring).
    event : array-like of bool
        True for an event (death), False for censoring.
    group : array-like
        Two group labels.

    Returns
    -------
    float

    Examples
    --------
    >>> round(logrank_p([2, 3, 5, 8, 9, 10], [1, 1, 1, 0, 1, 0], ["a", "a", "a", "b", "b", "b"]), 4)
    0.0246
    """
    from scipy import stats

    t = np.asarray(time, float)
    e = np.asarray(event, bool)
    g = np.asarray(group)
    first = g == np.unique(g)[0]
    o_minus_e, var = 0.0, 0.0
    for u in np.unique(t[e]):
        at_risk = t >= u
        n, n1 = at_risk.sum(), (at_risk & first).sum()
        d = (e & (t == u)).sum()
        d1 = (e & (t == u) & first).sum()
        o_minus_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return float(stats.chi2.sf(o_minus_e**2 / var, 1)) if var > 0 else 1.0


def survival_frame(patients: pd.DataFrame, horizon: int, column: str) -> pd.DataFrame:
    """Time to the event in ``column`` up to ``horizon`` (censored there; discharged patients followed to the horizon).

    Examples
    --------
    >>> pts = pd.DataFrame({"patient_id": ["a", "b"], "arm": ["x", "y"], "died": [5.0, np.nan]})
    >>> survival_frame(pts, 28, "died")[["time", "event"]].values.tolist()
    [[5.0, True], [28.0, False]]
    """
    d = patients[column].astype(float)
    event = d.notna() & (d <= horizon)
    return pd.DataFrame({"patient_id": patients["patient_id"], "arm": patients["arm"],
                         "time": np.where(event, d, float(horizon)), "event": event.to_numpy()})


def _per_arm(v: Any, arm: str) -> Any:
    return v[arm] if isinstance(v, Mapping) else v


def _follow_up(ext, pts, d7, rng) -> pd.DataFrame:
    """Deaths after the endpoint (log-rank calibrated by a seeded search) and discharges."""
    deaths = dict(ext["deaths"])
    dis = dict(ext.get("discharge", {}))
    dcol, ccol = str(deaths["column"]), str(dis["column"])
    horizon = int(ext.get("horizon", 28))
    lo_d, hi_d = (int(v) for v in deaths["days"])
    target, tol = float(deaths["logrank_p"]), float(deaths.get("logrank_tolerance", 0.03))
    in_icu = pts[dcol].isna() & pts[ccol].isna()
    for draw in range(int(deaths.get("max_draws", 500))):
        out = pts.copy()
        for arm in out["arm"].unique():
            cand = out.index[in_icu & (out["arm"] == arm)]
            k = int(_per_arm(deaths["total_by_horizon"], arm)) - int(((out["arm"] == arm) & out[dcol].notna()).sum())
            if k < 0 or k > len(cand):
                raise CalibrationError(f"extension: cannot have {_per_arm(deaths['total_by_horizon'], arm)} deaths by D{horizon} in arm {arm!r}")
            # lower D7 values are likelier to die (weights by rank)
            w = (len(cand) - d7.reindex(out.loc[cand, "patient_id"]).rank(method="first").to_numpy() + 1.0)
            chosen = rng.choice(cand, size=k, replace=False, p=w / w.sum()) if k else []
            out.loc[chosen, dcol] = rng.integers(lo_d, hi_d + 1, size=k).astype(float)
        sv = survival_frame(out, horizon, dcol)
        p = logrank_p(sv["time"], sv["event"], sv["arm"])
        if abs(p - target) <= tol:
            break
    else:
        raise CalibrationError(f"extension: no death-day draw gave a log-rank P within {tol} of {target}")
    lo_c, hi_c = (int(v) for v in dis.get("days", [8, 40]))
    alive = in_icu & out[dcol].isna()
    days = rng.integers(lo_c, hi_c + 1, size=int(alive.sum())).astype(float)
    out.loc[alive, ccol] = np.where(days <= horizon, days, np.nan)
    return out


def last_day(row: Mapping[str, Any], end_columns, horizon: int) -> int:
    """Last measured day: the day before the earliest end event (death, discharge, ...), else the horizon.

    Examples
    --------
    >>> last_day({"died": float("nan"), "out": 12.0}, ["died", "out"], 28)
    11
    """
    ev = [float(row[c]) for c in end_columns if not np.isnan(float(row[c]))]
    return int(min(ev)) - 1 if ev else horizon


def _dead(p: Mapping[str, Any], column: str | None) -> bool:
    return bool(column) and not np.isnan(float(p[column]))


def extend(spec, tables: Tables, rng: np.random.Generator) -> Tables:
    """Add the follow-up and the extra variables (new tables; the input is untouched).

    Parameters
    ----------
    spec : TargetSpec
        Uses ``spec.extension``, ``spec.outcome`` and ``spec.end_columns``.
    tables : Tables
        The calibrated fixture; its ``trial.toml`` schedule gives the later
        measurement days.
    rng : numpy.random.Generator
        The extension's own stream.

    Returns
    -------
    Tables

    Examples
    --------
    See :func:`longmod.reconstruct.build_fixture`; ``tests/reconstruct`` checks
    that the calibrated values are unchanged.
    """
    ext = spec.extension
    horizon = int(ext.get("horizon", 28))
    endpoint = spec.endpoint_day
    measurements = tables.measurements
    pf = measurements[measurements["variable"] == spec.outcome]
    d7 = pf[pf["day"] == endpoint].set_index("patient_id")["value"]
    pts = _follow_up(ext, tables.patients, d7, rng) if "deaths" in ext else tables.patients.copy()
    death_col = str(ext.get("death_column", ext.get("deaths", {}).get("column", ""))) or None
    later = [d for d in tables.schedule if endpoint < d <= horizon]

    # the outcome on later scheduled days (drift towards recovery; decline before death)
    o = dict(ext.get("outcome", {}))
    rows = []
    for _, p in pts.iterrows() if o else ():
        if p["patient_id"] not in d7.index:
            continue
        last = last_day(p, spec.end_columns, horizon)
        v7 = float(d7[p["patient_id"]])
        to = o.get("drift_to", 320.0)
        reach = float(p[o["reach_column"]]) if o.get("reach_column") else np.nan
        for day in (d for d in later if d <= last):
            if not _dead(p, death_col):
                if not np.isnan(reach):
                    mean = v7 + (to - v7) * min(1.0, (day - endpoint) / max(reach - endpoint, 1.0))
                else:
                    mean = to + (v7 - to) * np.exp(-o.get("drift_rate", 0.08) * (day - endpoint))
            else:
                frac = (day - endpoint) / max(p[death_col] - endpoint, 1.0)
                mean = v7 * (1 - frac * (1 - o.get("decline_before_death", 0.6)))
            v = np.clip(mean + rng.normal(0, o.get("noise_sd", 30.0)), o.get("lower", 40.0), o.get("upper", 600.0))
            rows.append((p["patient_id"], day, spec.outcome, round(float(v), spec.decimals)))
    out = [measurements, pd.DataFrame(rows, columns=["patient_id", "day", "variable", "value"])]
    out_pf = pd.concat(out, ignore_index=True)
    out_pf = out_pf[out_pf["variable"] == spec.outcome]
    if "score" in ext:
        out.append(_score(ext["score"], pts, out_pf, rng, death_col))
    if "mechanics" in ext:
        out.append(_mechanics(ext["mechanics"], pts, out_pf, rng, death_col))
    meas = pd.concat(out, ignore_index=True)
    meas["lloq"] = meas["lloq"].astype(float)
    return Tables(pts, meas[list(MEASUREMENT_COLUMNS)], tables.doc)


def _score(s, pts, pf, rng, death_col) -> pd.DataFrame:
    """An integer score on every day the outcome was measured; the first day agrees with the stratum column."""
    lo_s, hi_s = (int(v) for v in s["stratum_range"])
    lo_r, hi_r = (int(v) for v in s["range"])
    lo_b, hi_b = (int(v) for v in s["bounds"])
    rows = []
    for _, p in pts.iterrows():
        g = pf[pf["patient_id"] == p["patient_id"]].sort_values("day")
        if p[s["stratum_column"]]:
            s0 = int(rng.integers(lo_s, hi_s + 1))
        else:
            s0 = int(np.clip(round(rng.normal(s["d0_mean"], s["d0_sd"])), lo_r, hi_r))
        slope = s["slope_death"] if _dead(p, death_col) else s["slope_survivor"]
        pf0 = float(g["value"].iloc[0])
        for day, v in zip(g["day"], g["value"]):
            if day == 0:
                val = s0
            else:
                raw = s0 + slope * day + s["outcome_effect"] * (v - pf0) / 100.0 + rng.normal(0, s["noise_sd"])
                val = int(np.clip(round(raw), lo_b, hi_b))
            rows.append((p["patient_id"], int(day), str(s["variable"]), float(val)))
    return pd.DataFrame(rows, columns=["patient_id", "day", "variable", "value"])


def _mechanics(v, pts, pf, rng, death_col) -> pd.DataFrame:
    """Driving pressure and static compliance while ventilated (``flag_column`` = 1, until extubation)."""
    lo_x, hi_x = (int(d) for d in v["extubation_days"])
    rows = []
    for _, p in pts.iterrows():
        if not p[v["flag_column"]]:
            continue
        extub = int(rng.integers(lo_x, hi_x + 1))
        crs0 = float(np.clip(rng.normal(v["compliance_mean"], v["compliance_sd"]), 12.0, 80.0))
        vt = float(rng.normal(v["tidal_volume_mean"], v["tidal_volume_sd"]))
        trend = v["compliance_trend_death"] if _dead(p, death_col) else v["compliance_trend"]
        for day in pf.loc[pf["patient_id"] == p["patient_id"], "day"].sort_values():
            if day >= extub:
                break
            crs = float(np.clip(crs0 + trend * day + rng.normal(0, v["noise_sd"]), 8.0, 120.0))
            dp = float(np.clip(vt / crs + rng.normal(0, 0.5), 3.0, 40.0))
            rows.append((p["patient_id"], int(day), str(v["compliance_variable"]), round(crs, 1)))
            rows.append((p["patient_id"], int(day), str(v["pressure_variable"]), round(dp, 1)))
    return pd.DataFrame(rows, columns=["patient_id", "day", "variable", "value"])


def extension_report(spec, trial) -> pd.DataFrame:
    """Checks of the extension on the written data, in the target report's columns.

    Deaths by the horizon per arm (exact, the assumption) and the log-rank P
    value (published, within tolerance). Empty without ``[extension.deaths]``.

    Examples
    --------
    >>> from longmod.reconstruct.tables import read_tables
    >>> from longmod.resources import fixtures_dir
    >>> from longmod.reconstruct.targets import load_targets
    >>> folder = fixtures_dir() / "stroma_cov2"
    >>> rep = extension_report(load_targets(folder / "targets.toml"), read_tables(folder))
    >>> bool(rep["passed"].all())
    True
    """
    ext = spec.extension
    if "deaths" not in ext:
        return pd.DataFrame(columns=list(REPORT_COLUMNS))
    tables = as_tables(trial)
    horizon = int(ext.get("horizon", 28))
    deaths = dict(ext["deaths"])
    sv = survival_frame(tables.patients, horizon, str(deaths["column"]))
    rows = []
    for arm in tables.arms:
        want = float(_per_arm(deaths["total_by_horizon"], arm))
        got = float(sv.loc[sv["arm"] == arm, "event"].sum())
        rows.append((f"deaths_d{horizon}_{arm}", "count", f"deaths by D{horizon}, all patients, {arm}", "patients", arm,
                     want, got, 0.0, got - want, got == want, False, str(deaths.get("count_source", ""))))
    p = logrank_p(sv["time"], sv["event"], sv["arm"])
    tgt, tol = float(deaths["logrank_p"]), float(deaths.get("logrank_tolerance", 0.03))
    rows.append((f"logrank_p_d{horizon}", "logrank_p", f"log-rank P, death by D{horizon}, all patients, all", "patients",
                 "all", tgt, p, tol, p - tgt, abs(p - tgt) <= tol, False, str(deaths.get("source", ""))))
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
