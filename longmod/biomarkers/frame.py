"""The generic biomarker frame and the adapter from :class:`~longmod.data.TrialData`.

Every analysis in :mod:`longmod.biomarkers` consumes one long DataFrame with
the columns of :data:`FRAME_COLUMNS`:

========== ===============================================================
patient_id str
arm        str (the trial's arm labels; ``"active"``/``"control"`` in simulated frames)
day        int
marker     str
value      float, RAW concentration scale; NaN when censored
lloq       float, RAW scale, the sample's lower limit of quantification
censored   bool, True when the sample is below the LLOQ
========== ===============================================================

Missing samples (no measurement at all) are simply absent rows. Analyses take
log10 themselves (:func:`log10_frame`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from longmod.biomarkers.simulate import FRAME_COLUMNS


class BiomarkerFrameError(ValueError):
    """The biomarker frame is not usable (message lists every problem).

    Examples
    --------
    >>> import pandas as pd
    >>> try:
    ...     check_frame(pd.DataFrame({"patient_id": ["p1"]}))
    ... except BiomarkerFrameError as exc:
    ...     print(type(exc).__name__, isinstance(exc, ValueError))
    BiomarkerFrameError True
    """


def check_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate a biomarker frame and return a clean, typed copy.

    Raises
    ------
    BiomarkerFrameError
        Missing columns, non-positive values or LLOQs, a censored row without
        LLOQ, or duplicate (patient, day, marker) rows.

    Examples
    --------
    >>> import pandas as pd
    >>> bad = pd.DataFrame({"patient_id": ["a"], "arm": ["x"], "day": [0], "marker": ["m"],
    ...                     "value": [-1.0], "lloq": [0.5], "censored": [False]})
    >>> check_frame(bad)
    Traceback (most recent call last):
    ...
    longmod.biomarkers.frame.BiomarkerFrameError: 1 row(s) with an observed value <= 0 (log10 needs positive values)
    """
    missing = [c for c in FRAME_COLUMNS if c not in frame.columns]
    if missing:
        raise BiomarkerFrameError(f"biomarker frame lacks column(s) {', '.join(missing)}; needs {', '.join(FRAME_COLUMNS)}")
    out = frame[list(FRAME_COLUMNS)].copy()
    out["patient_id"] = out["patient_id"].astype(str)
    out["arm"] = out["arm"].astype(str)
    out["marker"] = out["marker"].astype(str)
    out["day"] = out["day"].astype(int)
    out["value"] = pd.to_numeric(out["value"]).astype(float)
    out["lloq"] = pd.to_numeric(out["lloq"]).astype(float)
    out["censored"] = out["censored"].astype(bool)
    problems = []
    obs = ~out["censored"]
    n = int((obs & out["value"].isna()).sum())
    if n:
        problems.append(f"{n} uncensored row(s) without a value")
    n = int((obs & (out["value"] <= 0)).sum())
    if n:
        problems.append(f"{n} row(s) with an observed value <= 0 (log10 needs positive values)")
    n = int((out["censored"] & ~(out["lloq"] > 0)).sum())
    if n:
        problems.append(f"{n} censored row(s) without a positive lloq")
    n = int(out.duplicated(["patient_id", "day", "marker"]).sum())
    if n:
        problems.append(f"{n} duplicate (patient_id, day, marker) row(s)")
    if problems:
        raise BiomarkerFrameError("; ".join(problems))
    out.loc[out["censored"], "value"] = np.nan
    return out.sort_values(["marker", "patient_id", "day"], kind="stable").reset_index(drop=True)


