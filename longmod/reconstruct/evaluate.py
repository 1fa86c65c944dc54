"""Evaluate targets on trial data through longmod's own rules.

Analysis sets are built by :func:`longmod.estimands.apply_estimand` (the
package's intercurrent-event rules) and statistics by
:mod:`longmod.reconstruct.stats` (ANCOVA and rank tests from
:mod:`longmod.engines.ancova`). This is the route that decides pass/fail and
writes CALIBRATION.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.data.trial import TrialData
from longmod.estimands.apply import apply_estimand
from longmod.reconstruct.stats import BETWEEN_ARM, STATISTICS
from longmod.reconstruct.targets import Target, TargetSpec
from longmod.spec.model import Treatment

#: Columns of the table returned by :func:`evaluate_targets`.
REPORT_COLUMNS: tuple[str, ...] = (
    "id", "kind", "description", "set", "arm", "published", "achieved", "tolerance", "deviation", "passed",
    "soft", "source",
)


def treatment_of(trial: TrialData) -> Treatment:
    """The randomised comparison of a two-arm trial (first active arm vs reference)."""
    return Treatment("arm", trial.meta.reference_arm, trial.meta.active_arms[0])


def set_frames(spec: TargetSpec, trial: TrialData) -> dict[str, pd.DataFrame]:
    """Every analysis set of ``spec`` as a DataFrame (one row per patient).

    Estimand sets are :func:`~longmod.estimands.apply_estimand` frames joined
    with the patients table's other columns; ``source`` filters observed or
    imputed rows; a set without estimand is the patients table.

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
    pts = trial.patients
    cache: dict[str, pd.DataFrame] = {}
    out = {}
    for name, s in spec.analysis_sets.items():
        est = s.get("estimand", "")
        if not est:
            out[name] = pts
            continue
        if est not in cache:
            frame = apply_estimand(trial, spec.estimands[est]).frame
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
    needed = {treatment.variable, *covariates, *(v.strip() for v in t.variable.split(",") if v.strip() in cols)}
    if t.kind == "proportion":
        ctx["where_mask"] = wm[mask]
        sub = {k: np.asarray(cols[k])[..., mask] for k in needed}
    else:
        keep = mask & wm
        sub = {k: np.asarray(cols[k])[..., keep] for k in needed}
    out = STATISTICS[t.kind](sub, t, ctx)
    return np.asarray(out, float) if np.ndim(out) else float(out)


def evaluate_targets(spec: TargetSpec, trial: TrialData) -> pd.DataFrame:
    """Evaluate every target of ``spec`` on ``trial`` with longmod's own rules.

    Parameters
    ----------
    spec : TargetSpec
    trial : TrialData

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
