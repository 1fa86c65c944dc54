"""The shipped STROMA-CoV-2 fixture meets its published targets.

Everything here is recomputed from the CSV files with plain pandas/NumPy (and
statsmodels OLS for the ANCOVA), independently of longmod.reconstruct and of
longmod's estimand code, so a bug in either would show.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from longmod.data import load_trial
from longmod.resources import fixtures_dir

FOLDER = fixtures_dir() / "stroma_cov2"


@pytest.fixture(scope="module")
def tables():
    pts = pd.read_csv(FOLDER / "patients.csv", dtype={"patient_id": str})
    ms = pd.read_csv(FOLDER / "measurements.csv", dtype={"patient_id": str})
    return pts, ms[ms["variable"] == "pao2_fio2"]


@pytest.fixture(scope="module")
def primary(tables):
    """Independent implementation of the primary estimand (death -> 50, discharge -> LOCF x 1.10)."""
    pts, pf = tables
    rows = []
    for p in pts.itertuples():
        g = pf[pf["patient_id"] == p.patient_id].set_index("day")["value"]
        d0 = g.loc[0]
        if 7 in g.index:
            v, kind = g.loc[7], "observed"
        elif not np.isnan(p.death_day) and p.death_day <= 7 and (np.isnan(p.icu_discharge_day) or p.death_day <= p.icu_discharge_day):
            v, kind = 50.0, "died"
        elif not np.isnan(p.icu_discharge_day) and p.icu_discharge_day <= 7:
            last = g[g.index <= min(7, p.icu_discharge_day)]
            v, kind = 1.10 * last.iloc[-1], "discharged"
        else:
            raise AssertionError(f"{p.patient_id}: no D7 value and no event before D7")
        rows.append({"patient_id": p.patient_id, "arm": p.arm, "age_gt70": p.age_gt70, "sofa_gt11": p.sofa_gt11,
                     "d0": d0, "d7": v, "kind": kind})
    out = pd.DataFrame(rows)
    out["change"] = out["d7"] - out["d0"]
    return out


def test_loads_cleanly_and_is_labelled_synthetic():
    trial = load_trial(FOLDER)
    assert trial.meta.synthetic is True
    assert trial.n_patients == 45
    text = (FOLDER / "CALIBRATION.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in text.splitlines()[0]
    assert "FAIL" not in text


def test_exact_counts(tables, primary):
    pts, _ = tables
    assert pts["arm"].value_counts().to_dict() == {"placebo": 24, "uc_msc": 21}
    k = primary.groupby(["arm", "kind"]).size().to_dict()
    assert k == {("placebo", "died"): 1, ("placebo", "discharged"): 5, ("placebo", "observed"): 18,
                 ("uc_msc", "died"): 1, ("uc_msc", "discharged"): 3, ("uc_msc", "observed"): 17}
    d0 = primary["d0"]
    assert ((d0 <= 100).sum(), ((d0 > 100) & (d0 <= 200)).sum(), ((d0 > 200) & (d0 <= 300)).sum()) == (9, 22, 14)
    sev = np.where(d0 <= 100, "severe", np.where(d0 <= 200, "moderate", "mild"))
    assert (pts.set_index("patient_id").loc[primary["patient_id"], "ards_severity"].to_numpy() == sev).all()
    assert pts.groupby("arm")["corticosteroids"].sum().to_dict() == {"placebo": 19, "uc_msc": 15}
    uc = pts[pts["arm"] == "uc_msc"]["doses_received"].value_counts().to_dict()
    assert uc == {3: 17, 2: 2, 1: 2}
    assert pts.groupby("arm")["imv"].mean()["placebo"] > pts.groupby("arm")["imv"].mean()["uc_msc"]


@pytest.mark.parametrize(("arm", "median", "q1", "q3"), [("uc_msc", 54.3, -15.5, 93.3), ("placebo", 25.3, -33.3, 104.6)])
def test_imputed_change_median_iqr(primary, arm, median, q1, q3):
    ch = primary.loc[primary["arm"] == arm, "change"].to_numpy()
    # numpy's default 'linear' method is R's quantile type 7
    got = np.quantile(ch, [0.5, 0.25, 0.75])
    np.testing.assert_allclose(got, [median, q1, q3], atol=1.0)


@pytest.mark.parametrize(("arm", "m0", "s0", "m7", "s7"), [("uc_msc", 156.2, 68.2, 188.3, 74.2), ("placebo", 171.2, 72.9, 169.8, 85.6)])
def test_alive_in_icu_means_sds(primary, arm, m0, s0, m7, s7):
    sub = primary[(primary["arm"] == arm) & (primary["kind"] == "observed")]
    got = [sub["d0"].mean(), sub["d0"].std(ddof=1), sub["d7"].mean(), sub["d7"].std(ddof=1)]
    np.testing.assert_allclose(got, [m0, s0, m7, s7], atol=1.0)


def test_post_imputation_uc_msc_d7(primary):
    d7 = primary.loc[primary["arm"] == "uc_msc", "d7"]
    np.testing.assert_allclose([d7.mean(), d7.std(ddof=1)], [194.7, 95.3], atol=1.0)


def test_ancova_on_reconstructed_data(primary):
    d = primary.assign(trt=(primary["arm"] == "uc_msc").astype(float))
    fit = smf.ols("change ~ trt + d0 + age_gt70 + sofa_gt11", data=d).fit()
    lo, hi = fit.conf_int().loc["trt"]
    assert fit.params["trt"] == pytest.approx(7.4, abs=0.5)
    assert lo == pytest.approx(-44.7, abs=1.0)
    assert hi == pytest.approx(59.7, abs=1.0)
    assert fit.pvalues["trt"] == pytest.approx(0.77, abs=0.02)
    assert fit.df_resid == 40


def test_daily_values_end_at_events(tables):
    pts, pf = tables
    for p in pts.itertuples():
        days = sorted(pf.loc[pf["patient_id"] == p.patient_id, "day"])
        end = 7 if days[-1] >= 7 else days[-1]
        assert [d for d in days if d <= 7] == list(range(0, end + 1)), p.patient_id  # daily, no gaps
        if not np.isnan(p.death_day):
            assert max(days) < p.death_day
        if not np.isnan(p.icu_discharge_day):
            assert max(days) <= p.icu_discharge_day
    assert pf["value"].between(20, 700).all()
    assert (pf["value"].round(1) == pf["value"]).all()
