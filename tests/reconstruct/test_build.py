"""The reconstruction routine: byte-identical rebuilds, generality, clear failures."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from longmod.data import load_trial
from longmod.reconstruct import (
    CalibrationError, TargetsError, build_fixture, evaluate_targets, load_targets, parse_targets, quantile_type7,
)
from longmod.resources import fixtures_dir

STROMA = fixtures_dir() / "stroma_cov2"
GENERATED = ("patients.csv", "measurements.csv", "CALIBRATION.md")


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """STROMA-CoV-2 built twice from the same seed into two temporary folders."""
    inputs = (STROMA / "trial.toml", STROMA / "targets.toml")
    before = [p.read_bytes() for p in inputs]
    outs = [tmp_path_factory.mktemp(f"stroma{i}") for i in range(2)]
    for out in outs:
        build_fixture("stroma_cov2", out=out)
    assert [p.read_bytes() for p in inputs] == before, "a build modified its inputs"
    return outs


def test_rebuild_is_byte_identical(rebuilt):
    a, b = rebuilt
    for name in GENERATED:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_shipped_fixture_is_the_build_output(rebuilt):
    """No hand edits: the shipped files are exactly what the routine writes."""
    for name in GENERATED:
        assert filecmp.cmp(rebuilt[0] / name, STROMA / name, shallow=False), name


@pytest.mark.slow
def test_other_seed_gives_other_data_meeting_targets(tmp_path):
    res = build_fixture("stroma_cov2", seed=7, out=tmp_path)
    assert res.report.loc[~res.report["soft"], "passed"].all()
    assert (tmp_path / "patients.csv").read_bytes() != (STROMA / "patients.csv").read_bytes()


def test_quantile_type7_matches_r():
    # R: quantile(1:10, c(.25, .5, .75)) -> 3.25 5.50 7.75 ; quantile(c(3, 1, 2, 10), .9) -> 7.9
    assert [quantile_type7(np.arange(1, 11), q) for q in (0.25, 0.5, 0.75)] == [3.25, 5.5, 7.75]
    assert quantile_type7([3, 1, 2, 10], 0.9) == pytest.approx(7.9)


TOY_TRIAL = """
[trial]
name = "toy"
synthetic = true
arms = ["active", "control"]
reference_arm = "control"
schedule = [0, 1, 2, 3, 4, 5, 6, 7]
doses_planned = 1

[events.death]
column = "death_day"
kind = "death"

[events.icu_discharge]
column = "icu_discharge_day"
kind = "discharge"

[variables.pf]
min = 20
max = 700
baseline_required = true
"""

TOY_TARGETS = """
[reconstruction]
name = "toy"
outcome = "pf"
endpoint_day = 7
end_columns = ["death_day", "icu_discharge_day"]

[estimands.main]
outcome = "pf"
day = 7
death = {{ strategy = "composite", value = 50 }}
discharge = {{ strategy = "locf_multiplier", factor = 1.10 }}

[analysis_sets.all]
estimand = "main"
covariates = ["baseline"]
[analysis_sets.observed]
estimand = "main"
source = "observed"

[[targets]]
id = "n_active"
kind = "count"
set = "all"
arm = "active"
variable = "value"
value = 12
tolerance = 0
[[targets]]
id = "discharged_control"
kind = "count"
set = "all"
arm = "control"
variable = "value"
where = "event == 'discharge'"
value = 2
tolerance = 0
[[targets]]
id = "mean_d7_active"
kind = "mean"
set = "observed"
arm = "active"
variable = "value"
value = {mean_d7}
tolerance = 1
[[targets]]
id = "sd_d7_control"
kind = "sd"
set = "observed"
arm = "control"
variable = "value"
value = 40
tolerance = 1
[[targets]]
id = "median_change_control"
kind = "median"
set = "all"
arm = "control"
variable = "change"
value = 10
tolerance = 1
[[targets]]
id = "effect"
kind = "ancova_estimate"
set = "all"
arm = "all"
variable = "change"
value = 25
tolerance = 0.5

