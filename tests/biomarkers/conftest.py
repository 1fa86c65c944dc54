"""Session-scoped biomarker fits (sampling runs once per test session)."""

from __future__ import annotations

import numpy as np
import pytest

from longmod.biomarkers.simulate import default_effects, simulate_biomarkers

SMALL_SAMPLER = {"chains": 2, "draws": 300, "tune": 300, "seed": 11}
#: The pooled normal model: with 300 tuning steps and 300 draws the day means ``mu`` reached a bulk ESS of only
#: 51 (max R-hat 1.038 here, 1.05 on CI); with 500 + 500 seeds 11 and 12 gave max R-hat 1.014 and 1.047, so
#: 1000 draws after 700 tuning steps keep the diagnostics' assertions away from the edge.
NORMAL_SAMPLER = {**SMALL_SAMPLER, "draws": 1000, "tune": 700}
#: The horseshoe: its per-day global scales mix slowest (300 tuning steps left max R-hat at ~1.05).
HORSESHOE_SAMPLER = {**SMALL_SAMPLER, "draws": 500, "tune": 800}


@pytest.fixture(scope="session")
def eight_markers():
    """8 markers, 0-60% censored; M01 and M02 decrease by 0.3 (day 7) and 0.6 log10 (day 14)."""
    eff = default_effects(8, n_affected=2, size=-0.6)
    return simulate_biomarkers(8, censor_fractions=np.linspace(0.0, 0.6, 8), effects=eff, seed=31)


@pytest.fixture(scope="session")
def pooled_fit(eight_markers):
    """The pooled model with the normal population distribution."""
    from longmod.biomarkers.bayes import fit_pooled

    return fit_pooled(eight_markers, sampler=NORMAL_SAMPLER, prior="normal")


@pytest.fixture(scope="session")
def horseshoe_fit(eight_markers):
    """The pooled model with the (default) regularised horseshoe."""
    from longmod.biomarkers.bayes import fit_pooled

    return fit_pooled(eight_markers, sampler=HORSESHOE_SAMPLER)
