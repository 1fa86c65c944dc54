"""The checked CSV reader: the same numbers as pandas' reader on good files; row order and file layout do not
change the loaded trial (metamorphic); only empty cells are missing values."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from longmod.data import load_trial
from longmod.data.readers import read_table
from longmod.resources import fixtures_dir, trial_names

FOLDERS = [f for f in (fixtures_dir() / n.replace("-", "_") for n in trial_names()) if (f / "trial.toml").is_file()]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_same_values_as_pandas_on_good_files(folder):
    for name in ("patients.csv", "measurements.csv"):
        ours = read_table(folder / name)
        ref = pd.read_csv(folder / name, dtype={"patient_id": str})
        assert list(ours.columns) == list(ref.columns)
        for c in ref.columns:
            if ref[c].dtype.kind in "fi":
                assert np.array_equal(ours[c].to_numpy(float), ref[c].to_numpy(float), equal_nan=True), c
            else:
                assert ours[c].equals(ref[c]), c


def test_row_order_crlf_and_bom_change_nothing(tmp_path):
    src = FOLDERS[0]
    base = load_trial(src)
    folder = tmp_path / "t"
    shutil.copytree(src, folder)
    for name, seed in (("patients.csv", 1), ("measurements.csv", 2)):
        lines = (folder / name).read_text(encoding="utf-8").splitlines()
        body = lines[1:]
        np.random.default_rng(seed).shuffle(body)
        # Windows line ends and a UTF-8 byte-order mark, as a spreadsheet writes them
        (folder / name).write_bytes(("\ufeff" + "\r\n".join([lines[0], *body]) + "\r\n").encode("utf-8"))
    other = load_trial(folder)
    pd.testing.assert_frame_equal(base.patients, other.patients)
    pd.testing.assert_frame_equal(base.measurements, other.measurements)


def test_missing_value_text_is_not_a_missing_value(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("patient_id,day,value\nNA,0,NaN\n007,1,\n")
    t = read_table(f)
    assert t["patient_id"].tolist() == ["NA", "007"]
    assert t["value"].iloc[0] == "NaN" and pd.isna(t["value"].iloc[1])
