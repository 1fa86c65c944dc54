"""Validation that collects every problem in the input before failing.

Each problem names where it is (file, line or row, column) and what would be
valid. :func:`validate_tables` never modifies its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from longmod.data.trial import MEASUREMENT_COLUMNS, PATIENT_COLUMNS, TrialMeta


@dataclass(frozen=True)
class Problem:
    """One validation problem: ``where`` (file/table), ``row``, ``column``, ``message``.

    ``row`` is the line number in a CSV file (the header is line 1) or the row
    label of a DataFrame; ``None`` for problems about a whole table.
    """

    where: str
    row: int | str | None
    column: str | None
    message: str

    def __str__(self) -> str:
        loc = self.where
        if self.row is not None:
            loc += f", {'line' if self.where.endswith(('.csv', '.parquet')) else 'row'} {self.row}"
        if self.column is not None:
            loc += f", column '{self.column}'"
        return f"{loc}: {self.message}"


class TrialDataError(ValueError):
    """Raised with every problem found in the trial data, one per line."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        head = f"{len(self.problems)} problem(s) in the trial data:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


def _show(v) -> str:
    """repr of a cell value without NumPy's type wrapper (``4`` rather than ``np.int64(4)``)."""
    return repr(v.item() if hasattr(v, "item") else v)


def _row_label(frame: pd.DataFrame, idx, is_file: bool):
    # For a file the row label is the 0-based data-row position; the line is +2 (header = line 1).
    return int(idx) + 2 if is_file else idx


def _required(frame: pd.DataFrame, cols, where: str) -> list[Problem]:
    missing = [c for c in cols if c not in frame.columns]
    if not missing:
        return []
    return [
        Problem(where, None, c, f"required column is missing; columns present: {', '.join(map(str, frame.columns))}")
        for c in missing
    ]


