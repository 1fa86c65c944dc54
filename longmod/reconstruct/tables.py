"""The patients and measurements tables of a fixture under construction, with its trial.toml.

The reconstruction works on plain DataFrames and reads from ``trial.toml`` only
what every version of the format shares (``[trial] name``, ``arms``,
``reference_arm``, ``schedule``, ``synthetic``). A validated
:class:`longmod.data.TrialData` is built only when an analysis set applies an
estimand (:meth:`Tables.trial_data`), so a fixture whose sets read the tables
directly does not depend on the loader.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: Columns of the measurements table, in file order.
MEASUREMENT_COLUMNS: tuple[str, ...] = ("patient_id", "day", "variable", "value", "lloq")


@dataclass(frozen=True)
class Tables:
    """Patients, measurements and the parsed ``trial.toml`` of one fixture.

    Attributes
    ----------
    patients : pandas.DataFrame
        One row per patient (``patient_id``, ``arm`` and any other columns).
    measurements : pandas.DataFrame
        Long table :data:`MEASUREMENT_COLUMNS`.
    doc : mapping
        The parsed ``trial.toml`` (read only).
    folder : pathlib.Path or None
        Where the tables were read from (``None`` for tables in memory).

    Examples
    --------
    >>> import pandas as pd
    >>> doc = {"trial": {"name": "t", "arms": ["a", "b"], "reference_arm": "b", "schedule": [0, 7]}}
    >>> t = Tables(pd.DataFrame({"patient_id": ["1"], "arm": ["a"]}), pd.DataFrame(), doc)
    >>> t.active_arms, t.reference_arm
    (('a',), 'b')
    """

    patients: pd.DataFrame
    measurements: pd.DataFrame
    doc: Mapping[str, Any]
    folder: Path | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def trial(self) -> Mapping[str, Any]:
        """The ``[trial]`` table."""
        return self.doc.get("trial", {})

    @property
    def name(self) -> str:
        """Trial name."""
        return str(self.trial.get("name", ""))

    @property
    def arms(self) -> tuple[str, ...]:
        """Arm labels as declared."""
        return tuple(self.trial.get("arms", ()))

    @property
    def reference_arm(self) -> str:
        """The control arm."""
        return str(self.trial.get("reference_arm", ""))

    @property
    def active_arms(self) -> tuple[str, ...]:
        """Arms other than the reference arm."""
        return tuple(a for a in self.arms if a != self.reference_arm)

    @property
    def schedule(self) -> tuple[int, ...]:
        """Days on which measurements may be taken."""
        return tuple(int(d) for d in self.trial.get("schedule", ()))

    @property
    def synthetic(self) -> bool:
        """True for reconstructed pseudo-patient data."""
        return bool(self.trial.get("synthetic", False))

    def trial_data(self):
        """The tables validated as :class:`longmod.data.TrialData` (built once, on demand).

        Examples
        --------
        >>> from longmod.resources import fixtures_dir
        >>> read_tables(fixtures_dir() / "stroma_cov2").trial_data().n_patients
        45
        """
        if "trial" not in self._cache:
            from longmod.data import from_frames, load_trial
            from longmod.data.trial import TrialMeta

            if self.folder is not None:
                self._cache["trial"] = load_trial(self.folder)
            else:
                meta = TrialMeta.from_mapping(self.doc)
                self._cache["trial"] = from_frames(self.patients, self.measurements, meta)
        return self._cache["trial"]


def read_doc(folder: str | Path) -> dict:
    """Parse ``folder/trial.toml``.

    Examples
    --------
    >>> from longmod.resources import fixtures_dir
    >>> read_doc(fixtures_dir() / "stroma_cov2")["trial"]["reference_arm"]
    'placebo'
    """
    with (Path(folder) / "trial.toml").open("rb") as fh:
        return tomllib.load(fh)


def read_tables(folder: str | Path) -> Tables:
    """Read a fixture folder's ``trial.toml`` and CSV tables as written (no validation).

    Examples
    --------
    >>> from longmod.resources import fixtures_dir
    >>> t = read_tables(fixtures_dir() / "stroma_cov2")
    >>> len(t.patients), t.synthetic
    (45, True)
    """
    folder = Path(folder)
    doc = read_doc(folder)
    files = {"patients": "patients.csv", "measurements": "measurements.csv", **dict(doc.get("files", {}))}
    pts = pd.read_csv(folder / files["patients"], dtype={"patient_id": str, "arm": str})
    ms = pd.read_csv(folder / files["measurements"], dtype={"patient_id": str, "variable": str})
    return Tables(pts, ms, doc, folder)


def as_tables(data: Any) -> Tables:
    """:class:`Tables` from ``Tables`` or a :class:`longmod.data.TrialData`.

    Examples
    --------
    >>> from longmod.data import load_trial
    >>> from longmod.resources import fixtures_dir
    >>> as_tables(load_trial(fixtures_dir() / "stroma_cov2")).reference_arm
    'placebo'
    """
    if isinstance(data, Tables):
        return data
    meta = data.meta
    doc = {"trial": {"name": meta.name, "arms": list(meta.arms), "reference_arm": meta.reference_arm,
                     "schedule": list(meta.schedule), "synthetic": meta.synthetic}}
    t = Tables(data.patients, data.measurements, doc)
    t._cache["trial"] = data
    return t
