"""Survival engines: common-schema rows, metamorphic invariance and input errors."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from longmod.engines.survival.clogit import clogit_rows, matched_binary
from longmod.engines.survival.competing import cif_rows
from longmod.engines.survival.cox import cox_rows
from longmod.engines.survival.data import SurvivalInputError, survival_data
from longmod.engines.survival.km import km_rows, numbers_at_risk, survival_rows
from longmod.engines.survival.logrank import logrank_rows
from longmod.results.schema import EFFECT_COLUMNS

HERE = Path(__file__).resolve().parents[1] / "reference" / "survival"
MODULES = ["data", "km", "logrank", "cox", "clogit", "competing"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    mod = importlib.import_module(f"longmod.engines.survival.{name}")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def all_rows(d: pd.DataFrame, arm: str, ref: str, act: str, time: str = "time", code: str = "code") -> pd.DataFrame:
    sd1 = survival_data(d.assign(e1=(d[code] == 1).astype(int)), time=time, event="e1", arm=arm, arms=(ref, act),
                        strata="site")
    sd2 = survival_data(d, time=time, event=code, arm=arm, arms=(ref, act), max_event_code=2)
    frames = [
        km_rows(sd1, analysis="km", outcome="o", tau=21),
        survival_rows(sd1, day=14, analysis="s14", outcome="o"),
        logrank_rows(sd1, analysis="lr", outcome="o", weights=("logrank", "gehan", "peto", "tarone-ware")),
        logrank_rows(sd1, analysis="slr", outcome="o", stratified=True),
        cox_rows(sd1, analysis="cox", outcome="o"),
        cox_rows(sd1, analysis="scox", outcome="o", stratified=True),
        cox_rows(sd2, analysis="cscox", outcome="o", cause=1),
        cif_rows(sd2, day=14, analysis="cif", outcome="o"),
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def two_arm() -> pd.DataFrame:
    return pd.read_csv(HERE / "two_arm.csv")


def test_rows_have_the_common_schema(two_arm):
    rows = all_rows(two_arm, "arm", "control", "active")
    assert list(rows.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    assert rows["engine"].notna().all() and rows["engine_version"].notna().all()
    cs = rows[rows.analysis == "cscox"].iloc[0]
    assert cs["model"] == "cause-specific cox" and cs["contrast"] == "active - control"
    assert np.isclose(cs["hazard_ratio"], np.exp(cs["estimate"]))


def test_renaming_and_reordering_change_no_number(two_arm):
    base = all_rows(two_arm, "arm", "control", "active")
    renamed = two_arm.rename(columns={"arm": "group", "time": "days", "code": "status"})
    renamed["group"] = renamed["group"].map({"control": "B", "active": "A"})
    renamed["site"] = renamed["site"].map({"s1": "z", "s2": "y", "s3": "x", "s4": "w"})
    renamed = renamed.sample(frac=1.0, random_state=3).reset_index(drop=True)
    other = all_rows(renamed, "group", "B", "A", time="days", code="status")
    num = ["estimate", "std_error", "conf_low", "conf_high", "p_value", "n_obs"]
    np.testing.assert_allclose(other[num].to_numpy(float), base[num].to_numpy(float), rtol=1e-9, atol=1e-12)
    assert (other["contrast"].replace({"A - B": "active - control", "B": "control", "A": "active"}) == base["contrast"]).all()


def test_matched_rows_zero_events_are_infinite_not_numbers():
    d = pd.read_csv(HERE / "matched_zero.csv")
    rows = clogit_rows(matched_binary(d, outcome="dead28", arm="arm", arms=("control", "msc"), matched_set="set"),
                       analysis="clogit", outcome="death", day=28)
    assert (rows["estimate"] == -np.inf).all() and (rows["infinite"] == "-inf").all()
    assert rows["std_error"].isna().all() and np.isfinite(rows["conf_high"]).all()
    assert rows["odds_ratio"].eq(0).all() and rows["p_value"].between(0, 1).all()
    assert "likelihood-ratio" in rows["warnings"].iloc[0]


@pytest.mark.parametrize("change,message", [
    (lambda d: d.assign(time=d["time"].where(d.index != 3, -1)), "time column 'time' row 3"),
    (lambda d: d.assign(time=d["time"].where(d.index != 2, np.nan)), "time column 'time' row 2"),
    (lambda d: d.assign(code=d["code"].where(d.index != 5, 7)), "event column 'code' row 5"),
    (lambda d: d.assign(arm=d["arm"].where(d.index != 4, "placebo")), "arm column 'arm' row 4 has 'placebo'"),
    (lambda d: d.drop(columns="site"), "strata column 'site' not found"),
    (lambda d: d[d.arm == "control"], "no patient in arm\\(s\\) 'active'"),
])
def test_bad_input_is_named(two_arm, change, message):
    bad = change(two_arm.copy())
    before = bad.copy()
    with pytest.raises(SurvivalInputError, match=message):
        survival_data(bad, time="time", event="code", arm="arm", arms=("control", "active"), strata="site", max_event_code=2)
    pd.testing.assert_frame_equal(bad, before)


def test_competing_codes_are_not_silently_censored(two_arm):
    sd = survival_data(two_arm, time="time", event="code", arm="arm", arms=("control", "active"), max_event_code=2)
    with pytest.raises(ValueError, match="competing"):
        km_rows(sd, analysis="km", outcome="o")
    with pytest.raises(ValueError, match="competing"):
        logrank_rows(sd, analysis="lr", outcome="o")


def test_numbers_at_risk_count_competing_events_separately(two_arm):
    sd = survival_data(two_arm, time="time", event="code", arm="arm", arms=("control", "active"), max_event_code=2)
    nar = numbers_at_risk(sd, [0, 28])
    end = nar[nar.time == 28].set_index("arm")
    for a in ("control", "active"):
        m = two_arm.arm == a
        # follow-up ends by day 28, so every patient has left by then in exactly one way
        assert end.loc[a, "n_event_cum"] + end.loc[a, "n_competing_cum"] + end.loc[a, "n_censor_cum"] == m.sum()
        assert end.loc[a, "n_risk"] == ((two_arm.time >= 28) & m).sum()
        assert end.loc[a, "n_competing_cum"] == ((two_arm.code == 2) & m).sum()
