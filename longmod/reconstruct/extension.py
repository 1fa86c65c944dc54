"""Extension of a calibrated fixture: follow-up to D28 and more variables.

Runs *after* the calibrated part, from its own random stream, and never
changes a value the calibration produced (the D0-D7 outcome values, the
events before the endpoint): it adds the course after the endpoint (deaths by
the horizon, chosen so that a log-rank test meets its published P value; ICU
discharges), the outcome on the later scheduled days, a SOFA score and, for
invasively ventilated patients only, driving pressure and static compliance.
Assumptions come from the ``[extension]`` table of the targets file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.data.trial import MEASUREMENT_COLUMNS, TrialData, TrialMeta
from longmod.reconstruct.calibrate import CalibrationError
from longmod.reconstruct.evaluate import REPORT_COLUMNS


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


def survival_frame(patients: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Time to death up to ``horizon`` (censored there; alive discharges are followed to the horizon).

    Examples
    --------
    >>> pts = pd.DataFrame({"patient_id": ["a", "b"], "arm": ["x", "y"], "death_day": [5.0, np.nan]})
    >>> survival_frame(pts, 28)[["time", "event"]].values.tolist()
    [[5.0, True], [28.0, False]]
    """
    d = patients["death_day"].astype(float)
    event = d.notna() & (d <= horizon)
    return pd.DataFrame({"patient_id": patients["patient_id"], "arm": patients["arm"],
                         "time": np.where(event, d, float(horizon)), "event": event.to_numpy()})


def _per_arm(v: Any, arm: str) -> Any:
    return v[arm] if isinstance(v, Mapping) else v


def _follow_up(ext, pts, d7, rng) -> pd.DataFrame:
    """Deaths after the endpoint (log-rank calibrated by a seeded search) and ICU discharges."""
    deaths = dict(ext["deaths"])
    horizon = int(ext.get("horizon", 28))
    lo_d, hi_d = (int(v) for v in deaths["days"])
    target, tol = float(deaths["logrank_p"]), float(deaths.get("logrank_tolerance", 0.03))
    in_icu = pts["death_day"].isna() & pts["icu_discharge_day"].isna()
    for draw in range(int(deaths.get("max_draws", 500))):
        out = pts.copy()
        for arm in out["arm"].unique():
            cand = out.index[in_icu & (out["arm"] == arm)]
            k = int(_per_arm(deaths["total_by_horizon"], arm)) - int(((out["arm"] == arm) & out["death_day"].notna()).sum())
            if k < 0 or k > len(cand):
                raise CalibrationError(f"extension: cannot have {_per_arm(deaths['total_by_horizon'], arm)} deaths by D{horizon} in arm {arm!r}")
            # lower D7 values are likelier to die (weights by rank)
            w = (len(cand) - d7.reindex(out.loc[cand, "patient_id"]).rank(method="first").to_numpy() + 1.0)
            chosen = rng.choice(cand, size=k, replace=False, p=w / w.sum()) if k else []
            out.loc[chosen, "death_day"] = rng.integers(lo_d, hi_d + 1, size=k).astype(float)
        sv = survival_frame(out, horizon)
        p = logrank_p(sv["time"], sv["event"], sv["arm"])
        if abs(p - target) <= tol:
            break
    else:
        raise CalibrationError(f"extension: no death-day draw gave a log-rank P within {tol} of {target}")
    dis = dict(ext.get("discharge", {}))
    lo_c, hi_c = (int(v) for v in dis.get("days", [8, 40]))
    alive = in_icu & out["death_day"].isna()
    days = rng.integers(lo_c, hi_c + 1, size=int(alive.sum())).astype(float)
    out.loc[alive, "icu_discharge_day"] = np.where(days <= horizon, days, np.nan)
    return out


def _last_day(row, horizon: int) -> int:
    """Last measured day: the day before death or ICU discharge, else the horizon."""
    ev = [d for d in (row.death_day, row.icu_discharge_day) if not np.isnan(d)]
    return int(min(ev)) - 1 if ev else horizon


