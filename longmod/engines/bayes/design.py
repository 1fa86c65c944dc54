"""From a ModelSpec and a DataFrame to arrays for the PyMC models (input never modified)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Prepared:
    """Complete-case data and fixed-effects design of one fit."""

    frame: pd.DataFrame
    X: np.ndarray
    columns: list[str]
    y: np.ndarray
    formula: Any
    treatment_column: str
    treatment_columns: list[str]
    data_sha256: str
    warnings: list[str] = field(default_factory=list)


def data_sha256(frame: pd.DataFrame) -> str:
    """sha256 of a DataFrame's values (row order and column names included)."""
    h = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def treatment_levels(spec: Any, data: pd.DataFrame) -> dict[str, list[str]]:
    """``spec.levels`` with the treatment variable ordered reference, active, others."""
    levels = {k: list(v) for k, v in dict(spec.levels).items()}
    tr = spec.treatment
    if tr.variable not in levels:
        others = sorted({str(v) for v in data[tr.variable].dropna().unique()} - {tr.reference, tr.active})
        levels[tr.variable] = [tr.reference, tr.active, *others]
    return levels


def prepare(spec: Any, data: pd.DataFrame, extra: Sequence[str] = ()) -> Prepared:
    """Build the design of ``spec.fixed`` on the complete cases of ``data``.

    Parameters
    ----------
    spec : ModelSpec
    data : pandas.DataFrame
        Not modified; rows with a missing outcome, covariate or ``extra``
        column are dropped (the count is reported in ``warnings``).
    extra : sequence of str
        More columns needed by the model (subject, visit, time).

    Raises
    ------
    ValueError
        If a column is missing, or the treatment's active level has no
        main-effect column in the design.
    """
    from longmod.spec.formula import Formula, parse_formula

    _, terms = parse_formula(spec.fixed)
    used = list(dict.fromkeys([spec.outcome, *(v for t in terms for v in t), *extra]))
    missing = [c for c in used if c not in data.columns]
    if missing:
        raise ValueError(
            f"model {spec.name!r}: column(s) {', '.join(missing)} not in the data; "
            f"available: {', '.join(map(str, data.columns))}"
        )
    tr = spec.treatment
    tr.label  # noqa: B018 - a SpecError naming what to declare when the comparison is not declared
    if tr.variable not in used:
        raise ValueError(f"model {spec.name!r}: treatment variable {tr.variable!r} is not in fixed = {spec.fixed!r}")
    frame = data.loc[:, used]
    keep = frame.notna().all(axis=1).to_numpy()
    warnings = []
    if not keep.all():
        warnings.append(f"{int((~keep).sum())} row(s) with missing values in {', '.join(used)} dropped (complete cases)")
    frame = frame.loc[keep].reset_index(drop=True)
    levels = treatment_levels(spec, frame)
    f = Formula.from_data(spec.fixed, frame, levels)
    X = f.matrix(frame)
    cols = list(f.columns)
    tcol = f"{tr.variable}{tr.active}"
    if tcol not in cols:
        raise ValueError(
            f"model {spec.name!r}: no design column {tcol!r} for the treatment contrast {tr.label}; columns: {', '.join(cols)}"
        )
    tcols = [c for c in cols if tcol in c.split(":")]
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        raise ValueError(f"model {spec.name!r}: design matrix is rank deficient ({rank} < {X.shape[1]} columns)")
    return Prepared(
        frame=frame, X=X, columns=cols, y=frame[spec.outcome].to_numpy(dtype=float), formula=f,
        treatment_column=tcol, treatment_columns=tcols, data_sha256=data_sha256(frame), warnings=warnings,
    )
