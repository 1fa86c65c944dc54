"""TrialData: patients + long measurements + trial metadata."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from longmod.data.meta import CovariateInfo, EventInfo, TrialMeta, VariableInfo
from longmod.data.validate import MEASUREMENT_COLUMNS, PATIENT_COLUMNS

__all__ = ["MEASUREMENT_COLUMNS", "PATIENT_COLUMNS", "CovariateInfo", "EventInfo", "TrialData", "TrialMeta",
           "VariableInfo", "frame_sha256"]


def frame_sha256(frame: pd.DataFrame) -> str:
    """sha256 of a DataFrame's CSV serialisation (provenance of in-memory data)."""
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


@dataclass(frozen=True)
class TrialData:
    """A validated trial: one row per patient, one row per measurement.

    Build it with :func:`longmod.data.load_trial` (folder) or
    :func:`longmod.data.from_frames` (DataFrames); both validate first.
    The tables are copies: changing them never touches the caller's data, and
    the accessors return copies again.

    Attributes
    ----------
    meta : TrialMeta
    patients : pandas.DataFrame
        ``patient_id``, ``arm``, the declared covariates, event-day columns
        and ``doses_received`` (see :attr:`TrialMeta.patient_columns`), then
        any other columns of the file; sorted by ``patient_id``.
    measurements : pandas.DataFrame
        :data:`MEASUREMENT_COLUMNS`, sorted by ``patient_id``, ``day`` and
        ``variable`` (the row order of the input files never matters).
    provenance : mapping
        ``source`` (folder or "DataFrames") and sha256 of each input file/table.
    """

    meta: TrialMeta
    _patients: pd.DataFrame
    _measurements: pd.DataFrame
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def patients(self) -> pd.DataFrame:
        """Copy of the patients table."""
        return self._patients.copy()

    @property
    def measurements(self) -> pd.DataFrame:
        """Copy of the long measurements table."""
        return self._measurements.copy()

    @property
    def n_patients(self) -> int:
        """Number of patients."""
        return len(self._patients)

    def variable(self, name: str) -> pd.DataFrame:
        """Measurements of one variable, sorted by patient and day, as a copy.

        Raises
        ------
        KeyError
            If the variable is not measured; the message lists those that are.
        """
        m = self._measurements
        out = m[m["variable"] == name]
        if out.empty:
            have = ", ".join(sorted(m["variable"].unique()))
            raise KeyError(f"variable {name!r} is not in trial {self.meta.name!r}; measured variables: {have}")
        return out.sort_values(["patient_id", "day"]).reset_index(drop=True)

    def wide(self, name: str) -> pd.DataFrame:
        """One row per patient, one column per scheduled day, for variable ``name``."""
        v = self.variable(name)
        return v.pivot(index="patient_id", columns="day", values="value").reindex(self._patients["patient_id"])
