"""Imputation rules on small hand-checkable cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from longmod.data import CovariateInfo, EventInfo, TrialMeta, VariableInfo, from_frames
from longmod.estimands import apply_estimand
from longmod.spec.estimand import Estimand
from longmod.spec.model import SpecError

META = TrialMeta(name="toy", arms=("a", "b"), reference_arm="b", schedule=range(8), doses_planned=3,
                 variables={"pf": VariableInfo("pf", min=20, max=700)},
                 covariates={"age_gt70": CovariateInfo("age_gt70", "binary", "stratification"),
                             "sofa_gt11": CovariateInfo("sofa_gt11", "binary", "stratification")},
                 events={"death": EventInfo("death", "death_day", "death"),
                         "icu_discharge": EventInfo("icu_discharge", "icu_discharge_day", "discharge")})
#: The STROMA-CoV-2 primary rules, declared (an Estimand assumes no outcome-specific number).
PRIMARY = {"death": {"strategy": "composite", "value": 50}, "discharge": {"strategy": "locf_multiplier", "factor": 1.10}}

# p1 discharged on day 5, last value day 4 = 200 (day 5 has no value)
# p2 died on day 3 (last value day 2 = 90)
# p3 observed on day 7
# p4 alive in ICU, day-7 value missing, last value day 6 = 130
# p5 two doses only, observed
PATIENTS = pd.DataFrame({
    "patient_id": ["p1", "p2", "p3", "p4", "p5"], "arm": ["a", "b", "a", "b", "a"],
    "age_gt70": [0, 1, 0, 0, 0], "sofa_gt11": [0, 0, 1, 0, 0],
    "death_day": [None, 3, None, None, None], "icu_discharge_day": [5, None, None, None, None],
    "doses_received": [3, 3, 3, 3, 2],
})
MEAS = pd.DataFrame({
    "patient_id": ["p1", "p1", "p2", "p2", "p3", "p3", "p4", "p4", "p5", "p5"],
    "day": [0, 4, 0, 2, 0, 7, 0, 6, 0, 7],
    "variable": "pf",
    "value": [100.0, 200.0, 150.0, 90.0, 120.0, 180.0, 110.0, 130.0, 140.0, 170.0],
})


@pytest.fixture(scope="module")
def trial():
    return from_frames(PATIENTS, MEAS, META)


def by_id(ad):
    return ad.frame.set_index("patient_id")


def test_primary_rules(trial):
    ad = apply_estimand(trial, Estimand("primary", "pf", day=7, **PRIMARY))
    f = by_id(ad)
    assert f.loc["p1", "value"] == pytest.approx(220.0)     # 200 x 1.10
    assert f.loc["p1", "rule"] == "discharge: LOCF x 1.10" and f.loc["p1", "source"] == "imputed"
    assert f.loc["p1", "last_observed_day"] == 4
    assert f.loc["p2", "value"] == 50.0 and f.loc["p2", "rule"] == "death: composite 50"
    assert f.loc["p3", "value"] == 180.0 and f.loc["p3", "source"] == "observed"
    assert f.loc["p3", "change"] == pytest.approx(60.0)
    assert "p4" not in f.index                                 # other missing: excluded
    assert ad.excluded.set_index("patient_id").loc["p4", "reason"].startswith("missing before day 7")
    assert f.loc["p5", "value"] == 170.0                       # treatment policy keeps incomplete dosing


def test_configurable_composite_and_additive_reading(trial):
    e = Estimand("e", "pf", day=7, death={"strategy": "composite", "value": 0},
                 discharge={"strategy": "locf_plus_baseline_fraction", "factor": 0.10})
    f = by_id(apply_estimand(trial, e))
    assert f.loc["p2", "value"] == 0.0
    assert f.loc["p1", "value"] == pytest.approx(200.0 + 0.10 * 100.0)
    assert f.loc["p1", "rule"] == "discharge: LOCF + 10% of baseline"


def test_locf_sensitivity_and_locf_for_all(trial):
    f = by_id(apply_estimand(trial, Estimand("locf", "pf", day=7, death=PRIMARY["death"], discharge="locf",
                                             other_missing="locf")))
    assert f.loc["p1", "value"] == 200.0
    assert f.loc["p2", "value"] == 50.0
    assert f.loc["p4", "value"] == 130.0 and f.loc["p4", "rule"] == "missing: LOCF"
    f2 = by_id(apply_estimand(trial, Estimand("all", "pf", day=7, death="locf", discharge="locf")))
    assert f2.loc["p2", "value"] == 90.0


def test_observed_only_and_hypothetical(trial):
    ad = apply_estimand(trial, Estimand("obs", "pf", day=7, death="exclude", discharge="exclude"))
    assert sorted(ad.frame["patient_id"]) == ["p3", "p5"]
    hyp = apply_estimand(trial, Estimand("hyp", "pf", day=7, death="hypothetical", discharge="hypothetical"))
    f = by_id(hyp)
    assert math.isnan(f.loc["p1", "value"]) and f.loc["p1", "source"] == "missing"
    assert sorted(hyp.complete["patient_id"]) == ["p3", "p5"]


def test_per_protocol_population(trial):
    ad = apply_estimand(trial, Estimand("pp", "pf", day=7, incomplete_dosing="per_protocol", **PRIMARY))
    assert ad.estimand.population == "per_protocol"
    assert "p5" not in set(ad.frame["patient_id"])
    assert ad.excluded.set_index("patient_id").loc["p5", "reason"] == "per protocol: received 2 of 3 doses"


def test_trial_data_is_not_modified(trial):
    before = trial.measurements
    apply_estimand(trial, Estimand("primary", "pf", day=7, **PRIMARY))
    pd.testing.assert_frame_equal(trial.measurements, before)


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(SpecError, match="discharge strategy 'locf_plus_10' is not supported; choose one of"):
        Estimand("x", "pf", day=7, discharge="locf_plus_10")
    with pytest.raises(SpecError, match="population 'itt' is not supported"):
        Estimand("x", "pf", day=7, population="itt")


def test_defaults_assume_no_outcome_specific_number():
    e = Estimand("x", "pf", day=7)
    assert (e.death.name, e.discharge.name, e.other_missing.name) == ("hypothetical", "hypothetical", "exclude")
    with pytest.raises(SpecError, match="'composite' needs the value"):
        Estimand("x", "pf", day=7, death="composite")
    with pytest.raises(SpecError, match="needs its factor"):
        Estimand("x", "pf", day=7, discharge="locf_multiplier")


def test_strategies_follow_the_declared_event_kinds_whatever_the_column_names(trial):
    """Renaming the event columns (declared in trial.toml) changes nothing; an undeclared column is ignored."""
    renamed = PATIENTS.rename(columns={"death_day": "died_on", "icu_discharge_day": "left_icu_on"})
    meta = TrialMeta(name="toy", arms=("a", "b"), reference_arm="b", schedule=range(8), doses_planned=3,
                     variables=META.variables, covariates=META.covariates,
                     events={"d": EventInfo("d", "died_on", "death"), "x": EventInfo("x", "left_icu_on", "discharge")})
    e = Estimand("primary", "pf", day=7, **PRIMARY)
    a = apply_estimand(trial, e).frame
    b = apply_estimand(from_frames(renamed, MEAS, meta), e).frame
    pd.testing.assert_frame_equal(a, b)
    # without declared events nothing is an intercurrent event: p1 and p2 fall under other_missing (exclude)
    plain = TrialMeta(name="toy", arms=("a", "b"), reference_arm="b", schedule=range(8), variables=META.variables)
    c = apply_estimand(from_frames(PATIENTS[["patient_id", "arm"]], MEAS, plain), e).frame
    assert set(c["patient_id"]) == {"p3", "p5"} and list(c.columns[:2]) == ["patient_id", "arm"]


def test_every_declared_covariate_reaches_the_analysis_data(trial):
    ad = apply_estimand(trial, Estimand("primary", "pf", day=7, **PRIMARY))
    assert ad.covariates == ("age_gt70", "sofa_gt11")
    assert list(ad.frame.columns[:5]) == ["patient_id", "arm", "age_gt70", "sofa_gt11", "doses_received"]
