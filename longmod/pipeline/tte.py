"""Time-to-event data of a plan analysis: event times, competing events and censoring, from trial.toml.

An analysis names its event in the ``event`` option:

* a declared event (``event = "oxygen_stop"``: an ``[events.*]`` table of
  trial.toml, whose column holds the event day);
* a threshold reached by a measured variable (``event = { variable =
  "pf_ratio", above = 200 }``, or ``below``): the first scheduled day after
  the baseline with a value beyond the threshold; patients already beyond it
  at baseline are left out (counted in ``n_dropped`` and the warnings);
* the end of a measured state (``event = { variable = "driving_pressure",
  stops = true }``): among patients measured at baseline, the first scheduled
  day on which they are alive and still in follow-up but no longer measured
  (e.g. weaning from ventilation when driving pressure is recorded only
  under ventilation); a discharge (a ``censor`` event) while still in the
  state ends it on the discharge day (nobody leaves the ICU ventilated).

Derived events fall on scheduled days: an event between two visits is dated
at the later one (the warning says so). Competing events (``competing``,
default: every death event other than the event itself) end follow-up with
code 2; discharge events censor a derived event (``censor``, default: every
discharge event for a derived event, none for a declared one); follow-up ends
at ``horizon`` (default: trial.toml's ``followup_days``). Ties: an event and a
competing event on the same day count as the event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Event codes of :func:`event_table`.
CENSORED, EVENT, COMPETING = 0, 1, 2


@dataclass(frozen=True)
class EventTable:
    """One row per analysed patient: ``patient_id``, ``arm``, ``time``, ``code`` (0/1/2) and the patient covariates.

    Examples
    --------
    >>> from longmod.data import load_trial
    >>> from longmod.resources import fixtures_dir
    >>> et = event_table(load_trial(fixtures_dir() / "stroma_cov2"), {"event": "death", "horizon": 28})
    >>> et.event, et.horizon, list(et.frame.columns[:4])
    ('death', 28.0, ['patient_id', 'arm', 'time', 'code'])
    >>> int(et.truncated(7)["time"].max())
    7
    """

    frame: pd.DataFrame
    event: str
    horizon: float
    competing: tuple[str, ...]
    censoring: tuple[str, ...]
    n_dropped: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)
    #: how the event was derived (method statements: the rows' ``note``, not warnings)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_competing(self) -> bool:
        """Any competing event during follow-up."""
        return bool((self.frame["code"] == COMPETING).any())

    def truncated(self, day: float) -> pd.DataFrame:
        """The table with follow-up ended at ``day`` (later events censored there)."""
        f = self.frame.copy()
        late = f["time"] > day
        f.loc[late, "code"] = CENSORED
        f.loc[late, "time"] = float(day)
        return f


def event_name(spec) -> str:
    """A short name of an event option (the declared name, or ``pf_ratio_above_200``).

    Examples
    --------
    >>> event_name("death"), event_name({"variable": "pao2_fio2", "above": 200})
    ('death', 'pao2_fio2_above_200')
    >>> event_name({"variable": "oxygen", "stops": True})
    'oxygen_stops'
    """
    if isinstance(spec, str):
        return spec
    v = spec.get("variable", "?")
    for k in ("above", "below"):
        if k in spec:
            return f"{v}_{k}_{spec[k]:g}"
    return f"{v}_stops"


def check_event(meta, measured: set[str], opts: Mapping, where: str) -> list[str]:
    """Problems of an analysis's ``event``, ``competing``, ``censor`` and ``horizon`` options.

    Examples
    --------
    >>> from longmod.data import read_trial_toml
    >>> from longmod.resources import fixtures_dir
    >>> meta = read_trial_toml(fixtures_dir() / "stroma_cov2" / "trial.toml")
    >>> check_event(meta, {"pao2_fio2"}, {"event": "death", "horizon": 28}, "analysis 'x'")
    []
    >>> check_event(meta, {"pao2_fio2"}, {"event": {"variable": "pao2_fio2", "above": 200, "stops": True}, "horizon": 28}, "analysis 'x'")
    ["analysis 'x': event table needs variable and exactly one of above, below or stops = true, got {'variable': 'pao2_fio2', 'above': 200, 'stops': True}"]
    """
    problems = []
    spec = opts.get("event")
    declared = list(meta.events)
    if spec is None:
        return [f"{where}: needs event = (a declared event: {', '.join(declared) or 'none declared'}; or "
                "{ variable = ..., above = ... } / { variable = ..., stops = true })"]
    if isinstance(spec, str):
        if spec not in meta.events:
            problems.append(f"{where}: event {spec!r} is not declared in trial.toml; declared events: "
                            f"{', '.join(declared) or 'none'}")
    else:
        v = spec.get("variable")
        keys = set(spec) - {"variable"}
        if v not in measured:
            problems.append(f"{where}: event variable {v!r} is not measured; measured: {', '.join(sorted(measured))}")
        if len(keys & {"above", "below", "stops"}) != 1 or keys - {"above", "below", "stops"}:
            problems.append(f"{where}: event table needs variable and exactly one of above, below or stops = true, "
                            f"got {dict(spec)!r}")
    for key in ("competing", "censor"):
        for e in opts.get(key, []) or []:
            if e not in meta.events:
                problems.append(f"{where}: {key} event {e!r} is not declared in trial.toml; declared: "
                                f"{', '.join(declared) or 'none'}")
    if opts.get("horizon") is None and meta.followup_days is None:
        problems.append(f"{where}: the end of follow-up is unknown: give horizon = <days> or [trial] followup_days")
    return problems


def _declared_days(patients: pd.DataFrame, meta, name: str) -> pd.Series:
    col = meta.events[name].column
    return pd.to_numeric(patients[col], errors="coerce")


def _derived_days(trial, spec, patients: pd.DataFrame, ends: tuple[pd.Series, pd.Series]
                  ) -> tuple[pd.Series, pd.Index, list[str], list[str]]:
    """(event day per patient, patients analysed, warnings, method notes) of a measurement-derived event."""
    meta = trial.meta
    v = trial.variable(spec["variable"])
    v = v[v["value"].notna()]
    base_day = meta.baseline_day
    post = [d for d in meta.schedule if d > base_day]
    base = v[v["day"] == base_day].set_index("patient_id")["value"]
    warnings: list[str] = []
    notes = [f"{event_name(spec)}: derived from scheduled measurements; an event between two visits is dated at "
             "the later visit (interval-censored)"]
    day = pd.Series(np.nan, index=patients["patient_id"])
    if "stops" in spec:
        keep = patients["patient_id"][patients["patient_id"].isin(base.index)]
        byp = v.groupby("patient_id")["day"].apply(set)
        for pid in keep:
            days = byp.get(pid, set())
            dead, out = ends[0].get(pid, np.nan), ends[1].get(pid, np.nan)
            for d in post:
                if not np.isnan(dead) and d >= dead:
                    break
                if not np.isnan(out) and d >= out:  # left follow-up (e.g. ICU discharge) still in the state: ended by then
                    day[pid] = float(out)
                    break
                if d not in days:
                    day[pid] = float(d)
                    break
        notes.append("a discharge while still in the state counts as the end of the state on the discharge day")
        dropped = len(patients) - len(keep)
        if dropped:
            warnings.append(f"{dropped} patient(s) not measured at baseline (not in the state) are not analysed")
        return day, pd.Index(keep), warnings, notes
    op = (lambda x: x > spec["above"]) if "above" in spec else (lambda x: x < spec["below"])
    met_at_base = base[op(base)].index
    keep = patients["patient_id"][patients["patient_id"].isin(base.index) & ~patients["patient_id"].isin(met_at_base)]
    hit = v[v["day"].isin(post) & op(v["value"])].groupby("patient_id")["day"].min()
    day.loc[hit.index.intersection(day.index)] = hit.astype(float)
    dropped = len(patients) - len(keep)
    if dropped:
        warnings.append(f"{dropped} patient(s) already beyond the threshold at baseline (or without a baseline value) "
                        "are not analysed")
    return day, pd.Index(keep), warnings, notes


def event_table(trial, opts: Mapping) -> EventTable:
    """Event time and code per patient for an analysis's event options (see the module docstring).

    Parameters
    ----------
    trial : TrialData
    opts : mapping
        The analysis options: ``event``, optional ``competing``, ``censor``, ``horizon``.

    Returns
    -------
    EventTable

    Examples
    --------
    >>> from longmod.data import load_trial
    >>> from longmod.resources import fixtures_dir
    >>> t = event_table(load_trial(fixtures_dir() / "gregoire_2022"), {"event": "death"})
    >>> t.horizon, int((t.frame["code"] == 1).sum()), t.competing
    (60.0, 7, ())
    """
    meta = trial.meta
    pts = trial.patients
    spec = opts["event"]
    name = event_name(spec)
    horizon = float(opts.get("horizon", meta.followup_days if meta.followup_days is not None else math.nan))
    derived = not isinstance(spec, str)
    deaths = [e.name for e in meta.events_of_kind("death")]
    competing = tuple(opts.get("competing", [d for d in deaths if d != spec]))
    censoring = tuple(opts.get("censor", [e.name for e in meta.events_of_kind("discharge")] if derived else []))
    idx = pts.set_index("patient_id")
    comp = pd.concat([_declared_days(pts, meta, c).set_axis(pts["patient_id"]) for c in competing], axis=1).min(axis=1) \
        if competing else pd.Series(np.nan, index=pts["patient_id"])
    cens = [_declared_days(pts, meta, c).set_axis(pts["patient_id"]) for c in censoring]
    for e in meta.events.values():
        if e.censor_column and (e.name == spec or e.name in competing):
            cens.append(pd.to_numeric(idx[e.censor_column], errors="coerce"))
    cens_day = pd.concat(cens, axis=1).min(axis=1) if cens else pd.Series(np.nan, index=pts["patient_id"])
    warnings: list[str] = []
    notes: list[str] = []
    if derived:
        ev, keep, warnings, notes = _derived_days(trial, spec, pts, (comp, cens_day))
    else:
        ev = _declared_days(pts, meta, spec).set_axis(pts["patient_id"])
        keep = pd.Index(pts["patient_id"])
    rows = []
    for pid in keep:
        t_e, t_c, t_x = ev.get(pid, np.nan), comp.get(pid, np.nan), cens_day.get(pid, np.nan)
        end = np.nanmin([t_x, horizon])
        if not np.isnan(t_e) and t_e <= end and (np.isnan(t_c) or t_e <= t_c):
            rows.append((pid, float(t_e), EVENT))
        elif not np.isnan(t_c) and t_c <= end:
            rows.append((pid, float(t_c), COMPETING))
        else:
            rows.append((pid, float(end), CENSORED))
    f = pd.DataFrame(rows, columns=["patient_id", "time", "code"])
    covs = [c for c in meta.covariates if c in idx.columns]
    f = f.merge(pts[["patient_id", "arm", *covs]], on="patient_id")[["patient_id", "arm", "time", "code", *covs]]
    if f["time"].isna().any():
        raise ValueError(f"event {name!r}: patients without an event have no end of follow-up; give horizon = <days>")
    return EventTable(f, name, horizon, competing, censoring, len(pts) - len(keep), tuple(warnings), tuple(notes))
