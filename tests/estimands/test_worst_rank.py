"""Worst-rank composite (win ratio, Mann-Whitney odds) and the while-alive summary.

References: brute-force pairwise enumeration here (point estimates); ``tests/reference/worst_rank/
worst_rank.R`` -> ``worst_rank.json`` (base R: pairwise loops, U-statistic variances from the
structural components, Finkelstein-Schoenfeld by loops and by ``wilcox.test``) for the variances.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from longmod.estimands.while_alive import patient_auc, while_alive_auc, while_alive_summaries
from longmod.estimands.worst_rank import worst_rank
from longmod.spec.model import Treatment

REF = Path(__file__).resolve().parents[1] / "reference" / "worst_rank"
TR = Treatment("arm", "ctl", "act")


@pytest.fixture(scope="module")
def case():
    return pd.read_csv(REF / "worst_rank_case.csv")


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "worst_rank.json").read_text())


def _brute_force(d, horizon):
    """Pairwise wins/losses/ties written out with the clinical rule, one pair at a time."""
    wins = losses = ties = 0
    act, ctl = d[d.arm == "act"], d[d.arm == "ctl"]
    for _, a in act.iterrows():
        for _, c in ctl.iterrows():
            a_died = not math.isnan(a.death_day) and a.death_day <= horizon
            c_died = not math.isnan(c.death_day) and c.death_day <= horizon
            if a_died and c_died:
                res = (a.death_day > c.death_day) - (a.death_day < c.death_day)
            elif a_died:
                res = -1
            elif c_died:
                res = 1
            else:
                res = (a.outcome > c.outcome) - (a.outcome < c.outcome)
            wins += res == 1
            losses += res == -1
            ties += res == 0
    return wins, losses, ties


def test_point_estimates_against_brute_force(case):
    w, l, t = _brute_force(case, 28)
    r = worst_rank(case, treatment=TR, death_day="death_day", outcome="outcome", horizon=28).set_index("summary_measure")
    assert (r.loc["win_ratio", "wins"], r.loc["win_ratio", "losses"], r.loc["win_ratio", "ties"]) == (w, l, t)
    n = w + l + t
    assert r.loc["win_ratio", "estimate"] == pytest.approx(w / l, rel=1e-14)
    theta = (w + t / 2) / n
    assert r.loc["probabilistic_index", "estimate"] == pytest.approx(theta, rel=1e-14)
    assert r.loc["mann_whitney_odds", "estimate"] == pytest.approx(theta / (1 - theta), rel=1e-14)
    assert r.loc["win_ratio", "net_benefit"] == pytest.approx((w - l) / n, rel=1e-14)


def test_variances_and_fs_test_against_r(case, ref):
    """Tolerance rtol 1e-10: the same closed-form formulas computed by different code (R loops)."""
    r = worst_rank(case, treatment=TR, death_day="death_day", outcome="outcome", horizon=28).set_index("summary_measure")
    wr, mw, pi = r.loc["win_ratio"], r.loc["mann_whitney_odds"], r.loc["probabilistic_index"]
    assert (wr["wins"], wr["losses"], wr["ties"]) == (ref["wins"], ref["losses"], ref["ties"])
    assert wr["std_error"] == pytest.approx(ref["log_win_ratio_se"], rel=1e-10)
    assert [wr["conf_low"], wr["conf_high"]] == pytest.approx(ref["win_ratio_ci"], rel=1e-10)
    assert mw["std_error"] == pytest.approx(ref["logit_theta_se"], rel=1e-10)
    assert [mw["conf_low"], mw["conf_high"]] == pytest.approx(ref["mw_odds_ci"], rel=1e-10)
    assert pi["std_error"] == pytest.approx(ref["theta_se"], rel=1e-10)
    assert wr["fs_z"] == pytest.approx(ref["fs_z"], rel=1e-10)
    # the FS P value is also R's wilcox.test (normal approximation, no continuity correction)
    assert wr["p_value"] == pytest.approx(ref["fs_p_value"], rel=1e-10)
    assert wr["p_value"] == pytest.approx(ref["wilcox_p_value"], rel=1e-10)
    assert wr["analysis"] == "worst_rank" and wr["estimand"].startswith("Composite: death ranked worst")


def test_direction_symmetry_and_metamorphic(case):
    """Swapping the arms inverts the win ratio and the odds; a lower-is-better outcome negated gives the
    same result; renaming arms and reordering rows change nothing."""
    r = worst_rank(case, treatment=TR, death_day="death_day", outcome="outcome", horizon=28).set_index("summary_measure")
    s = worst_rank(case, treatment=Treatment("arm", "act", "ctl"), death_day="death_day", outcome="outcome",
                   horizon=28).set_index("summary_measure")
    assert s.loc["win_ratio", "estimate"] == pytest.approx(1 / r.loc["win_ratio", "estimate"], rel=1e-12)
    assert s.loc["mann_whitney_odds", "estimate"] == pytest.approx(1 / r.loc["mann_whitney_odds", "estimate"])
    assert s.loc["win_ratio", "std_error"] == pytest.approx(r.loc["win_ratio", "std_error"], rel=1e-12)
    neg = case.assign(outcome=-case["outcome"])
    q = worst_rank(neg, treatment=TR, death_day="death_day", outcome="outcome", horizon=28, higher_is_better=False)
    np.testing.assert_allclose(q["estimate"], r["estimate"], rtol=1e-12)
    other = case.rename(columns={"arm": "grp", "death_day": "dd", "outcome": "yy"}).sample(frac=1.0, random_state=3)
    other["grp"] = other["grp"].map({"act": "B", "ctl": "A"})
    o = worst_rank(other, treatment=Treatment("grp", "A", "B"), death_day="dd", outcome="yy", horizon=28)
    for col in ("estimate", "std_error", "conf_low", "conf_high", "p_value"):
        np.testing.assert_allclose(o[col], r[col], rtol=1e-12, err_msg=col)


def test_survivor_without_outcome_is_reported(case):
    d = case.copy()
    d.loc[d.index[0], "outcome"] = np.nan  # a survivor
    r = worst_rank(d, treatment=TR, death_day="death_day", outcome="outcome", horizon=28)
    assert r["n_excluded"].eq(1).all() and r["warnings"].str.contains("1 survivor").all()
    assert r["n_obs"].eq(len(d) - 1).all()
    with pytest.raises(ValueError, match="only 'act' and 'ctl'"):
        worst_rank(d.assign(arm="x"), treatment=TR, death_day="death_day", outcome="outcome", horizon=28)


@pytest.mark.r
def test_r_script_reproduces_stored_json(tmp_path, ref):
    from tests.conftest import require_rscript

    require_rscript()
    for f in ("worst_rank.R", "worst_rank_case.csv"):
        shutil.copy(REF / f, tmp_path / f)
    out = tmp_path / "out.json"
    subprocess.run(["Rscript", str(tmp_path / "worst_rank.R"), str(out)], check=True, capture_output=True, timeout=300)
    new = json.loads(out.read_text())
    for key in ("wins", "losses", "ties", "log_win_ratio_se", "theta_se", "fs_z", "wilcox_p_value"):
        assert new[key] == pytest.approx(ref[key], rel=1e-12), key


def test_stored_case_is_reproducible(case):
    import importlib.util

    spec = importlib.util.spec_from_file_location("wr_case", REF / "make_case.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pd.testing.assert_frame_equal(mod.case(), case)


# ---- while alive ------------------------------------------------------------------------------

def test_patient_auc_by_hand():
    # 0 -> 2: (100 + 140) / 2 x 2 = 240; 2 -> 3: (140 + 120) / 2 = 130; 3 -> 5 carried: 240
    assert patient_auc([0, 2, 3, 8], [100.0, 140.0, 120.0, 999.0], 0, 5) == 610.0
    assert patient_auc([0], [80.0], 0, 4) == 320.0
    with pytest.raises(ValueError, match="baseline"):
        patient_auc([1, 2], [1.0, 2.0], 0, 3)


def test_while_alive_rows_and_windows():
    pts = pd.DataFrame({"id": ["a1", "a2", "a3", "c1", "c2", "c3", "c4"], "grp": ["T"] * 3 + ["C"] * 4,
                        "dies": [np.nan, 3.0, np.nan, 0.0, np.nan, 5.0, np.nan], "out": [np.nan] * 3 + [np.nan, 4.0, np.nan, np.nan]})
    vals = pd.DataFrame({"id": ["a1", "a1", "a2", "a2", "a3", "c1", "c2", "c2", "c3", "c4", "c4"],
                         "d": [0, 7, 0, 1, 0, 0, 0, 2, 0, 0, 6], "v": [100., 200., 80., 60., 90., 70., 120., 150., 100., 90., 150.]})
    s, excl = while_alive_summaries(vals, pts, subject="id", day="d", value="v", death_day="dies", horizon=7,
                                    stop_days=["out"])
    s = s.set_index("id")
    assert excl["id"].tolist() == ["c1"] and "no time at risk" in excl["reason"].iloc[0]
    assert s.loc["a1", "auc"] == 7 * 150.0 and s.loc["a1", "end_reason"] == "horizon"
    assert s.loc["a2", "auc"] == 70.0 + 2 * 60.0 and s.loc["a2", "days_at_risk"] == 3.0
    assert s.loc["c2", "end_reason"] == "out" and s.loc["c2", "auc"] == 270.0 + 2 * 150.0
    assert s.loc["c4", "while_alive_mean"] == pytest.approx((6 * 120.0 + 150.0) / 7)
    row = while_alive_auc(vals, pts, treatment=Treatment("grp", "C", "T"), subject="id", day="d", value="v",
                          death_day="dies", horizon=7, covariates=["baseline"], stop_days=["out"]).iloc[0]
    # ANCOVA of the per-day means on arm + baseline, by numpy least squares
    y = s["while_alive_mean"].to_numpy()
    base = np.array([100., 80., 90., 120., 100., 90.])
    X = np.column_stack([np.ones(6), (s["grp"] == "T").to_numpy(float), base])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    assert row["estimate"] == pytest.approx(beta[1], rel=1e-10)
    assert row["n_excluded"] == 1 and "c1" in row["warnings"] and row["day"] == 7.0
    assert row["analysis"] == "while_alive_auc" and row["outcome"] == "v_while_alive"
    assert row["mean_active"] == pytest.approx(s.loc[["a1", "a2", "a3"], "while_alive_mean"].mean())
