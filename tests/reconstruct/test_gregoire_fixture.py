"""The Grégoire 2022 fixture (8 BM-MSC vs 24 matched controls): rebuild, published targets, candidate tests.

Targets are recomputed from the CSV files with plain pandas/NumPy; candidate P
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

from longmod.reconstruct import build_fixture, candidate_table, load_targets, read_tables
from longmod.resources import fixtures_dir
from tests.conftest import require_rscript

FOLDER = fixtures_dir() / "gregoire_2022"
GENERATED = ("patients.csv", "measurements.csv", "CALIBRATION.md")


@pytest.fixture(scope="module")
def tables():
    pts = pd.read_csv(FOLDER / "patients.csv", dtype={"patient_id": str})
    ms = pd.read_csv(FOLDER / "measurements.csv", dtype={"patient_id": str})
    return pts, ms


@pytest.fixture(scope="module")
def reference():
    return json.loads((FOLDER / "candidates.json").read_text())


def test_rebuild_gives_the_shipped_bytes(tmp_path):
    """No hand edits, same seed -> same bytes (and the inputs are not modified)."""
    before = [(FOLDER / f).read_bytes() for f in ("trial.toml", "targets.toml")]
    res = build_fixture("gregoire_2022", out=tmp_path)
    assert res.report.loc[~res.report["soft"], "passed"].all()
    for name in GENERATED:
        assert filecmp.cmp(tmp_path / name, FOLDER / name, shallow=False), name
    assert [(FOLDER / f).read_bytes() for f in ("trial.toml", "targets.toml")] == before


def test_matched_sets(tables):
    pts, _ = tables
    assert pts.groupby("arm").size().to_dict() == {"bm_msc": 8, "matched_control": 24}
    sets = pts.groupby("matched_set")
    assert sorted(sets.groups) == list(range(1, 9))
    assert (sets["arm"].apply(lambda a: (a == "bm_msc").sum()) == 1).all()
    assert (sets["arm"].apply(lambda a: (a == "matched_control").sum()) == 3).all()
    assert (sets["baseline_support"].nunique() == 1).all()  # matched on support at inclusion (assumption)
    msc = pts[pts["arm"] == "bm_msc"]
    assert msc["baseline_support"].value_counts().to_dict() == {"hfno": 7, "imv": 1}  # published


def test_survival_d28_d60(tables):
    pts, _ = tables
    d = pts["death_day"]
    alive28 = (~(d <= 28)).groupby(pts["arm"]).mean()
    alive60 = (~(d <= 60)).groupby(pts["arm"]).mean()
    assert alive28["bm_msc"] == 1.0 and round(100 * alive28["matched_control"], 1) == 79.2
    assert alive60["bm_msc"] == 1.0 and round(100 * alive60["matched_control"], 1) == 70.8
    assert d.dropna().between(8, 60).all()  # nobody dies before D8: every D7 value observed


def test_d_dimer_quartiles_type7(tables):
    pts, ms = tables
    d7 = ms[(ms["variable"] == "d_dimer") & (ms["day"] == 7)].merge(pts, on="patient_id")
    assert len(d7) == 32 and set(ms["day"]) == {0, 7}
    q = d7.groupby("arm")["value"].quantile([0.25, 0.5, 0.75])  # pandas default = R type 7
    assert q["bm_msc"].tolist() == [362.0, 821.0, 1305.0]
    assert q["matched_control"].tolist() == [1155.0, 3553.0, 6433.5]


def test_candidate_p_values_agree_with_r(reference):
    """Every candidate test of the targets file, longmod vs R on the same CSVs (tolerance 1e-6)."""
    spec = load_targets(FOLDER / "targets.toml")
    tab = candidate_table(spec, read_tables(FOLDER)).set_index(["candidate", "test"])["p_value"]
    n = 0
    for c in spec.candidates:
        for test in c["tests"]:
            section, key = test["reference"].split(".")
            assert tab[(c["id"], test["label"])] == pytest.approx(reference[section][key], abs=1e-6), test["label"]
            n += 1
    assert n == 35


def test_only_uncorrected_mcnemar_gives_the_survival_p_values(reference):
    """Over every arrangement of the published deaths in the 8 sets (R), only McNemar without
    continuity correction on the 24 treated-control pairs prints as 0.025 / 0.0082."""
    for h, printed, step in ((28, 0.025, 0.001), (60, 0.0082, 0.0001)):
        rng = reference[f"survival_d{h}_all_arrangements"]["range"]
        matches = [k for k, (lo, hi) in rng.items() if lo - step / 2 <= printed <= hi + step / 2]
        assert matches == ["mcnemar_nocorrect"], (h, matches)
        assert rng["mcnemar_nocorrect"][0] == rng["mcnemar_nocorrect"][1]  # independent of the arrangement


def test_no_exact_wilcoxon_can_print_0_0085(reference):
    att = reference["d_dimer_attainable_exact"]
    for table in att.values():
        assert not any(round(p, 4) == 0.0085 for p in table.values())
    assert reference["d_dimer_d7"]["rank_sum_asymptotic_correct"] == pytest.approx(0.0085, abs=5e-5)


def test_calibration_report_labels_the_calibration_target():
    text = (FOLDER / "CALIBRATION.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in text.splitlines()[0] and "FAIL" not in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| Wilcoxon rank-sum 8 vs 24, normal approximation with"))
    assert "matches by construction" in line
    assert all("matches by construction" not in ln for ln in text.splitlines() if ln.startswith("| McNemar"))


@pytest.mark.r
def test_candidates_json_is_what_the_r_script_gives(tmp_path, reference):
    exe = require_rscript()
    for f in ("candidates.R", "patients.csv", "measurements.csv"):
        shutil.copy(FOLDER / f, tmp_path / f)
    subprocess.run([exe, str(tmp_path / "candidates.R")], check=True, capture_output=True, timeout=300)
    fresh = json.loads((tmp_path / "candidates.json").read_text())
    for section in ("survival_d28", "survival_d60", "d_dimer_d7"):
        for k, v in reference[section].items():
            assert fresh[section][k] == pytest.approx(v, rel=1e-9), (section, k)
    assert fresh["survival_d60_all_arrangements"] == reference["survival_d60_all_arrangements"]


def test_metamorphic_renaming_arms_and_reordering_rows_changes_no_candidate():
    spec = load_targets(FOLDER / "targets.toml")
    t = read_tables(FOLDER)
    base = candidate_table(spec, t)["p_value"].to_numpy()
    pts = t.patients.sample(frac=1.0, random_state=3).reset_index(drop=True)
    ms = t.measurements.sample(frac=1.0, random_state=4).reset_index(drop=True)
    pts["patient_id"] = "x" + pts["patient_id"]
    ms["patient_id"] = "x" + ms["patient_id"]
    from longmod.reconstruct import Tables

    again = candidate_table(spec, Tables(pts, ms, t.doc))["p_value"].to_numpy()
    np.testing.assert_allclose(again, base, rtol=1e-12)
