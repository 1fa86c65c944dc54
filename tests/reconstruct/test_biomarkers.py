"""The 48 plasma biomarkers of the STROMA-CoV-2 fixture (issue 5), checked from the CSV files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from longmod.reconstruct import load_targets
from longmod.resources import fixtures_dir

FOLDER = fixtures_dir() / "stroma_cov2"
CLINICAL = {"pao2_fio2", "sofa", "driving_pressure", "compliance"}


@pytest.fixture(scope="module")
def bm():
    pts = pd.read_csv(FOLDER / "patients.csv", dtype={"patient_id": str})
    ms = pd.read_csv(FOLDER / "measurements.csv", dtype={"patient_id": str})
    return pts, ms[~ms["variable"].isin(CLINICAL)].merge(pts, on="patient_id")


def test_markers_days_and_patients(bm):
    pts, m = bm
    spec = load_targets(FOLDER / "targets.toml")
    assert sorted(m["variable"].unique()) == sorted(spec.biomarkers["markers"]) and m["variable"].nunique() == 48
    assert sorted(m["day"].unique()) == [0, 2, 4, 7, 14]
    assert m.groupby("arm")["patient_id"].nunique().to_dict() == {"placebo": 21, "uc_msc": 20}
    # every patient of the set has all 48 markers at D0
    d0 = m[m["day"] == 0].groupby("patient_id")["variable"].nunique()
    assert (d0 == 48).all()


def test_censoring_convention_and_fractions(bm):
    _, m = bm
    assert m["lloq"].notna().all() and (m["lloq"] > 0).all()
    assert (m["lloq"].groupby(m["variable"]).nunique() == 1).all()  # one LLOQ per marker
    obs = m["value"].notna()
    assert (m.loc[obs, "value"] >= m.loc[obs, "lloq"]).all()  # quantified values are >= LLOQ
    frac = m["value"].isna().groupby(m["variable"]).mean()
    assert frac.min() == 0 and frac.max() > 0.5
    assert ((frac > 0.05) & (frac < 0.5)).sum() >= 10  # a spread, not all-or-nothing


def test_no_samples_after_death_or_discharge(bm):
    _, m = bm
    end = m[["death_day", "icu_discharge_day"]].min(axis=1)
    assert (m.loc[end.notna(), "day"] < end[end.notna()]).all()


def test_within_patient_correlation(bm):
    _, m = bm
    y = np.log10(m["value"].fillna(m["lloq"] / 2))
    w = m.assign(y=y)[m["variable"] == "IL-6"].pivot(index="patient_id", columns="day", values="y")
    r = w[[0, 2]].dropna().corr().iloc[0, 1]
    assert 0.2 < r < 0.9


def test_published_finding_late_decreases_only(bm):
    """Between-arm rank-sum tests: inflammatory markers lower in UC-MSC at D14; nothing at D0."""
    _, m = bm
    spec = load_targets(FOLDER / "targets.toml")
    effect = list(spec.biomarkers["effect_markers"])
    y = np.log10(m["value"].fillna(m["lloq"] / 2))
    m = m.assign(y=y)

    def shift(var, day):
        g = m[(m["variable"] == var) & (m["day"] == day)]
        a, b = g.loc[g["arm"] == "uc_msc", "y"], g.loc[g["arm"] == "placebo", "y"]
        return a.median() - b.median(), mannwhitneyu(a, b).pvalue

    late = [shift(v, 14) for v in effect]
    assert np.mean([d for d, _ in late]) < -0.3
    assert min(p for _, p in late) < 0.01
    base = [shift(v, 0)[1] for v in m["variable"].unique()]
    assert np.mean(np.array(base) < 0.05) < 0.2
