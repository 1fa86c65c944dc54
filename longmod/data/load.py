"""Load TrialData from a folder (trial.toml + CSV/Parquet) or from DataFrames."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from longmod.data.trial import MEASUREMENT_COLUMNS, TrialData, TrialMeta, frame_sha256
from longmod.data.trial_toml import read_trial_toml
from longmod.data.validate import Problem, TrialDataError, level_text, validate_tables

_DEFAULT_FILES = {"patients": "patients.csv", "measurements": "measurements.csv"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"patient_id": str})
    raise TrialDataError([Problem(str(path), None, None, "unsupported file type; use .csv or .parquet")])


def _canonical(frame: pd.DataFrame, roles: Mapping[str, str] | None, allowed: tuple[str, ...]) -> pd.DataFrame:
    """Copy ``frame`` renaming user columns to canonical roles (the input is untouched)."""
    out = frame.copy()
    if roles:
        unknown = sorted(set(roles) - set(allowed))
        if unknown:
            raise ValueError(f"unknown column role(s) {', '.join(unknown)}; valid roles: {', '.join(allowed)}")
        out = out.rename(columns={v: k for k, v in roles.items()})
    return out


def _finish(patients: pd.DataFrame, measurements: pd.DataFrame, meta: TrialMeta, provenance: dict) -> TrialData:
    """Typed, canonically ordered copies: declared columns first, rows sorted by patient (and day, variable)."""
    patients = patients.copy()
    measurements = measurements.copy()
    if "lloq" not in measurements.columns:
        measurements["lloq"] = float("nan")
    patients["patient_id"] = patients["patient_id"].astype(str)
    patients["arm"] = patients["arm"].astype(str)
    for name, cov in meta.covariates.items():
        col = patients[name]
        if cov.type == "binary":
            patients[name] = pd.to_numeric(col.map(lambda v: float(v) if isinstance(v, bool) else v)).astype(float)
            if patients[name].notna().all():
                patients[name] = patients[name].astype(int)
        elif cov.type == "numeric":
            patients[name] = pd.to_numeric(col).astype(float)
        else:
            text = col.map(lambda v: None if pd.isna(v) else level_text(v))
            levels = [level_text(x) for x in cov.levels] or sorted(text.dropna().unique())
            patients[name] = pd.Categorical(text, categories=levels)
    for col in meta.event_columns:
        patients[col] = pd.to_numeric(patients[col]).astype(float)
    if meta.doses_planned is not None:
        patients["doses_received"] = pd.to_numeric(patients["doses_received"]).astype(int)
    measurements["patient_id"] = measurements["patient_id"].astype(str)
    measurements["day"] = pd.to_numeric(measurements["day"]).astype(int)
    measurements["value"] = pd.to_numeric(measurements["value"]).astype(float)
    measurements["lloq"] = pd.to_numeric(measurements["lloq"]).astype(float)
    pcols = list(meta.patient_columns) + [c for c in patients.columns if c not in meta.patient_columns]
    mcols = list(MEASUREMENT_COLUMNS) + [c for c in measurements.columns if c not in MEASUREMENT_COLUMNS]
    patients = patients[pcols].sort_values("patient_id", kind="stable").reset_index(drop=True)
    measurements = measurements[mcols].sort_values(["patient_id", "day", "variable"], kind="stable").reset_index(drop=True)
    return TrialData(meta, patients, measurements, provenance)


def load_trial(folder: str | Path) -> TrialData:
    """Load and validate a trial folder.

    The folder holds ``trial.toml`` (``[trial]`` metadata, ``[covariates.*]``,
    ``[events.*]``, ``[variables.*]``, optional ``[files]``; see the docs'
    trial-format page) and a patients and a measurements table as CSV or
    Parquet (default names ``patients.csv`` and ``measurements.csv``). Every problem in the files is collected and raised
    together as :class:`TrialDataError`, each naming file, line and column.
    The files are only read.

    Parameters
    ----------
    folder : str or pathlib.Path

    Returns
    -------
    TrialData

    Examples
    --------
    >>> from longmod.resources import fixtures_dir
    >>> trial = load_trial(fixtures_dir() / "stroma_cov2")
    >>> trial.meta.synthetic, trial.n_patients
    (True, 45)
    """
    folder = Path(folder)
    toml = folder / "trial.toml"
    if not toml.is_file():
        raise TrialDataError([Problem(str(folder), None, None, "no trial.toml here; a trial folder needs trial.toml, a patients and a measurements table")])
    meta = read_trial_toml(toml)
    files = {**_DEFAULT_FILES, **dict(meta.files)}
    paths = {k: folder / v for k, v in files.items()}
    problems = [Problem(str(p), None, None, "file not found") for p in paths.values() if not p.is_file()]
    if problems:
        raise TrialDataError(problems)
    patients = _read_table(paths["patients"])
    measurements = _read_table(paths["measurements"])
    problems = validate_tables(
        patients, measurements, meta,
        patients_where=str(paths["patients"]), measurements_where=str(paths["measurements"]), files=True,
    )
    if problems:
        raise TrialDataError(problems)
    prov = {"source": str(folder.resolve()), "sha256": {p.name: _sha256(p) for p in [toml, *paths.values()]}}
    return _finish(patients, measurements, meta, prov)


def from_frames(
    patients: pd.DataFrame,
    measurements: pd.DataFrame,
    meta: TrialMeta,
    *,
    patient_roles: Mapping[str, str] | None = None,
    measurement_roles: Mapping[str, str] | None = None,
) -> TrialData:
    """Build and validate :class:`TrialData` from pandas DataFrames.

    Parameters
    ----------
    patients, measurements : pandas.DataFrame
        The caller's tables; they are copied, never modified.
    meta : TrialMeta
    patient_roles, measurement_roles : mapping, optional
        Canonical role -> the caller's column name, e.g.
        ``{"patient_id": "USUBJID", "arm": "ARM"}``. Roles: the columns of
        :attr:`TrialMeta.patient_columns` and :data:`MEASUREMENT_COLUMNS`.

    Returns
    -------
    TrialData

    Raises
    ------
    TrialDataError
        Listing every problem (table, row label, column, what is valid).

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.data import CovariateInfo, TrialMeta, VariableInfo, from_frames
    >>> meta = TrialMeta(name="demo", arms=("active", "control"), reference_arm="control",
    ...                  schedule=(0, 7), variables={"pf": VariableInfo("pf", min=20, max=700)},
    ...                  covariates={"old": CovariateInfo("old", "binary", "stratification")})
    >>> pts = pd.DataFrame({"ID": ["a", "b"], "arm": ["active", "control"], "old": [0, 1]})
    >>> ms = pd.DataFrame({"ID": ["a", "a", "b", "b"], "day": [0, 7, 0, 7], "variable": "pf",
    ...                    "value": [120.0, 180.0, 150.0, 160.0]})
    >>> trial = from_frames(pts, ms, meta, patient_roles={"patient_id": "ID"},
    ...                     measurement_roles={"patient_id": "ID"})
    >>> trial.n_patients, list(pts.columns)[:1]
    (2, ['ID'])
    """
    p = _canonical(patients, patient_roles, meta.patient_columns)
    m = _canonical(measurements, measurement_roles, MEASUREMENT_COLUMNS)
    problems = validate_tables(p, m, meta, patients_where="patients DataFrame", measurements_where="measurements DataFrame")
    if problems:
        raise TrialDataError(problems)
    prov = {"source": "DataFrames", "sha256": {"patients": frame_sha256(p), "measurements": frame_sha256(m)}}
    return _finish(p, m, meta, prov)
