"""A user's own (simulated) trial folder end to end: plan init, reanalyse, several arms, missing engines,
reproducible outputs."""

from __future__ import annotations

import hashlib
import shutil
import tomllib

import pandas as pd
import pytest

from longmod.cli import main
from longmod.pipeline import reanalyse
from longmod.pipeline.init import default_plan_text

from .own_trial import write_own_trial

FREQUENTIST = ["primary_ancova", "locf_ancova", "mmrm_us_kr", "lmm_ris"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    f = write_own_trial(tmp_path_factory.mktemp("own") / "vitc")
    assert main(["plan", "init", str(f), "--quiet"]) == 0
    return f


def test_plan_init_writes_a_documented_plan_from_trial_toml(folder, capsys):
    text = (folder / "plan.toml").read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    assert [a["name"] for a in doc["analyses"]] == [*FREQUENTIST, "bayes_mmrm"]
    primary = doc["analyses"][0]
    assert primary["covariates"] == ["baseline", "frail", "centre"]      # the declared stratification
    assert doc["estimands"]["primary"] == {"label": doc["estimands"]["primary"]["label"], "outcome": "spo2_fio2",
                                           "day": 7, "death": "hypothetical", "discharge": "hypothetical",
                                           "other_missing": "exclude"}
    bayes = doc["analyses"][-1]["model"]
    assert bayes["priors"] == {"scale": 75}                             # 5 x the declared MCID of 15
    assert text.count("#") > 10                                          # documented
    # never overwritten silently
    assert main(["plan", "init", str(folder)]) == 2
    assert "exists; use --force" in capsys.readouterr().err


def test_plan_init_without_mcid_or_primary(tmp_path):
    from longmod.data import read_trial_toml

    f = write_own_trial(tmp_path / "t")
    toml = (f / "trial.toml").read_text().replace("mcid = 15\n", "")
    (f / "trial.toml").write_text(toml)
    text = default_plan_text(read_trial_toml(f / "trial.toml"))
    assert "priors = { scale = 112.5 }" in text and "a quarter of the plausible range 50 to 500" in text
    (f / "trial.toml").write_text(toml.replace('primary_outcome = "spo2_fio2"\n', ""))
    with pytest.raises(ValueError, match="plan init needs primary_outcome"):
        default_plan_text(read_trial_toml(f / "trial.toml"))
    # no discharge event: no LOCF sensitivity analysis
    no_disch = toml.replace('[events.icu_discharge]\ncolumn = "left_icu_on"\nkind = "discharge"\n', "")
    (f / "trial.toml").write_text(no_disch)
    text = default_plan_text(read_trial_toml(f / "trial.toml"))
    assert "locf_ancova" not in text and "[estimands.locf]" not in text and "discharge = " not in text


@pytest.fixture(scope="module")
def res(folder):
    return reanalyse(folder, only=FREQUENTIST)


def test_own_names_reach_every_analysis(res):
    e = res.effects
    assert set(e["contrast"]) == {"vitamin_c - usual_care"}
    assert (e["engine"] != "published").all() and res.data_label == "user data"
    anc = e[e["analysis"] == "primary_ancova"].iloc[0]
    assert anc["covariates"] == "baseline + frail + centre" and anc["df_method"] == "residual"
    # the categorical stratum enters as indicators (2 levels beside the reference): n - p = n - 6
    assert anc["df"] == anc["n_obs"] - 6
    # patients left missing by the hypothetical strategy are counted and said
    assert anc["n_dropped"] > 0 and "dropped" in anc["warnings"]
    mm = e[e["analysis"] == "mmrm_us_kr"]
    assert list(mm["day"]) == [2.0, 4.0, 7.0] and set(mm["df_method"]) == {"kenward-roger"}
    assert (mm["estimand_day"] == 7).all()


def test_covariates_reach_the_model_formula(folder):
    """Any declared covariate may be used by a model: `age` (numeric) in an inline formula."""
    plan = folder / "plan.toml"
    text = plan.read_text().replace(
        'model = { fixed = "arm * visit + baseline + frail + centre", covariance = "ris"',
        'model = { fixed = "arm * visit + baseline + frail + centre + age", covariance = "ris"')
    other = folder.parent / "plan_age.toml"
    other.write_text(text)
    r = reanalyse(folder, plan=other, only=["lmm_ris"])
    base = reanalyse(folder, only=["lmm_ris"])
    assert not r.effects["estimate"].equals(base.effects["estimate"])


def test_every_active_arm_is_compared_with_the_reference(tmp_path):
    f = write_own_trial(tmp_path / "three", n=72)
    pts = pd.read_csv(f / "patients.csv")
    pts.loc[pts.index % 4 == 0, "arm"] = "high_dose"
    pts.to_csv(f / "patients.csv", index=False)
    toml = (f / "trial.toml").read_text().replace('arms = ["vitamin_c", "usual_care"]',
                                                  'arms = ["vitamin_c", "high_dose", "usual_care"]')
    (f / "trial.toml").write_text(toml)
    main(["plan", "init", str(f), "--quiet"])
    r = reanalyse(f, only=["primary_ancova", "mmrm_us_kr"])
    e = r.effects
    anc = e[e["analysis"] == "primary_ancova"]
    assert list(anc["contrast"]) == ["vitamin_c - usual_care", "high_dose - usual_care"]
    # one model holds both arms: the same residual df for both contrasts
    assert anc["df"].nunique() == 1
    mm = e[e["analysis"] == "mmrm_us_kr"]
    assert mm.groupby("contrast")["day"].apply(list).to_dict() == {
        "vitamin_c - usual_care": [2.0, 4.0, 7.0], "high_dose - usual_care": [2.0, 4.0, 7.0]}


def test_a_missing_optional_engine_is_found_at_the_start_and_the_rest_runs(folder, monkeypatch):
    import longmod.engines.registry as registry

    reason = "not run: install longmod[lme4] and R (missing: R (Rscript))"
    monkeypatch.setattr(registry, "engine_unavailable", lambda e: reason if e == "lme4" else None)
    plan = folder.parent / "plan_lme4.toml"
    plan.write_text((folder / "plan.toml").read_text().replace(
        'name = "lmm_ris"\nkind = "model"', 'name = "lmm_ris"\nkind = "model"\nengines = ["native", "lme4"]'))
    calls = []
    r = reanalyse(folder, plan=plan, only=["primary_ancova", "lmm_ris"], progress=calls.append)
    e = r.effects
    lme4 = e[e["engine"] == "lme4"]
    assert len(lme4) == 1 and lme4["status"].iloc[0] == reason and pd.isna(lme4["estimate"].iloc[0])
    assert (e.loc[e["engine"] == "native", "status"] == "ok").all()
    assert r.provenance["engines_not_run"] == {"lme4": reason}
    from longmod.report.tables import diagnostics_table

    d = diagnostics_table(e)
    assert d.loc[d["engine"] == "lme4", "problems"].iloc[0].startswith("not run: install longmod[lme4]")
    from longmod.cli import summary_table

    assert f"lmm_ris [lme4]: {reason}" in summary_table(e)


@pytest.mark.parametrize("wrapped", [False, True])
def test_a_failing_fit_is_a_row_but_an_interrupt_stops_the_run(folder, monkeypatch, wrapped):
    import longmod.pipeline.models as models

    def fit(*args, **kwargs):
        if not wrapped:
            raise RuntimeError("did not converge")
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:  # as pybind11 reports a Ctrl-C during an extension's import
            raise ImportError("initialization failed") from e

    monkeypatch.setattr(models, "_fit", fit)
    if wrapped:
        with pytest.raises(KeyboardInterrupt):
            reanalyse(folder, only=["lmm_ris"])
    else:
        status = reanalyse(folder, only=["lmm_ris"]).effects["status"]
        assert len(status) and (status == "failed: did not converge").all()


def _digest(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_runs_write_the_same_bytes(folder, tmp_path):
    """effects.csv, the reports' Markdown and every figure are the same bytes run after run (timings.csv
    and report.json hold the times)."""
    a = reanalyse(folder, only=["primary_ancova", "lmm_ris"]).write(tmp_path / "a")
    b = reanalyse(folder, only=["primary_ancova", "lmm_ris"]).write(tmp_path / "b")
    da, db = _digest(a), _digest(b)
    assert set(da) == set(db)
    same = [k for k in da if k not in ("timings.csv", "report.json")]
    assert [k for k in same if da[k] != db[k]] == []
    assert "figures/forest.svg" in same and "report.md" in same and "effects.csv" in same
    eff = pd.read_csv(a / "effects.csv")
    assert not {"compile_seconds", "sample_seconds", "numba_compiled", "graphs_compiled", "compile_source",
                "seconds"} & set(eff.columns)
    t = pd.read_csv(a / "timings.csv")
    assert {"analysis", "seconds", "compile_seconds"} <= set(t.columns) and (t["seconds"] > 0).all()


@pytest.mark.slow
def test_end_to_end_from_the_command_line(folder, tmp_path, capsys):
    """The whole default plan, Bayesian MMRM included (small sampler), as the docs example runs it."""
    out = tmp_path / "results"
    assert main(["reanalyse", str(folder), "--out", str(out), "--chains", "2", "--draws", "150", "--tune", "150",
                 "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert "spo2_fio2_change at D7 (vitamin_c - usual_care)" in text and "bayes_mmrm" in text
    eff = pd.read_csv(out / "effects.csv")
    b = eff[eff["analysis"] == "bayes_mmrm"]
    assert len(b) == 3 and b["prob_mcid"].notna().all() and (b["status"] == "ok").all()
    assert (out / "posteriors" / "bayes_mmrm_spo2_fio2.nc").is_file()
    t = pd.read_csv(out / "timings.csv")
    assert t.loc[t["engine"] == "pymc", "compile_source"].notna().all()
    shutil.rmtree(out)
