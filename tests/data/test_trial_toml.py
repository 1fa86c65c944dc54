"""trial.toml v2: every key checked, every problem reported with its line; what the patients table needs."""

from __future__ import annotations

import pandas as pd
import pytest

from longmod.data import TrialDataError, load_trial, read_trial_toml

GOOD = """\
[trial]
name = "mine"
arms = ["drug", "usual_care"]
reference_arm = "usual_care"
schedule = [0, 3, 7]
primary_outcome = "pf"
primary_day = 7

[covariates.frail]
type = "binary"
role = "stratification"

[covariates.site]
type = "categorical"
levels = ["north", "south"]

[covariates.bmi]
type = "numeric"

[events.death]
column = "died"
kind = "death"

[variables.pf]
min = 20
max = 700
mcid = 20
"""


def _folder(tmp_path, toml: str = GOOD, patients: dict | None = None):
    (tmp_path / "trial.toml").write_text(toml, encoding="utf-8")
    pts = patients or {"patient_id": ["a", "b"], "arm": ["drug", "usual_care"], "frail": [0, 1],
                       "site": ["north", "south"], "bmi": [22.5, None], "died": [None, 5]}
    pd.DataFrame(pts).to_csv(tmp_path / "patients.csv", index=False)
    pd.DataFrame({"patient_id": ["a", "b", "a", "b"], "day": [0, 0, 3, 3], "variable": "pf",
                  "value": [100.0, 120.0, 150.0, 160.0]}).to_csv(tmp_path / "measurements.csv", index=False)
    return tmp_path


def _messages(exc) -> list[str]:
    return [str(p) for p in exc.value.problems]


def test_good_file_loads_with_typed_covariates(tmp_path):
    trial = load_trial(_folder(tmp_path))
    m = trial.meta
    assert m.stratification == ("frail",) and m.active_arms == ("drug",) and m.variables["pf"].mcid == 20
    p = trial.patients
    assert list(p.columns) == ["patient_id", "arm", "frail", "site", "bmi", "died"]
    assert p["frail"].dtype.kind == "i" and p["bmi"].dtype.kind == "f"
    assert list(p["site"].cat.categories) == ["north", "south"]


