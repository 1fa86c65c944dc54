"""Grégoire 2022 through the pipeline: rows equal the engines' and R's (candidates.json) on the fixture;
renaming arms, the matched-set column and patient ids, or reordering rows, changes no number."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from longmod.pipeline import reanalyse
from longmod.resources import fixtures_dir
from tests.pipeline_trials.copies import comparable, trial_copy

REF = json.loads((fixtures_dir() / "gregoire_2022" / "candidates.json").read_text())


@pytest.fixture(scope="module")
def res():
    return reanalyse("gregoire-2022")


def _p(eff, analysis, day, test):
    r = eff[(eff["analysis"] == analysis) & (eff["day"] == day) & (eff["test"] == test)]
    assert len(r) == 1, (analysis, day, test, len(r))
    return float(r["p_value"].iloc[0])


@pytest.mark.parametrize("day", [28, 60])
def test_survival_candidates_equal_r(res, day):
    """R 4.2 survival 3.5 (candidates.R); closed forms and exact likelihoods: tolerance 1e-7 relative."""
    e = res.effects
    want = REF[f"survival_d{day}"]
    pairs = {"logrank": "logrank", "gehan": "gehan", "peto": "peto",
             "stratified logrank by matched_set": "logrank_stratified", "fisher": "fisher_unmatched",
             "mcnemar": "mcnemar_nocorrect", "mcnemar_corrected": "mcnemar_correct", "mcnemar_exact": "mcnemar_exact",
             "exact conditional": "exact_conditional", "clogit": "clogit_lr",
             "clogit score (= Mantel-Haenszel, no correction)": "clogit_score",
             "stratified cox by matched_set": "cox_stratified_lr"}
    for test, key in pairs.items():
        assert _p(e, "survival", day, test) == pytest.approx(want[key], rel=1e-7), test


def test_km_survival_and_published_rows(res):
    e = res.effects
    km = e[(e["analysis"] == "survival") & (e["test"] == "kaplan-meier")].set_index(["day", "contrast"])["estimate"]
    assert km[(28.0, "matched_control")] == pytest.approx(100 * 19 / 24)
    assert km[(60.0, "matched_control")] == pytest.approx(100 * 17 / 24)
    assert km[(60.0, "bm_msc")] == 100.0
    pub = e[(e["engine"] == "published") & (e["analysis"] == "survival")]
    assert sorted(pub["p_value"].dropna()) == [0.0082, 0.025]
    assert set(e.loc[e["engine"] == "published", "analysis"]) == {"survival", "d_dimer_d7"}


def test_d_dimer_candidates_equal_r(res):
    e = res.effects
    want = REF["d_dimer_d7"]
    pairs = {"Wilcoxon rank-sum, normal approximation with continuity correction": "rank_sum_asymptotic_correct",
             "Wilcoxon rank-sum, normal approximation, no correction": "rank_sum_asymptotic_nocorrect",
             "Wilcoxon rank-sum, exact": "rank_sum_exact", "t test on log values": "t_test_log",
             "signed_rank_each_control (matched_set)": "signed_rank_24_pairs_default",
             "van_elteren (matched_set)": "van_elteren"}
    for test, key in pairs.items():
        assert _p(e, "d_dimer_d7", 7.0, test) == pytest.approx(want[key], rel=1e-7), test
    med = e[(e["analysis"] == "d_dimer_d7") & (e["statistic"] == "median")].set_index("contrast")
    assert med.loc["bm_msc", ["estimate", "q1", "q3"]].tolist() == [821.0, 362.0, 1305.0]
    assert med.loc["matched_control", ["estimate", "q1", "q3"]].tolist() == [3553.0, 1155.0, 6433.5]


def test_bayes_clogit_row_equals_engine(res):
    from longmod.engines.survival.bayes_clogit import bayes_clogit_rows
    from longmod.engines.survival.clogit import matched_binary

    pts = pd.read_csv(fixtures_dir() / "gregoire_2022" / "patients.csv")
    pts["dead"] = (pts["death_day"].notna() & (pts["death_day"] <= 60)).astype(int)
    mb = matched_binary(pts, outcome="dead", arm="arm", arms=("matched_control", "bm_msc"), matched_set="matched_set")
    want = bayes_clogit_rows(mb, analysis="x", outcome="death", prior_sd=1.5).iloc[0]
    got = res.effects[(res.effects["analysis"] == "death_bayes_clogit") & (res.effects["day"] == 60)].iloc[0]
    for c in ("estimate", "conf_low", "conf_high", "prob_benefit"):
        assert got[c] == pytest.approx(want[c], rel=1e-12)


def test_renaming_and_reordering_changes_no_number(res, tmp_path):
    arms = {"bm_msc": "cells", "matched_control": "usual"}
    cols = {"matched_set": "pair_group", "death_day": "died_on"}
    folder, plan = trial_copy(tmp_path / "g", "gregoire_2022", arms=arms, columns=cols, ids=True, shuffle=True)
    other = reanalyse(folder, plan=plan)
    a = comparable(res.effects)
    b = comparable(other.effects, arms, cols)
    pd.testing.assert_frame_equal(a[a.columns[:7]], b[b.columns[:7]])
    for c in a.columns[7:]:
        np.testing.assert_allclose(a[c].to_numpy(float), b[c].to_numpy(float), rtol=1e-9, atol=1e-12, err_msg=c)