def extend(spec, meta: TrialMeta, patients: pd.DataFrame, measurements: pd.DataFrame,
           rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the follow-up and the extra variables (new frames; the inputs are untouched).

    Parameters
    ----------
    spec : TargetSpec
        Uses ``spec.extension`` and ``spec.outcome``.
    meta : TrialMeta
        Its ``schedule`` gives the later measurement days.
    patients, measurements : pandas.DataFrame
        The calibrated fixture.
    rng : numpy.random.Generator
        The extension's own stream.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(patients, measurements)``.

    Examples
    --------
    See :func:`longmod.reconstruct.build_fixture`; ``tests/reconstruct`` checks
    that the calibrated values are unchanged.
    """
    ext = spec.extension
    horizon = int(ext.get("horizon", 28))
    endpoint = spec.endpoint_day
    pf = measurements[measurements["variable"] == spec.outcome]
    d7 = pf[pf["day"] == endpoint].set_index("patient_id")["value"]
    pts = _follow_up(ext, patients, d7, rng)
    later = [d for d in meta.schedule if endpoint < d <= horizon]

    # the outcome on later scheduled days (drift towards recovery; decline before death)
    o = dict(ext.get("outcome", {}))
    rows = []
    for p in pts.itertuples():
        if p.patient_id not in d7.index:
            continue
        last = _last_day(p, horizon)
        v7 = float(d7[p.patient_id])
        for day in (d for d in later if d <= last):
            if np.isnan(p.death_day):
                mean = o.get("drift_to", 320.0) + (v7 - o.get("drift_to", 320.0)) * np.exp(-o.get("drift_rate", 0.08) * (day - endpoint))
            else:
                frac = (day - endpoint) / max(p.death_day - endpoint, 1.0)
                mean = v7 * (1 - frac * (1 - o.get("decline_before_death", 0.6)))
            v = np.clip(mean + rng.normal(0, o.get("noise_sd", 30.0)), o.get("lower", 40.0), o.get("upper", 600.0))
            rows.append((p.patient_id, day, spec.outcome, round(float(v), spec.decimals)))
    out = [measurements, pd.DataFrame(rows, columns=["patient_id", "day", "variable", "value"])]
    out_pf = pd.concat(out, ignore_index=True)
    out_pf = out_pf[out_pf["variable"] == spec.outcome]
    out.append(_sofa(ext, pts, out_pf, rng))
    out.append(_ventilation(ext, pts, out_pf, rng))
    meas = pd.concat(out, ignore_index=True)
    meas["lloq"] = meas["lloq"].astype(float)
    return pts, meas[list(MEASUREMENT_COLUMNS)]


def _sofa(ext, pts, pf, rng) -> pd.DataFrame:
    """SOFA (integer 0-24) on every day the outcome was measured; D0 agrees with the ``sofa_gt11`` stratum."""
    s = dict(ext.get("sofa", {}))
    rows = []
    for p in pts.itertuples():
        g = pf[pf["patient_id"] == p.patient_id].sort_values("day")
        if p.sofa_gt11:
            s0 = int(rng.integers(12, int(s.get("gt11_max", 16)) + 1))
        else:
            s0 = int(np.clip(round(rng.normal(s.get("d0_mean", 6.0), s.get("d0_sd", 2.5))), 1, 11))
        slope = s.get("slope_death", 0.3) if not np.isnan(p.death_day) else s.get("slope_survivor", -0.2)
        pf0 = float(g["value"].iloc[0])
        for day, v in zip(g["day"], g["value"]):
            if day == 0:
                val = s0
            else:
                raw = s0 + slope * day + s.get("pf_effect", -1.0) * (v - pf0) / 100.0 + rng.normal(0, s.get("noise_sd", 1.0))
                val = int(np.clip(round(raw), 0, 24))
            rows.append((p.patient_id, int(day), "sofa", float(val)))
    return pd.DataFrame(rows, columns=["patient_id", "day", "variable", "value"])


def _ventilation(ext, pts, pf, rng) -> pd.DataFrame:
    """Driving pressure and static compliance while invasively ventilated (``imv`` at D0, until extubation)."""
    v = dict(ext.get("ventilation", {}))
    lo_x, hi_x = (int(d) for d in v.get("extubation_days", [5, 25]))
    rows = []
    for p in pts.itertuples():
        if not getattr(p, "imv", 0):
            continue
        extub = int(rng.integers(lo_x, hi_x + 1))
        crs0 = float(np.clip(rng.normal(v.get("compliance_mean", 32.0), v.get("compliance_sd", 9.0)), 12.0, 80.0))
        vt = float(rng.normal(v.get("tidal_volume_mean", 420.0), v.get("tidal_volume_sd", 40.0)))
        trend = v.get("compliance_trend_death", -0.3) if not np.isnan(p.death_day) else v.get("compliance_trend", 0.4)
        for day in pf.loc[pf["patient_id"] == p.patient_id, "day"].sort_values():
            if day >= extub:
                break
            crs = float(np.clip(crs0 + trend * day + rng.normal(0, v.get("noise_sd", 2.5)), 8.0, 120.0))
            dp = float(np.clip(vt / crs + rng.normal(0, 0.5), 3.0, 40.0))
            rows.append((p.patient_id, int(day), "compliance", round(crs, 1)))
            rows.append((p.patient_id, int(day), "driving_pressure", round(dp, 1)))
    return pd.DataFrame(rows, columns=["patient_id", "day", "variable", "value"])


def extension_report(spec, trial: TrialData) -> pd.DataFrame:
    """Checks of the extension on the written data, in the target report's columns.

    Deaths by the horizon per arm (exact, the assumption) and the log-rank P
    value (published, within tolerance).

    Examples
    --------
    >>> from longmod.data import load_trial
    >>> from longmod.resources import fixtures_dir
    >>> from longmod.reconstruct.targets import load_targets
    >>> folder = fixtures_dir() / "stroma_cov2"
    >>> rep = extension_report(load_targets(folder / "targets.toml"), load_trial(folder))
    >>> bool(rep["passed"].all())
    True
    """
    ext = spec.extension
    horizon = int(ext.get("horizon", 28))
    deaths = dict(ext["deaths"])
    sv = survival_frame(trial.patients, horizon)
    rows = []
    for arm in trial.meta.arms:
        want = float(_per_arm(deaths["total_by_horizon"], arm))
        got = float(sv.loc[sv["arm"] == arm, "event"].sum())
        rows.append((f"deaths_d{horizon}_{arm}", "count", f"deaths by D{horizon}, mitt, {arm}", "mitt", arm, want, got,
                     0.0, got - want, got == want, False, "assumption: NOTES.md b.11"))
    p = logrank_p(sv["time"], sv["event"], sv["arm"])
    tgt, tol = float(deaths["logrank_p"]), float(deaths.get("logrank_tolerance", 0.03))
    rows.append((f"logrank_p_d{horizon}", "logrank_p", f"log-rank P, death by D{horizon}, mitt, all", "mitt", "all",
                 tgt, p, tol, p - tgt, abs(p - tgt) <= tol, False, str(deaths.get("source", ""))))
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