def test_every_problem_with_its_line_and_the_valid_choices(tmp_path):
    bad = (GOOD.replace('reference_arm = "usual_care"', 'reference_arm = "placebo"')
           .replace('role = "stratification"', 'role = "strata"')
           .replace('kind = "death"', 'kind = "dead"')
           .replace("mcid = 20", "mcid = -1\nbettr = \"higher\"")
           .replace("primary_day = 7", "primary_day = 5"))
    (tmp_path / "trial.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(TrialDataError) as err:
        read_trial_toml(tmp_path / "trial.toml")
    msgs = _messages(err)
    where = str(tmp_path / "trial.toml")
    expect = [
        f"{where}, line 4, key 'trial.reference_arm': reference_arm 'placebo' is not one of the arms; valid: drug, usual_care",
        f"{where}, line 11, key 'covariates.frail.role': role 'strata' is not valid; choose one of stratification, matching, covariate",
        f"{where}, line 22, key 'events.death.kind': kind 'dead' is not valid; choose one of death, discharge, other",
        f"{where}, line 27, key 'variables.pf.mcid': mcid must be a positive number, got -1",
        f"{where}, line 28, key 'variables.pf.bettr': unknown key 'bettr' in [variables.pf]; valid keys:",
        f"{where}, line 7, key 'trial.primary_day': primary_day 5 is not in the schedule [0, 3, 7]",
    ]
    for e in expect:
        assert any(m.startswith(e) for m in msgs), (e, msgs)
    assert len(msgs) == len(expect)


def test_wrong_types_and_missing_keys_are_named(tmp_path):
    bad = GOOD.replace("schedule = [0, 3, 7]", 'schedule = "0, 3, 7"').replace('name = "mine"\n', "")
    bad = bad.replace('[covariates.bmi]\ntype = "numeric"', "[covariates.bmi]\nlabel = \"BMI\"")
    (tmp_path / "trial.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(TrialDataError) as err:
        read_trial_toml(tmp_path / "trial.toml")
    text = str(err.value)
    assert "key 'trial.schedule': schedule must be a list of whole numbers, got '0, 3, 7'" in text
    assert "[trial] needs 'name'" in text
    assert "[covariates.bmi] needs 'type'" in text and "binary, categorical, numeric" in text


def test_invalid_toml_and_encoding_name_the_file(tmp_path):
    (tmp_path / "trial.toml").write_text("[trial\nname = 1\n", encoding="utf-8")
    with pytest.raises(TrialDataError, match=r"trial.toml: not valid TOML: .*line 1"):
        read_trial_toml(tmp_path / "trial.toml")
    (tmp_path / "trial.toml").write_bytes("[trial]\nname = \"caf\xe9\"\n".encode("latin-1"))
    with pytest.raises(TrialDataError, match="not UTF-8 text"):
        read_trial_toml(tmp_path / "trial.toml")


def test_patients_need_only_id_arm_and_what_is_declared(tmp_path):
    toml = """[trial]\nname = "m"\narms = ["x", "y"]\nreference_arm = "y"\nschedule = [0, 3]\n"""
    _folder(tmp_path, toml, {"patient_id": ["a", "b"], "arm": ["x", "y"]})
    trial = load_trial(tmp_path)
    assert list(trial.patients.columns) == ["patient_id", "arm"]
    # a declared covariate, event or planned doses make their columns required
    toml2 = toml + 'doses_planned = 2\n[covariates.frail]\ntype = "binary"\n[events.death]\ncolumn = "died"\nkind = "death"\n'
    (tmp_path / "trial.toml").write_text(toml2, encoding="utf-8")
    with pytest.raises(TrialDataError) as err:
        load_trial(tmp_path)
    missing = {p.column for p in err.value.problems}
    assert missing == {"frail", "died", "doses_received"}


def test_covariate_values_are_checked_by_type_once_per_row(tmp_path):
    pts = {"patient_id": ["a", "b", "c"], "arm": ["drug", "usual_care", "drug"], "frail": [0, "yes", None],
           "site": ["north", "east", "south"], "bmi": [22.5, "heavy", 30], "died": [None, 5, -1]}
    _folder(tmp_path, patients=pts)
    pd.DataFrame({"patient_id": ["a", "b", "c"], "day": 0, "variable": "pf", "value": 100.0}).to_csv(
        tmp_path / "measurements.csv", index=False)
    with pytest.raises(TrialDataError) as err:
        load_trial(tmp_path)
    msgs = [m.split(": ", 1)[1] for m in _messages(err)]
    assert msgs == [
        "binary covariate must be 0 or 1, got 'yes'",
        "stratification covariate is missing; every patient needs a value",
        "unknown level 'east'; valid levels: north, south",
        "numeric covariate must be a number, got 'heavy'",
        "must be empty or a day >= 0, got -1.0",
    ]


def test_repeated_problems_are_capped_with_a_count(tmp_path):
    n = 30
    pts = {"patient_id": [f"p{i}" for i in range(n)], "arm": ["drug"] * n, "frail": [7] * n,
           "site": ["north"] * n, "bmi": [1.0] * n, "died": [None] * n}
    _folder(tmp_path, patients=pts)
    pd.DataFrame({"patient_id": [f"p{i}" for i in range(n)], "day": 0, "variable": "pf", "value": 100.0}).to_csv(
        tmp_path / "measurements.csv", index=False)
    with pytest.raises(TrialDataError) as err:
        load_trial(tmp_path)
    msgs = _messages(err)
    assert len(msgs) == 11 and msgs[-1].endswith("and 20 more problem(s) like the one at line 2")


def test_the_bundled_trial_declares_its_design():
    from longmod.resources import fixtures_dir

    m = read_trial_toml(fixtures_dir() / "stroma_cov2" / "trial.toml")
    assert m.stratification and m.events_of_kind("death") and m.events_of_kind("discharge")
    assert m.primary_outcome in m.variables and m.variables[m.primary_outcome].mcid is not None