def biomarker_frame(trial, markers: Sequence[str] | None = None) -> pd.DataFrame:
    """Convert a trial's measurements into the generic biomarker frame.

    Parameters
    ----------
    trial : TrialData
        ``measurements`` (``patient_id, day, variable, value, lloq`` and an
        optional boolean ``censored``) and ``patients`` (``patient_id, arm``).
    markers : sequence of str, optional
        Variables to keep. Default: every variable with an LLOQ on at least
        one row (biomarkers carry LLOQs; clinical variables do not).

    Returns
    -------
    pandas.DataFrame
        :data:`FRAME_COLUMNS`, sorted by marker, patient, day. Both censoring
        conventions are understood, row by row: a sample is censored when

        * ``value`` is empty and ``lloq`` is set (empty value *and* empty
          LLOQ = sample missing, row dropped), or
        * a ``censored`` column is true (its ``value``, usually the LLOQ, is
          discarded), or
        * ``value`` is below ``lloq`` (a substituted value such as LLOQ/2
          written by the data provider).

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers, to_trial
    >>> sim = simulate_biomarkers(2, censor_fractions=[0.0, 0.5], seed=3)
    >>> a = biomarker_frame(to_trial(sim, "nan")); b = biomarker_frame(to_trial(sim, "flag"))
    >>> a.equals(b), int(a.censored.sum()) == int(sim.censored.sum())
    (True, True)
    """
    m = trial.measurements
    pts = trial.patients[["patient_id", "arm"]]
    if markers is None:
        markers = list(pd.unique(m.loc[m["lloq"].notna(), "variable"]))
    else:
        unknown = sorted(set(markers) - set(m["variable"]))
        if unknown:
            raise KeyError(f"marker(s) {', '.join(unknown)} not measured; measured: {', '.join(sorted(m.variable.unique()))}")
    m = m[m["variable"].isin(list(markers))].copy()
    value = pd.to_numeric(m["value"], errors="coerce").astype(float)
    lloq = pd.to_numeric(m["lloq"], errors="coerce").astype(float)
    if "censored" in m.columns:
        flag = m["censored"].map(lambda v: str(v).strip().lower() in {"true", "1", "1.0", "yes"}).astype(bool)
    else:
        flag = pd.Series(False, index=m.index)
    cens = flag | (value.isna() & lloq.notna()) | (value < lloq).fillna(False)
    keep = cens | value.notna()
    out = pd.DataFrame({
        "patient_id": m["patient_id"].astype(str), "day": m["day"].astype(int), "marker": m["variable"].astype(str),
        "value": value.where(~cens), "lloq": lloq, "censored": cens,
    })[keep]
    out = out.merge(pts.assign(patient_id=pts["patient_id"].astype(str)), on="patient_id", how="left", validate="m:1")
    return check_frame(out[list(FRAME_COLUMNS)])


def log10_frame(frame: pd.DataFrame, substitute: str = "loq/2") -> pd.DataFrame:
    """Add log10 columns: ``y`` (analysis value), ``limit`` (log10 LLOQ).

    Parameters
    ----------
    frame : pandas.DataFrame
        A biomarker frame (:data:`FRAME_COLUMNS`); not modified.
    substitute : {"loq/2", "loq", "none"}
        Value of ``y`` for censored rows: log10(LLOQ/2) (the paper's rule),
        log10(LLOQ) (for censored likelihoods, where it is the censoring
        bound) or NaN.

    Returns
    -------
    pandas.DataFrame
        The validated frame plus ``y`` and ``limit`` (float, log10 scale).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"patient_id": ["a", "b"], "arm": ["x", "x"], "day": [0, 0], "marker": ["m", "m"],
    ...                   "value": [100.0, None], "lloq": [10.0, 10.0], "censored": [False, True]})
    >>> log10_frame(f)["y"].round(3).tolist()
    [2.0, 0.699]
    """
    if substitute not in ("loq/2", "loq", "none"):
        raise ValueError(f"substitute must be 'loq/2', 'loq' or 'none', got {substitute!r}")
    out = check_frame(frame)
    out["limit"] = np.log10(out["lloq"].where(out["lloq"] > 0))
    fill = {"loq/2": out["limit"] - np.log10(2.0), "loq": out["limit"], "none": np.nan}[substitute]
    out["y"] = np.where(out["censored"], fill, np.log10(out["value"].where(out["value"] > 0)))
    return out
