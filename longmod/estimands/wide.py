"""Patients x visits arrays for imputation: outcomes, design rows and intercurrent events.

:func:`wide_data` turns long observed data (one row per patient and visit,
only observed values) plus a patient table (one row per randomised patient)
into :class:`WideData`: the outcome matrix with NaN where a visit is missing,
the imputation model's design rows of every patient at every visit (with the
patient's own arm and with the reference arm), and, per patient, the first
visit affected by an intercurrent event (ICE). Column names (subject, visit,
arm, covariates, event columns) all come from the arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from longmod.spec.formula import Formula, parse_formula


@dataclass(frozen=True)
class WideData:
    """Outcomes and design of an imputation model on a patients x visits grid.

    Attributes
    ----------
    spec : ModelSpec
        The imputation model (``outcome``, ``fixed``, ``subject``, ``visit``,
        ``treatment``).
    visits : tuple of str
        Visit labels in time order (the order of ``y``'s columns and of the
        covariance matrix).
    visit_days : numpy.ndarray or None
        Numeric day of each visit (needed for intercurrent events).
    patients : pandas.DataFrame
        One row per patient (a copy), in the order of ``y``'s rows.
    ids : numpy.ndarray
        Patient ids (str).
    active : numpy.ndarray
        True for patients of the active arm.
    y : numpy.ndarray
        ``(n, K)`` outcomes used by the imputation; NaN = to impute.
    X_own, X_ref : numpy.ndarray
        ``(n, K, p)`` design rows with the patient's own arm and with the
        reference arm (other covariates unchanged).
    columns : tuple of str
        Design column names (R ``model.matrix`` style).
    ice_index : numpy.ndarray
        Per patient, the index of the first visit affected by the ICE
        (``K`` = no ICE within the visits).
    ice_event : numpy.ndarray
        Event kind per patient (``""`` = none).
    removed : int
        Observed values after an ICE handled by a non-MAR strategy, set to
        missing by :func:`longmod.estimands.reference_based.apply_strategy`.
    """

    spec: object
    visits: tuple[str, ...]
    visit_days: np.ndarray | None
    patients: pd.DataFrame
    ids: np.ndarray
    active: np.ndarray
    y: np.ndarray
    X_own: np.ndarray
    X_ref: np.ndarray
    columns: tuple[str, ...]
    ice_index: np.ndarray
    ice_event: np.ndarray
    removed: int = 0

    @property
    def n(self) -> int:
        """Number of patients."""
        return len(self.ids)

    @property
    def n_visits(self) -> int:
        """Number of visits."""
        return len(self.visits)

    def to_long(self, y: np.ndarray | None = None, ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Long data (observed cells of ``y``, default ``self.y``) with every patient column.

        ``ids`` relabels the patients (bootstrap samples hold a patient more
        than once).
        """
        y = self.y if y is None else y
        s = self.spec
        pid = np.asarray(self.ids if ids is None else ids, dtype=object)
        i, k = np.nonzero(~np.isnan(y))
        out = self.patients.iloc[i].reset_index(drop=True)
        out[s.subject] = pid[i]
        out[s.visit] = np.asarray(self.visits, dtype=object)[k]
        if s.time and self.visit_days is not None:
            out[s.time] = self.visit_days[k]
        out[s.outcome] = y[i, k]
        return out

    def subset(self, rows: np.ndarray) -> "WideData":
        """The patients at positions ``rows`` (repeats allowed, e.g. a bootstrap sample)."""
        rows = np.asarray(rows, dtype=int)
        return replace(
            self, patients=self.patients.iloc[rows].reset_index(drop=True), ids=self.ids[rows],
            active=self.active[rows], y=self.y[rows], X_own=self.X_own[rows], X_ref=self.X_ref[rows],
            ice_index=self.ice_index[rows], ice_event=self.ice_event[rows],
        )


def _first_ice_visit(days: np.ndarray, ice_day: float, observed: np.ndarray) -> int:
    """First visit affected by an ICE on ``ice_day``: later visits, or the same day when not observed."""
    if not np.isfinite(ice_day):
        return len(days)
    hit = (days > ice_day) | ((days == ice_day) & ~observed)
    return int(np.argmax(hit)) if hit.any() else len(days)


