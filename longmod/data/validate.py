"""Validation that collects every problem in the input before failing.

Each problem names where it is (file, line or row, column) and what would be
valid. :func:`validate_tables` never modifies its inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from longmod.data.meta import TrialMeta

#: Columns every measurements table has; ``lloq`` is optional.
MEASUREMENT_COLUMNS: tuple[str, ...] = ("patient_id", "day", "variable", "value", "lloq")
#: Columns every patients table has; the trial's covariates, event columns and ``doses_received``
#: (with ``doses_planned``) are required too (see :attr:`TrialMeta.patient_columns`).
PATIENT_COLUMNS: tuple[str, ...] = ("patient_id", "arm")
#: At most this many problems of one cause (file, column, kind of problem) are listed; then "and N more".
PROBLEMS_PER_CAUSE: int = 10


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
        is_file = self.where.endswith((".csv", ".parquet", ".toml"))
        if self.row is not None:
            loc += f", {'line' if is_file else 'row'} {self.row}"
        if self.column is not None:
            loc += f", {'key' if self.where.endswith('.toml') else 'column'} '{self.column}'"
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

    Checks: required columns (``patient_id``, ``arm``, every declared
    covariate and event column, ``doses_received`` when ``doses_planned`` is
    declared); unique patient ids; known arm labels; covariate values of
    their declared type (0/1, one of the levels, a number; stratification and
    matching covariates may not be missing); event days empty or >= 0; dose
    counts; duplicate patient x day x variable rows; unknown patient ids;
    unknown variables; days outside the schedule; values and LLOQs that are
    not numbers; values outside each variable's plausible range (with a hint,
    e.g. FiO2 given as a percentage); measurements after death; a missing
    baseline for variables that require one. At most
    :data:`PROBLEMS_PER_CAUSE` problems of one cause are listed, then a
    count of the others.

    Parameters
    ----------
    patients, measurements : pandas.DataFrame
        Tables with canonical column names. Not modified.
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
    >>> from longmod.data.meta import TrialMeta, VariableInfo
    >>> meta = TrialMeta(name="t", arms=("a", "b"), reference_arm="b", schedule=(0, 7),
    ...                  variables={"pf": VariableInfo("pf", min=20, max=700)})
    >>> pts = pd.DataFrame({"patient_id": ["p1"], "arm": ["c"]})
    >>> ms = pd.DataFrame({"patient_id": ["p1", "p2"], "day": [0, 7], "variable": ["pf", "pf"],
    ...                    "value": [150.0, 900.0], "lloq": [None, None]})
    >>> for p in validate_tables(pts, ms, meta): print(p)
    patients, row 0, column 'arm': unknown arm 'c'; valid arms: a, b
    measurements, row 1, column 'patient_id': patient 'p2' is not in the patients table
    measurements, row 1, column 'value': pf = 900 is outside the plausible range 20 to 700
    """
    out = _Collector()
    pw, mw = patients_where, measurements_where
    for p in _required(patients, meta.patient_columns, pw) + _required(
            measurements, [c for c in MEASUREMENT_COLUMNS if c != "lloq"], mw):
        out.problems.append(p)
    if out.problems:
        return out.problems
    lab = lambda f, i: _row_label(f, i, files)  # noqa: E731

    # --- patients -----------------------------------------------------------
    pid = patients["patient_id"].astype(str)
    for i in patients.index[pid.duplicated(keep="first")]:
        out.add(pw, lab(patients, i), "patient_id", f"duplicate patient id {pid[i]!r}; ids must be unique")
    for i, arm in patients["arm"].items():
        if str(arm) not in meta.arms:
            out.add(pw, lab(patients, i), "arm", f"unknown arm {_show(arm)}; valid arms: {', '.join(meta.arms)}")
    for name, cov in meta.covariates.items():
        col = patients[name]
        required = cov.role in ("stratification", "matching")
        for i, v in col.items():
            if pd.isna(v):
                if required:
                    out.add(pw, lab(patients, i), name, f"{cov.role} covariate is missing; every patient needs a value")
                continue
            if cov.type == "binary" and _number(v) not in (0.0, 1.0):
                out.add(pw, lab(patients, i), name, f"binary covariate must be 0 or 1, got {_show(v)}")
            elif cov.type == "numeric" and _number(v) is None:
                out.add(pw, lab(patients, i), name, f"numeric covariate must be a number, got {_show(v)}")
            elif cov.type == "categorical" and cov.levels and level_text(v) not in {level_text(x) for x in cov.levels}:
                out.add(pw, lab(patients, i), name, f"unknown level {_show(v)}; valid levels: "
                                                     f"{', '.join(level_text(x) for x in cov.levels)}")
    for col in meta.event_columns:
        vals = pd.to_numeric(patients[col], errors="coerce")
        for i in patients.index[(vals < 0) | (patients[col].notna() & vals.isna())]:
            out.add(pw, lab(patients, i), col, f"must be empty or a day >= 0, got {_show(patients.at[i, col])}")
    if meta.doses_planned is not None:
        doses = pd.to_numeric(patients["doses_received"], errors="coerce")
        cap = meta.doses_planned
        for i, v in doses.items():
            if pd.isna(v) or v < 0 or v != int(v) or v > cap:
                out.add(pw, lab(patients, i), "doses_received",
                        f"must be an integer 0 to {cap}, got {_show(patients.at[i, 'doses_received'])}")

    # --- measurements -------------------------------------------------------
    m = measurements
    mpid = m["patient_id"].astype(str)
    known = set(pid)
    for i in m.index[~mpid.isin(known)]:
        out.add(mw, lab(m, i), "patient_id", f"patient {mpid[i]!r} is not in the patients table")
    key = pd.DataFrame({"p": mpid, "d": m["day"].astype(str), "v": m["variable"].astype(str)})
    for i in m.index[key.duplicated(keep="first")]:
        out.add(mw, lab(m, i), "day", f"duplicate row for patient {mpid[i]!r}, day {m.at[i, 'day']}, variable "
                                      f"{m.at[i, 'variable']!r}; keep one value per patient, day and variable")
    day = pd.to_numeric(m["day"], errors="coerce")
    sched = set(meta.schedule)
    for i, d in day.items():
        if pd.isna(d) or d not in sched:
            out.add(mw, lab(m, i), "day", f"day {m.at[i, 'day']} is not in the schedule; valid days: "
                                          f"{', '.join(map(str, meta.schedule))}")
    if meta.variables:
        for i, v in m["variable"].items():
            if v not in meta.variables:
                out.add(mw, lab(m, i), "variable", f"unknown variable {_show(v)}; valid variables: {', '.join(meta.variables)}")
    value = pd.to_numeric(m["value"], errors="coerce")
    for i in m.index[m["value"].notna() & value.isna()]:
        out.add(mw, lab(m, i), "value", f"not a number: {_show(m.at[i, 'value'])}")
    if "lloq" in m.columns:
        lloq = pd.to_numeric(m["lloq"], errors="coerce")
        for i in m.index[m["lloq"].notna() & lloq.isna()]:
            out.add(mw, lab(m, i), "lloq", f"not a number: {_show(m.at[i, 'lloq'])}; give the limit as a number "
                                           "(e.g. 0.03), or leave it empty")
    for name, info in meta.variables.items():
        sel = (m["variable"] == name) & value.notna()
        lo = -np.inf if info.min is None else info.min
        hi = np.inf if info.max is None else info.max
        for i in m.index[sel & ((value < lo) | (value > hi))]:
            rng = f"{'-inf' if info.min is None else f'{info.min:g}'} to {'inf' if info.max is None else f'{info.max:g}'}"
            msg = f"{name} = {value[i]:g} is outside the plausible range {rng}"
            if info.hint:
                msg += f" ({info.hint})"
            out.add(mw, lab(m, i), "value", msg)
    deaths = [e.column for e in meta.events_of_kind("death")]
    if deaths:
        death = pd.concat([pd.to_numeric(patients[c], errors="coerce") for c in deaths], axis=1).min(axis=1)
        death = death.where(death >= 0)  # an invalid day is reported once, above
        death_of = dict(zip(pid, death))
        after = day > mpid.map(death_of)
        for i in m.index[after.fillna(False).astype(bool)]:
            out.add(mw, lab(m, i), "day", f"measurement on day {day[i]:g} after patient {mpid[i]!r} died on day "
                                          f"{death_of[mpid[i]]:g}; remove it or correct the death day")
    for name, info in meta.variables.items():
        if not info.baseline_required:
            continue
        has_base = set(mpid[(m["variable"] == name) & (day == meta.baseline_day) & value.notna()])
        for i, p in pid.items():
            if p not in has_base:
                out.add(pw, lab(patients, i), "patient_id", f"patient {p!r} has no baseline (day {meta.baseline_day}) "
                                                            f"{name} value; a baseline is required")
    return out.finish()


