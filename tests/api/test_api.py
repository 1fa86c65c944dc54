"""The top-level API: longmod.mmrm / lmm / bayes / fit, formulas in TOML specs, summary() and print().

SAS tolerances are those of tests/engines/test_native_sas.py (printed digits; KR full precision:
estimate 1e-4, SE 2e-4, df 1e-3, see that module for why).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import longmod
from longmod.spec.model import ModelSpec, SpecError, load_model_spec

KEY = "FEV1 ~ RACE + C(SEX, Treatment('Male')) + ARMCD * AVISIT + us(AVISIT | USUBJID)"


def _half_ulp(printed: str) -> float:
    s = printed.strip().lstrip("-")
    return 0.5 * 10.0 ** (-(len(s.split(".")[1]) if "." in s else 0))


def _close(ours: float, printed: str, se: float = 0.0) -> bool:
    ref = float(printed)
    return abs(ours - ref) <= _half_ulp(printed) + 1e-4 * abs(ref) + 3e-4 * se


@pytest.fixture(scope="module")
def key_fit(fev_data):
    return longmod.mmrm(KEY, fev_data, df="satterthwaite", treatment="ARMCD")


def test_mmrm_formula_reproduces_the_sas_key_case(key_fit, sas_cases):
    ref = sas_cases["us_full_reml_satterthwaite"]["reference"]
    assert key_fit.fit_stats["neg2_log_likelihood"] == pytest.approx(float(ref["neg2_loglik"]["value"]), rel=1e-8)
    p = key_fit.params.set_index("term")
    for row in ref["fixed_effects"]:
        ours = p.loc[row["r_term"]]  # R-style names, SEXFemale from C(SEX, Treatment('Male'))
        assert _close(ours["estimate"], row["estimate"], float(row["se"])), row["r_term"]
        assert _close(ours["std_error"], row["se"]), row["r_term"]
        assert abs(ours["df"] - float(row["df"])) < 0.6, row["r_term"]
    assert list(key_fit.effects["visit"]) == ["VIS1", "VIS2", "VIS3", "VIS4"]


@pytest.mark.parametrize("cov", ["us", "toep", "ar1"])
def test_mmrm_kenward_roger_against_sas(cov, fev_data, sas_cases):
    ref = sas_cases[f"{cov}_armcd_reml_kenwardroger"]["reference"]["lsmeans_diffs_full_precision"][0]
    fit = longmod.mmrm(f"FEV1 ~ ARMCD + {cov}(AVISIT | USUBJID)", fev_data, treatment="ARMCD", time="VISITN")
    assert fit.fit_stats["df_method"] == "kenward-roger"
    c = fit.contrast("trt.vs.ctrl", specs="ARMCD")
    assert c["estimate"].iloc[0] == pytest.approx(float(ref["estimate"]), rel=1e-4)
    assert c["std_error"].iloc[0] == pytest.approx(float(ref["se"]), rel=2e-4)
    assert c["df"].iloc[0] == pytest.approx(float(ref["df"]), rel=1e-3)
    assert fit.effects["df"].iloc[0] == pytest.approx(float(ref["df"]), rel=1e-3)


def test_fit_of_the_toml_spec_equals_the_formula_route(fev_data, key_fit, tmp_path):
    from longmod.resources import models_dir

    via_toml = longmod.fit(models_dir() / "examples" / "fev_data_us_reml.toml", fev_data)
    pd.testing.assert_frame_equal(via_toml.params, key_fit.params, rtol=1e-9, atol=0)
    # the same model written as one formula in TOML
    (tmp_path / "m.toml").write_text(
        '[model]\nname = "m"\nformula = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"\n'
        'df = "satterthwaite"\n[model.treatment]\nvariable = "ARMCD"\nreference = "PBO"\nactive = "TRT"\n'
        '[model.levels]\nSEX = ["Male", "Female"]\n'
    )
    spec = load_model_spec(tmp_path / "m.toml")
    assert (spec.outcome, spec.fixed, spec.subject, spec.visit, spec.covariance) == (
        "FEV1", "RACE + SEX + ARMCD * AVISIT", "USUBJID", "AVISIT", "us")
    via_formula = longmod.fit(spec, fev_data)
    np.testing.assert_allclose(via_formula.effects["estimate"], key_fit.effects["estimate"], rtol=1e-9)


def test_bundled_formula_spec_fits(fev_data):
    from longmod.resources import models_dir

    spec = load_model_spec(models_dir() / "examples" / "fev_data_ar1_formula.toml")
    assert (spec.covariance, spec.visit, spec.subject, spec.time) == ("ar1", "AVISIT", "USUBJID", "VISITN")
    fit = longmod.fit(spec, fev_data)
    assert fit.convergence.converged and list(fit.effects["day"]) == [1.0, 2.0, 3.0, 4.0]
    assert "SEXFemale" in set(fit.params["term"]) and fit.fit_stats["df_method"] == "kenward-roger"


def test_spec_formula_conflicts_and_replace():
    with pytest.raises(SpecError, match="contradicts the formula"):
        ModelSpec(name="m", formula="y ~ x + us(v | id)", covariance="cs")
    with pytest.raises(SpecError, match="missing outcome"):
        ModelSpec(name="m", fixed="x", subject="id")
    s = ModelSpec(name="m", formula="y ~ x + us(v | id)")
    t = s.replace(covariance="ar1")  # the fields are now the model: the formula is dropped
    assert t.covariance == "ar1" and t.formula is None and t.visit == "v"


def test_print_is_short_and_summary_is_complete(key_fit):
    short = repr(key_fit)
    assert len(short.splitlines()) <= 3 and "converged=True" in short and "TRT - PBO" in short
    text = key_fit.summary()
    for needle in ("Formula: FEV1 ~", "Covariance parameters:", "Fixed effects (satterthwaite df):",
                   "ARMCDTRT:AVISITVIS4", "Treatment effects (TRT - PBO):", "263 row(s) with missing values dropped"):
        assert needle in text, needle


@pytest.mark.parametrize("formula,fn,match", [
    ("FEV1 ~ ARMCD + (1 | USUBJID)", "mmrm", r"random effects \(1 \+ t \| id\) go to longmod.lmm"),
    ("FEV1 ~ ARMCD", "mmrm", "needs one covariance term"),
    ("FEV1 ~ ARMCD + us(AVISIT | USUBJID)", "lmm", "go to longmod.mmrm"),
    ("FEV1 ~ ARMCD + (VISITN | USUBJID) + (1 | ARMCD)", "lmm", "one grouping column only"),
    ("FEV1 ~ ARMCD + (0 + VISITN | USUBJID)", "lmm", r"the native core fits the random effects \(1 \| g\)"),
    ("FEV1 ~ ARMCD + sp_exp(VISITN, VISITN2 | USUBJID)", "mmrm", "several coordinates are not supported"),
    ("~ ARMCD + us(AVISIT | USUBJID)", "mmrm", "has no outcome"),
])
def test_clear_errors_name_what_can_be_fitted(formula, fn, match, fev_data):
    with pytest.raises(SpecError, match=match):
        getattr(longmod, fn)(formula, fev_data)


def test_treatment_argument_forms(fev_data):
    d = fev_data.assign(arm3=np.where(fev_data["ARMCD"] == "TRT", np.where(fev_data["SEX"] == "Male", "a", "b"), "c"))
    with pytest.raises(SpecError, match=r"3 levels.*give treatment=\('arm3', reference, active\)"):
        longmod.mmrm("FEV1 ~ arm3 * AVISIT + us(AVISIT | USUBJID)", d, treatment="arm3")
    fit = longmod.mmrm("FEV1 ~ arm3 * AVISIT + cs(AVISIT | USUBJID)", d, treatment=("arm3", "c", "a"), df="residual")
    assert set(fit.effects["contrast"]) == {"a - c"}


def test_metamorphic_renaming_and_reordering_change_no_number(fev_data, key_fit):
    rng = np.random.default_rng(2026)
    ids = {u: f"p{i:03d}" for i, u in enumerate(rng.permutation(fev_data["USUBJID"].unique()))}
    d = fev_data.rename(columns={"FEV1": "fev", "USUBJID": "pid", "AVISIT": "week", "ARMCD": "group"}).assign(
        pid=lambda x: x["pid"].map(ids), group=lambda x: x["group"].map({"PBO": "control", "TRT": "active"}))
    d = d.iloc[rng.permutation(len(d))].reset_index(drop=True)
    fit = longmod.mmrm("fev ~ RACE + C(SEX, Treatment('Male')) + group * week + us(week | pid)", d,
                       df="satterthwaite", treatment=("group", "control", "active"))
    cols = ["estimate", "std_error", "df", "p_value", "conf_low", "conf_high", "n_obs"]
    np.testing.assert_allclose(fit.effects[cols].to_numpy(float), key_fit.effects[cols].to_numpy(float), rtol=1e-7)
    assert fit.fit_stats["neg2_log_likelihood"] == pytest.approx(key_fit.fit_stats["neg2_log_likelihood"], rel=1e-10)


def test_bayes_is_a_thin_front_door(monkeypatch, fev_data):
    import longmod.engines.bayes as eb

    seen = {}
    monkeypatch.setattr(eb, "fit_bayes", lambda spec, data, **kw: seen.update(spec=spec, kw=kw) or "fit")
    out = longmod.bayes("FEV1 ~ ARMCD * AVISIT + us(AVISIT | USUBJID)", fev_data, treatment="ARMCD",
                        priors={"treatment": {"sd": 10}}, sampler={"chains": 2, "seed": 1}, estimand="x")
    spec = seen["spec"]
    assert out == "fit" and seen["kw"] == {"estimand": "x"}
    assert (spec.engine, spec.covariance, spec.visit, spec.subject, spec.outcome) == ("pymc", "us", "AVISIT", "USUBJID", "FEV1")
    assert spec.treatment.label == "TRT - PBO" and dict(spec.priors["treatment"]) == {"sd": 10}


def test_import_is_light_and_the_api_is_lazy():
    code = ("import time, sys; t = time.perf_counter(); import longmod; dt = time.perf_counter() - t; "
            "heavy = [m for m in ('numpy', 'pandas', 'formulaic', 'scipy', 'statsmodels', 'pymc') if m in sys.modules]; "
            "print(dt, ','.join(heavy)); "
            "print(callable(longmod.mmrm), callable(longmod.reanalyse), callable(longmod.load_trial))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    dt, heavy = out[0].split(" ")
    assert float(dt) < 1.0 and heavy == ""
    assert out[1] == "True True True"
