"""Evaluate targets on trial data through longmod's own rules.

Analysis sets that apply an estimand are built by
:func:`longmod.estimands.apply_estimand` (the package's intercurrent-event
rules); sets declared by ``variable`` and ``day`` read the observed values
straight from the measurements; statistics come from
:mod:`longmod.reconstruct.stats` (ANCOVA and rank tests from
:mod:`longmod.engines.ancova`, between-arm tests from
:mod:`longmod.reconstruct.between`). This is the route that decides pass/fail
and writes CALIBRATION.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.reconstruct.stats import BETWEEN_ARM, INDICATOR_KINDS, OPTION_COLUMNS, STATISTICS
from longmod.reconstruct.tables import Tables, as_tables
from longmod.reconstruct.targets import Target, TargetSpec
from longmod.spec.model import Treatment

#: Columns of the table returned by :func:`evaluate_targets`.
REPORT_COLUMNS: tuple[str, ...] = (
    "id", "kind", "description", "set", "arm", "published", "achieved", "tolerance", "deviation", "passed",
    "soft", "source",
)


def treatment_of(data) -> Treatment:
    """The randomised comparison of a two-arm trial (first active arm vs reference).

    ``data`` is a :class:`~longmod.reconstruct.tables.Tables` or a TrialData.
    """
    t = as_tables(data)
    return Treatment("arm", t.reference_arm, t.active_arms[0])


def observed_frame(tables: Tables, variable: str, day: int, baseline_day: int = 0) -> pd.DataFrame:
    """Observed ``variable`` on ``day`` per patient, with its baseline and change (no imputation).

    One row per patient with a value on ``day``: ``patient_id``, ``baseline``
    (value on ``baseline_day``, NaN if not measured), ``value``, ``change``,
    ``source = "observed"``, ``event = "none"``, ``last_observed_day = day``,
    then the patients table's columns.

    Examples
    --------
    >>> import pandas as pd
    >>> pts = pd.DataFrame({"patient_id": ["a", "b"], "arm": ["x", "y"]})
    >>> ms = pd.DataFrame({"patient_id": ["a", "a", "b"], "day": [0, 7, 0], "variable": "v", "value": [1.0, 3.0, 2.0]})
    >>> doc = {"trial": {"arms": ["x", "y"], "reference_arm": "y"}}
    >>> observed_frame(Tables(pts, ms, doc), "v", 7)[["patient_id", "baseline", "change"]].values.tolist()
    [['a', 1.0, 2.0]]
    """
    m = tables.measurements
    m = m[m["variable"] == variable]
    base = m[m["day"] == baseline_day].set_index("patient_id")["value"]
    val = m[(m["day"] == day) & m["value"].notna()].set_index("patient_id")["value"]
    pts = tables.patients
    pts = pts[pts["patient_id"].isin(val.index)]
    f = pd.DataFrame({"patient_id": pts["patient_id"].to_numpy()})
    f["baseline"] = base.reindex(f["patient_id"]).to_numpy(float)
    f["value"] = val.reindex(f["patient_id"]).to_numpy(float)
    f["change"] = f["value"] - f["baseline"]
    f["source"], f["event"], f["last_observed_day"] = "observed", "none", int(day)
    return f.merge(pts, on="patient_id", how="left")


def set_frames(spec: TargetSpec, data) -> dict[str, pd.DataFrame]:
    """Every analysis set of ``spec`` as a DataFrame (one row per patient).

    Estimand sets are :func:`~longmod.estimands.apply_estimand` frames joined
    with the patients table's other columns; sets with ``variable`` and
    ``day`` are :func:`observed_frame`; ``source`` filters observed or
    imputed rows; a set with neither is the patients table. ``data`` is a
    :class:`~longmod.reconstruct.tables.Tables` or a TrialData.

    Examples
    --------
    >>> from longmod.resources import fixtures_dir
    >>> from longmod.data import load_trial
    >>> from longmod.reconstruct.targets import load_targets
    >>> folder = fixtures_dir() / "stroma_cov2"
    >>> frames = set_frames(load_targets(folder / "targets.toml"), load_trial(folder))
    >>> len(frames["alive_in_icu_d0_d7"]), len(frames["mitt_post_imputation"])
    (35, 45)
    """
    tables = as_tables(data)
    pts = tables.patients
    cache: dict[str, pd.DataFrame] = {}
    out = {}
    for name, s in spec.analysis_sets.items():
        est = s.get("estimand", "")
        if "variable" in s:
            f = observed_frame(tables, str(s["variable"]), int(s["day"]), int(s.get("baseline_day", spec.baseline_day)))
            out[name] = f.reset_index(drop=True)
            continue
        if not est:
            out[name] = pts
            continue
        if est not in cache:
            from longmod.estimands.apply import apply_estimand

            frame = apply_estimand(tables.trial_data(), spec.estimands[est]).frame
            extra = [c for c in pts.columns if c not in frame.columns]
            cache[est] = frame.merge(pts[["patient_id", *extra]], on="patient_id", how="left")
        f = cache[est]
        if s.get("source", ""):
            f = f[f["source"] == s["source"]]
        out[name] = f.reset_index(drop=True)
    return out


def target_value(
    t: Target, cols: Mapping[str, np.ndarray], *, treatment: Treatment, set_def: Mapping[str, Any],
    where_mask: np.ndarray | None = None, fast: bool = False, cache: dict | None = None,
) -> float | np.ndarray:
    """Value of one target on the columns of its whole analysis set.

    Parameters
    ----------
    t : Target
    cols : mapping of str to numpy.ndarray
        Columns of the analysis set (both arms). Calibrated columns may carry
        a leading batch axis (one row per candidate anchor vector); the
        result then has that shape.
    treatment : Treatment
    set_def : mapping
        The set's definition (``covariates`` for ANCOVA).
    where_mask : numpy.ndarray of bool, optional
        The target's ``where`` filter evaluated on the set.
    fast : bool
        NumPy ANCOVA instead of :func:`~longmod.engines.ancova.fit_ancova`.
    cache : dict, optional
        Shared between targets of one evaluation (one ANCOVA fit per set).

    Returns
    -------
    float or numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from longmod.reconstruct.targets import Target
    >>> t = Target("m", "mean", "s", "a", "value", 2.0, 0.1)
    >>> cols = {"arm": np.array(["a", "a", "b"]), "value": np.array([1.0, 3.0, 9.0])}
    >>> target_value(t, cols, treatment=Treatment("arm", "b", "a"), set_def={})
    2.0
    """
    arm = np.asarray(cols[treatment.variable]).astype(str)
    n = len(arm)
    mask = np.ones(n, bool) if t.kind in BETWEEN_ARM or t.arm == "all" else (arm == t.arm)
    wm = np.ones(n, bool) if where_mask is None else np.asarray(where_mask, bool)
    covariates = tuple(set_def.get("covariates", ()))
    ctx = {"treatment": treatment, "covariates": covariates, "fast": fast,
           "cache": cache if cache is not None else {}}
    needed = {treatment.variable, *covariates, *(v.strip() for v in t.variable.split(",") if v.strip() in cols),
              *(str(v) for k, v in t.options.items() if k in OPTION_COLUMNS and str(v) in cols)}
    if t.kind in INDICATOR_KINDS:
        ctx["where_mask"] = wm[mask]
        sub = {k: np.asarray(cols[k])[..., mask] for k in needed}
    else:
        keep = mask & wm
        sub = {k: np.asarray(cols[k])[..., keep] for k in needed}
    out = STATISTICS[t.kind](sub, t, ctx)
    return np.asarray(out, float) if np.ndim(out) else float(out)


def evaluate_targets(spec: TargetSpec, trial) -> pd.DataFrame:
    """Evaluate every target of ``spec`` on ``trial`` with longmod's own rules.

    Parameters
    ----------
    spec : TargetSpec
    trial : Tables or TrialData

    Returns
    -------
    pandas.DataFrame
        :data:`REPORT_COLUMNS`: ``published`` value, ``achieved`` value,
        ``tolerance``, ``deviation`` (achieved - published), ``passed``
        (``|deviation| <= tolerance``), ``soft`` and the ``source`` quote key.

    Examples
    --------
    >>> from longmod.resources import fixtures_dir
    >>> from longmod.data import load_trial
    >>> from longmod.reconstruct.targets import load_targets
    >>> folder = fixtures_dir() / "stroma_cov2"
    >>> rep = evaluate_targets(load_targets(folder / "targets.toml"), load_trial(folder))
    >>> bool(rep.loc[~rep["soft"], "passed"].all())
    True
    """
    frames = set_frames(spec, trial)
    tr = treatment_of(trial)
    caches: dict[str, dict] = {}
    rows = []
    for t in spec.targets:
        frame = frames[t.set]
        wm = frame.eval(t.where).to_numpy(bool) if t.where else None
        cols = {c: frame[c].to_numpy() for c in frame.columns}
        val = target_value(t, cols, treatment=tr, set_def=spec.analysis_sets[t.set], where_mask=wm,
                           cache=caches.setdefault(t.set, {}))
        dev = val - t.value
        rows.append((t.id, t.kind, t.describe(), t.set, t.arm, t.value, val, t.tolerance, dev,
                     bool(abs(dev) <= t.tolerance + 1e-9), t.soft, t.source))
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
