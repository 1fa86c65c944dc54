"""Plasma biomarkers for a reconstructed fixture (log-normal, per-marker LLOQ, censoring).

Generated after the calibrated part and the extension, from its own random
stream; the ``[biomarkers]`` table of the targets file holds every assumption.
Censoring convention (the one :func:`longmod.biomarkers.frame.biomarker_frame`
reads as ``"nan"``): every biomarker row carries the marker's ``lloq``; a
quantified sample has ``value >= lloq``; a sample below the LLOQ has an empty
``value``; a sample not taken (patient outside the cytokine set, dead or
discharged, or missing at random) has no row at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from longmod.reconstruct.calibrate import CalibrationError
from longmod.reconstruct.evaluate import REPORT_COLUMNS
from longmod.reconstruct.tables import MEASUREMENT_COLUMNS, as_tables


def _sig(x: np.ndarray, digits: int) -> np.ndarray:
    """Round to ``digits`` significant figures (deterministic text in the CSV)."""
    x = np.asarray(x, float)
    out = np.full_like(x, np.nan)
    ok = np.isfinite(x) & (x > 0)
    mag = np.floor(np.log10(x[ok]))
    out[ok] = np.round(x[ok] / 10**mag, digits - 1) * 10**mag
    return np.array([float(f"{v:.{digits}g}") if np.isfinite(v) else np.nan for v in out])


def marker_table(bm: Mapping[str, Any]) -> pd.DataFrame:
    """One row per marker: name, log10 mean, censored fraction aimed at, LLOQ, effect flag.

    Deterministic (no random numbers): log10 means are spread evenly over
    ``log10_mean_range`` and censored fractions evenly over
    ``censored_fraction_range`` across the markers not listed as
    ``never_censored`` (both in a fixed interleaved order, so neither follows
    the list order); the LLOQ is the marginal quantile at that fraction,
    3 significant figures.

    Examples
    --------
    >>> t = marker_table({"markers": ["A", "B", "C"], "log10_mean_range": [1.0, 2.0],
    ...                   "censored_fraction_range": [0.0, 0.6], "sd": 0.5})
    >>> sorted(t["censor_aim"].round(2).tolist())
    [0.0, 0.3, 0.6]
    """
    names = list(bm["markers"])
    n = len(names)
    lo_m, hi_m = (float(v) for v in bm.get("log10_mean_range", [0.5, 3.5]))
    mean = lo_m + (hi_m - lo_m) * ((np.arange(n) * 7) % n) / max(n - 1, 1)  # spread, not ordered by name
    never = set(bm.get("never_censored", []))
    lo_c, hi_c = (float(v) for v in bm.get("censored_fraction_range", [0.0, 0.6]))
    free = [i for i, m in enumerate(names) if m not in never]
    aim = np.zeros(n)
    ranks = np.argsort(np.argsort([(i * 11) % max(len(free), 1) for i in range(len(free))]))
    for r, i in zip(ranks, free):
        aim[i] = lo_c + (hi_c - lo_c) * r / max(len(free) - 1, 1)
    sd = float(bm.get("sd", 0.5))
    z = np.where(aim > 0, stats.norm.ppf(np.clip(aim, 1e-6, 1 - 1e-6)), -4.0)
    lloq = _sig(10 ** (mean + sd * z), 3)
    effect = [m in set(bm.get("effect_markers", [])) for m in names]
    return pd.DataFrame({"marker": names, "log10_mean": mean, "censor_aim": aim, "lloq": lloq, "effect": effect})


def _draw(bm, patients, table, rng, days, active, sizes, rho, sd, trend, effect, p_miss, end_columns) -> pd.DataFrame:
    """One draw of every biomarker row (see :func:`add_biomarkers`)."""
    # the cytokine set: a random subset of each arm (missing completely at random)
    members = []
    for arm, k in sizes.items():
        ids = patients.loc[patients["arm"] == arm, "patient_id"].to_numpy()
        members += sorted(rng.choice(ids, size=int(k), replace=False).tolist())
    pts = patients.set_index("patient_id").loc[sorted(members)]
    rows = []
    for m in table.itertuples():
        b = rng.normal(0.0, sd * np.sqrt(rho), len(pts))
        for (pid, p), bi in zip(pts.iterrows(), b):
            ev = [p[c] for c in end_columns if not np.isnan(p[c])]
            end = min(ev) if ev else np.inf
            for t in days:
                e = rng.normal(0.0, sd * np.sqrt(1 - rho))
                missing = rng.random() < p_miss
                if t >= end or (missing and t > 0):
                    continue
                y = m.log10_mean + trend * t + bi + e + (effect.get(t, 0.0) if m.effect and p["arm"] == active else 0.0)
                v = float(_sig(np.array([10**y]), 3)[0])
                rows.append((pid, t, m.marker, v if v >= m.lloq else np.nan, m.lloq))
    return pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS))


def add_biomarkers(spec, patients: pd.DataFrame, measurements: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Append the biomarker rows to ``measurements`` (a new frame).

    Model per marker ``k``, patient ``i``, sampling day ``t`` (log10 scale):
    ``y = mu_k + trend * t + b_ik + e_ikt`` with ``b ~ N(0, rho sd^2)``,
    ``e ~ N(0, (1 - rho) sd^2)`` (within-patient correlation ``rho``), plus
    ``effect[t]`` for the ``active_arm`` on the ``effect_markers`` (later
    decreases; zero elsewhere and on other markers). Draws are repeated
    (``max_draws``) until the published finding holds: Benjamini-Hochberg
    significant between-arm differences among the effect markers at the late
    days and nowhere else (:func:`finding_hits`).

    Parameters
    ----------
    spec : TargetSpec
        Uses ``spec.biomarkers``.
    patients, measurements : pandas.DataFrame
        After the extension (the end days of ``spec.end_columns`` final).
    rng : numpy.random.Generator
        The biomarkers' own stream.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    See :func:`longmod.reconstruct.build_fixture`.
    """
    bm = spec.biomarkers
    days = [int(d) for d in bm["days"]]
    active = str(bm["active_arm"])
    sizes = dict(bm["set_sizes"])
    rho, sd = float(bm.get("within_patient_correlation", 0.6)), float(bm.get("sd", 0.5))
    trend = float(bm.get("trend_per_day", -0.01))
    effect = {int(k): float(v) for k, v in dict(bm.get("effect_log10", {})).items()}
    p_miss = float(bm.get("missing_at_random", 0.03))
    table = marker_table(bm)
    for _ in range(int(bm.get("max_draws", 50))):
        new = _draw(bm, patients, table, rng, days, active, sizes, rho, sd, trend, effect, p_miss, spec.end_columns)
        hits = finding_hits(bm, new.merge(patients[["patient_id", "arm"]], on="patient_id"))
        if hits["effect_late"] >= 1 and hits["other"] == 0:
            break
    else:
        raise CalibrationError("biomarkers: no draw reproduced the published finding (late decreases only)")
    return pd.concat([measurements, new], ignore_index=True)


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted P values (R's ``p.adjust(method = "BH")``)."""
    n = len(p)
    order = np.argsort(p)
    q = np.minimum.accumulate((p[order] * n / np.arange(1, n + 1))[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


def finding_hits(bm: Mapping[str, Any], m: pd.DataFrame) -> dict[str, int]:
    """BH-significant between-arm differences: effect markers at the late days vs everything else.

    ``m`` has ``patient_id, day, variable, value, lloq, arm`` (biomarker rows
    only). Per day: rank-sum test of log10 values (LOQ/2 substituted) between
    arms for every marker, Benjamini-Hochberg across the markers.

    Examples
    --------
    >>> m = pd.DataFrame({"patient_id": list("abcd"), "day": 0, "variable": "X", "value": [1.0, 2, 3, 4],
    ...                   "lloq": 0.1, "arm": ["u", "u", "p", "p"]})
    >>> finding_hits({"active_arm": "u"}, m)
    {'effect_late': 0, 'other': 0}
    """
    from longmod.engines.ancova import rank_sum_test

    late = [int(d) for d in dict(bm.get("effect_log10", {})) if float(bm["effect_log10"][d]) != 0]
    eff = set(bm.get("effect_markers", []))
    active = str(bm["active_arm"])
    hits = {"effect_late": 0, "other": 0}
    for day, g_day in m.groupby("day"):
        names_d, ps = [], []
        for var, g in g_day.groupby("variable"):
            y = np.log10(g["value"].fillna(g["lloq"] / 2.0))
            ps.append(rank_sum_test(y[g["arm"] == active], y[g["arm"] != active]).p_value)
            names_d.append(var)
        for var, q in zip(names_d, _bh(np.array(ps))):
            if q < 0.05:
                hits["effect_late" if (var in eff and day in late) else "other"] += 1
    return hits


def biomarker_report(spec, trial) -> pd.DataFrame:
    """Checks of the biomarkers on the written data (target report columns).

    Exact: number of markers, patients in the sampled set per arm
    (``set_sizes``). Assumption checks: lowest and highest censored fraction
    across markers. Soft: the published finding, as the number of between-arm
    rank-sum tests (LOQ/2 substitution, Benjamini-Hochberg across the markers
    of each day) significant among the effect markers at the late days (at
    least one) and among all other marker-days (none). Quote keys come from
    ``[biomarkers.sources]``.

    Examples
    --------
    >>> from longmod.reconstruct.tables import read_tables
    >>> from longmod.resources import fixtures_dir
    >>> from longmod.reconstruct.targets import load_targets
    >>> folder = fixtures_dir() / "stroma_cov2"
    >>> rep = biomarker_report(load_targets(folder / "targets.toml"), read_tables(folder))
    >>> bool(rep.loc[~rep["soft"], "passed"].all())
    True
    """
    bm = spec.biomarkers
    src = dict(bm.get("sources", {}))
    names = list(bm["markers"])
    tables = as_tables(trial)
    m = tables.measurements
    m = m[m["variable"].isin(names)].merge(tables.patients[["patient_id", "arm"]], on="patient_id")
    rows = []

    def add(tid, kind, desc, arm, want, got, tol, soft, source):
        rows.append((tid, kind, desc, "cytokine_set", arm, float(want), float(got), float(tol), float(got - want),
                     bool(abs(got - want) <= tol + 1e-9), soft, source))

    add("biomarkers_n_markers", "count", "markers measured", "all", len(names), m["variable"].nunique(), 0, False,
        str(src.get("n_markers", "")))
    for arm, k in dict(bm["set_sizes"]).items():
        add(f"biomarkers_n_patients_{arm}", "count", f"patients with biomarkers, {arm}", arm, k,
            m.loc[m["arm"] == arm, "patient_id"].nunique(), 0, False, str(dict(src.get("set_sizes", {})).get(arm, "")))
    cens = m.groupby("variable")["value"].apply(lambda v: v.isna().mean())
    lo_c, hi_c = (float(v) for v in bm.get("censored_fraction_range", [0.0, 0.6]))
    add("biomarkers_min_censored_fraction", "proportion", "lowest censored fraction across markers", "all",
        lo_c, cens.min(), 0.05, False, str(src.get("censoring", "")))
    add("biomarkers_max_censored_fraction", "proportion", "highest censored fraction across markers", "all",
        hi_c, cens.max(), 0.15, False, str(src.get("censoring", "")))
    late = [int(d) for d in dict(bm.get("effect_log10", {})) if float(bm["effect_log10"][d]) != 0]
    eff = set(bm.get("effect_markers", []))
    hits = finding_hits(bm, m)
    n_late = len(eff) * len(late)
    add("biomarkers_bh_hits_effect_late", "count", f"BH-significant between-arm differences (rank sum, LOQ/2, per day): "
        f"effect markers at D{', D'.join(map(str, late))} (of {n_late})", "all", n_late, hits["effect_late"], n_late - 1,
        True, str(src.get("finding", "")))
    add("biomarkers_bh_hits_other", "count", "BH-significant between-arm differences: all other marker-days", "all",
        0, hits["other"], 0, True, str(src.get("finding", "")))
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
