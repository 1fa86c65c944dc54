"""Simulate one trial of a scenario: trajectories, deaths, ICU discharges and the composite endpoint.

Arrays, not DataFrames: the simulation study simulates and analyses thousands
of trials, so one trial is a handful of NumPy arrays (:class:`SimulatedTrial`).
:meth:`SimulatedTrial.to_frames` gives the patients and measurements tables of
a trial folder, so a simulated trial can also go through longmod's ordinary
route (``apply_estimand``, ``reanalyse``); a test checks that the composite
endpoint computed here equals what ``apply_estimand`` gives on those tables.

The model (see :mod:`longmod.simulate.scenario`):

* baseline ``y0 ~ N(baseline_mean, baseline_sd^2)``;
* change at post-baseline day ``t``: ``change_mean(t) + effect * min(t, T) / T
  * active + baseline_slope * (y0 - baseline_mean) + e(t)`` with ``T`` the
  endpoint day and ``e`` multivariate normal with ``cov(e(t), e(s)) = sd_t sd_s
  correlation^|t - s|``; values are clipped to ``[min, max]`` and rounded;
* on each day ``d = 1, 2, ...`` a patient still alive in the ICU dies with
  probability ``h_death(d)``, else leaves the ICU with probability
  ``h_discharge(d)``; both hazards are logit-linear in the patient's latest
  value before ``d``; values on or after the event day are not observed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from longmod.simulate.scenario import Scenario
from longmod.spec.estimand import Estimand


@dataclass(frozen=True)
class SimulatedTrial:
    """One simulated trial (patients in rows).

    Attributes
    ----------
    active : ndarray of int, (n,)
        1 for the active arm, 0 for the reference arm.
    baseline : ndarray (n,)
    values : ndarray (n, K)
        Observed values at the K post-baseline days (NaN after death or ICU discharge).
    complete : ndarray (n, K)
        The values had nobody died or left the ICU (the hypothetical estimand's data).
    death_day, discharge_day : ndarray (n,)
        Event days (NaN: no event).
    days : ndarray (K,)
    """

    active: np.ndarray
    baseline: np.ndarray
    values: np.ndarray
    complete: np.ndarray
    death_day: np.ndarray
    discharge_day: np.ndarray
    days: np.ndarray

    def to_frames(self, scenario: Scenario, *, prefix: str = "P") -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(patients, measurements)`` tables in longmod's trial-folder layout.

        Examples
        --------
        >>> from longmod.resources import models_dir
        >>> from longmod.simulate.scenario import load_scenario
        >>> s = load_scenario(models_dir() / "scenarios" / "stroma_cov2_null.toml")
        >>> pts, ms = simulate_trial(s, 10, 0.0, np.random.default_rng(1)).to_frames(s)
        >>> len(pts), sorted(ms["day"].unique())[:2]
        (20, [0, 1])
        """
        n = len(self.active)
        ids = [f"{prefix}{i + 1:05d}" for i in range(n)]
        arms = np.where(self.active == 1, scenario.active_arm, scenario.reference_arm)
        patients = pd.DataFrame({"patient_id": ids, "arm": arms, "death_day": self.death_day,
                                 "icu_discharge_day": self.discharge_day})
        days = np.concatenate([[scenario.schedule[0]], self.days]).astype(int)
        vals = np.column_stack([self.baseline, self.values])
        pid = np.repeat(ids, len(days))
        long = pd.DataFrame({"patient_id": pid, "day": np.tile(days, n), "variable": scenario.outcome.name,
                             "value": vals.ravel()})
        return patients, long[long["value"].notna()].reset_index(drop=True)


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def simulate_trial(scenario: Scenario, n_per_arm: int, effect: float, rng: np.random.Generator) -> SimulatedTrial:
    """Simulate one trial with ``n_per_arm`` patients per arm and true ``effect``.

    The draws are made in a fixed order from ``rng``, so a trial depends only
    on its generator's seed (see :func:`longmod.simulate.run.trial_rng`).

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> from longmod.simulate.scenario import load_scenario
    >>> s = load_scenario(models_dir() / "scenarios" / "stroma_cov2_null.toml")
    >>> t = simulate_trial(s, 20, 0.0, np.random.default_rng(3))
    >>> t.values.shape == (40, len(s.schedule) - 1), int(t.active.sum())
    (True, 20)
    """
    return simulate_patients(scenario, np.repeat([1, 0], n_per_arm), effect, rng)


def simulate_patients(scenario: Scenario, active: np.ndarray, effect: float, rng: np.random.Generator) -> SimulatedTrial:
    """Simulate patients with the given arm indicators (1 = active); :func:`simulate_trial` puts the arms in blocks.

    The random draws do not depend on ``active``: the same generator state gives
    the same patients under either arm (potential outcomes with common random
    numbers; :func:`longmod.simulate.summary.true_values` uses this).
    """
    o = scenario.outcome
    active = np.asarray(active, int)
    n = len(active)
    days = scenario.post_days
    baseline = np.round(np.clip(rng.normal(o.baseline_mean, o.baseline_sd, n), o.min, o.max), o.decimals)
    ramp = np.minimum(days, scenario.endpoint_day) / scenario.endpoint_day
    chol = np.linalg.cholesky(o.covariance(days))
    noise = rng.standard_normal((n, len(days))) @ chol.T
    change = (np.asarray(o.change_mean)[None, :] + effect * ramp[None, :] * active[:, None]
              + o.baseline_slope * (baseline - o.baseline_mean)[:, None] + noise)
    complete = np.round(np.clip(baseline[:, None] + change, o.min, o.max), o.decimals)

    last_day = int(days[-1])
    u = rng.random((n, last_day, 2))
    death_day = np.full(n, np.nan)
    discharge_day = np.full(n, np.nan)
    at_risk = np.ones(n, bool)
    current = baseline.copy()
    for d in range(1, last_day + 1):
        hd = _expit(scenario.death.logit(current, active)) if d >= scenario.death.earliest_day else np.zeros(n)
        hc = _expit(scenario.discharge.logit(current, active)) if d >= scenario.discharge.earliest_day else np.zeros(n)
        dies = at_risk & (u[:, d - 1, 0] < hd)
        leaves = at_risk & ~dies & (u[:, d - 1, 1] < hc)
        death_day[dies] = d
        discharge_day[leaves] = d
        at_risk &= ~(dies | leaves)
        k = np.searchsorted(days, d)
        if k < len(days) and days[k] == d:
            current = np.where(at_risk, complete[:, k], current)
    event_day = np.fmin(death_day, discharge_day)
    values = np.where(days[None, :] < np.where(np.isnan(event_day), np.inf, event_day)[:, None], complete, np.nan)
    return SimulatedTrial(active, baseline, values, complete, death_day, discharge_day, days)


def composite_endpoint(trial: SimulatedTrial, estimand: Estimand) -> np.ndarray:
    """The endpoint value at ``estimand.day`` under its death and discharge rules (NaN = excluded or missing).

    Follows :func:`longmod.estimands.apply_estimand` for trials without
    other missing values: an observed value is used as is; a patient who died
    (left the ICU) on or before the day gets the death (discharge) strategy,
    with "last observed" the latest value on or before the event (the
    baseline if none).

    Examples
    --------
    >>> t = SimulatedTrial(np.array([1, 0]), np.array([100., 120.]), np.array([[110., np.nan], [130., np.nan]]),
    ...                    np.zeros((2, 2)), np.array([np.nan, 2.]), np.array([2., np.nan]), np.array([1., 7.]))
    >>> e = Estimand("e", "y", day=7, death={"strategy": "composite", "value": 50},
    ...              discharge={"strategy": "locf_multiplier", "factor": 1.1})
    >>> composite_endpoint(t, e).tolist()  # discharge: 110 x 1.1; death: 50
    [121.00000000000001, 50.0]
    """
    k = int(np.searchsorted(trial.days, estimand.day))
    if k >= len(trial.days) or trial.days[k] != estimand.day:
        raise ValueError(f"estimand day {estimand.day} is not a simulated day {trial.days.tolist()}")
    observed = trial.values[:, k]
    vals = np.column_stack([trial.baseline, trial.values[:, : k + 1]])
    has = ~np.isnan(vals)
    last_idx = has.shape[1] - 1 - np.argmax(has[:, ::-1], axis=1)
    locf = vals[np.arange(len(vals)), last_idx]
    out = observed.copy()
    died = np.isnan(observed) & (trial.death_day <= estimand.day)
    left = np.isnan(observed) & ~died & (trial.discharge_day <= estimand.day)
    for mask, s in ((died, estimand.death), (left, estimand.discharge)):
        if s.name == "composite":
            out[mask] = s.value
        elif s.name == "locf":
            out[mask] = locf[mask]
        elif s.name == "locf_multiplier":
            out[mask] = locf[mask] * s.factor
        elif s.name == "locf_plus_baseline_fraction":
            out[mask] = locf[mask] + s.factor * trial.baseline[mask]
        # hypothetical and exclude: NaN (not analysed by a single-endpoint analysis)
    return out
