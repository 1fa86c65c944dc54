"""Adapter TrialData -> biomarker frame (both censoring conventions), simulator, section."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest

from longmod.biomarkers.frame import BiomarkerFrameError, biomarker_frame, check_frame, log10_frame
from longmod.biomarkers.section import biomarker_section
from longmod.biomarkers.simulate import FRAME_COLUMNS, simulate_biomarkers, to_trial


def test_simulator_is_seeded_and_hits_censoring_targets():
    a = simulate_biomarkers(6, censor_fractions=[0, .1, .2, .3, .5, .7], seed=5)
    b = simulate_biomarkers(6, censor_fractions=[0, .1, .2, .3, .5, .7], seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(simulate_biomarkers(6, censor_fractions=[0, .1, .2, .3, .5, .7], seed=6))
    frac = a.groupby("marker").censored.mean().to_numpy()
    assert frac[0] == 0 and frac[-1] > 0.5  # from none to more than half censored
    # one marker's fraction varies with its random patient levels; on average the target holds
    many = simulate_biomarkers(40, censor_fractions=[0.3] * 40, effects=None, seed=7)
    assert abs(many.censored.mean() - 0.3) < 0.05
    assert list(a.columns) == list(FRAME_COLUMNS)
    assert a.loc[a.censored, "value"].isna().all() and (a.loc[~a.censored, "value"] >= a.loc[~a.censored, "lloq"]).all()
    # dropout: some patients lack day-14 samples; everyone has day 0
    per_day = a[a.marker == "M01"].groupby("day").size()
    assert per_day[0] == 41 and per_day[14] < 41
    # within-patient correlation (true ICC 0.59) on the uncensored marker
    w = np.log10(a[a.marker == "M01"].pivot(index="patient_id", columns="day", values="value"))
    assert w[0].corr(w[2]) > 0.3


@pytest.mark.parametrize("convention", ["nan", "flag"])
def test_adapter_reads_both_conventions(convention):
    sim = simulate_biomarkers(3, censor_fractions=[0.0, 0.3, 0.6], seed=21)
    trial = to_trial(sim, convention)
    if convention == "flag":
        m = trial.measurements
        assert "censored" in m.columns and m["value"].notna().all()
    f = biomarker_frame(trial)
    pd.testing.assert_frame_equal(f, check_frame(sim))


def test_adapter_substituted_values_missing_samples_and_marker_choice():
    sim = simulate_biomarkers(2, censor_fractions=[0.0, 0.5], seed=22)
    trial = to_trial(sim, "nan")
    m = trial.measurements
    # a provider that wrote LOQ/2 for censored samples (value < lloq), plus a missing sample row
    m2 = m.copy()
    m2["value"] = np.where(m2["value"].isna(), m2["lloq"] / 2, m2["value"])
    miss = pd.DataFrame({"patient_id": [m2.patient_id.iloc[0]], "day": [99], "variable": ["M01"],
                         "value": [np.nan], "lloq": [np.nan]})
    from longmod.data import TrialMeta, from_frames

    meta = TrialMeta(name="x", arms=trial.meta.arms, reference_arm="control", schedule=(0, 2, 4, 7, 14, 99))
    t2 = from_frames(trial.patients, pd.concat([m2, miss], ignore_index=True), meta)
    f = biomarker_frame(t2)
    pd.testing.assert_frame_equal(f, check_frame(sim))
    assert set(biomarker_frame(t2, markers=["M02"]).marker) == {"M02"}
    with pytest.raises(KeyError, match="not measured"):
        biomarker_frame(t2, markers=["IL-6"])


def test_adapter_skips_variables_without_lloq():
    sim = simulate_biomarkers(1, censor_fractions=[0.2], seed=23)
    trial = to_trial(sim)
    from longmod.data import from_frames

    extra = trial.measurements.iloc[:5].assign(variable="pao2_fio2", value=150.0, lloq=np.nan)
    t2 = from_frames(trial.patients, pd.concat([trial.measurements, extra], ignore_index=True), trial.meta)
    assert set(biomarker_frame(t2).marker) == {"M01"}
    from longmod.biomarkers import has_biomarkers

    no_markers = from_frames(trial.patients, extra, trial.meta)
    assert has_biomarkers(t2) and not has_biomarkers(no_markers)
    with pytest.raises(ValueError, match="no biomarker data"):
        biomarker_section(no_markers, pooled=False)


def test_check_frame_collects_problems_and_log10_rules():
    f = simulate_biomarkers(1, censor_fractions=[0.4], seed=24)
    bad = pd.concat([f, f.iloc[:1]], ignore_index=True)
    bad.loc[5, "censored"] = True
    bad.loc[5, "lloq"] = np.nan
    with pytest.raises(BiomarkerFrameError, match="duplicate.*|censored row"):
        check_frame(bad)
    with pytest.raises(BiomarkerFrameError, match="lacks column"):
        check_frame(f.drop(columns="lloq"))
    y2, y1 = log10_frame(f, "loq/2"), log10_frame(f, "loq")
    c = y1["censored"].to_numpy()  # outputs are sorted by marker, patient, day
    np.testing.assert_allclose(y1.loc[c, "y"] - y2.loc[c, "y"], np.log10(2))
    np.testing.assert_allclose(y1.loc[~c, "y"], y2.loc[~c, "y"])


def test_section_without_pooling_on_a_trial():
    sim = simulate_biomarkers(4, censor_fractions=[0.0, 0.2, 0.4, 0.6], seed=25)
    out = biomarker_section(to_trial(sim), pooled=False)
    assert set(out) == {"markers", "paper_tests", "volcano", "censored_mixed", "bh_table", "timings", "provenance"}
    prov = dict(zip(out["provenance"].key, out["provenance"].value))
    assert len(prov["biomarker_frame_sha256"]) == 64 and prov["data_source"] == "DataFrames"
    assert (out["paper_tests"]["data_label"] == "SYNTHETIC pseudo-patient data").all()
    bh = out["bh_table"]
    assert len(bh) == 4 * 5 and {"wilcoxon_p_bh", "tobit_p_bh", "tobit_estimate"} <= set(bh.columns)
    assert out["timings"].step.iloc[-1] == "total"
    with pytest.raises(ValueError, match="no biomarker data"):
        biomarker_section(sim.iloc[:0])


def test_section_with_pooling_reuses_the_pooled_fit_schema(eight_markers):
    from tests.biomarkers.conftest import SMALL_SAMPLER

    out = biomarker_section(eight_markers, sampler=SMALL_SAMPLER)
    bh = out["bh_table"]
    assert {"pooled_estimate", "pooled_lfsr", "pooled_prob_decrease", "wilcoxon_p_bh"} <= set(bh.columns)
    assert bh["pooled_lfsr"].notna().all()
    # a count, and few: the same seed gave 0 divergent transitions of 600 on one machine and 1 on another
    # (floating-point details of the compiled model); more than 1% of the draws would be a real problem
    assert 0 <= int(out["pooled_diagnostics"].divergences.iloc[0]) <= 6


@pytest.mark.parametrize("module", ["frame", "paper", "simulate", "tobit", "section", "study", "bayes"])
def test_docstring_examples_run(module):
    mod = importlib.import_module(f"longmod.biomarkers.{module}")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0


def test_adapter_on_the_stroma_fixture():
    """fixtures/stroma_cov2 (SYNTHETIC): convention 'value empty + lloq set = censored' (CALIBRATION.md)."""
    from longmod.data import load_trial
    from longmod.resources import fixtures_dir

    folder = fixtures_dir() / "stroma_cov2"
    raw = pd.read_csv(folder / "measurements.csv", dtype={"patient_id": str})
    if raw["lloq"].notna().sum() == 0:
        pytest.skip("the fixture has no biomarkers yet")
    f = biomarker_frame(load_trial(folder))
    bio = raw[raw["lloq"].notna()]
    assert len(f) == len(bio) and f["marker"].nunique() == bio["variable"].nunique() == 48
    assert int(f["censored"].sum()) == int(bio["value"].isna().sum()) > 0
    assert (f.loc[~f.censored, "value"] >= f.loc[~f.censored, "lloq"]).all()
    assert set(f["day"]) == {0, 2, 4, 7, 14} and "pao2_fio2" not in set(f["marker"])
    assert f.groupby("arm")["patient_id"].nunique().to_dict() == {"placebo": 21, "uc_msc": 20}
