"""msc-meta through the pipeline: the frequentist rows equal the engine's on the studies table, every
sensitivity scenario is pooled, a folder with only a plan and a studies file runs, renaming studies and
reordering entries changes no number; the Bayesian rows come from real (small) sampling."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from longmod.engines.meta.frequentist import meta_rows
from longmod.pipeline import reanalyse
from longmod.resources import models_dir
from longmod.spec.studies import load_studies, study_table

FREQ = ["meta_pf_change_d7", "meta_death_d28"]


def _no_priors(text: str) -> str:
    out = []
    for line in text.splitlines():
        if line.startswith(("half_normal", "turner", "mu_sd", "sampler", "mcid")):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    dest = tmp_path_factory.mktemp("meta") / "msc"
    dest.mkdir()
    shutil.copy(models_dir() / "msc_meta" / "studies.toml", dest / "studies.toml")
    (dest / "plan.toml").write_text(_no_priors((models_dir() / "msc_meta" / "plan.toml").read_text(encoding="utf-8")),
                                    encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def res(folder):
    return reanalyse(folder)


def test_rows_equal_the_engine(res):
    spec = load_studies(models_dir() / "msc_meta" / "studies.toml")
    assert res.data_label == "published summary" and res.trial.n_patients == 0
    assert set(res.effects["data_label"]) == {"published summary"}
    for analysis, outcome in (("meta_pf_change_d7", "pf_change_d7"), ("meta_death_d28", "death_d28")):
        t = study_table(spec, outcome)
        used = t[t["status"] == "used"]
        for method in ("REML", "DL"):
            want = meta_rows(used, analysis="x", outcome=outcome, contrast="c", method=method)
            got = res.effects[(res.effects["analysis"] == analysis) & (res.effects["method"] == method)
                              & (res.effects["scenario"] == "base") & res.effects["statistic"].isin(["pooled", "study"])]
            got = got[got["estimate"].notna()]
            for c in ("estimate", "std_error", "conf_low", "conf_high", "p_value", "weight"):
                np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=1e-12, err_msg=c)
        excluded = res.effects[(res.effects["analysis"] == analysis)
                               & res.effects["study_status"].fillna("").str.startswith("excluded")]
        assert list(excluded["study"]) == list(t.loc[t["status"] != "used", "study"])


def test_every_scenario_is_pooled(res):
    e = res.effects
    scen = e[(e["analysis"] == "meta_pf_change_d7") & (e["statistic"] == "pooled") & (e["method"] == "REML")]
    assert scen["scenario"].tolist() == ["base", "martinez_munoz_2024: sd = 60", "martinez_munoz_2024: sd = 120"]
    # a larger assumed SD gives Martinez-Munoz less weight: the pooled estimate moves towards STROMA's 7.4
    est = scen.set_index("scenario")["estimate"]
    assert est["martinez_munoz_2024: sd = 60"] > est["base"] > est["martinez_munoz_2024: sd = 120"] > 7.4
    d = e[(e["analysis"] == "meta_death_d28") & (e["statistic"] == "pooled") & (e["method"] == "REML")]
    assert len(d) == 4


def test_renamed_studies_and_reordered_entries(res, tmp_path):
    import re

    dest = tmp_path / "renamed"
    dest.mkdir()
    text = (models_dir() / "msc_meta" / "studies.toml").read_text(encoding="utf-8")
    for a, b in (("stroma_cov2", "trial_s"), ("martinez_munoz_2024", "trial_m"), ("gregoire_2022", "trial_g")):
        text = re.sub(rf"\b{a}\b", b, text)
    blocks = text.split("[[outcomes.death_d28.entries]]")
    text = blocks[0] + "".join("[[outcomes.death_d28.entries]]" + b for b in reversed(blocks[1:]))
    (dest / "studies.toml").write_text(text, encoding="utf-8")
    (dest / "plan.toml").write_text(_no_priors((models_dir() / "msc_meta" / "plan.toml").read_text(encoding="utf-8")),
                                    encoding="utf-8")
    other = reanalyse(dest)
    for analysis in FREQ:
        a = res.effects[(res.effects["analysis"] == analysis) & (res.effects["statistic"] == "pooled")]
        b = other.effects[(other.effects["analysis"] == analysis) & (other.effects["statistic"] == "pooled")]
        for c in ("estimate", "std_error", "conf_low", "conf_high", "p_value", "tau2", "pi_low", "pi_high"):
            np.testing.assert_allclose(a[c].to_numpy(float), b[c].to_numpy(float), rtol=1e-10, err_msg=c)


def test_plan_without_trial_toml_must_say_published_summaries(tmp_path):
    (tmp_path / "plan.toml").write_text('[plan]\ntrial = "x"\n', encoding="utf-8")
    with pytest.raises(FileNotFoundError, match='data = "published summaries"'):
        reanalyse(tmp_path)


@pytest.mark.slow
def test_bayesian_rows_sample(tmp_path):
    """Real sampling, small: 2 chains x 300 draws; the rows carry the priors, P(benefit) and diagnostics."""
    res = reanalyse("msc-meta", only=["meta_death_d28"], sampler={"chains": 2, "draws": 300, "tune": 300, "seed": 3})
    b = res.effects[res.effects["engine"] == "pymc"]
    assert sorted(set(b["statistic"])) == ["mu", "tau", "theta_new"]
    assert set(b["tau_prior"]) == {"tau ~ half-normal(0.5)", "log(tau^2) ~ N(-3.95, 1.34^2)"}
    mu = b[b["statistic"] == "mu"]
    assert ((mu["prob_benefit"] > 0) & (mu["prob_benefit"] < 1)).all()
    np.testing.assert_allclose(mu["prob_harm"].to_numpy(float), 1 - mu["prob_benefit"].to_numpy(float))
    assert b[["r_hat", "ess_bulk", "divergences"]].notna().all().all()
    new = b[b["statistic"] == "theta_new"]
    assert (new["conf_high"] - new["conf_low"] >= mu["conf_high"].to_numpy() - mu["conf_low"].to_numpy()).all()
