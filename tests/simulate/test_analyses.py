"""Simulation analyses agree with longmod's single-trial engines and with brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.simulate.analyses import batched_ancova, run_worst_rank, worst_rank_scores
from longmod.simulate.generate import composite_endpoint, simulate_trial

from .conftest import small_scenario


def test_batched_ancova_equals_fit_ancova_per_trial():
    from longmod.engines.ancova import fit_ancova
    from longmod.spec.model import Treatment

    s = small_scenario()
    ts = [simulate_trial(s, 25, 15.0, np.random.default_rng(i)) for i in range(6)]
    est, se, df = batched_ancova(ts, s)
    for t, e, sd, d in zip(ts, est, se, df):
        frame = pd.DataFrame({"arm": np.where(t.active == 1, s.active_arm, s.reference_arm), "baseline": t.baseline,
                              "change": composite_endpoint(t, s.estimand) - t.baseline})
        fit = fit_ancova(frame, treatment=Treatment("arm", s.reference_arm, s.active_arm), covariates=["baseline"])
        assert (e, sd, d) == pytest.approx((fit.estimate, fit.std_error, fit.df), rel=1e-10)


def test_worst_rank_index_equals_pairwise_enumeration():
    s = small_scenario()
    t = simulate_trial(s, 40, 0.0, np.random.default_rng(4))
    sc = worst_rank_scores(t, s)
    a, b = sc[t.active == 1], sc[t.active == 0]
    wins = sum(float(x > y) + 0.5 * float(x == y) for x in a for y in b)
    r = run_worst_rank([t], s, s.analysis("worst_rank"))
    assert r["estimate"].iloc[0] == pytest.approx(wins / (len(a) * len(b)), rel=1e-12)
    # deaths rank below every survivor, and earlier deaths below later ones
    died = t.death_day <= s.endpoint_day
    if died.any():
        assert sc[died].max() < sc[~died].min()
