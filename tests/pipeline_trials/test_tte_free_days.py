"""Event times from trial.toml (declared, threshold, end of a state), free days with death worst, and STROMA's
secondary endpoints through the pipeline, against hand computation on small trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.data import CovariateInfo, EventInfo, TrialMeta, VariableInfo, from_frames
from longmod.pipeline.free_days import free_days_table
from longmod.pipeline.tte import COMPETING, EVENT, event_table


def _toy(arms=("a", "b")):
    # patient 1 has a PaO2/FiO2 on day 7 after the day-5 discharge (declared: a value after discharge is data)
    meta = TrialMeta(name="toy", arms=arms, reference_arm=arms[1], schedule=(0, 1, 2, 3, 7), followup_days=10,
                     events={"death": EventInfo("death", "death_day", "death"),
                             "out": EventInfo("out", "out_day", "discharge")},
                     variables={"pf": VariableInfo("pf", min=20, max=700, after_discharge=True), "vent": VariableInfo("vent", min=0, max=50)})
    pts = pd.DataFrame({"patient_id": ["1", "2", "3", "4"], "arm": [arms[0], arms[0], arms[1], arms[1]],
                        "death_day": [np.nan, 2, np.nan, np.nan], "out_day": [5, np.nan, np.nan, 3]})
    rows = []
    pf = {"1": [100, 150, 210, 250, 300], "2": [90, 80, np.nan, np.nan, np.nan], "3": [120, 130, 140, 150, 190],
          "4": [250, 260, 270, np.nan, np.nan]}
    for pid, vals in pf.items():
        for d, v in zip((0, 1, 2, 3, 7), vals):
            if not np.isnan(v):
                rows.append((pid, d, "pf", float(v)))
    for pid, days in {"1": [0, 1], "2": [0, 1], "3": [0, 1, 2, 3, 7]}.items():
        rows += [(pid, d, "vent", 10.0) for d in days]
    ms = pd.DataFrame(rows, columns=["patient_id", "day", "variable", "value"])
    return from_frames(pts, ms, meta)


def test_threshold_event_with_death_competing_and_discharge_censoring():
    t = event_table(_toy(), {"event": {"variable": "pf", "above": 200}}).frame.set_index("patient_id")
    assert t.loc["1", ["time", "code"]].tolist() == [2.0, EVENT]      # first visit above 200: D2
    assert t.loc["2", ["time", "code"]].tolist() == [2.0, COMPETING]  # died D2 before reaching it
    assert t.loc["3", ["time", "code"]].tolist() == [10.0, 0]         # never, followed to D10
    assert "4" not in t.index                                         # above 200 at baseline: not analysed


def test_end_of_state_event():
    et = event_table(_toy(), {"event": {"variable": "vent", "stops": True}})
    t = et.frame.set_index("patient_id")
    assert t.loc["1", ["time", "code"]].tolist() == [2.0, EVENT]      # measured D0-D1, not D2
    assert t.loc["2", ["time", "code"]].tolist() == [2.0, COMPETING]  # died D2 still ventilated
    assert t.loc["3", ["time", "code"]].tolist() == [10.0, 0]         # still ventilated at the last visit
    assert et.n_dropped == 1


def test_declared_event_and_renamed_arms():
    a = event_table(_toy(), {"event": "out"}).frame
    b = event_table(_toy(("x", "y")), {"event": "out"}).frame
    assert a[["time", "code"]].equals(b[["time", "code"]])
    assert a.set_index("patient_id").loc["2", "code"] == COMPETING


def test_free_days_by_hand():
    t = free_days_table(_toy(), {"variable": "vent", "measured": True}, horizon=10).set_index("patient_id")
    # 1: ventilated D1 (from the D1 visit), free D2-D10 -> 9; 2: died -> -1; 3: ventilated every day -> 0;
    # 4: never ventilated -> 10
    assert t["free_days"].to_dict() == {"1": 9.0, "2": -1.0, "3": 0.0, "4": 10.0}


@pytest.fixture(scope="module")
def stroma():
    from longmod.pipeline import reanalyse

    return reanalyse("stroma-cov2", only=["survival", "sofa_evolution", "icu_discharge", "ventilator_free_days"])


def test_stroma_secondary_rows_equal_the_engines(stroma):
    from longmod.engines.survival.competing import cif_rows
    from longmod.engines.survival.data import survival_data
    from longmod.engines.survival.logrank import logrank_rows

    e = stroma.effects
    pts = stroma.trial.patients
    dead = pts["death_day"].notna() & (pts["death_day"] <= 28)
    d = pts.assign(t=np.where(dead, pts["death_day"], 28.0), e=dead.astype(int))
    sd = survival_data(d, time="t", event="e", arm="arm", arms=("placebo", "uc_msc"))
    want = logrank_rows(sd, analysis="x", outcome="death")["p_value"].iloc[0]
    got = e[(e["analysis"] == "survival") & (e["test"] == "logrank")]["p_value"].iloc[0]
    assert got == pytest.approx(want, rel=1e-12)
    pub = e[(e["engine"] == "published")].set_index("analysis")["p_value"]
    assert pub["survival"] == 0.63 and pub["sofa_evolution"] == 0.79
    disc = pts["icu_discharge_day"].where(pts["icu_discharge_day"] <= 28)
    code = np.where(pts["death_day"].notna() & (pts["death_day"] <= 28) & ~(disc < pts["death_day"]), 2,
                    np.where(disc.notna(), 1, 0))
    time = np.where(code == 2, pts["death_day"], np.where(code == 1, disc, 28.0))
    sd2 = survival_data(pts.assign(t=time, c=code), time="t", event="c", arm="arm", arms=("placebo", "uc_msc"),
                        max_event_code=2)
    want = cif_rows(sd2, day=14, analysis="x", outcome="icu").set_index("contrast")["estimate"]
    got = e[(e["analysis"] == "icu_discharge") & (e["day"] == 14) & (e["statistic"].isin(
        ["cumulative_incidence", "cif_difference"]))].set_index("contrast")["estimate"]
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)
    vfd = e[(e["analysis"] == "ventilator_free_days") & (e["statistic"] == "median")]
    assert len(vfd) == 2 and "death" in vfd["note"].iloc[0] and not vfd["warnings"].iloc[0]
