"""Long-format analysis data for longitudinal models (hypothetical strategy).

Under the hypothetical strategy for death and ICU discharge, values after the
event are not imputed: they are missing, and a likelihood-based model (MMRM,
LMM) estimates the effect that would have been seen had patients stayed alive
in the ICU, assuming the missingness is at random given the observed data.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from longmod.data.trial import TrialData

#: Columns of :func:`long_analysis_data` besides the trial's covariates (which follow ``arm``).
LONG_COLUMNS: tuple[str, ...] = ("patient_id", "arm", "day", "visit", "value", "baseline", "change")


def visit_label(day: int) -> str:
    """Label of a visit day, ``"D7"`` for day 7."""
    return f"D{int(day)}"


def long_analysis_data(
    trial: TrialData,
    variable: str,
    *,
    days: Sequence[int] | None = None,
    baseline_day: int | None = None,
    population: str = "mitt",
) -> pd.DataFrame:
    """Observed post-baseline values of ``variable`` in long format, one row per patient and visit.

    Parameters
    ----------
    trial : TrialData
    variable : str
        Measured variable.
    days : sequence of int, optional
        Post-baseline days to keep (default: every scheduled day after
        ``baseline_day``). Missing visits are simply absent rows.
    baseline_day : int, optional
        Default: the trial's ``baseline_day``.
    population : {"mitt", "per_protocol"}

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``arm``, every declared covariate of the trial (so a
        model formula may use any of them), ``day``, ``visit``, ``value``,
        ``baseline``, ``change``: ``visit`` is a label (``"D7"``) whose level
        order follows ``days``; ``baseline`` is the patient's value on
        ``baseline_day``; ``change = value - baseline``. Patients without a
        baseline value are left out.

    Examples
    --------
    >>> from longmod.data import load_trial
    >>> from longmod.resources import fixtures_dir
    >>> trial = load_trial(fixtures_dir() / "stroma_cov2")
    >>> d = long_analysis_data(trial, trial.meta.primary_outcome, days=[7])
    >>> sorted(d["visit"].unique()), bool((d["change"] == d["value"] - d["baseline"]).all())
    (['D7'], True)
    >>> set(trial.meta.covariates) <= set(d.columns)
    True
    """
    pts = trial.patients
    if population == "per_protocol" and trial.meta.doses_planned is not None:
        pts = pts[pts["doses_received"] >= trial.meta.doses_planned]
    if baseline_day is None:
        baseline_day = trial.meta.baseline_day
    v = trial.variable(variable)
    v = v[v["value"].notna() & v["patient_id"].isin(pts["patient_id"])]
    base = v[v["day"] == baseline_day].set_index("patient_id")["value"].rename("baseline")
    keep = [d for d in (days if days is not None else trial.meta.schedule) if d > baseline_day]
    post = v.loc[v["day"].isin(keep), ["patient_id", "day", "value"]].join(base, on="patient_id", how="inner")
    covariates = list(trial.meta.covariates)
    post = post.merge(pts[["patient_id", "arm", *covariates]], on="patient_id")
    post["visit"] = post["day"].map(visit_label)
    post["change"] = post["value"] - post["baseline"]
    cols = ["patient_id", "arm", *covariates, *LONG_COLUMNS[2:]]
    return post[cols].sort_values(["patient_id", "day"]).reset_index(drop=True)
