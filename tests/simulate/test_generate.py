"""Simulated trials: seeded, the composite endpoint as longmod's estimand rules compute it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.simulate.generate import composite_endpoint, simulate_patients, simulate_trial
from longmod.simulate.run import trial_rng

from .conftest import small_scenario


def test_same_seed_same_trial_and_arm_does_not_change_the_draws():
    s = small_scenario()
    a = simulate_trial(s, 30, 5.0, trial_rng(3, 0, 7))
    b = simulate_trial(s, 30, 5.0, trial_rng(3, 0, 7))
    assert np.array_equal(a.values, b.values, equal_nan=True)
    on = simulate_patients(s, np.ones(50, int), 0.0, np.random.default_rng(1))
    off = simulate_patients(s, np.zeros(50, int), 0.0, np.random.default_rng(1))
    assert np.array_equal(on.values, off.values, equal_nan=True)  # null: potential outcomes identical


def test_values_are_missing_from_the_event_day_on():
    s = small_scenario()
    t = simulate_trial(s, 200, 0.0, np.random.default_rng(5))
    ev = np.fmin(t.death_day, t.discharge_day)
    assert np.isfinite(ev).any() and np.isnan(ev).any()
    for i in np.flatnonzero(np.isfinite(ev)):
        assert np.all(np.isnan(t.values[i, t.days >= ev[i]]))
        assert not np.any(np.isnan(t.values[i, t.days < ev[i]]))


def test_effect_moves_the_active_arm_only():
    s = small_scenario()
    null = simulate_patients(s, np.repeat([1, 0], 5000), 0.0, np.random.default_rng(2))
    eff = simulate_patients(s, np.repeat([1, 0], 5000), 40.0, np.random.default_rng(2))
    k = list(s.post_days).index(s.endpoint_day)
    d = eff.complete[:, k] - null.complete[:, k]
    assert np.all(d[5000:] == 0)
    assert d[:5000].mean() == pytest.approx(40.0, abs=2.0)  # clipping at the outcome's bounds trims a little


def test_composite_endpoint_equals_apply_estimand_on_the_trial_tables():
    """The vectorised rules give what longmod.estimands.apply_estimand gives on the same trial as tables."""
    from longmod.data import EventInfo, TrialMeta, VariableInfo, from_frames
    from longmod.estimands import apply_estimand

    s = small_scenario()
    t = simulate_trial(s, 60, 10.0, np.random.default_rng(11))
    pts, ms = t.to_frames(s)
    pts = pts.assign(age_gt70=0, sofa_gt11=0, doses_received=3)
    meta = TrialMeta(name="sim", arms=s.arms, reference_arm=s.reference_arm, schedule=s.schedule,
                     variables={s.outcome.name: VariableInfo(s.outcome.name, min=s.outcome.min, max=s.outcome.max)},
                     events={"death": EventInfo("death", "death_day", "death"),
                             "icu_discharge": EventInfo("icu_discharge", "icu_discharge_day", "discharge")})
    ad = apply_estimand(from_frames(pts, ms, meta), s.estimand.replace(other_missing="exclude"))
    mine = pd.Series(composite_endpoint(t, s.estimand), index=pts["patient_id"])
    theirs = ad.frame.set_index("patient_id")["value"]
    assert len(theirs) == len(pts)
    assert np.allclose(mine.loc[theirs.index].to_numpy(), theirs.to_numpy(), rtol=1e-12, equal_nan=True)
    assert (ad.frame["rule"] != "observed").sum() > 0  # the rules were exercised
