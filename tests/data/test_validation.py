"""Bad input: every problem reported at once, with file, line/row and column; inputs untouched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from longmod.data import (CovariateInfo, EventInfo, TrialDataError, TrialMeta, VariableInfo, from_frames,
                          load_trial)

META = TrialMeta(
    name="toy", arms=("active", "control"), reference_arm="control", schedule=(0, 1, 7), doses_planned=3,
    variables={
        "pao2_fio2": VariableInfo("pao2_fio2", min=20, max=700, baseline_required=True),
        "fio2": VariableInfo("fio2", min=0.21, max=1.0, hint="FiO2 is a fraction; 60 looks like a percentage"),
    },
    covariates={"age_gt70": CovariateInfo("age_gt70", "binary", "stratification"),
                "sofa_gt11": CovariateInfo("sofa_gt11", "binary", "stratification")},
    events={"death": EventInfo("death", "death_day", "death"),
            "icu_discharge": EventInfo("icu_discharge", "icu_discharge_day", "discharge")},
)


def good_frames():
    pts = pd.DataFrame({
        "patient_id": ["a", "b"], "arm": ["active", "control"], "age_gt70": [0, 1], "sofa_gt11": [0, 0],
        "death_day": [None, 5.0], "icu_discharge_day": [None, None], "doses_received": [3, 2],
    })
    ms = pd.DataFrame({
        "patient_id": ["a", "a", "b", "b"], "day": [0, 7, 0, 1], "variable": "pao2_fio2",
        "value": [120.0, 180.0, 150.0, 160.0], "lloq": None,
    })
    return pts, ms


def messages(exc: TrialDataError) -> list[str]:
    return [str(p) for p in exc.problems]


def test_good_frames_load_and_are_not_modified():
    pts, ms = good_frames()
    p0, m0 = pts.copy(deep=True), ms.copy(deep=True)
    trial = from_frames(pts, ms, META)
    pd.testing.assert_frame_equal(pts, p0)
    pd.testing.assert_frame_equal(ms, m0)
    assert trial.n_patients == 2
    # the TrialData holds copies: changing what it returns changes nothing inside
    copy = trial.patients
    copy.loc[0, "arm"] = "control"
    assert trial.patients.loc[0, "arm"] == "active"


def test_all_problems_reported_together_with_row_and_column():
    pts, ms = good_frames()
    pts.loc[1, "arm"] = "plaecbo"                                     # unknown arm
    extra = pd.DataFrame({
        "patient_id": ["a", "zz", "a", "a", "b", "a"],
        "day": [7, 0, 3, 1, 7, 1],
        "variable": ["pao2_fio2", "pao2_fio2", "pao2_fio2", "pao2_fio2", "pao2_fio2", "fio2"],
        "value": [181.0, 100.0, 100.0, 900.0, 100.0, 60.0],
        "lloq": None,
    })
    ms = pd.concat([ms, extra], ignore_index=True)
    with pytest.raises(TrialDataError) as err:
        from_frames(pts, ms, META)
    msgs = messages(err.value)
    expect = [
        "patients DataFrame, row 1, column 'arm': unknown arm 'plaecbo'; valid arms: active, control",
        "measurements DataFrame, row 4, column 'day': duplicate row for patient 'a', day 7, variable 'pao2_fio2'",
        "measurements DataFrame, row 5, column 'patient_id': patient 'zz' is not in the patients table",
        "measurements DataFrame, row 6, column 'day': day 3 is not in the schedule; valid days: 0, 1, 7",
        "measurements DataFrame, row 7, column 'value': pao2_fio2 = 900 is outside the plausible range 20 to 700",
        "measurements DataFrame, row 9, column 'value': fio2 = 60 is outside the plausible range 0.21 to 1 (FiO2 is a fraction; 60 looks like a percentage)",
        "measurements DataFrame, row 8, column 'day': measurement on day 7 after patient 'b' died on day 5",
    ]
    for e in expect:
        assert any(m.startswith(e) for m in msgs), (e, msgs)
    assert str(err.value).startswith(f"{len(msgs)} problem(s) in the trial data:")


def test_missing_baseline_and_bad_flags_and_doses():
    pts, ms = good_frames()
    pts.loc[0, "sofa_gt11"] = 2
    pts.loc[1, "doses_received"] = 4
    ms = ms[~((ms.patient_id == "b") & (ms.day == 0))]
    with pytest.raises(TrialDataError) as err:
        from_frames(pts, ms, META)
    msgs = messages(err.value)
    assert "patients DataFrame, row 0, column 'sofa_gt11': binary covariate must be 0 or 1, got 2" in msgs
    assert "patients DataFrame, row 1, column 'doses_received': must be an integer 0 to 3, got 4" in msgs
    assert "patients DataFrame, row 1, column 'patient_id': patient 'b' has no baseline (day 0) pao2_fio2 value; a baseline is required" in msgs


def test_missing_columns_and_roles():
    pts, ms = good_frames()
    with pytest.raises(TrialDataError, match="column 'arm': required column is missing"):
        from_frames(pts.drop(columns="arm"), ms, META)
    renamed = pts.rename(columns={"patient_id": "USUBJID", "arm": "ARM"})
    trial = from_frames(renamed, ms, META, patient_roles={"patient_id": "USUBJID", "arm": "ARM"})
    assert list(renamed.columns[:2]) == ["USUBJID", "ARM"]  # caller's frame untouched
    assert trial.patients["arm"].tolist() == ["active", "control"]
    with pytest.raises(ValueError, match="unknown column role"):
        from_frames(pts, ms, META, patient_roles={"subject": "patient_id"})


def _sha(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_folder_errors_name_file_and_line_and_leave_files_untouched(tmp_path):
    from longmod.resources import fixtures_dir

    folder = tmp_path / "trial"
    shutil.copytree(fixtures_dir() / "stroma_cov2", folder)
    ms = (folder / "measurements.csv").read_text().splitlines()
    # line 3 of the file (second data row): make it a percentage FiO2-like implausible PaO2/FiO2
    cells = ms[2].split(",")
    cols = ms[0].split(",")
    cells[cols.index("value")] = "5"
    ms[2] = ",".join(cells)
    ms.append(ms[2])  # duplicate of line 3, appended as the last line
    (folder / "measurements.csv").write_text("\n".join(ms) + "\n")
    before = _sha(folder)
    with pytest.raises(TrialDataError) as err:
        load_trial(folder)
    msgs = messages(err.value)
    path = str(folder / "measurements.csv")
    assert any(m.startswith(f"{path}, line 3, column 'value': ") and "plausible range 20 to 700" in m for m in msgs), msgs
    assert any(m.startswith(f"{path}, line {len(ms)}, column 'day': duplicate row") for m in msgs), msgs
    assert _sha(folder) == before


def test_folder_without_trial_toml(tmp_path):
    with pytest.raises(TrialDataError, match="no trial.toml here"):
        load_trial(tmp_path)


def test_parquet_folder_loads_like_csv(tmp_path):
    from longmod.resources import fixtures_dir

    src = fixtures_dir() / "stroma_cov2"
    folder = tmp_path / "pq"
    folder.mkdir()
    pd.read_csv(src / "patients.csv", dtype={"patient_id": str}).to_parquet(folder / "patients.parquet")
    pd.read_csv(src / "measurements.csv", dtype={"patient_id": str}).to_parquet(folder / "measurements.parquet")
    toml = (src / "trial.toml").read_text().replace("patients.csv", "patients.parquet").replace("measurements.csv", "measurements.parquet")
    (folder / "trial.toml").write_text(toml)
    a, b = load_trial(src), load_trial(folder)
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(a.measurements, b.measurements)
