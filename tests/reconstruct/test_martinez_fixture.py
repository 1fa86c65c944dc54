"""The Martínez-Muñoz 2024 fixture (10 BM-MSC vs 10 placebo): rebuild, published targets, daily courses.

Targets are recomputed from the CSV files with plain pandas/SciPy; candidate P
values are compared with R (``candidates.R`` -> ``candidates.json``, kept
beside the fixture and re-run by the R-marked test).
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from longmod.reconstruct import Tables, build_fixture, candidate_table, load_targets, read_tables
from longmod.resources import fixtures_dir
from tests.conftest import require_rscript

FOLDER = fixtures_dir() / "martinez_munoz_2024"
GENERATED = ("patients.csv", "measurements.csv", "CALIBRATION.md")


@pytest.fixture(scope="module")
def tables():
    pts = pd.read_csv(FOLDER / "patients.csv", dtype={"patient_id": str})
    ms = pd.read_csv(FOLDER / "measurements.csv", dtype={"patient_id": str})
    return pts, ms


@pytest.fixture(scope="module")
def who(tables):
    _, ms = tables
    return ms[ms["variable"] == "who_scale"].pivot(index="patient_id", columns="day", values="value")


def test_rebuild_gives_the_shipped_bytes(tmp_path):
    """No hand edits, same seed -> same bytes (and the inputs are not modified)."""
    before = [(FOLDER / f).read_bytes() for f in ("trial.toml", "targets.toml")]
    res = build_fixture("martinez_munoz_2024", out=tmp_path)
    assert res.report.loc[~res.report["soft"], "passed"].all()
    for name in GENERATED:
        assert filecmp.cmp(tmp_path / name, FOLDER / name, shallow=False), name
    assert [(FOLDER / f).read_bytes() for f in ("trial.toml", "targets.toml")] == before


def test_arms_times_and_medians(tables):
    pts, _ = tables
    assert pts.groupby("arm").size().to_dict() == {"bm_msc": 10, "placebo": 10}
    med = pts.groupby("arm")[["o2_stop_day", "hospital_discharge_day"]].median()
    assert med.loc["bm_msc"].tolist() == [14.0, 17.5] and med.loc["placebo"].tolist() == [23.0, 28.0]
    assert (pts["hospital_discharge_day"] > pts["o2_stop_day"]).all()
    assert pts["death_day"].isna().all() and pts["o2_stop_day"].notna().all()
    ext = pts["extubation_day"]
    assert ext.notna().tolist() == (pts["imv_d0"] == 1).tolist()
    assert (ext.dropna() < pts.loc[ext.notna(), "o2_stop_day"]).all()


def test_pf_ratio_increase_mean_and_median(tables):
    pts, ms = tables
    pf = ms[ms["variable"] == "pao2_fio2"].pivot(index="patient_id", columns="day", values="value")
    change = (pf[7] - pf[0]).rename("change").to_frame().join(pts.set_index("patient_id")["arm"])
    g = change.groupby("arm")["change"]
    assert g.mean().round(1).to_dict() == {"bm_msc": 83.3, "placebo": 57.6}
    assert g.median().round(1).to_dict() == {"bm_msc": 83.3, "placebo": 57.6}
    p = stats.ttest_ind(change.loc[change["arm"] == "bm_msc", "change"], change.loc[change["arm"] == "placebo", "change"]).pvalue
    assert p > 0.05  # "not statistically significant"
    assert (pf[0] <= 200).all()  # moderate to severe ARDS


def test_pf_ratio_measured_in_hospital_up_to_d28(tables):
    pts, ms = tables
    pf = ms[ms["variable"] == "pao2_fio2"]
    days = pf.groupby("patient_id")["day"].apply(sorted)
    for p in pts.itertuples():
        last = min(int(p.hospital_discharge_day) - 1, 28)
        assert days[p.patient_id] == list(range(0, last + 1)), p.patient_id


def test_who_scale_daily_courses(tables, who):
    pts, _ = tables
    p = pts.set_index("patient_id")
    assert list(who.columns) == list(range(29)) and who.notna().all().all()
    assert who.isin(range(9)).all().all()
    assert (who[0] == np.where(p.loc[who.index, "imv_d0"] == 1, 6, 5)).all()
    assert (who.diff(axis=1).iloc[:, 1:] <= 0).all().all()  # no worsening modelled
    for pid, row in who.iterrows():
        o2, out = int(p.loc[pid, "o2_stop_day"]), int(p.loc[pid, "hospital_discharge_day"])
        for d in range(29):
            if d >= out:
                assert row[d] == 2, (pid, d)
            elif d >= o2:
                assert row[d] == 3, (pid, d)
            else:
                assert row[d] >= 4, (pid, d)


def test_who_improvement_at_d7_and_fisher(tables, who):
    pts, _ = tables
    improved = (who[7] < who[0]).rename("improved").to_frame().join(pts.set_index("patient_id")["arm"])
    counts = improved.groupby("arm")["improved"].sum().to_dict()
    assert counts == {"bm_msc": 5, "placebo": 0}
    assert round(stats.fisher_exact([[5, 5], [0, 10]]).pvalue, 3) == 0.033


def test_candidate_p_values_agree_with_r():
    """Every candidate test of the targets file, longmod vs R on the same CSVs (tolerance 1e-6)."""
    ref = json.loads((FOLDER / "candidates.json").read_text())
    spec = load_targets(FOLDER / "targets.toml")
    tab = candidate_table(spec, read_tables(FOLDER)).set_index(["candidate", "test"])["p_value"]
    n = 0
    for c in spec.candidates:
        for test in c["tests"]:
            section, key = test["reference"].split(".")
            assert tab[(c["id"], test["label"])] == pytest.approx(ref[section][key], abs=1e-6), test["label"]
            n += 1
    assert n == 17
    assert ref["o2_stop"]["logrank"] == pytest.approx(0.007, abs=5e-4)
    assert ref["hospital_stay"]["logrank"] == pytest.approx(0.042, abs=5e-4)


def test_exact_rank_sum_cannot_print_0_042_but_can_print_0_007():
    ref = json.loads((FOLDER / "candidates.json").read_text())["rank_sum_exact_10_vs_10"]
    printed = {round(p, 3) for p in ref.values()}
    assert 0.042 not in printed and 0.007 in printed


def test_calibration_report_labels_calibration_targets():
    text = (FOLDER / "CALIBRATION.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in text.splitlines()[0] and "FAIL" not in text
    logrank = [ln for ln in text.splitlines() if ln.startswith("| Log-rank |")]
    assert len(logrank) == 2 and all("matches by construction" in ln for ln in logrank)
    fisher = next(ln for ln in text.splitlines() if ln.startswith("| Fisher exact"))
    assert "matches by construction" not in fisher


@pytest.mark.r
def test_candidates_json_is_what_the_r_script_gives(tmp_path):
    exe = require_rscript()
    ref = json.loads((FOLDER / "candidates.json").read_text())
    for f in ("candidates.R", "patients.csv", "measurements.csv"):
        shutil.copy(FOLDER / f, tmp_path / f)
    subprocess.run([exe, str(tmp_path / "candidates.R")], check=True, capture_output=True, timeout=300)
    fresh = json.loads((tmp_path / "candidates.json").read_text())
    for section in ("who_improvement_d7", "o2_stop", "hospital_stay", "pf_change"):
        for k, v in ref[section].items():
            assert fresh[section][k] == pytest.approx(v, rel=1e-9), (section, k)


def test_metamorphic_reordering_rows_and_renaming_ids_changes_no_candidate():
    spec = load_targets(FOLDER / "targets.toml")
    t = read_tables(FOLDER)
    base = candidate_table(spec, t)["p_value"].to_numpy()
    pts = t.patients.sample(frac=1.0, random_state=1).reset_index(drop=True)
    ms = t.measurements.sample(frac=1.0, random_state=2).reset_index(drop=True)
    pts["patient_id"] = "p-" + pts["patient_id"]
    ms["patient_id"] = "p-" + ms["patient_id"]
    again = candidate_table(spec, Tables(pts, ms, t.doc))["p_value"].to_numpy()
    np.testing.assert_allclose(again, base, rtol=1e-12)
