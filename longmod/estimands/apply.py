"""Apply an Estimand to TrialData: the analysis data set, value by value.

Every analysed value keeps how it was obtained: ``source`` is ``observed`` or
``imputed`` and ``rule`` names the rule (``death: composite 50``,
``discharge: LOCF x 1.10``, ...). Nothing in the TrialData is modified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from longmod.data.trial import TrialData
from longmod.spec.estimand import Estimand

#: Columns of :attr:`AnalysisData.frame`.
ANALYSIS_COLUMNS: tuple[str, ...] = (
    "patient_id", "arm", "age_gt70", "sofa_gt11", "doses_received", "baseline", "value", "change",
    "source", "rule", "event", "event_day", "last_observed_day",
)


@dataclass(frozen=True)
class AnalysisData:
    """Analysis-ready data for one estimand: one row per patient.

    Attributes
    ----------
    estimand : Estimand
    frame : pandas.DataFrame
        Columns :data:`ANALYSIS_COLUMNS`: ``baseline`` (value at the baseline
        day), ``value`` (at the endpoint day, observed or imputed), ``change``
        (value - baseline), ``source`` (``observed``, ``imputed``, ``missing``),
        ``rule`` (how the value was obtained), ``event`` (``death``,
        ``discharge``, ``none``), ``event_day`` and ``last_observed_day``.
        Rows excluded by the estimand (population, ``exclude`` strategies) are
        absent; values left missing (``hypothetical``) have ``source =
        "missing"`` and NaN value.
    excluded : pandas.DataFrame
        ``patient_id`` and ``reason`` of every patient left out.
    trial_name : str
    synthetic : bool
    """

    estimand: Estimand
    frame: pd.DataFrame
    excluded: pd.DataFrame
    trial_name: str
    synthetic: bool

    @property
    def complete(self) -> pd.DataFrame:
        """Rows with an analysable value (observed or imputed), as a copy."""
        return self.frame[self.frame["source"] != "missing"].copy()

    def counts(self) -> pd.DataFrame:
        """Patients by arm and rule (the imputation table)."""
        return self.frame.groupby(["arm", "rule"]).size().rename("n").reset_index()


def _event(row) -> tuple[str, float]:
    """Earliest intercurrent event of a patient: ('death'|'discharge'|'none', day)."""
    d, c = row["death_day"], row["icu_discharge_day"]
    if pd.notna(d) and (pd.isna(c) or d <= c):
        return "death", float(d)
    if pd.notna(c):
        return "discharge", float(c)
    return "none", np.nan


def apply_estimand(trial: TrialData, estimand: Estimand) -> AnalysisData:
    """Turn trial data into one-row-per-patient analysis data for ``estimand``.

    Rules, for a patient without an observed value on ``estimand.day``:

    * died on or before that day -> the death strategy (``composite``: the
      fixed value, default 50; ``locf``: last observed value; ``hypothetical``:
      left missing; ``exclude``: patient dropped);
    * discharged from ICU on or before that day -> the discharge strategy
      (``locf_multiplier``: last observed value x factor, default 1.10, the
      STROMA-CoV-2 "LOCF + 10%"; ``locf_plus_baseline_fraction``: last
      observed value + factor x baseline, the additive reading; ``locf``;
      ``hypothetical``; ``exclude``);
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
    >>> from longmod.data import TrialMeta, VariableInfo, from_frames
    >>> from longmod.spec.estimand import Estimand
    >>> meta = TrialMeta(name="t", arms=("a", "b"), reference_arm="b", schedule=range(8),
    ...                  variables={"pf": VariableInfo("pf", min=20, max=700)})
    >>> pts = pd.DataFrame({"patient_id": ["p1", "p2", "p3"], "arm": ["a", "b", "a"],
    ...                     "age_gt70": 0, "sofa_gt11": 0, "death_day": [None, 3, None],
    ...                     "icu_discharge_day": [5, None, None], "doses_received": 3})
    >>> ms = pd.DataFrame({"patient_id": ["p1", "p1", "p2", "p3", "p3"], "day": [0, 4, 0, 0, 7],
    ...                    "variable": "pf", "value": [100.0, 200.0, 150.0, 120.0, 180.0]})
    >>> ad = apply_estimand(from_frames(pts, ms, meta), Estimand("e", "pf", day=7))
    >>> ad.frame[["patient_id", "value", "rule"]].to_string(index=False)
    'patient_id  value                    rule\\n        p1  220.0 discharge: LOCF x 1.10\\n        p2   50.0  death: composite 50\\n        p3  180.0                observed'
    """
    e = estimand
    pts = trial.patients
    meas = trial.measurements
    v = meas[(meas["variable"] == e.outcome) & meas["value"].notna()]
    if v.empty:
        raise KeyError(f"estimand {e.name!r}: outcome {e.outcome!r} has no values in trial {trial.meta.name!r}")
    by_pid = {pid: g.sort_values("day") for pid, g in v.groupby("patient_id")}

    rows, excluded = [], []
    planned = trial.meta.doses_planned
    for _, p in pts.iterrows():
        pid = p["patient_id"]
        if e.population == "per_protocol" and planned is not None and p["doses_received"] < planned:
            excluded.append((pid, f"per protocol: received {p['doses_received']} of {planned} doses"))
            continue
        g = by_pid.get(pid)
        base = np.nan
        if g is not None:
            b = g[g["day"] == e.baseline_day]
            base = float(b["value"].iloc[0]) if len(b) else np.nan
        if np.isnan(base):
            excluded.append((pid, f"no baseline (day {e.baseline_day}) value"))
            continue
        event, eday = _event(p)
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
        rows.append(
            {
                "patient_id": pid, "arm": p["arm"], "age_gt70": int(p["age_gt70"]), "sofa_gt11": int(p["sofa_gt11"]),
                "doses_received": int(p["doses_received"]), "baseline": base, "value": value,
                "change": value - base, "source": source, "rule": rule, "event": event,
                "event_day": eday, "last_observed_day": last_day,
            }
        )
    frame = pd.DataFrame(rows, columns=list(ANALYSIS_COLUMNS))
    excl = pd.DataFrame(excluded, columns=["patient_id", "reason"])
    return AnalysisData(e, frame, excl, trial.meta.name, trial.meta.synthetic)