def validate_tables(
    patients: pd.DataFrame,
    measurements: pd.DataFrame,
    meta: TrialMeta,
    *,
    patients_where: str = "patients",
    measurements_where: str = "measurements",
    files: bool = False,
) -> list[Problem]:
    """Check a patients and a measurements table against the trial metadata.

    Checks: required columns; unique patient ids; known arm labels; 0/1
    stratification flags; non-negative event days and dose counts; duplicate
    patient × day × variable rows; unknown patient ids; unknown variables;
    days outside the schedule; values outside each variable's plausible range
    (with a hint, e.g. FiO2 given as a percentage); measurements after death;
    missing baseline (day 0) for variables that require one.

    Parameters
    ----------
    patients, measurements : pandas.DataFrame
        Tables with canonical column names (:data:`PATIENT_COLUMNS`,
        :data:`MEASUREMENT_COLUMNS`). Not modified.
    meta : TrialMeta
    patients_where, measurements_where : str
        Names used in messages (file paths when loading from a folder).
    files : bool
        If True, rows are reported as CSV line numbers (header = line 1).

    Returns
    -------
    list of Problem
        Empty when the data are valid.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.data.trial import TrialMeta, VariableInfo
    >>> meta = TrialMeta(name="t", arms=("a", "b"), reference_arm="b", schedule=(0, 7),
    ...                  variables={"pf": VariableInfo("pf", min=20, max=700)})
    >>> pts = pd.DataFrame({"patient_id": ["p1"], "arm": ["c"], "age_gt70": [0], "sofa_gt11": [0],
    ...                     "death_day": [None], "icu_discharge_day": [None], "doses_received": [3]})
    >>> ms = pd.DataFrame({"patient_id": ["p1", "p2"], "day": [0, 7], "variable": ["pf", "pf"],
    ...                    "value": [150.0, 900.0], "lloq": [None, None]})
    >>> for p in validate_tables(pts, ms, meta): print(p)
    patients, row 0, column 'arm': unknown arm 'c'; valid arms: a, b
    measurements, row 1, column 'patient_id': patient 'p2' is not in the patients table
    measurements, row 1, column 'value': pf = 900 is outside the plausible range 20 to 700
    """
    problems: list[Problem] = []
    pw, mw = patients_where, measurements_where
    problems += _required(patients, PATIENT_COLUMNS, pw)
    problems += _required(measurements, [c for c in MEASUREMENT_COLUMNS if c != "lloq"], mw)
    if problems:
        return problems
    lab = lambda f, i: _row_label(f, i, files)  # noqa: E731

    # --- patients -----------------------------------------------------------
    pid = patients["patient_id"].astype(str)
    for i in patients.index[pid.duplicated(keep="first")]:
        problems.append(Problem(pw, lab(patients, i), "patient_id", f"duplicate patient id {pid[i]!r}; ids must be unique"))
    for i, arm in patients["arm"].items():
        if str(arm) not in meta.arms:
            problems.append(Problem(pw, lab(patients, i), "arm", f"unknown arm {_show(arm)}; valid arms: {', '.join(meta.arms)}"))
    for col in ("age_gt70", "sofa_gt11"):
        for i, v in patients[col].items():
            if pd.isna(v) or v not in (0, 1, True, False):
                problems.append(Problem(pw, lab(patients, i), col, f"stratification flag must be 0 or 1, got {_show(v)}"))
    for col in ("death_day", "icu_discharge_day"):
        vals = pd.to_numeric(patients[col], errors="coerce")
        for i in patients.index[(vals < 0) | (patients[col].notna() & vals.isna())]:
            problems.append(Problem(pw, lab(patients, i), col, f"must be empty or a day >= 0, got {_show(patients.at[i, col])}"))
    doses = pd.to_numeric(patients["doses_received"], errors="coerce")
    cap = meta.doses_planned
    for i, v in doses.items():
        if pd.isna(v) or v < 0 or v != int(v) or (cap is not None and v > cap):
            rng = f"an integer 0 to {cap}" if cap is not None else "an integer >= 0"
            problems.append(Problem(pw, lab(patients, i), "doses_received", f"must be {rng}, got {_show(patients.at[i, 'doses_received'])}"))

    # --- measurements -------------------------------------------------------
    m = measurements
    mpid = m["patient_id"].astype(str)
    known = set(pid)
    for i in m.index[~mpid.isin(known)]:
        problems.append(Problem(mw, lab(m, i), "patient_id", f"patient {mpid[i]!r} is not in the patients table"))
    key = pd.DataFrame({"p": mpid, "d": m["day"].astype(str), "v": m["variable"].astype(str)})
    for i in m.index[key.duplicated(keep="first")]:
        problems.append(
            Problem(mw, lab(m, i), "day", f"duplicate row for patient {mpid[i]!r}, day {m.at[i, 'day']}, variable {m.at[i, 'variable']!r}; keep one value per patient, day and variable")
        )
    day = pd.to_numeric(m["day"], errors="coerce")
    sched = set(meta.schedule)
    for i, d in day.items():
        if pd.isna(d) or d not in sched:
            problems.append(Problem(mw, lab(m, i), "day", f"day {m.at[i, 'day']} is not in the schedule; valid days: {', '.join(map(str, meta.schedule))}"))
    if meta.variables:
        for i, v in m["variable"].items():
            if v not in meta.variables:
                problems.append(Problem(mw, lab(m, i), "variable", f"unknown variable {_show(v)}; valid variables: {', '.join(meta.variables)}"))
    value = pd.to_numeric(m["value"], errors="coerce")
    for i in m.index[m["value"].notna() & value.isna()]:
        problems.append(Problem(mw, lab(m, i), "value", f"not a number: {_show(m.at[i, 'value'])}"))
    for name, info in meta.variables.items():
        sel = (m["variable"] == name) & value.notna()
        lo = -np.inf if info.min is None else info.min
        hi = np.inf if info.max is None else info.max
        for i in m.index[sel & ((value < lo) | (value > hi))]:
            msg = f"{name} = {value[i]:g} is outside the plausible range {info.min:g} to {info.max:g}"
            if info.hint:
                msg += f" ({info.hint})"
            problems.append(Problem(mw, lab(m, i), "value", msg))
    death = pd.to_numeric(patients["death_day"], errors="coerce")
    death_of = dict(zip(pid, death))
    after = day > mpid.map(death_of)
    for i in m.index[after.fillna(False)]:
        problems.append(
            Problem(mw, lab(m, i), "day", f"measurement on day {day[i]:g} after patient {mpid[i]!r} died on day {death_of[mpid[i]]:g}; remove it or correct death_day")
        )
    for name, info in meta.variables.items():
        if not info.baseline_required:
            continue
        has_base = set(mpid[(m["variable"] == name) & (day == 0) & value.notna()])
        for i, p in pid.items():
            if p not in has_base:
                problems.append(Problem(pw, lab(patients, i), "patient_id", f"patient {p!r} has no baseline (day 0) {name} value; a baseline is required"))
    return problems
