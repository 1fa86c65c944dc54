"""Input checking and per-patient sufficient statistics of the joint longitudinal-survival model.

The model (:mod:`longmod.engines.joint.model`) never sees an observation row:
the Gaussian trajectory enters through six sums per patient and the
piecewise-constant hazards through each patient's exposure per piece, so
every array handed to the sampler has one row per patient. Everything is
packed into one ``(n_patients, K)`` matrix (:attr:`JointData.packed`) whose
column layout depends only on the causes, the pieces and the covariates
(:attr:`JointData.layout`): two data sets of the same design give the same
compiled model, refreshed with new values.

Internal units: the outcome is standardised, ``(y - y_center) / y_scale``,
and time is divided by ``time_scale`` (by default the outcome's mean and SD
over all measurements and the last measurement time); results are reported
back in the data's units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: Columns of the packed patient matrix before the per-cause blocks.
BASE_COLUMNS: tuple[str, ...] = ("arm", "n_obs", "sum_t", "sum_tt", "sum_y", "sum_ty", "sum_yy", "time")
BENEFIT_DIRECTIONS: tuple[str, ...] = ("higher", "lower")


class JointDataError(ValueError):
    """Bad input to the joint model (names the frame, column and rows).

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"pid": ["a"], "d": [0], "y": [1.0]})
    >>> p = pd.DataFrame({"pid": ["a"], "grp": ["T"], "t": [5.0], "ev": ["death"]})
    >>> try:
    ...     prepare_joint_data(m, p, id="pid", time="day", value="y", arm="grp", event_time="t", event="ev",
    ...                        active="T", reference="C", causes={"death": "lower"})
    ... except JointDataError as exc:
    ...     print(type(exc).__name__, isinstance(exc, ValueError))
    JointDataError True
    """


@dataclass(frozen=True)
class Scaling:
    """Standardisation of the outcome and time (``y* = (y - y_center) / y_scale``, ``t* = t / time_scale``).

    Examples
    --------
    >>> s = Scaling(y_center=150.0, y_scale=50.0, time_scale=28.0)
    >>> (250.0 - s.y_center) / s.y_scale, 14 / s.time_scale
    (2.0, 0.5)
    """

    y_center: float
    y_scale: float
    time_scale: float


@dataclass(frozen=True)
class JointData:
    """Checked, packed data of one joint-model fit.

    Attributes
    ----------
    packed : (n_patients, K) float array, the sampler's only data container.
    layout : column name -> column index of ``packed``.
    causes : cause labels, in model order.
    cuts : cause -> piece boundaries in days (first 0, last inf).
    covariates : covariate column names (centred in ``packed``).
    scaling : :class:`Scaling`.
    ids : patient ids in row order.
    n_obs, n_events : measurements used, events per cause.
    warnings : what was dropped or changed (never silent).

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"pid": ["a", "a", "b"], "d": [0, 2, 0], "y": [1.0, 2.0, 0.5]})
    >>> p = pd.DataFrame({"pid": ["a", "b"], "grp": ["T", "C"], "t": [5.0, 3.0], "ev": ["death", None]})
    >>> jd, _ = prepare_joint_data(m, p, id="pid", time="d", value="y", arm="grp", event_time="t",
    ...                            event="ev", active="T", reference="C", causes={"death": "lower"})
    >>> type(jd).__name__, jd.causes, jd.packed.shape[0]
    ('JointData', ('death',), 2)
    """

    packed: np.ndarray
    layout: Mapping[str, int]
    causes: tuple[str, ...]
    cuts: Mapping[str, tuple[float, ...]]
    covariates: tuple[str, ...]
    scaling: Scaling
    ids: tuple[str, ...]
    n_obs: int
    n_events: Mapping[str, int]
    warnings: tuple[str, ...] = field(default=())

    @property
    def n_patients(self) -> int:
        """Number of patients (rows of ``packed``)."""
        return int(self.packed.shape[0])

    def column(self, name: str) -> np.ndarray:
        """One column of ``packed`` by name."""
        return self.packed[:, self.layout[name]]

    def block(self, prefix: str) -> np.ndarray:
        """The columns ``prefix[0]``, ``prefix[1]``, ... of ``packed`` (a cause's pieces)."""
        cols = [v for k, v in self.layout.items() if k.startswith(prefix + "[")]
        return self.packed[:, cols]


def _require(frame: pd.DataFrame, what: str, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise JointDataError(f"{what} frame has no column(s) {', '.join(map(repr, missing))}; "
                             f"it has {', '.join(map(str, frame.columns))}")


def _rows(idx: Sequence[Any], n: int = 5) -> str:
    idx = list(idx)
    return ", ".join(map(str, idx[:n])) + (f" (+{len(idx) - n} more)" if len(idx) > n else "")


def default_cuts(times: np.ndarray, n_pieces: int) -> tuple[float, ...]:
    """Piece boundaries at quantiles of a cause's event times: ``(0, q_1, ..., inf)``.

    Boundaries are rounded to a tenth of a day and deduplicated, so fewer
    pieces than asked are returned when events are tied or rare (one piece,
    a constant hazard, when there are fewer than ``2 * n_pieces`` events).

    Examples
    --------
    >>> default_cuts(np.array([2., 3, 5, 8, 9, 12, 15, 20]), 2)
    (0.0, 8.5, inf)
    >>> default_cuts(np.array([4.0]), 3)
    (0.0, inf)
    """
    times = np.asarray(times, dtype=float)
    if n_pieces <= 1 or times.size < 2 * n_pieces:
        return (0.0, float("inf"))
    inner = np.round(np.quantile(times, np.arange(1, n_pieces) / n_pieces), 1)
    inner = sorted({float(c) for c in inner if c > 0})
    return (0.0, *inner, float("inf"))


def _cause_benefit(causes: Mapping[str, str] | Sequence[str] | None, observed: Sequence[str]) -> dict[str, str]:
    if causes is None:
        raise JointDataError("causes is required: a mapping of each event type to the hazard direction that is a "
                             "benefit, e.g. {'death': 'lower', 'discharge': 'higher'}; event types in the data: "
                             + ", ".join(map(str, observed)))
    out = dict(causes)
    bad = {k: v for k, v in out.items() if v not in BENEFIT_DIRECTIONS}
    if bad:
        raise JointDataError(f"causes: benefit direction must be 'lower' or 'higher' (hazard), got {bad}")
    unknown = sorted(set(observed) - set(out))
    if unknown:
        raise JointDataError(f"event type(s) {', '.join(map(repr, unknown))} in the patients frame are not among "
                             f"causes ({', '.join(out)}); name each event type (or mark the rows censored)")
    if not out:
        raise JointDataError("causes is empty: the joint model needs at least one event type")
    return out


def prepare_joint_data(
    measurements: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    id: str,
    time: str,
    value: str,
    arm: str,
    event_time: str,
    event: str,
    active: str,
    reference: str,
    causes: Mapping[str, str] | None,
    covariates: Sequence[str] = (),
    cuts: Mapping[str, Sequence[float]] | None = None,
    n_pieces: int = 3,
    followup: float | None = None,
    scaling: Scaling | None = None,
    after_event: str = "error",
    baseline_center: Mapping[str, float] | None = None,
) -> tuple[JointData, dict[str, str]]:
    """Check the inputs and build the packed per-patient data.

    Parameters are those of :func:`longmod.engines.joint.fit.fit_joint_model`
    (see there). Neither frame is modified.

    Returns
    -------
    (JointData, dict)
        The data and ``cause -> benefit direction`` of each hazard.

    Examples
    --------
    >>> m = pd.DataFrame({"pid": ["a", "a", "b"], "d": [0, 2, 0], "y": [1.0, 2.0, 0.5]})
    >>> p = pd.DataFrame({"pid": ["a", "b"], "grp": ["T", "C"], "t": [5.0, 3.0], "ev": ["death", None]})
    >>> jd, ben = prepare_joint_data(m, p, id="pid", time="d", value="y", arm="grp", event_time="t",
    ...                              event="ev", active="T", reference="C", causes={"death": "lower"})
    >>> jd.n_patients, jd.n_obs, dict(jd.n_events), jd.cuts["death"]
    (2, 3, {'death': 1}, (0.0, inf))
    """
    if after_event not in ("error", "drop"):
        raise JointDataError(f"after_event must be 'error' or 'drop', got {after_event!r}")
    _require(measurements, "measurements", [id, time, value])
    _require(patients, "patients", [id, arm, event_time, event, *covariates])
    warnings: list[str] = []
    pat = patients[[id, arm, event_time, event, *covariates]].copy()
    pat[id] = pat[id].astype(str)
    dup = pat[id][pat[id].duplicated()]
    if len(dup):
        raise JointDataError(f"patients frame: patient id(s) {_rows(dup.unique())} appear more than once "
                             f"(column {id!r}); give one row per patient")
    bad_arm = pat.index[~pat[arm].isin([active, reference])]
    if len(bad_arm):
        raise JointDataError(f"patients frame, column {arm!r}: rows {_rows(bad_arm)} have arm(s) "
                             f"{_rows(pat.loc[bad_arm, arm].astype(str).unique())}; valid: {active!r} (active), "
                             f"{reference!r} (reference)")
    et = pd.to_numeric(pat[event_time], errors="coerce")
    bad_t = pat.index[~np.isfinite(et.to_numpy(float)) | (et.to_numpy(float) < 0)]
    if len(bad_t):
        raise JointDataError(f"patients frame, column {event_time!r}: rows {_rows(bad_t)} are missing, negative or "
                             "not numbers; give the event or censoring time (>= 0) of every patient")
    ev = pat[event].where(pat[event].notna(), None)
    ev = ev.map(lambda x: None if x is None or (isinstance(x, str) and x.strip() == "") else str(x))
    benefit = _cause_benefit(causes, sorted({x for x in ev if x is not None}))
    for c in covariates:
        cv = pd.to_numeric(pat[c], errors="coerce")
        if cv.isna().any():
            raise JointDataError(f"patients frame, covariate column {c!r}: rows {_rows(pat.index[cv.isna()])} are "
                                 "missing or not numeric (code binary covariates 0/1)")
    t_event = et.to_numpy(float)
    t_recorded = t_event.copy()  # measurements are checked against the recorded time, before follow-up censoring
    if followup is not None:
        late = t_event > followup
        if late.any():
            warnings.append(f"{int(late.sum())} patient(s) with an event or censoring time after follow-up "
                            f"({followup:g}) censored at {followup:g}")
            ev = ev.where(~late, None)
            t_event = np.minimum(t_event, followup)
    ids = pat[id].tolist()
    pos = {p: k for k, p in enumerate(ids)}

    meas = measurements[[id, time, value]].copy()
    meas[id] = meas[id].astype(str)
    unknown = meas.index[~meas[id].isin(pos)]
    if len(unknown):
        raise JointDataError(f"measurements frame: rows {_rows(unknown)} have patient id(s) "
                             f"{_rows(meas.loc[unknown, id].unique())} missing from the patients frame")
    mt = pd.to_numeric(meas[time], errors="coerce").to_numpy(float)
    my = pd.to_numeric(meas[value], errors="coerce").to_numpy(float)
    bad = meas.index[~np.isfinite(mt) | (mt < 0)]
    if len(bad):
        raise JointDataError(f"measurements frame, column {time!r}: rows {_rows(bad)} are missing, negative or "
                             "not numbers")
    nan_y = ~np.isfinite(my)
    if nan_y.any():
        warnings.append(f"{int(nan_y.sum())} measurement row(s) with a missing {value!r} left out")
    row_pat = meas[id].map(pos).to_numpy(int)
    beyond = np.zeros_like(nan_y) if followup is None else (mt > followup) & ~nan_y
    if beyond.any():
        warnings.append(f"{int(beyond.sum())} measurement row(s) after follow-up ({followup:g}) left out")
    after = (mt > t_recorded[row_pat]) & ~nan_y & ~beyond
    if after.any():
        where = meas.index[after]
        if after_event == "error":
            raise JointDataError(f"measurements frame: rows {_rows(where)} are measured after the patient's event or "
                                 f"censoring time (column {event_time!r}); the joint model assumes measurements stop "
                                 "at the event (pass after_event='drop' to leave them out, reported)")
        warnings.append(f"{int(after.sum())} measurement row(s) after the patient's event/censoring time left out")
    keep = ~nan_y & ~after & ~beyond
    mt, my, row_pat = mt[keep], my[keep], row_pat[keep]
    if mt.size < 3:
        raise JointDataError("measurements frame: fewer than 3 usable measurements")
    # a content-based order (patient, time, value) so that reordering rows changes no sum, not even its rounding
    o = np.lexsort((my, mt, row_pat))
    mt, my, row_pat = mt[o], my[o], row_pat[o]

    if scaling is None:
        ysorted = np.sort(my)
        sd = float(np.std(ysorted, ddof=1)) if my.size > 1 else 1.0
        scaling = Scaling(y_center=float(np.mean(ysorted)), y_scale=sd if sd > 0 else 1.0,
                          time_scale=float(mt.max()) if mt.max() > 0 else 1.0)
    ys, ts = (my - scaling.y_center) / scaling.y_scale, mt / scaling.time_scale
    n = len(ids)

    def sums(w: np.ndarray) -> np.ndarray:
        return np.bincount(row_pat, weights=w, minlength=n)

    cols = {"arm": (pat[arm] == active).to_numpy(float), "n_obs": sums(np.ones_like(ts)), "sum_t": sums(ts),
            "sum_tt": sums(ts * ts), "sum_y": sums(ys), "sum_ty": sums(ts * ys), "sum_yy": sums(ys * ys),
            "time": t_event / scaling.time_scale}
    cut_map: dict[str, tuple[float, ...]] = {}
    n_events: dict[str, int] = {}
    for cause in benefit:
        is_ev = np.array([x == cause for x in ev], dtype=float)
        n_events[cause] = int(is_ev.sum())
        given = None if cuts is None else cuts.get(cause)
        if given is None:
            c = default_cuts(t_event[is_ev == 1], n_pieces)
        else:
            inner = sorted(float(x) for x in given if 0 < float(x) < np.inf)
            c = (0.0, *inner, float("inf"))
        cut_map[cause] = c
        lo = np.asarray(c[:-1]) / scaling.time_scale
        hi = np.asarray(c[1:]) / scaling.time_scale
        tt = cols["time"][:, None]
        expo = np.clip(np.minimum(tt, hi[None, :]) - lo[None, :], 0.0, None)
        piece = np.clip(np.searchsorted(lo, cols["time"], side="right") - 1, 0, len(lo) - 1)
        onehot = np.zeros_like(expo)
        onehot[np.arange(n), piece] = 1.0
        cols[f"event:{cause}"] = is_ev
        # centre of the log baseline hazards' prior: the crude rate (events per unit of scaled time at risk),
        # unless given (log hazard per day)
        if baseline_center is not None and cause in baseline_center:
            centre = float(baseline_center[cause]) + np.log(scaling.time_scale)
        else:
            centre = float(np.log(max(is_ev.sum(), 0.5) / max(expo.sum(), 1e-9)))
        cols[f"base_center:{cause}"] = np.full(n, centre)
        for j in range(len(lo)):
            cols[f"exposure:{cause}[{j}]"] = expo[:, j]
            cols[f"piece:{cause}[{j}]"] = onehot[:, j]
            cols[f"start:{cause}[{j}]"] = np.full(n, lo[j])
    for c in covariates:
        v = pd.to_numeric(pat[c]).to_numpy(float)
        cols[f"cov:{c}"] = v - v.mean()
    layout = {k: j for j, k in enumerate(cols)}
    packed = np.column_stack([cols[k] for k in layout]).astype(float)
    # patients in an order given by their data, not by ids or row order (renaming or reordering changes no number)
    cause_code = np.array([-1 if x is None else list(benefit).index(x) for x in ev], dtype=float)
    # np.lexsort: the last key is the primary one (arm, then time, then event type, then every other column)
    keys = [packed[:, j] for j in reversed(range(packed.shape[1]))] + [cause_code, cols["time"], cols["arm"]]
    order = np.lexsort(keys)
    packed = packed[order]
    ids = [ids[k] for k in order]
    return JointData(packed=packed, layout=layout, causes=tuple(benefit), cuts=cut_map,
                     covariates=tuple(covariates), scaling=scaling, ids=tuple(ids), n_obs=int(mt.size),
                     n_events=n_events, warnings=tuple(warnings)), benefit


def events_from_columns(patients: pd.DataFrame, *, id: str, columns: Mapping[str, str], followup: float | None = None,
                        censor_column: str | None = None) -> pd.DataFrame:
    """One event time and type per patient from event-day columns (a trial's ``[events.*]``).

    The first event is the patient's event (competing events: a later one is
    not observed in this model); a patient with none is censored at
    ``censor_column`` (last day known event-free) or else at ``followup``.

    Parameters
    ----------
    patients : pandas.DataFrame
        One row per patient; not modified.
    id : str
        Patient id column.
    columns : mapping of str to str
        Event type -> column holding its day (empty = no such event).
    followup, censor_column
        Censoring day of patients without an event (one of them is needed
        when such patients exist).

    Returns
    -------
    pandas.DataFrame
        ``id``, ``event_time``, ``event`` (event type or None), ``note``
        (ties between event types, or ``""``).

    Examples
    --------
    >>> p = pd.DataFrame({"pid": ["a", "b", "c"], "death_day": [3, None, None], "out_day": [None, 9, None]})
    >>> e = events_from_columns(p, id="pid", columns={"death": "death_day", "discharge": "out_day"}, followup=28)
    >>> e.event_time.tolist(), e.event.tolist()
    ([3.0, 9.0, 28.0], ['death', 'discharge', None])
    """
    _require(patients, "patients", [id, *columns.values(), *([censor_column] if censor_column else [])])
    days = pd.DataFrame({k: pd.to_numeric(patients[c], errors="coerce") for k, c in columns.items()})
    for k, c in columns.items():
        bad = patients.index[patients[c].notna() & days[k].isna()]
        if len(bad):
            raise JointDataError(f"patients frame, column {c!r}: rows {_rows(bad)} are not numbers (event days)")
    if not columns:
        raise JointDataError("columns is empty: name at least one event type and its day column")
    arr = days.to_numpy(float)
    filled = np.where(np.isnan(arr), np.inf, arr)
    first = pd.Series(np.where(np.isfinite(filled.min(axis=1)), filled.min(axis=1), np.nan), index=patients.index)
    names = list(columns)
    event = [names[j] if np.isfinite(v) else None for j, v in zip(filled.argmin(axis=1), filled.min(axis=1))]
    tied = (filled == filled.min(axis=1, keepdims=True)) & np.isfinite(filled)
    note = ["tie between " + ", ".join(n for n, t in zip(names, row) if t) + "; the first named in columns counted"
            if row.sum() > 1 else "" for row in tied]
    cens = pd.Series(np.nan, index=patients.index)
    if censor_column:
        cens = pd.to_numeric(patients[censor_column], errors="coerce")
    if followup is not None:
        cens = cens.fillna(float(followup))
    none = first.isna() & cens.isna()
    if none.any():
        raise JointDataError(f"patients frame: rows {_rows(patients.index[none])} have no event and no censoring day; "
                             "pass followup= or censor_column=")
    return pd.DataFrame({id: patients[id].to_numpy(), "event_time": first.fillna(cens).to_numpy(float),
                         "event": pd.Series(event, dtype=object).to_numpy(), "note": note})
