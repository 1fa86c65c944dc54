"""Apply an Estimand to TrialData: the analysis data set, value by value.

Every analysed value keeps how it was obtained: ``source`` is ``observed``,
``imputed`` or ``missing`` and ``rule`` names the rule (``death: composite 0``,
``discharge: LOCF x 1.10``, ...). The intercurrent events are the trial's
declared events (``trial.toml`` ``[events.*]``): the estimand's ``death``
strategy applies to events of kind ``death``, its ``discharge`` strategy to
events of kind ``discharge``. Events of kind ``other`` do not change how a value
is analysed (treatment policy); a value missing after one falls under
``other_missing``. Nothing in the TrialData is modified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from longmod.data.trial import TrialData
from longmod.spec.estimand import Estimand

#: Columns of :attr:`AnalysisData.frame` besides the trial's covariates (which follow ``arm``).
ANALYSIS_COLUMNS: tuple[str, ...] = (
    "patient_id", "arm", "baseline", "value", "change", "source", "rule", "event", "event_day", "last_observed_day",
)


@dataclass(frozen=True)
class AnalysisData:
    """Analysis-ready data for one estimand: one row per patient.

    Attributes
    ----------
    estimand : Estimand
    frame : pandas.DataFrame
        ``patient_id``, ``arm``, every declared covariate of the trial (its
        column name; categorical covariates as pandas Categorical with the
        declared levels), ``doses_received`` when the trial plans doses, then
        ``baseline`` (value at the baseline day), ``value`` (at the endpoint
        day, observed or imputed), ``change`` (value - baseline), ``source``
        (``observed``, ``imputed``, ``missing``), ``rule`` (how the value was
        obtained), ``event`` (``death``, ``discharge``, ``none``),
        ``event_day`` and ``last_observed_day``. Rows excluded by the estimand
        (population, ``exclude`` strategies) are absent; values left missing
        (``hypothetical``) have ``source = "missing"`` and NaN value.
    excluded : pandas.DataFrame
        ``patient_id`` and ``reason`` of every patient left out.
    trial_name : str
    synthetic : bool
    covariates : tuple of str
        The covariate columns of ``frame``.
    """

    estimand: Estimand
    frame: pd.DataFrame
    excluded: pd.DataFrame
    trial_name: str
    synthetic: bool
    covariates: tuple[str, ...] = ()

    @property
    def complete(self) -> pd.DataFrame:
        """Rows with an analysable value (observed or imputed), as a copy."""
        return self.frame[self.frame["source"] != "missing"].copy()

    def counts(self) -> pd.DataFrame:
        """Patients by arm and rule (the imputation table)."""
        return self.frame.groupby(["arm", "rule"]).size().rename("n").reset_index()


def patient_events(trial: TrialData) -> pd.DataFrame:
    """Each patient's earliest death and discharge day from the trial's declared events.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``death_day``, ``discharge_day`` (NaN when none), in
        the order of the patients table.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.data import EventInfo, TrialMeta, from_frames
    >>> meta = TrialMeta(name="t", arms=("a", "b"), reference_arm="b", schedule=(0, 7),
    ...                  events={"dead": EventInfo("dead", "d_day", "death")})
    >>> pts = pd.DataFrame({"patient_id": ["p1", "p2"], "arm": ["a", "b"], "d_day": [3, None]})
    >>> ms = pd.DataFrame({"patient_id": ["p1", "p2"], "day": [0, 0], "variable": "y", "value": [1.0, 2.0]})
    >>> patient_events(from_frames(pts, ms, meta))["death_day"].tolist()
    [3.0, nan]
    """
    pts = trial.patients
    out = pd.DataFrame({"patient_id": pts["patient_id"]})
    for kind in ("death", "discharge"):
        cols = [e.column for e in trial.meta.events_of_kind(kind)]
        out[f"{kind}_day"] = pts[cols].min(axis=1).astype(float) if cols else np.nan
    return out


def _event(death: float, discharge: float) -> tuple[str, float]:
    """Earliest intercurrent event of a patient: ('death'|'discharge'|'none', day); death wins a tie."""
    if pd.notna(death) and (pd.isna(discharge) or death <= discharge):
        return "death", float(death)
    if pd.notna(discharge):
        return "discharge", float(discharge)
    return "none", np.nan


def apply_estimand(trial: TrialData, estimand: Estimand) -> AnalysisData:
    """Turn trial data into one-row-per-patient analysis data for ``estimand``.

    Rules, for a patient without an observed value on ``estimand.day``:

    * died (an event of kind ``death``) on or before that day -> the death
      strategy (``composite``: the declared value; ``locf``: last observed
      value; ``hypothetical``: left missing; ``exclude``: patient dropped);
    * discharged (an event of kind ``discharge``) on or before that day -> the
      discharge strategy (``locf_multiplier``: last observed value x factor;
      ``locf_plus_baseline_fraction``: last observed value + factor x
      baseline; ``locf``; ``hypothetical``; ``exclude``);
    * otherwise -> the ``other_missing`` strategy.

    The last observed value is the latest non-missing value on or before the
    endpoint day (and on or before the event day). The per-protocol population
    keeps patients who received every planned dose.

    Parameters
    ----------
    trial : TrialData
    estimand : Estimand

    Returns
    -------
    AnalysisData

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.data import EventInfo, TrialMeta, VariableInfo, from_frames
    >>> from longmod.spec.estimand import Estimand
    >>> meta = TrialMeta(name="t", arms=("a", "b"), reference_arm="b", schedule=range(8),
    ...                  variables={"pf": VariableInfo("pf", min=20, max=700)},
    ...                  events={"death": EventInfo("death", "died", "death"),
    ...                          "out": EventInfo("out", "left_icu", "discharge")})
    >>> pts = pd.DataFrame({"patient_id": ["p1", "p2", "p3"], "arm": ["a", "b", "a"],
    ...                     "died": [None, 3, None], "left_icu": [5, None, None]})
    >>> ms = pd.DataFrame({"patient_id": ["p1", "p1", "p2", "p3", "p3"], "day": [0, 4, 0, 0, 7],
    ...                    "variable": "pf", "value": [100.0, 200.0, 150.0, 120.0, 180.0]})
    >>> e = Estimand("e", "pf", day=7, death={"strategy": "composite", "value": 50},
    ...              discharge={"strategy": "locf_multiplier", "factor": 1.1})
    >>> ad = apply_estimand(from_frames(pts, ms, meta), e)
    >>> ad.frame[["patient_id", "value", "rule"]].to_string(index=False)
    'patient_id  value                    rule\\n        p1  220.0 discharge: LOCF x 1.10\\n        p2   50.0  death: composite 50\\n        p3  180.0                observed'
    """
    e = estimand
    meta = trial.meta
    base_day = meta.baseline_day if e.baseline_day is None else e.baseline_day
    pts = trial.patients
    meas = trial.measurements
    v = meas[(meas["variable"] == e.outcome) & meas["value"].notna()]
    if v.empty:
        raise KeyError(f"estimand {e.name!r}: outcome {e.outcome!r} has no values in trial {meta.name!r}")
    by_pid = {pid: g.sort_values("day") for pid, g in v.groupby("patient_id")}
    events = patient_events(trial).set_index("patient_id")
    covariates = tuple(meta.covariates)
    keep = ["patient_id", "arm", *covariates] + (["doses_received"] if meta.doses_planned is not None else [])

    rows, excluded = [], []
    planned = meta.doses_planned
    for i, pid in enumerate(pts["patient_id"]):
        if e.population == "per_protocol" and planned is not None and pts.at[i, "doses_received"] < planned:
            excluded.append((pid, f"per protocol: received {pts.at[i, 'doses_received']} of {planned} doses"))
            continue
        g = by_pid.get(pid)
        base = np.nan
        if g is not None:
            b = g[g["day"] == base_day]
            base = float(b["value"].iloc[0]) if len(b) else np.nan
        if np.isnan(base):
            excluded.append((pid, f"no baseline (day {base_day}) value"))
            continue
        event, eday = _event(events.at[pid, "death_day"], events.at[pid, "discharge_day"])
        at_day = g[g["day"] == e.day]
        upto = g[g["day"] <= (min(e.day, eday) if event != "none" else e.day)]
        last_day = float(upto["day"].iloc[-1]) if len(upto) else np.nan
        last_val = float(upto["value"].iloc[-1]) if len(upto) else np.nan
        if len(at_day):
            value, source, rule = float(at_day["value"].iloc[0]), "observed", "observed"
        else:
            if event != "none" and eday <= e.day:
                s = e.death if event == "death" else e.discharge
                label = event
            else:
                s, label = e.other_missing, "missing"
            if s.name == "exclude":
                excluded.append((pid, f"{label} before day {e.day}: excluded by the estimand"))
                continue
            if s.name == "composite":
                value, rule = float(s.value), f"{label}: composite {s.value:g}"
            elif s.name == "locf":
                value, rule = last_val, f"{label}: LOCF"
            elif s.name == "locf_multiplier":
                value, rule = last_val * s.factor, f"{label}: LOCF x {s.factor:.2f}"
            elif s.name == "locf_plus_baseline_fraction":
                value, rule = last_val + s.factor * base, f"{label}: LOCF + {s.factor:.0%} of baseline"
            else:  # hypothetical
                value, rule = np.nan, f"{label}: hypothetical (missing)"
            source = "missing" if np.isnan(value) else "imputed"
        rows.append({
            "row": i, "baseline": base, "value": value, "change": value - base, "source": source, "rule": rule,
            "event": event, "event_day": eday, "last_observed_day": last_day,
        })
    values = pd.DataFrame(rows, columns=["row", *ANALYSIS_COLUMNS[2:]])
    frame = pts.loc[values["row"].to_numpy(), keep].reset_index(drop=True)
    frame = pd.concat([frame, values.drop(columns="row").reset_index(drop=True)], axis=1)
    excl = pd.DataFrame(excluded, columns=["patient_id", "reason"])
    return AnalysisData(e, frame, excl, meta.name, meta.synthetic, covariates)
