"""Validated time-to-event input shared by the survival engines.

Every survival function takes a patient-level DataFrame (one row per patient)
and the names of its columns; :func:`survival_data` checks them once and gives
arrays. Nothing here names a trial: the arms, the event coding and the strata
come from the caller (the trial's ``trial.toml`` and plan).

Event coding: ``0`` = censored, ``1`` = the event of interest, and for
competing risks ``2, 3, ...`` = competing events (e.g. death before oxygen
discontinuation). Functions that do not model competing events reject codes
above 1 rather than silently censoring them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


class SurvivalInputError(ValueError):
    """The time-to-event data do not have the declared form."""


@dataclass(frozen=True)
class SurvivalData:
    """Arrays of a validated time-to-event data set (one entry per patient).

    Attributes
    ----------
    time : numpy.ndarray
        Follow-up time (event or censoring), float, >= 0.
    event : numpy.ndarray
        Integer event code (0 censored, 1 event, >= 2 competing events).
    arm : numpy.ndarray
        Arm label per patient (str).
    active : numpy.ndarray
        1.0 for the active arm, 0.0 for the reference arm.
    strata : numpy.ndarray or None
        Stratum label per patient (str), or None.
    arms : tuple of str
        ``(reference, active)``.
    ids : numpy.ndarray or None
        Patient ids when an id column was given.
    """

    time: np.ndarray
    event: np.ndarray
    arm: np.ndarray
    active: np.ndarray
    strata: np.ndarray | None
    arms: tuple[str, str]
    ids: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of patients."""
        return int(self.time.size)

    @property
    def contrast(self) -> str:
        """Contrast label in the common schema, ``"active - reference"``."""
        return f"{self.arms[1]} - {self.arms[0]}"

    def subset(self, mask: np.ndarray) -> "SurvivalData":
        """The patients where ``mask`` is True."""
        return SurvivalData(self.time[mask], self.event[mask], self.arm[mask], self.active[mask],
                            None if self.strata is None else self.strata[mask], self.arms,
                            None if self.ids is None else self.ids[mask])


def _column(data: pd.DataFrame, name: str, what: str) -> pd.Series:
    if name not in data.columns:
        raise SurvivalInputError(f"{what} column {name!r} not found; columns are: {', '.join(map(str, data.columns))}")
    return data[name]


def survival_data(
    data: pd.DataFrame,
    *,
    time: str,
    event: str,
    arm: str,
    arms: Sequence[str],
    strata: str | None = None,
    id_column: str | None = None,
    max_event_code: int = 1,
) -> SurvivalData:
    """Check a patient table and return its time-to-event arrays.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient; not modified.
    time, event, arm : str
        Columns of follow-up time, event code and arm label.
    arms : sequence of two str
        ``(reference, active)``; every row's arm must be one of them.
    strata : str, optional
        Column of stratum labels (e.g. matched-set ids).
    id_column : str, optional
        Patient id column; checked for duplicates.
    max_event_code : int
        Largest allowed event code (1 without competing events).

    Returns
    -------
    SurvivalData

    Raises
    ------
    SurvivalInputError
        Naming the column and the first offending row: missing columns,
        missing/negative/non-finite times, event codes outside
        ``0..max_event_code``, unknown or empty arms, duplicated ids.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [3, 5, 8], "e": [1, 0, 1], "g": ["b", "a", "b"]})
    >>> s = survival_data(d, time="t", event="e", arm="g", arms=("a", "b"))
    >>> s.active.tolist(), s.contrast
    ([1.0, 0.0, 1.0], 'b - a')
    >>> survival_data(d, time="t", event="e", arm="g", arms=("a", "c"))
    Traceback (most recent call last):
    ...
    longmod.engines.survival.data.SurvivalInputError: arm column 'g' row 0 has 'b', not one of the declared arms ('a', 'c')
    """
    arms = tuple(str(a) for a in arms)
    if len(arms) != 2 or arms[0] == arms[1]:
        raise SurvivalInputError(f"arms must be two different labels (reference, active), got {arms!r}")
    t = pd.to_numeric(_column(data, time, "time"), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SurvivalInputError(f"time column {time!r} row {data.index[i]!r} has {data[time].iloc[i]!r}: "
                                 "times must be finite numbers >= 0")
    e_raw = pd.to_numeric(_column(data, event, "event"), errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(e_raw) & (e_raw == np.round(e_raw)) & (e_raw >= 0) & (e_raw <= max_event_code)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        allowed = "0 (censored) or 1 (event)" if max_event_code == 1 else f"0 (censored), 1 (event) .. {max_event_code}"
        raise SurvivalInputError(f"event column {event!r} row {data.index[i]!r} has {data[event].iloc[i]!r}: "
                                 f"allowed codes are {allowed}")
    a = _column(data, arm, "arm").astype(str).to_numpy()
    unknown = ~np.isin(a, arms)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise SurvivalInputError(f"arm column {arm!r} row {data.index[i]!r} has {a[i]!r}, not one of the declared arms {arms!r}")
    absent = [x for x in arms if not (a == x).any()]
    if absent:
        raise SurvivalInputError(f"arm column {arm!r} has no patient in arm(s) {', '.join(map(repr, absent))}: "
                                 "a two-arm comparison needs both")
    s = None
    if strata is not None:
        col = _column(data, strata, "strata")
        if col.isna().any():
            i = int(np.flatnonzero(col.isna().to_numpy())[0])
            raise SurvivalInputError(f"strata column {strata!r} row {data.index[i]!r} is missing")
        s = col.astype(str).to_numpy()
    ids = None
    if id_column is not None:
        col = _column(data, id_column, "id")
        dup = col.duplicated()
        if dup.any():
            raise SurvivalInputError(f"id column {id_column!r} has repeated id {col[dup].iloc[0]!r}: one row per patient")
        ids = col.astype(str).to_numpy()
    return SurvivalData(t, e_raw.astype(int), a, (a == arms[1]).astype(float), s, arms, ids)
