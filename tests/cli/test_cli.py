"""The longmod command: help with examples, the main job, user data, all-or-nothing output."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from longmod.cli import main
from longmod.resources import fixtures_dir
from longmod.results.schema import EFFECT_COLUMNS


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "longmod reanalyse stroma-cov2 --out" in capsys.readouterr().out
    for cmd in ("reanalyse", "fit"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "example" in capsys.readouterr().out


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    out = tmp_path_factory.mktemp("job") / "stroma"
    assert main(["reanalyse", "stroma-cov2", "--out", str(out), "--quiet"]) == 0
    return out


def test_main_job_writes_effects_and_reports(main_job):
    effects = pd.read_csv(main_job / "effects.csv")
    assert list(effects.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    pub = effects[effects.engine == "published"].iloc[0]
    assert (pub.estimate, pub.conf_low, pub.conf_high, pub.p_value) == (7.4, -44.7, 59.7, 0.77)
    assert {"primary_ancova", "locf_ancova", "per_protocol_ancova", "rank_sum", "signed_rank_observed"} <= set(effects.analysis)
    # the prior grid re-analyses the PUBLISHED summary, not the synthetic data, and says so
    assert set(effects.loc[effects.engine != "published", "data_label"]) == {"synthetic", "published summary"}
    md = (main_job / "report.md").read_text()
    assert "SYNTHETIC" in md and "Published" in md and "7.4 (95% CI -44.7 to 59.7)" in md
    rep = json.loads((main_job / "report.json").read_text())
    assert rep["synthetic"] is True and rep["data_label"] == "synthetic"
    assert {e["estimand"] for e in rep["effects"]} >= {"primary", "locf", "per_protocol"}


def test_main_job_prints_summary(tmp_path, capsys):
    assert main(["reanalyse", "stroma-cov2", "--out", str(tmp_path / "o"), "--only", "primary_ancova"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "published" in out and "ancova-ols" in out


def test_user_folder_is_user_data(tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(fixtures_dir() / "stroma_cov2", folder)
    toml = (folder / "trial.toml").read_text().replace("synthetic = true", "synthetic = false")
    (folder / "trial.toml").write_text(toml)
    out = tmp_path / "out"
    assert main(["reanalyse", "stroma-cov2", "--data", str(folder), "--out", str(out), "--quiet"]) == 0
    effects = pd.read_csv(out / "effects.csv")
    assert set(effects.loc[effects.engine != "published", "data_label"]) == {"user data", "published summary"}
    assert "SYNTHETIC" not in (out / "report.md").read_text()


def test_failure_writes_nothing(tmp_path, capsys):
    folder = tmp_path / "bad"
    shutil.copytree(fixtures_dir() / "stroma_cov2", folder)
    p = pd.read_csv(folder / "patients.csv", dtype={"patient_id": str})
    p.loc[3, "arm"] = "MSC"
    p.to_csv(folder / "patients.csv", index=False)
    out = tmp_path / "out"
    assert main(["reanalyse", "--data", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'patients.csv'}, line 5, column 'arm': unknown arm 'MSC'; valid arms: uc_msc, placebo" in err
    assert not out.exists()


def test_unknown_trial_and_analysis(tmp_path, capsys):
    assert main(["reanalyse", "recovery", "--out", str(tmp_path / "x")]) == 2
    assert "bundled trials: stroma-cov2" in capsys.readouterr().err
    assert main(["reanalyse", "stroma-cov2", "--only", "mmrm_magic", "--out", str(tmp_path / "y")]) == 2
    assert "the plan declares: primary_ancova" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