def wide_data(
    long: pd.DataFrame,
    patients: pd.DataFrame,
    spec,
    *,
    visits: Sequence[str],
    visit_days: Mapping[str, float] | Sequence[float] | None = None,
    ice_day: str | None = None,
    ice_event: str | None = None,
) -> WideData:
    """Build :class:`WideData` for an imputation model.

    Parameters
    ----------
    long : pandas.DataFrame
        Observed values, one row per patient and visit: ``spec.subject``,
        ``spec.visit`` (labels among ``visits``) and ``spec.outcome``. Other
        columns are ignored; not modified.
    patients : pandas.DataFrame
        One row per patient to analyse (patients without any observed
        post-baseline value included): ``spec.subject``, the treatment
        column and every other variable of ``spec.fixed`` except the visit
        (and ``spec.time``), plus the ICE columns when given. Not modified.
    spec : ModelSpec
        The imputation model. ``treatment`` names the two compared arms.
    visits : sequence of str
        Visit labels in time order.
    visit_days : mapping or sequence of float, optional
        Day of each visit; required with ``ice_day`` or when ``spec.time``
        is a variable of ``spec.fixed``.
    ice_day, ice_event : str, optional
        Columns of ``patients``: day of the patient's intercurrent event (NaN
        = none) and its kind (e.g. ``"death"``).

    Returns
    -------
    WideData

    Raises
    ------
    ValueError
        Duplicate patients or patient-visits, unknown visits, patients in
        ``long`` but not in ``patients``, arms other than the compared two,
        missing covariates, or ICE columns without ``visit_days``.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.spec.model import ModelSpec, Treatment
    >>> spec = ModelSpec(name="imp", outcome="y", fixed="arm * visit + base", subject="id", visit="visit",
    ...                  treatment=Treatment("arm", "c", "t"))
    >>> pts = pd.DataFrame({"id": ["a", "b", "c"], "arm": ["c", "t", "t"], "base": [1.0, 2.0, 3.0]})
    >>> long = pd.DataFrame({"id": ["a", "a", "b"], "visit": ["V1", "V2", "V1"], "y": [1.0, 2.0, 3.0]})
    >>> w = wide_data(long, pts, spec, visits=["V1", "V2"])
    >>> w.y.tolist(), w.columns
    ([[1.0, 2.0], [3.0, nan], [nan, nan]], ('(Intercept)', 'armt', 'visitV2', 'base', 'armt:visitV2'))
    """
    s = spec
    tr = s.treatment
    visits = tuple(str(v) for v in visits)
    K = len(visits)
    if K == 0 or len(set(visits)) != K:
        raise ValueError(f"imputation model {s.name!r}: visits must be distinct labels, got {list(visits)}")
    for col, frame, what in ((s.subject, patients, "patients"), (s.subject, long, "long"), (s.visit, long, "long"),
                             (s.outcome, long, "long"), (tr.variable, patients, "patients")):
        if col not in frame.columns:
            raise ValueError(f"imputation model {s.name!r}: column {col!r} not in the {what} table; "
                             f"columns: {', '.join(map(str, frame.columns))}")
    pts = patients.copy()
    pts[s.subject] = pts[s.subject].astype(str)
    dup = pts[s.subject][pts[s.subject].duplicated()]
    if len(dup):
        raise ValueError(f"imputation model {s.name!r}: patient(s) {', '.join(dup.unique()[:5])} appear more than "
                         "once in the patients table (one row per patient)")
    arms = pts[tr.variable].astype(str)
    bad = sorted(set(arms) - {tr.active, tr.reference})
    if bad:
        raise ValueError(f"imputation model {s.name!r}: arm(s) {', '.join(bad)} in {tr.variable!r}; only "
                         f"{tr.active!r} and {tr.reference!r} are compared (subset the patients first)")
    if visit_days is not None and not isinstance(visit_days, Mapping):
        visit_days = dict(zip(visits, visit_days))
    days = None
    if visit_days is not None:
        miss = [v for v in visits if v not in visit_days]
        if miss:
            raise ValueError(f"imputation model {s.name!r}: visit_days has no day for visit(s) {', '.join(miss)}")
        days = np.array([float(visit_days[v]) for v in visits])
        if np.any(np.diff(days) <= 0):
            raise ValueError(f"imputation model {s.name!r}: visit days {days.tolist()} are not increasing in the "
                             f"order of visits {list(visits)}")

    lg = long[[s.subject, s.visit, s.outcome]].copy()
    lg[s.subject] = lg[s.subject].astype(str)
    lg[s.visit] = lg[s.visit].astype(str)
    lg = lg[lg[s.outcome].notna()]
    unknown_v = sorted(set(lg[s.visit]) - set(visits))
    if unknown_v:
        raise ValueError(f"imputation model {s.name!r}: long data hold visit(s) {', '.join(unknown_v)} not among "
                         f"visits {list(visits)}; subset the data or add the visits")
    unknown_p = sorted(set(lg[s.subject]) - set(pts[s.subject]))
    if unknown_p:
        raise ValueError(f"imputation model {s.name!r}: patient(s) {', '.join(unknown_p[:5])} have outcome values "
                         "but no row in the patients table")
    if lg.duplicated([s.subject, s.visit]).any():
        ex = lg[lg.duplicated([s.subject, s.visit], keep=False)].head(2).to_dict("records")
        raise ValueError(f"imputation model {s.name!r}: more than one value per patient and visit, e.g. {ex}")

    ids = pts[s.subject].to_numpy(dtype=object)
    pos = {p: i for i, p in enumerate(ids)}
    vpos = {v: k for k, v in enumerate(visits)}
    y = np.full((len(ids), K), np.nan)
    y[lg[s.subject].map(pos).to_numpy(int), lg[s.visit].map(vpos).to_numpy(int)] = lg[s.outcome].to_numpy(float)

    # design rows at every visit, own arm and reference arm
    _, terms = parse_formula(s.fixed)
    per_visit = {s.visit} | ({s.time} if s.time else set())
    needed = [v for v in dict.fromkeys(x for t in terms for x in t) if v not in per_visit]
    miss = [c for c in needed if c not in pts.columns]
    if miss:
        raise ValueError(f"imputation model {s.name!r}: formula variable(s) {', '.join(miss)} not in the patients "
                         f"table; columns: {', '.join(map(str, pts.columns))}")
    na = pts[needed].isna().any(axis=1)
    if na.any():
        raise ValueError(f"imputation model {s.name!r}: patient(s) {', '.join(ids[na.to_numpy()][:5])} have missing "
                         f"values in {', '.join(needed)}; every analysed patient needs them")
    grid = pts.loc[pts.index.repeat(K), needed].reset_index(drop=True)
    grid[s.visit] = np.tile(np.asarray(visits, dtype=object), len(ids))
    if s.time and any(s.time in t for t in terms):
        if days is None:
            raise ValueError(f"imputation model {s.name!r}: the formula uses {s.time!r}; give visit_days")
        grid[s.time] = np.tile(days, len(ids))
    levels = {k: list(v) for k, v in dict(s.levels).items()}
    levels[s.visit] = list(visits)
    if tr.variable not in levels:
        levels[tr.variable] = [tr.reference, tr.active]
    grid[tr.variable] = grid[tr.variable].astype(str)
    f = Formula.from_data(s.fixed, grid, levels)
    X_own = f.matrix(grid).reshape(len(ids), K, -1)
    ref = grid.copy()
    ref[tr.variable] = tr.reference
    X_ref = f.matrix(ref).reshape(len(ids), K, -1)

    ice_idx = np.full(len(ids), K)
    kinds = np.full(len(ids), "", dtype=object)
    if ice_day is not None:
        if days is None:
            raise ValueError(f"imputation model {s.name!r}: ICE days need visit_days (the day of each visit)")
        if ice_day not in pts.columns:
            raise ValueError(f"imputation model {s.name!r}: ICE day column {ice_day!r} not in the patients table")
        eday = pd.to_numeric(pts[ice_day], errors="raise").to_numpy(float)
        if ice_event is not None:
            if ice_event not in pts.columns:
                raise ValueError(f"imputation model {s.name!r}: ICE kind column {ice_event!r} not in the patients table")
            kinds = pts[ice_event].fillna("").astype(str).to_numpy(dtype=object)
        else:
            kinds = np.where(np.isfinite(eday), "ice", "").astype(object)
        kinds = np.where(np.isfinite(eday), kinds, "")
        for i in range(len(ids)):
            ice_idx[i] = _first_ice_visit(days, eday[i], ~np.isnan(y[i]))
    return WideData(spec=s, visits=visits, visit_days=days, patients=pts.reset_index(drop=True), ids=ids,
                    active=(arms == tr.active).to_numpy(), y=y, X_own=X_own, X_ref=X_ref, columns=tuple(f.columns),
                    ice_index=ice_idx, ice_event=kinds)