def _number(v) -> float | None:
    """A cell as a float (``"1"``, ``1``, ``1.0``, ``True`` -> 1.0), or None when it is not a number."""
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def level_text(v) -> str:
    """The text of a categorical value: ``1``, ``1.0`` and ``"1"`` are all ``"1"``.

    Examples
    --------
    >>> level_text(1.0), level_text("north"), level_text(2)
    ('1', 'north', '2')
    """
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class _Collector:
    """Problems in order of discovery, at most :data:`PROBLEMS_PER_CAUSE` per cause, then a count."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self._count: dict[tuple, int] = {}
        self._first: dict[tuple, Problem] = {}

    def add(self, where: str, row, column: str | None, message: str) -> None:
        cause = (where, column, _cause(message))
        n = self._count.get(cause, 0) + 1
        self._count[cause] = n
        if n <= PROBLEMS_PER_CAUSE:
            self.problems.append(Problem(where, row, column, message))
            self._first.setdefault(cause, self.problems[-1])

    def finish(self) -> list[Problem]:
        out = list(self.problems)
        for cause, n in self._count.items():
            if n > PROBLEMS_PER_CAUSE:
                first = self._first[cause]
                out.append(Problem(first.where, None, first.column,
                                   f"and {n - PROBLEMS_PER_CAUSE} more problem(s) like the one at "
                                   f"{'line' if first.where.endswith(('.csv', '.parquet')) else 'row'} {first.row}"))
        return out


def _cause(message: str) -> str:
    """The kind of a problem: its message with quoted values and numbers removed."""
    return re.sub(r"'[^']*'|-?\d+(\.\d+)?(e-?\d+)?", "#", message)
