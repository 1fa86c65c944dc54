"""Session-scoped joint-model data and fits (sampling runs once per test session)."""

from __future__ import annotations

import pytest

from longmod.engines.joint.simulate import JointTruth, simulate_joint

KW = dict(id="patient_id", time="day", value="value", arm="arm", event_time="event_day", event="event",
          active="active", reference="control", causes={"death": "lower", "discharge": "higher"})
#: The simulation study's cuts (the truth's): the same compiled graph as benchmarks/joint_model_study.py.
CUTS = {"death": [7.0, 14.0], "discharge": [7.0, 14.0]}
#: 2 chains x 500 draws: half the default run (min bulk ESS was 1,441 of 2,000 draws in the first smoke fit).
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
    return fit_joint_model(m, p, **KW, landmark=7, mcid=20, followup=28, cuts=CUTS, sampler=SAMPLER)
