"""Matched-set tests and the Bayesian conditional logistic posterior, against R on the Grégoire fixture.

R reference: fixtures/gregoire_2022/candidates.R -> candidates.json (R 4.2, survival 3.5; stats'
mcnemar.test, binom.test, wilcox.test, and van Elteren from its definition). Tolerance 1e-9 relative:
closed forms and exact distributions, nothing iterative.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from longmod.engines.matched import matched_rank_rows, mcnemar_rows, set_pairs
from longmod.engines.survival.bayes_clogit import bayes_clogit_rows, posterior_grid
from longmod.engines.survival.clogit import matched_binary
from longmod.resources import fixtures_dir

FOLDER = fixtures_dir() / "gregoire_2022"


@pytest.fixture(scope="module")
def data():
    pts = pd.read_csv(FOLDER / "patients.csv")
    ms = pd.read_csv(FOLDER / "measurements.csv")
    d7 = ms[(ms["variable"] == "d_dimer") & (ms["day"] == 7)].set_index("patient_id")["value"]
    pts["d7"] = pts["patient_id"].map(d7)
    pts["x"] = (pts["arm"] == "bm_msc").astype(int)
    return pts, json.loads((FOLDER / "candidates.json").read_text())


@pytest.mark.parametrize("day", [28, 60])
def test_mcnemar_matches_r(data, day):
    pts, ref = data
    dead = (pts["death_day"].notna() & (pts["death_day"] <= day)).astype(int)
    r = mcnemar_rows(dead, pts["x"], pts["matched_set"]).set_index("test")["p_value"]
    want = ref[f"survival_d{day}"]
    assert r["mcnemar"] == pytest.approx(want["mcnemar_nocorrect"], rel=1e-9)
    assert r["mcnemar_corrected"] == pytest.approx(want["mcnemar_correct"], rel=1e-9)
    assert r["mcnemar_exact"] == pytest.approx(want["mcnemar_exact"], rel=1e-9)


def test_matched_rank_tests_match_r(data):
    pts, ref = data
    r = matched_rank_rows(pts["d7"], pts["x"], pts["matched_set"]).set_index("test")["p_value"]
    want = ref["d_dimer_d7"]
    assert r["signed_rank_each_control"] == pytest.approx(want["signed_rank_24_pairs_default"], rel=1e-9)
    assert r["signed_rank_set_mean"] == pytest.approx(want["signed_rank_8_sets_mean"], rel=1e-9)
    assert r["signed_rank_set_median"] == pytest.approx(want["signed_rank_8_sets_median"], rel=1e-9)
    assert r["sign_test_set_median"] == pytest.approx(want["sign_test_8_sets"], rel=1e-9)
    assert r["van_elteren"] == pytest.approx(want["van_elteren"], rel=1e-9)


def test_pairs_renamed_and_reordered_sets(data):
    pts, _ = data
    shuffled = pts.sample(frac=1.0, random_state=3)
    a = matched_rank_rows(pts["d7"], pts["x"], pts["matched_set"])
    b = matched_rank_rows(shuffled["d7"], shuffled["x"], shuffled["matched_set"].map(lambda s: f"set-{s}"))
    pd.testing.assert_series_equal(a["p_value"], b["p_value"])
    with pytest.raises(ValueError, match="exactly one treated patient"):
        set_pairs([1.0, 2.0, 3.0], [1, 1, 0], ["a", "a", "a"])


def test_bayes_clogit_posterior_by_independent_quadrature(data):
    """The grid posterior against scipy quad over statsmodels' conditional likelihood (another implementation)."""
    import warnings

    from statsmodels.discrete.conditional_models import ConditionalLogit

    pts, _ = data
    dead = (pts["death_day"].notna() & (pts["death_day"] <= 60)).astype(int)
    mb = matched_binary(pts.assign(dead=dead), outcome="dead", arm="arm", arms=("matched_control", "bm_msc"),
                        matched_set="matched_set")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ConditionalLogit(mb.y, mb.exposed[:, None], groups=mb.sets)
    sd = 1.5

    def unnorm(b: float) -> float:
        return float(np.exp(model.loglike(np.array([b])) + 10.0) * stats.norm.pdf(b, 0, sd))

    z = integrate.quad(unnorm, -15, 15, limit=200)[0]
    mean = integrate.quad(lambda b: b * unnorm(b), -15, 15, limit=200)[0] / z
    below = integrate.quad(unnorm, -15, 0, limit=200)[0] / z
    r = bayes_clogit_rows(mb, analysis="b", outcome="death", prior_sd=sd, day=60).iloc[0]
    assert r["estimate"] == pytest.approx(mean, abs=1e-6)
    assert r["prob_benefit"] == pytest.approx(below, abs=1e-6)
    assert r["infinite_mle"] == "-inf"  # no death among the treated: the MLE is -inf, the posterior is proper
    grid, dens = posterior_grid(mb, prior_sd=sd)
    assert grid[np.argmax(dens)] < 0


def test_bayes_clogit_wide_prior_mode_is_the_clogit_mle():
    from longmod.engines.survival.clogit import clogit_fit

    rng = np.random.default_rng(2)
    d = pd.DataFrame({"set": np.repeat(np.arange(30), 4), "arm": ["t", "c", "c", "c"] * 30})
    d["y"] = rng.binomial(1, np.where(d["arm"] == "t", 0.25, 0.45))
    mb = matched_binary(d, outcome="y", arm="arm", arms=("c", "t"), matched_set="set")
    grid, dens = posterior_grid(mb, prior_sd=1e4, half_width=0.001, n=400001)
    assert grid[np.argmax(dens)] == pytest.approx(clogit_fit(mb).estimate, abs=1e-4)
