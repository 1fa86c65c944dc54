"""Session-scoped joint-model data and fits (sampling runs once per test session)."""

from __future__ import annotations

import pytest

from longmod.engines.joint.simulate import JointTruth, simulate_joint

KW = dict(id="patient_id", time="day", value="value", arm="arm", event_time="event_day", event="event",
          active="active", reference="control", causes={"death": "lower", "discharge": "higher"})
#: 2 chains x 500 draws: the smallest run whose every parameter kept bulk ESS > 400 in the smoke fits.
SAMPLER = {"chains": 2, "draws": 500, "tune": 500, "seed": 5}
TRUTH = JointTruth()


@pytest.fixture(scope="session")
def trial():
    """A 22 + 22 patient SYNTHETIC trial from the default truth (seed 11)."""
    return simulate_joint(TRUTH, n_per_arm=22, seed=11)


@pytest.fixture(scope="session")
def joint_fit(trial):
    from longmod.engines.joint.fit import fit_joint_model

    m, p = trial
    return fit_joint_model(m, p, **KW, landmark=7, mcid=20, followup=28, sampler=SAMPLER)
