"""Martínez-Muñoz 2024 through the pipeline: rows equal the engines' and R's (candidates.json) on the fixture;
renaming arms, event columns and patient ids, or reordering rows, changes no number. The Bayesian ordinal
model is left out here (its engine is validated in tests/engines_ordinal; sampling time)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from longmod.pipeline import reanalyse
from longmod.resources import fixtures_dir
from tests.pipeline_trials.copies import comparable, trial_copy

REF = json.loads((fixtures_dir() / "martinez_munoz_2024" / "candidates.json").read_text())


def _frequentist(plan: str) -> str:
    return plan.replace('engines = ["clmm", "pymc"]', 'engines = ["clmm"]')


@pytest.fixture(scope="module")
def copy_and_res(tmp_path_factory):
    folder, plan = trial_copy(tmp_path_factory.mktemp("m") / "m", "martinez_munoz_2024", plan_edit=_frequentist)
    return folder, plan, reanalyse(folder, plan=plan)


def _row(eff, analysis, test, contrast=None):
    r = eff[(eff["analysis"] == analysis) & (eff["test"] == test)]
    if contrast is not None:
        r = r[r["contrast"] == contrast]
    assert len(r) == 1, (analysis, test, len(r))
    return r.iloc[0]


def test_rows_equal_r_candidates(copy_and_res):
    """R 4.2 (candidates.R): tests on counts and ranks, exact or closed form: tolerance 1e-7 relative."""
    e = copy_and_res[2].effects
    w = REF["who_improvement_d7"]
    assert _row(e, "who_improvement_d7", "Fisher exact, two-sided")["p_value"] == pytest.approx(w["fisher"], rel=1e-7)
    assert _row(e, "who_improvement_d7", "Pearson chi-square")["p_value"] == pytest.approx(w["chisq"], rel=1e-7)
    assert _row(e, "who_improvement_d7", "Pearson chi-square with Yates' correction")["p_value"] == pytest.approx(
        w["chisq_yates"], rel=1e-7)
    counts = e[(e["analysis"] == "who_improvement_d7") & (e["test"] == "count")].set_index("contrast")["estimate"]
    assert counts.to_dict() == {"placebo": 0.0, "bm_msc": 5.0}
    for analysis, key in (("time_to_o2_discontinuation", "o2_stop"), ("hospital_stay", "hospital_stay")):
        for test in ("logrank", "gehan", "peto"):
            assert _row(e, analysis, test)["p_value"] == pytest.approx(REF[key][test], rel=1e-7), (analysis, test)
        med = e[(e["analysis"] == analysis) & (e["test"] == "kaplan-meier median")].set_index("contrast")["estimate"]
        assert med["bm_msc"] == REF[key]["median_bm_msc"] and med["placebo"] == REF[key]["median_placebo"]
    pf = REF["pf_change"]
    assert _row(e, "pf_increase_d7", "t test")["p_value"] == pytest.approx(pf["t_test"], rel=1e-7)
    assert _row(e, "pf_increase_d7", "Welch t test")["p_value"] == pytest.approx(pf["welch"], rel=1e-7)
    hl = "Wilcoxon rank-sum (R rule: exact without ties, n < 50)"
    assert _row(e, "pf_increase_d7", hl)["p_value"] == pytest.approx(pf["rank_sum"], rel=1e-7)
    means = e[(e["analysis"] == "pf_increase_d7") & (e["statistic"] == "mean")].set_index("contrast")
    assert means.loc["bm_msc", "estimate"] == pytest.approx(pf["mean_bm_msc"], abs=1e-9)
    assert means.loc["placebo", "sd"] == pytest.approx(pf["sd_placebo"], rel=1e-9)


def test_model_rows_equal_the_engines(copy_and_res):
    from longmod.data import load_trial
    from longmod.engines.ordinal.cumlogit import fit_clm, fit_clmm, ordinal_rows
    from longmod.engines.ordinal.design import ordinal_data
    from longmod.engines.survival.cox import cox_rows
    from longmod.engines.survival.data import survival_data
    from longmod.estimands.longitudinal import long_analysis_data

    folder, _, res = copy_and_res
    e = res.effects
    td = load_trial(folder)
    p = td.patients.assign(e=1)
    sd = survival_data(p, time="o2_stop_day", event="e", arm="arm", arms=("placebo", "bm_msc"))
    want = cox_rows(sd, analysis="x", outcome="o2").iloc[0]
    got = _row(e, "time_to_o2_discontinuation", "cox")
    assert got["estimate"] == pytest.approx(want["estimate"], rel=1e-12)
    d7 = long_analysis_data(td, "who_scale", days=[7])
    od = ordinal_data(d7, outcome="value", levels=range(9), better="lower", fixed="arm + baseline", treatment="arm",
                      arms=("placebo", "bm_msc"))
    want = ordinal_rows(fit_clm(od), analysis="x", outcome="who").iloc[0]
    assert _row(e, "who_po_d7", "proportional odds (clm)")["estimate"] == pytest.approx(want["estimate"], rel=1e-9)
    long = long_analysis_data(td, "who_scale", days=[7, 14, 21, 28])
    od = ordinal_data(long, outcome="value", levels=range(9), better="lower", fixed="arm + visit + baseline",
                      treatment="arm", arms=("placebo", "bm_msc"), subject="patient_id",
                      factor_levels={"visit": ["D7", "D14", "D21", "D28"]})
    want = ordinal_rows(fit_clmm(od, nagq=10), analysis="x", outcome="who").iloc[0]
    got = e[(e["analysis"] == "who_clmm") & (e["engine"] == "longmod.ordinal")].iloc[0]
    assert got["estimate"] == pytest.approx(want["estimate"], rel=1e-9)
    assert got["estimate"] > 0 and "favours bm_msc" in got["direction"]


def test_competing_without_deaths_is_one_minus_km(copy_and_res):
    e = copy_and_res[2].effects
    cif = e[(e["analysis"] == "o2_stop_competing") & (e["statistic"] == "cumulative_incidence")]
    p = pd.read_csv(fixtures_dir() / "martinez_munoz_2024" / "patients.csv")
    for r in cif.itertuples():
        days = p.loc[p["arm"] == r.contrast, "o2_stop_day"]
        assert r.estimate == pytest.approx((days <= r.day).mean())
        assert "no competing event" in r.warnings


def test_renaming_and_reordering_changes_no_number(copy_and_res, tmp_path):
    arms = {"bm_msc": "cells", "placebo": "saline"}
    cols = {"o2_stop_day": "oxygen_off", "hospital_discharge_day": "home_day"}
    folder, plan = trial_copy(tmp_path / "m2", "martinez_munoz_2024", arms=arms, columns=cols, ids=True, shuffle=True,
                              plan_edit=_frequentist)
    other = reanalyse(folder, plan=plan)
    a = comparable(copy_and_res[2].effects)
    b = comparable(other.effects, arms, cols)
    pd.testing.assert_frame_equal(a[a.columns[:7]], b[b.columns[:7]])
    # closed forms (tests, Kaplan-Meier, OLS) to 1e-9; iterative fits (clmm with a finite-difference Hessian,
    # REML mixed models) stop where their optimiser's tolerance lets them: another row order moves that by ~1e-6
    iterative = a["engine"].isin(["longmod.ordinal", "native", "statsmodels.PHReg"]).to_numpy()
    for c in a.columns[7:]:
        x, y = a[c].to_numpy(float), b[c].to_numpy(float)
        np.testing.assert_allclose(x[~iterative], y[~iterative], rtol=1e-9, atol=1e-12, err_msg=c)
        np.testing.assert_allclose(x[iterative], y[iterative], rtol=1e-4, atol=1e-8, err_msg=c)
