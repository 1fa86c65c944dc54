"""The longmod command: help with examples, progress, the summary table, the main job, user data,
all-or-nothing output."""

from __future__ import annotations

import io
import json
import re
import shutil

import pandas as pd
import pytest

from longmod.cli import _Progress, main
from longmod.resources import fixtures_dir, trial_names
from longmod.results.schema import EFFECT_COLUMNS


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "longmod reanalyse stroma-cov2 --out" in out and "longmod trials" in out and "longmod fit " in out
    assert "longmod plan init my_trial/" in out
    for cmd in ("reanalyse", "fit", "trials"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        out = capsys.readouterr().out
        examples = out.split("example", 1)[1]
        assert re.search(rf"^  longmod {cmd}\b", examples, re.M), out


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    out = tmp_path_factory.mktemp("job") / "stroma"
    # the plan's quick analyses (the Bayesian models and the biomarker section take minutes)
    only = ["primary_ancova", "locf_ancova", "per_protocol_ancova", "rank_sum", "signed_rank_observed",
            "prior_grid_published"]
    assert main(["reanalyse", "stroma-cov2", "--out", str(out), "--quiet", "--only", *only]) == 0
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
    assert "SYNTHETIC" in md and "| **published** | synthetic |" not in md
    assert "| **published** | published | **7.4** | -44.7 to 59.7 | 0.77 |" in md
    assert "P: **matches by construction**" in md  # the STROMA ANCOVA was a calibration target
    assert "](figures/forest.png)" in md and (main_job / "figures" / "forest.png").is_file()
    rep = json.loads((main_job / "report.json").read_text())
    assert rep["synthetic"] is True and rep["data_label"] == "synthetic"
    assert {e["estimand"] for e in rep["effects"]} >= {"primary", "locf", "per_protocol"}


def test_reanalyse_prints_progress_and_summary(tmp_path, capsys):
    assert main(["reanalyse", "stroma-cov2", "--out", str(tmp_path / "o"), "--only", "primary_ancova", "rank_sum"]) == 0
    cap = capsys.readouterr()
    # progress on stderr: step i/N (two analyses + writing the reports), elapsed seconds, time left after step 1
    steps = re.findall(r"^\[(\d)/(\d) +(\d+\.\d) s(?:, ~[^\]]+ left)?\] (\S+)", cap.err, re.M)
    assert [(i, n, name) for i, n, _, name in steps] == [("1", "3", "primary_ancova"), ("2", "3", "rank_sum"),
                                                         ("3", "3", "writing")]
    assert [float(t) for _, _, t, _ in steps] == sorted(float(t) for _, _, t, _ in steps)
    # the summary on stdout: the published row first, then the alternatives with their difference
    lines = cap.out.splitlines()
    assert "SYNTHETIC" in lines[0]
    head = next(i for i, line in enumerate(lines) if line.startswith("analysis") and "vs published" in line)
    assert lines[head - 1] == "pao2_fio2_change at D7 (uc_msc - placebo)"
    pub, ols, rank = lines[head + 1: head + 4]
    assert pub.split()[:3] == ["primary_ancova", "published", "7.4"] and "-44.7 to 59.7" in pub and "0.770" in pub
    assert ols.split()[:2] == ["primary_ancova", "ancova-ols"] and ols.split()[-1].startswith(("+", "-"))
    assert rank.split()[:2] == ["rank_sum", "wilcoxon-rank-sum"]
    assert any(line.startswith("diagnostics: 0 of 2 fits flagged") for line in lines)
    assert lines[-1].startswith("wrote ")


def test_quiet_prints_nothing(tmp_path, capsys):
    assert main(["reanalyse", "stroma-cov2", "--out", str(tmp_path / "o"), "--only", "primary_ancova", "--quiet"]) == 0
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err == ""
    assert (tmp_path / "o" / "report.html").is_file()


def test_progress_without_a_known_total():
    buf = io.StringIO()
    prog = _Progress(None, quiet=False, stream=buf)
    prog("a")
    prog("b")
    assert re.fullmatch(r"\[1/\? +\d+\.\d s\] a\n\[2/\? +\d+\.\d s\] b\n", buf.getvalue())
    prog = _Progress(1, quiet=False, stream=buf)
    prog("x")
    prog("y")  # more steps than announced: the total grows instead of showing 2/1
    assert buf.getvalue().splitlines()[-1].startswith("[2/2")


def test_user_folder_is_user_data(tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(fixtures_dir() / "stroma_cov2", folder)
    toml = (folder / "trial.toml").read_text().replace("synthetic = true", "synthetic = false")
    (folder / "trial.toml").write_text(toml)
    out = tmp_path / "out"
    # the bundled plan, run on a folder of one's own
    shutil.copy(__import__("longmod.resources", fromlist=["x"]).models_dir() / "stroma_cov2" / "plan.toml",
                folder / "plan.toml")
    assert main(["reanalyse", str(folder), "--out", str(out), "--quiet",
                 "--only", "primary_ancova", "prior_grid_published"]) == 0
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
    assert main(["reanalyse", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'patients.csv'}, line 5, column 'arm': unknown arm 'MSC'; valid arms: uc_msc, placebo" in err
    assert not out.exists()


def test_unknown_trial_and_analysis(tmp_path, capsys):
    assert main(["reanalyse", "recovery", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "neither a trial folder (a folder with trial.toml) nor a bundled trial; bundled trials: " in err
    listed = err.split("bundled trials: ")[1].strip().split(", ")
    assert listed == sorted(trial_names()) and "stroma-cov2" in listed
    assert {"gregoire-2022", "martinez-munoz-2024", "msc-meta"} <= set(listed)  # the bundled issue-13 trials
    assert main(["reanalyse", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "no such trial folder" in capsys.readouterr().err
    assert main(["reanalyse", "stroma-cov2", "--only", "mmrm_magic", "--out", str(tmp_path / "y")]) == 2
    assert "the plan declares: primary_ancova" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.slow
def test_sampler_options_reach_the_posterior_and_it_is_saved(tmp_path):
    import arviz as az

    args = ["reanalyse", "stroma-cov2", "--only", "bayes_ancova", "--quiet",
            "--chains", "2", "--draws", "150", "--tune", "200", "--seed", "7"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    idata = az.from_netcdf(tmp_path / "a" / "posteriors" / "bayes_ancova.nc")
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 150
    assert int(idata.posterior.attrs["longmod_seed"]) == 7
    a, b = (pd.read_csv(tmp_path / d / "effects.csv").set_index("analysis") for d in "ab")
    assert a.loc["bayes_ancova", "estimate"] == b.loc["bayes_ancova", "estimate"]  # same seed, same draws


def test_sampler_options_are_checked(capsys):
    with pytest.raises(SystemExit):
        main(["reanalyse", "--draws", "0"])
    assert "--draws: 0 is too small: give a whole number >= 1" in capsys.readouterr().err


def _ancova_data(tmp_path):
    import numpy as np

    rng = np.random.default_rng(4)
    n = 40
    d = pd.DataFrame({"id": range(n), "arm": np.where(np.arange(n) % 2, "drug", "control"),
                      "x": rng.normal(size=n)})
    d["y"] = 2.0 * (d["arm"] == "drug") + 0.5 * d["x"] + rng.normal(size=n)
    d.to_csv(tmp_path / "d.csv", index=False)
    spec = tmp_path / "spec.toml"
    spec.write_text('[model]\nname = "m"\noutcome = "y"\nfixed = "arm + x"\nsubject = "id"\n'
                    '[model.treatment]\nvariable = "arm"\nreference = "control"\nactive = "drug"\n'
                    '[model.sampler]\nchains = 2\ndraws = 200\ntune = 200\nseed = 1\n')
    return d, spec


def test_fit_engine_ancova_matches_ols(tmp_path, capsys):
    import statsmodels.formula.api as smf

    d, spec = _ancova_data(tmp_path)
    assert main(["fit", str(spec), "--data", str(tmp_path / "d.csv"), "--out", str(tmp_path / "o"),
                 "--engine", "ancova"]) == 0
    eff = pd.read_csv(tmp_path / "o" / "effects.csv")
    ols = smf.ols("y ~ C(arm, Treatment('control')) + x", data=d).fit()
    term = "C(arm, Treatment('control'))[T.drug]"
    # the same least squares: agreement to rounding
    assert eff["estimate"].iloc[0] == pytest.approx(ols.params[term], rel=1e-10)
    assert eff["std_error"].iloc[0] == pytest.approx(ols.bse[term], rel=1e-10)
    assert eff["df"].iloc[0] == ols.df_resid and eff["df_method"].iloc[0] == "residual"


def test_fit_engine_choices_are_the_registry(capsys):
    from longmod.engines.registry import ENGINE_TABLE

    assert set(ENGINE_TABLE) == {"ancova", "native", "statsmodels", "lme4", "pymc"}
    with pytest.raises(SystemExit):
        main(["fit", "x.toml", "--data", "d.csv", "--out", "o", "--engine", "stan"])
    assert "invalid choice: 'stan'" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_engine_pymc_works(tmp_path):
    """`longmod fit --engine pymc` (as its help says): a Bayesian ANCOVA of the same data."""
    d, spec = _ancova_data(tmp_path)
    assert main(["fit", str(spec), "--data", str(tmp_path / "d.csv"), "--out", str(tmp_path / "b"),
                 "--engine", "pymc"]) == 0
    eff = pd.read_csv(tmp_path / "b" / "effects.csv")
    assert eff["engine"].iloc[0].startswith("pymc") and eff["conf_low"].iloc[0] < 2.0 < eff["conf_high"].iloc[0]


def test_summary_names_the_test_or_prior_of_twin_rows():
    """Two rows of one analysis by one engine (t test and Welch; two heterogeneity priors) are told apart."""
    from longmod.cli import summary_table
    from longmod.results.schema import effects_frame

    row = {"analysis": "inc", "outcome": "y_change", "day": 7, "contrast": "a - b", "estimate": 25.7,
           "conf_low": -48.3, "conf_high": 99.7, "p_value": 0.475, "engine": "scipy.ttest_ind"}
    eff = effects_frame([{**row, "test": "t test"}, {**row, "test": "Welch t test", "conf_low": -48.8},
                         {**row, "analysis": "ancova", "engine": "ancova-ols", "test": "F test"}])
    lines = summary_table(eff).splitlines()
    assert any("scipy.ttest_ind (t test)" in x for x in lines)
    assert any("scipy.ttest_ind (Welch t test)" in x for x in lines)
    assert any(x.split()[:2] == ["ancova", "ancova-ols"] for x in lines)  # a single row keeps the bare engine
