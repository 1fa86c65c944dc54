"""Shared data preparation and result tables for the frequentist engines.

Every engine (native, statsmodels, lme4) goes through :func:`prepare`, so the
rows used, the design columns, the reference grid and the provenance hash are
identical across engines.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

import longmod
from longmod.engines.core.lsmeans import lsmeans_matrix
from longmod.results.schema import effects_frame, t_interval
from longmod.spec.formula import Formula, level_label
from longmod.spec.model import ModelSpec, SpecError


@dataclass(frozen=True)
class Prepared:
    """Model-ready data (a private copy; the caller's frame is never modified)."""

    frame: pd.DataFrame  # rows used, sorted by subject then visit/time
    formula: Formula
    X: np.ndarray  # non-aliased columns only
    columns: tuple[str, ...]  # kept columns
    all_columns: tuple[str, ...]
    y: np.ndarray
    subject: np.ndarray  # int codes
    n_dropped: int
    data_sha256: str
    visit_levels: tuple[str, ...] | None


def data_sha256(frame: pd.DataFrame) -> str:
    """sha256 of a data frame's values, index and column names (provenance)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()


def day_of_level(label: str, position: int) -> float:
    """Visit label -> day: the last number in the label, else the 1-based position.

    Examples
    --------
    >>> day_of_level("VIS2", 0), day_of_level("D14", 3), day_of_level("baseline", 0)
    (2.0, 14.0, 1.0)
    """
    m = re.search(r"(-?\d+(?:\.\d+)?)\s*$", str(label))
    return float(m.group(1)) if m else float(position + 1)


def _independent_columns(X: np.ndarray, tol: float = 1e-9) -> list[int]:
    """Greedy left-to-right rank detection (R's lm keeps the first of aliased columns)."""
    keep: list[int] = []
    Q = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        x = X[:, j]
        nx = np.linalg.norm(x)
        if nx == 0:
            continue
        r = x - Q @ (Q.T @ x)
        if np.linalg.norm(r) > tol * nx * np.sqrt(X.shape[0]):
            keep.append(j)
            Q = np.column_stack([Q, r / np.linalg.norm(r)])
    return keep


def prepare(spec: ModelSpec, data: pd.DataFrame) -> Prepared:
    """Select, clean (drop rows with missing outcome or covariates) and encode the data.

    Raises
    ------
    SpecError
        Missing columns (listing the available ones), or repeated visits within a patient.
    """
    needed = [spec.outcome, spec.subject]
    for c in (spec.visit, spec.time):
        if c:
            needed.append(c)
    probe = Formula.from_data(spec.fixed, data, spec.levels)
    needed += [v for v in probe.variables if v not in needed]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise SpecError(
            f"model {spec.name!r}: column(s) {', '.join(missing)} not in the data; "
            f"available columns: {', '.join(map(str, data.columns))}"
        )
    frame = data.loc[:, list(dict.fromkeys(needed))].copy()
    n0 = len(frame)
    frame = frame.dropna()
    if spec.visit:
        raw = spec.levels.get(spec.visit) or sorted(pd.unique(frame[spec.visit]))  # numeric visits sort numerically
        lv = [level_label(v) for v in raw]
        frame["__pos"] = frame[spec.visit].map(level_label).map({v: i for i, v in enumerate(lv)})
        if frame["__pos"].isna().any():
            bad = sorted(set(frame.loc[frame["__pos"].isna(), spec.visit].astype(str)))
            raise SpecError(f"visit value(s) {bad} not among the visit levels {lv}")
        visit_levels = tuple(str(v) for v in lv)
    else:
        visit_levels = None
        frame["__pos"] = frame[spec.time].astype(float) if spec.time else 0
    frame = frame.sort_values([spec.subject, "__pos"], kind="stable")
    formula = Formula.from_data(spec.fixed, frame, spec.levels)
    Xall = formula.matrix(frame)
    keep = _independent_columns(Xall)
    subject = pd.factorize(frame[spec.subject])[0]
    return Prepared(
        frame=frame.reset_index(drop=True),  # keeps "__pos": visit index (or time)
        formula=formula,
        X=Xall[:, keep],
        columns=tuple(formula.columns[j] for j in keep),
        all_columns=formula.columns,
        y=frame[spec.outcome].to_numpy(float),
        subject=subject,
        n_dropped=n0 - len(frame),
        data_sha256=data_sha256(data.loc[:, list(dict.fromkeys(needed))]),
        visit_levels=visit_levels,
    )


def effect_grid(spec: ModelSpec, prep: Prepared) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """LS means grid for treatment x visit and the active - reference contrast rows.

    Returns
    -------
    grid : DataFrame with ``visit``, ``day``, treatment column
    L : LS-means matrix (kept columns)
    C : contrast matrix, one row per visit (active - reference)

    All three are empty when the treatment variable is not in the formula
    (e.g. an intercept-only model): such a fit has no treatment effects.
    """
    trt = spec.treatment.variable
    f = prep.formula
    if trt not in f.factor_levels:
        if trt in f.variables:
            raise SpecError(
                f"model {spec.name!r}: treatment variable {trt!r} must be categorical in the formula {spec.fixed!r}"
            )
        return pd.DataFrame(columns=["visit", "day", trt]), np.zeros((0, len(prep.columns))), np.zeros((0, len(prep.columns)))
    lv = f.factor_levels[trt]
    for a in (spec.treatment.reference, spec.treatment.active):
        if a not in lv:
            raise SpecError(f"model {spec.name!r}: treatment level {a!r} not among {list(lv)}")
    keep = [f.columns.index(c) for c in prep.columns]
    by, values, visits = [trt], {trt: [spec.treatment.reference, spec.treatment.active]}, [None]
    if spec.visit and prep.visit_levels is not None:
        visits = list(prep.visit_levels)
        if spec.visit in f.factor_levels:
            by, values = [spec.visit, trt], {spec.visit: visits, **values}
    rows, Ls = [], []
    for i, v in enumerate(visits):
        vals = dict(values)
        b = list(by)
        if v is not None and spec.visit in f.factor_levels and len(by) == 2:
            vals[spec.visit] = [v]
        if v is not None and spec.time and spec.time in f.numeric:
            sel = prep.frame[spec.visit].map(level_label) == v
            vals[spec.time] = [float(prep.frame.loc[sel, spec.time].mean()) if sel.any() else float(i + 1)]
            b = [*b, spec.time]
        g, L = lsmeans_matrix(f, prep.frame, b, vals)
        Ls.append(L[:, keep])
        for arm in vals[trt]:
            rows.append({"visit": v, "day": day_of_level(v, i) if v is not None else np.nan, trt: arm})
    L = np.vstack(Ls)
    C = np.array([L[2 * i + 1] - L[2 * i] for i in range(len(visits))])
    return pd.DataFrame(rows), L, C


def build_effects(spec, prep, contrasts, estimates, ses, dfs, engine, engine_version, level=0.95) -> pd.DataFrame:
    """Common-schema effects (one row per visit contrast) with a ``visit`` column."""
    grid, _, _ = contrasts
    visits = grid["visit"].tolist()[::2]
    days = grid["day"].tolist()[::2]
    rows = []
    for v, d, e, s, df in zip(visits, days, estimates, ses, dfs):
        lo, hi, p = t_interval(float(e), float(s), float(df), level)
        rows.append({
            "analysis": spec.name, "outcome": spec.outcome, "day": d,  # estimand: set by the caller
            "contrast": spec.treatment.label, "estimate": e, "std_error": s, "df": df,
            "conf_low": lo, "conf_high": hi, "p_value": p, "engine": engine,
            "engine_version": engine_version, "n_obs": len(prep.y),
            "n_patients": int(len(np.unique(prep.subject))), "visit": v,
        })
    return effects_frame(rows)


def provenance(spec: ModelSpec, prep: Prepared, engine_version: str) -> dict:
    """longmod/engine versions, spec hash, data sha256, rows dropped."""
    return {
        "longmod_version": longmod.__version__,
        "engine_version": engine_version,
        "spec_hash": spec.spec_hash(),
        "data_sha256": prep.data_sha256,
        "rows_dropped_missing": int(prep.n_dropped),
        "seed": None,
    }
