"""The published test-by-test analysis against R (wilcox.test, p.adjust "BH").

Reference: tests/reference/r_biomarkers/wilcoxon_bh.R -> wilcoxon_bh.json, input
wilcoxon_input.csv (written by tests/biomarkers/refdata.py from the seeded simulator).
Tolerance rtol=1e-9: both sides compute the same exact distributions / normal
approximations in double precision.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from longmod.biomarkers.paper import bh_adjust, paper_tests, volcano_data
from tests.biomarkers.refdata import REF, wilcoxon_input
from tests.conftest import require_rscript

RTOL = 1e-9


def _merged(ref_rows: list[dict]) -> pd.DataFrame:
    ours = paper_tests(wilcoxon_input(), active="uc_msc", reference="placebo")
    ref = pd.DataFrame(ref_rows)
    ref["day"] = ref["day"].astype(float)
    m = ours.merge(ref, on=["outcome", "day", "family"], suffixes=("", "_r"), validate="1:1")
    assert len(m) == len(ours) == len(ref)
    return m


def test_stored_input_is_what_the_simulator_writes():
    stored = pd.read_csv(REF / "wilcoxon_input.csv", dtype={"patient_id": str})
    pd.testing.assert_frame_equal(stored, wilcoxon_input(), check_exact=False, rtol=1e-12)


def test_wilcoxon_and_bh_match_stored_r_json():
    ref = json.loads((REF / "wilcoxon_bh.json").read_text())
    m = _merged(ref["rows"])
    np.testing.assert_allclose(m["p_value"], m["p_value_r"], rtol=RTOL)
    np.testing.assert_allclose(m["p_value_bh"], m["p_value_bh_r"], rtol=RTOL)
    rs = m["contrast"] == "uc_msc - placebo"
    np.testing.assert_allclose(m.loc[rs, "statistic"], m.loc[rs, "statistic_r"], rtol=RTOL)
    # the comparison covers both exact and tie-corrected normal-approximation branches
    assert m["exact"].any() and (~m["exact"]).any()
    assert (m["p_value_bh"] >= m["p_value"] - 1e-15).all()


def test_signed_rank_statistic_matches_r_with_zero_differences():
    # With LOQ/2 substitution, pairs censored on both days give zero differences; R drops them
    # before ranking and so does longmod.engines.ancova.signed_rank_test: V agrees on every row,
    # censored ones (zero differences) included.
    ref = json.loads((REF / "wilcoxon_bh.json").read_text())
    m = _merged(ref["rows"])
    sr = m["contrast"] != "uc_msc - placebo"
    assert (sr & (m["n_censored"] > 0)).sum() >= 1 and (sr & (m["n_censored"] == 0)).sum() >= 8
    np.testing.assert_allclose(m.loc[sr, "statistic"], m.loc[sr, "statistic_r"], rtol=RTOL)


@pytest.mark.r
def test_r_script_reproduces_its_json(tmp_path):
    exe = require_rscript()
    out = tmp_path / "w.json"
    subprocess.run([exe, str(REF / "wilcoxon_bh.R"), str(REF / "wilcoxon_input.csv"), str(out)], check=True,
                   capture_output=True)
    fresh = pd.DataFrame(json.loads(out.read_text())["rows"])
    stored = pd.DataFrame(json.loads((REF / "wilcoxon_bh.json").read_text())["rows"])
    pd.testing.assert_frame_equal(fresh, stored, rtol=1e-12)


def test_bh_adjust_textbook_and_nan():
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "BH") -> all 0.05
    np.testing.assert_allclose(bh_adjust([0.01, 0.02, 0.03, 0.04, 0.05]), [0.05] * 5)
    # R: p.adjust(c(0.001, 0.2, NA, 0.03), "BH") -> 0.003 0.200 NA 0.045
    np.testing.assert_allclose(bh_adjust([0.001, 0.2, np.nan, 0.03]), [0.003, 0.2, np.nan, 0.045])


def test_families_have_one_test_per_marker_and_loq2_rule():
    d = wilcoxon_input()
    before = d.copy()
    t = paper_tests(d, active="uc_msc", reference="placebo")
    pd.testing.assert_frame_equal(d, before)  # input not mutated
    assert (t.groupby("family").size() == 12).all()
    assert t["family"].nunique() == 5 + 4 * 2
    # LOQ/2 substitution: the lowest log10 value of a heavily censored marker is log10(LLOQ/2)
    one = t[(t.outcome == "M12") & (t.day == 0) & (t.contrast == "uc_msc - placebo")]
    assert not bool(one["exact"].iloc[0])  # ties from substitution force the normal approximation
    v = volcano_data(t)
    assert len(v) == len(t)
    np.testing.assert_allclose(v["neg_log10_p"], -np.log10(t["p_value"]))
