"""Cumulative incidence from the joint model's parameters against the exact simulator (Monte Carlo)."""

from __future__ import annotations

import numpy as np

from longmod.engines.joint.data import Scaling, prepare_joint_data
from longmod.engines.joint.incidence import cumulative_incidence
from longmod.engines.joint.simulate import simulate_joint
from tests.joint.conftest import CUTS, KW, TRUTH


def _point_posterior(truth, sc, causes, n=300):
    """The truth on the model's standardised scale, repeated as n 'draws' (1 chain)."""
    ys, ts, yc = sc.y_scale, sc.time_scale, sc.y_center
    assert truth.y_ref == yc  # the baseline hazards refer to the centre
    rep = lambda v: np.tile(np.asarray(v, float), (1, n, 1)) if np.ndim(v) else np.full((1, n), float(v))  # noqa: E731
    post = {"beta": rep([(truth.intercept - yc) / ys, truth.slope * ts / ys, truth.arm / ys, truth.arm_slope * ts / ys]),
            "re_sd": rep([truth.re_sd_intercept / ys, truth.re_sd_slope * ts / ys]), "re_corr": rep(truth.re_corr)}
    for k, c in enumerate(causes):
        post[f"log_base_{k}"] = rep(np.log(np.asarray(truth.hazards[c]) * ts))
        post[f"log_hr_{k}"] = rep(truth.log_hr[c])
        post[f"assoc_{k}"] = rep(truth.assoc[c] * ys)
    return post


def test_incidence_by_day_28_matches_the_simulated_proportions(trial):
    m, p = trial
    sc = Scaling(175.0, 70.0, 28.0)
    jd = prepare_joint_data(m, p, **KW, cuts=CUTS, scaling=sc)[0]
    post = _point_posterior(TRUTH, sc, jd.causes, n=200)
    ci = cumulative_incidence(post, jd, ("value",), 28.0, n_draws=200, re_per_patient=4, n_grid=200, seed=1)
    _, big = simulate_joint(TRUTH, n_per_arm=10000, seed=99)
    for arm, label in (("active", "active"), ("reference", "control")):
        g = big[big.arm == label]
        for cause in ("death", "discharge"):
            sim = float(((g.event == cause) & (g.event_day <= 28)).mean())
            model = float(ci[f"{cause}:{arm}"].mean())
            # MC SE of the simulated share <= 0.005; of the model's average over 200 x 176 random-effect
            # draws ~0.002; midpoint rule with 200 steps: < 1e-4. Tolerance ~3.5 combined SEs.
            assert abs(model - sim) < 0.02, (cause, arm, model, sim)
            assert 0.1 < sim < 0.7  # both events are common enough for the check to mean something


def test_the_chunk_size_changes_no_number(trial):
    """Draws are computed ``chunk`` at a time to bound the memory; the random-effect draws are made at once."""
    m, p = trial
    sc = Scaling(175.0, 70.0, 28.0)
    jd = prepare_joint_data(m, p, **KW, cuts=CUTS, scaling=sc)[0]
    post = _point_posterior(TRUTH, sc, jd.causes, n=50)
    post["beta"] = post["beta"] + np.random.default_rng(4).normal(scale=0.05, size=post["beta"].shape)  # draws differ
    one = cumulative_incidence(post, jd, ("value",), 28.0, n_draws=50, seed=2, chunk=1000)
    many = cumulative_incidence(post, jd, ("value",), 28.0, n_draws=50, seed=2, chunk=7)
    assert one.keys() == many.keys()
    for k in one:
        assert one[k].shape == (1, 50)
        np.testing.assert_array_equal(one[k], many[k])
