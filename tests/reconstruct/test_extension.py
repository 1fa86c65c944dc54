"""The D0-D28 extension of the STROMA-CoV-2 fixture (issue 3), checked from the CSV files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.survfunc import survdiff

from longmod.reconstruct import load_targets, reconstruct
from longmod.reconstruct.extension import logrank_p
from longmod.reconstruct.tables import read_doc
from longmod.resources import fixtures_dir

FOLDER = fixtures_dir() / "stroma_cov2"


@pytest.fixture(scope="module")
def tables():
    pts = pd.read_csv(FOLDER / "patients.csv", dtype={"patient_id": str})
    ms = pd.read_csv(FOLDER / "measurements.csv", dtype={"patient_id": str})
    return pts, ms


def test_calibrated_part_unchanged_by_extension(tables):
    """D0-D7 PaO2/FiO2 and the pre-D7 events equal the calibration's own output."""
    _, ms = tables
    spec = load_targets(FOLDER / "targets.toml")
    pts0, meas0, _, _ = reconstruct(spec, read_doc(FOLDER), int(spec.generator["seed"]))
    key = ["patient_id", "day"]
    got = ms[(ms["variable"] == "pao2_fio2") & (ms["day"] <= 7)].sort_values(key).reset_index(drop=True)
    want = meas0.sort_values(key).reset_index(drop=True)
    assert got[key].equals(want[key])
    np.testing.assert_array_equal(got["value"].to_numpy(), want["value"].to_numpy())


def test_deaths_by_d28_and_logrank(tables):
    pts, _ = tables
    death = pts["death_day"]
    assert pts[death <= 28].groupby("arm").size().to_dict() == {"placebo": 5, "uc_msc": 3}
    assert pts[death < 7].groupby("arm").size().to_dict() == {"placebo": 1, "uc_msc": 1}
    time = np.where(death <= 28, death, 28.0)
    event = (death <= 28).astype(int).to_numpy()
    _, p = survdiff(time, event, pts["arm"].to_numpy())  # independent implementation
    assert p == pytest.approx(0.63, abs=0.03)
    assert logrank_p(time, event, pts["arm"]) == pytest.approx(p, abs=1e-10)


def test_schedule_and_event_rules(tables):
    pts, ms = tables
    assert set(ms["variable"]) >= {"pao2_fio2", "sofa", "driving_pressure", "compliance"}
    assert set(ms.loc[ms["variable"].isin(["pao2_fio2", "sofa"]), "day"]) == {0, 1, 2, 3, 4, 5, 6, 7, 14, 21, 28}
    last = ms.groupby("patient_id")["day"].max()
    for p in pts.itertuples():
        ev = [d for d in (p.death_day, p.icu_discharge_day) if not np.isnan(d)]
        if ev:
            assert last[p.patient_id] < min(ev), p.patient_id  # nothing on or after death / ICU discharge


def test_sofa_and_ventilation_variables(tables):
    pts, ms = tables
    sofa = ms[ms["variable"] == "sofa"]
    assert sofa["value"].between(0, 24).all() and (sofa["value"] == sofa["value"].round()).all()
    d0 = sofa[sofa["day"] == 0].merge(pts, on="patient_id")
    assert ((d0["value"] > 11).astype(int) == d0["sofa_gt11"]).all()
    # PaO2/FiO2 and SOFA on the same patient-days
    pf = ms[ms["variable"] == "pao2_fio2"]
    assert set(zip(pf["patient_id"], pf["day"])) == set(zip(sofa["patient_id"], sofa["day"]))
    vent = ms[ms["variable"].isin(["driving_pressure", "compliance"])]
    ventilated = set(pts.loc[pts["imv"] == 1, "patient_id"])
    assert set(vent["patient_id"]) <= ventilated and len(set(vent["patient_id"])) > 0
    dp = ms[ms["variable"] == "driving_pressure"].set_index(["patient_id", "day"])["value"]
    crs = ms[ms["variable"] == "compliance"].set_index(["patient_id", "day"])["value"]
    assert dp.index.equals(crs.index)
    assert dp.between(3, 40).all() and crs.between(5, 150).all()
