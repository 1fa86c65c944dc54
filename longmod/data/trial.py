"""TrialData: patients + long measurements + trial metadata."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

#: Columns every patients table has (after role mapping).
PATIENT_COLUMNS: tuple[str, ...] = (
    "patient_id", "arm", "age_gt70", "sofa_gt11", "death_day", "icu_discharge_day", "doses_received",
)
#: Columns every measurements table has (after role mapping); ``lloq`` may be all-missing.
MEASUREMENT_COLUMNS: tuple[str, ...] = ("patient_id", "day", "variable", "value", "lloq")


@dataclass(frozen=True)
class VariableInfo:
    """Metadata of one measured variable.

    ``min``/``max`` bound the plausible range (values outside are errors);
    ``baseline_required`` makes a missing day-0 value an error.
    """

    name: str
    label: str = ""
    units: str = ""
    min: float | None = None
    max: float | None = None
    baseline_required: bool = False
    #: Shown when a value is out of range, e.g. "FiO2 is a fraction (0.21-1.0), not a percentage".
    hint: str = ""

    @property
    def display(self) -> str:
        """Label with units, e.g. ``"PaO2/FiO2 (mmHg)"``."""
        lab = self.label or self.name
        return f"{lab} ({self.units})" if self.units else lab


@dataclass(frozen=True)
class TrialMeta:
    """Trial-level metadata (from ``trial.toml``).

    Attributes
    ----------
    name : str
        Short name, e.g. ``"stroma-cov2"``.
    arms : tuple of str
        Valid arm labels; ``reference_arm`` is the control.
    schedule : tuple of int
        Days on which measurements may be taken.
    synthetic : bool
        True for pseudo-patient data reconstructed from published summaries.
    doses_planned : int
        Doses in the full protocol (per-protocol = all received).
    """

    name: str
    arms: tuple[str, ...]
    reference_arm: str
    schedule: tuple[int, ...]
    title: str = ""
    synthetic: bool = False
    doses_planned: int | None = None
    variables: Mapping[str, VariableInfo] = field(default_factory=dict)
    source: str = ""
    files: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arms", tuple(self.arms))
        object.__setattr__(self, "schedule", tuple(int(d) for d in self.schedule))
        object.__setattr__(self, "variables", MappingProxyType(dict(self.variables)))
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))

    @property
    def active_arms(self) -> tuple[str, ...]:
        """Arms other than the reference arm."""
        return tuple(a for a in self.arms if a != self.reference_arm)

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any]) -> "TrialMeta":
        """Build from the parsed ``trial.toml`` document (``[trial]``, ``[variables.*]``, ``[files]``)."""
        t = dict(doc.get("trial", {}))
        variables = {
            name: VariableInfo(name=name, **dict(info)) for name, info in dict(doc.get("variables", {})).items()
        }
        return cls(variables=variables, files=dict(doc.get("files", {})), **t)


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
        :data:`PATIENT_COLUMNS` plus any extra patient-level columns.
    measurements : pandas.DataFrame
        :data:`MEASUREMENT_COLUMNS`.
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