[generator]
seed = 11
arms = {{ active = 12, control = 14 }}
[generator.baseline]
mean = 150.0
sd = 40.0
lower = 40.0
upper = 300.0
[generator.endpoint]
mean = {{ active = 190.0, control = 165.0 }}
sd = 45.0
correlation = 0.6
lower = 45.0
upper = 550.0
[generator.events.death]
column = "death_day"
counts = {{ active = 0, control = 0 }}
days = [2, 6]
[generator.events.discharge]
column = "icu_discharge_day"
counts = {{ active = 1, control = 2 }}
days = [4, 6]
last_mean = 230.0
last_sd = 20.0
lower = 100.0
upper = 450.0
[generator.binary.age_gt70]
counts = {{ active = 3, control = 4 }}
[generator.binary.sofa_gt11]
counts = {{ active = 0, control = 0 }}
[generator.categorical.doses_received]
values = [1]
counts = {{ active = [12], control = [14] }}
[generator.calibration]
max_attempts = 3
"""


def _toy(folder: Path, mean_d7: float = 200.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trial.toml").write_text(TOY_TRIAL)
    (folder / "targets.toml").write_text(TOY_TARGETS.format(mean_d7=mean_d7))
    return folder


def test_routine_is_general_toy_trial(tmp_path):
    src = _toy(tmp_path / "toy")
    res = build_fixture(src)
    assert res.report["passed"].all(), res.report.to_string()
    trial = load_trial(src)
    assert trial.meta.arms == ("active", "control") and trial.n_patients == 26
    assert res.trial.synthetic and len(res.trial.patients) == 26
    # independent check of two targets from the CSVs
    ms = pd.read_csv(src / "measurements.csv", dtype={"patient_id": str})
    pts = pd.read_csv(src / "patients.csv", dtype={"patient_id": str})
    d7 = ms[ms["day"] == 7].merge(pts, on="patient_id")
    assert d7.loc[d7["arm"] == "active", "value"].mean() == pytest.approx(200, abs=1)
    assert d7.loc[d7["arm"] == "control", "value"].std() == pytest.approx(40, abs=1)
    assert pts.groupby("arm")["age_gt70"].sum().to_dict() == {"active": 3, "control": 4}
    assert "SYNTHETIC" in (src / "CALIBRATION.md").read_text()


def test_unreachable_target_fails_loudly_and_writes_nothing(tmp_path):
    src = _toy(tmp_path / "toy", mean_d7=900.0)  # above the endpoint's upper bound of 550
    with pytest.raises(CalibrationError, match=r"mean_d7_active .*published 900"):
        build_fixture(src)
    assert not (src / "patients.csv").exists() and not (src / "CALIBRATION.md").exists()


def test_malformed_targets_file_lists_every_problem():
    doc = {"reconstruction": {"name": "x", "outcome": "pf", "endpoint_day": 7}, "generator": {"arms": {"a": 2}},
           "analysis_sets": {"s": {"estimand": "nope"}},
           "targets": [{"id": "t", "kind": "mode", "set": "s", "arm": "b", "variable": "value", "value": 1, "tolerance": 0},
                       {"id": "u", "kind": "mean", "set": "zz", "arm": "a", "variable": "value", "value": 1}]}
    with pytest.raises(TargetsError) as err:
        parse_targets(doc)
    msg = str(err.value)
    for part in ("unknown estimand 'nope'", "unknown kind 'mode'", "unknown arm 'b'", "missing tolerance"):
        assert part in msg


def test_evaluate_targets_reports_a_wrong_published_value():
    spec = load_targets(STROMA / "targets.toml")
    trial = load_trial(STROMA)
    ok = evaluate_targets(spec, trial)
    assert ok.loc[~ok["soft"], "passed"].all()
    import dataclasses

    bad = dataclasses.replace(spec, targets=tuple(dataclasses.replace(t, value=t.value + 5) if t.id == "ancova_estimate" else t
                                                    for t in spec.targets))
    rep = evaluate_targets(bad, trial).set_index("id")
    assert not rep.loc["ancova_estimate", "passed"]
    assert rep.loc["ancova_estimate", "achieved"] == pytest.approx(ok.set_index("id").loc["ancova_estimate", "achieved"])
