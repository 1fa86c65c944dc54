"""Bayesian ANCOVA: agreement with OLS, seeds, diagnostics, priors, provenance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.engines.bayes.ancova import fit_bayes_ancova, prior_predictive_ancova
from longmod.engines.bayes.priors import PriorError
from longmod.engines.bayes.runtime import SamplerError
from longmod.engines.bayes.summaries import save_inference_data
from longmod.results.schema import BAYES_COLUMNS, EFFECT_COLUMNS

from .conftest import FIXED, ancova_data

FLAT = {"intercept": {"sigma": 1e5}, "treatment": {"sigma": 1e5}, "coefficients": {"sigma": 1e5},
        "sigma": {"sigma": 1e5}}


def test_effect_row_schema_and_diagnostics(small_fit, small_data):
    e = small_fit.effects
    assert len(e) == 1
    assert list(e.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    for c in (*BAYES_COLUMNS, "posterior_median", "ess_tail", "diagnostics_ok", "diagnostic_flags", "prob_rope"):
        assert c in e.columns
    row = e.iloc[0]
    assert row["engine"] == "pymc" and row["sampler"] == "nutpie"
    assert row["contrast"] == "uc_msc - placebo" and row["day"] == 7
    assert row["n_obs"] == 60 and row["n_patients"] == 60
    assert row["conf_low"] < row["posterior_median"] < row["conf_high"]
    assert 0 <= row["prob_mcid"] <= row["prob_benefit"] <= 1
    assert row["rope_low"] == -10 and row["rope_high"] == 10
    # 2 x 1000 draws of a well-posed linear model: clean diagnostics expected
    assert row["r_hat"] < 1.01 and row["ess_bulk"] > 400 and row["divergences"] == 0
    assert bool(row["diagnostics_ok"]) and row["diagnostic_flags"] == ""
    assert small_fit.convergence.converged
    assert small_fit.params["term"].tolist() == ["(Intercept)", "armuc_msc", "baseline", "age_gt70", "sofa_gt11"]
    assert small_fit.params.loc[1, "estimate"] == pytest.approx(row["estimate"])
    prov = small_fit.provenance
    assert prov["seed"] == 7 and len(prov["spec_hash"]) == 64 and len(prov["data_sha256"]) == 64
    assert "inference_data" in small_fit.extras
    assert small_fit.extras["priors"]["scale_source"] == "5 x mcid (mcid = 20)"


def test_near_flat_priors_agree_with_statsmodels_ols(ancova_spec):
    """Large trial, near-flat priors: posterior mean within 0.1 posterior SD of OLS
    (statsmodels, an independent reference) and 95% CrI width within 5% of the CI width."""
    import statsmodels.formula.api as smf

    d = ancova_data(2000, seed=11)
    res = fit_bayes_ancova(ancova_spec.replace(priors=FLAT), d)
    ols = smf.ols(f"change ~ {FIXED}", data=d).fit()
    names = {"(Intercept)": "Intercept", "armuc_msc": "arm[T.uc_msc]"}
    for _, p in res.params.iterrows():
        ref = names.get(p["term"], p["term"])
        assert abs(p["estimate"] - ols.params[ref]) < 0.1 * p["std_error"], p["term"]
        ci = ols.conf_int().loc[ref]
        assert (p["conf_high"] - p["conf_low"]) == pytest.approx(ci[1] - ci[0], rel=0.05), p["term"]
    assert res.effects.loc[0, "estimate"] == pytest.approx(ols.params["arm[T.uc_msc]"], abs=0.1 * ols.bse["arm[T.uc_msc]"])


def test_same_seed_same_draws_and_new_seed_differs(ancova_spec, small_data, small_fit):
    again = fit_bayes_ancova(ancova_spec, small_data, day=7, estimand="treatment policy")
    assert again.fit_stats["compile_cached"]  # second run reuses the compiled model
    a = small_fit.extras["inference_data"].posterior["beta"].values
    b = again.extras["inference_data"].posterior["beta"].values
    np.testing.assert_array_equal(a, b)
    other = fit_bayes_ancova(ancova_spec, small_data, sampler={"seed": 8})
    assert not np.array_equal(a, other.extras["inference_data"].posterior["beta"].values)
    assert other.provenance["seed"] == 8


@pytest.mark.slow
def test_pymc_fallback_backend_honours_seed(ancova_spec, small_data, small_fit):
    kw = {"backend": "pymc", "cores": 1, "draws": 300, "tune": 300}
    r1 = fit_bayes_ancova(ancova_spec, small_data, sampler=kw)
    r2 = fit_bayes_ancova(ancova_spec, small_data, sampler=kw)
    assert r1.effects.loc[0, "sampler"] == "pymc" and r1.convergence.optimizer == "pymc"
    np.testing.assert_array_equal(r1.extras["inference_data"].posterior["beta"].values,
                                  r2.extras["inference_data"].posterior["beta"].values)
    # same model, other sampler: posterior means agree within Monte Carlo error
    e1, e0 = r1.effects.iloc[0], small_fit.effects.iloc[0]
    assert abs(e1["estimate"] - e0["estimate"]) < 4 * np.hypot(e1["mcse_mean"], e0["mcse_mean"])


def test_short_run_is_flagged_not_hidden(ancova_spec, small_data):
    r = fit_bayes_ancova(ancova_spec, small_data, sampler={"draws": 60, "tune": 100})
    row = r.effects.iloc[0]
    assert row["ess_bulk"] < 400
    assert not row["diagnostics_ok"] and "ess_bulk" in row["diagnostic_flags"]
    assert not r.convergence.converged
    assert any("ess_bulk" in w for w in r.convergence.warnings)
    # variance parameters are checked too, not only the treatment contrast
    assert any(f.startswith("sigma: min ess_bulk") for f in r.extras["parameter_flags"])
    assert any(w.startswith("sigma: ") for w in r.convergence.warnings)


def test_informative_treatment_prior_is_used(ancova_spec, small_data):
    tight = ancova_spec.replace(priors={"treatment": {"mu": -50.0, "sigma": 0.5}})
    r = fit_bayes_ancova(tight, small_data)
    assert r.effects.loc[0, "estimate"] == pytest.approx(-50.0, abs=2.0)
    assert r.extras["priors"]["treatment"] == "normal(mu=-50, sigma=0.5)"
    assert r.effects.loc[0, "treatment_prior"] == "normal(mu=-50, sigma=0.5)"


def test_inputs_not_mutated_and_missing_rows_reported(ancova_spec):
    d = ancova_data(60, seed=5)
    d.loc[3, "baseline"] = np.nan
    before = d.copy()
    spec_before = ancova_spec.to_dict()
    r = fit_bayes_ancova(ancova_spec, d, sampler={"draws": 200, "tune": 200})
    pd.testing.assert_frame_equal(d, before)
    assert ancova_spec.to_dict() == spec_before
    assert r.effects.loc[0, "n_obs"] == 59
    assert any("1 row(s) with missing values" in w for w in r.convergence.warnings)


def test_bad_priors_and_sampler_options_fail_before_sampling(ancova_spec, small_data):
    with pytest.raises(PriorError, match="unknown prior key"):
        fit_bayes_ancova(ancova_spec.replace(priors={"treatmnt": {"sigma": 1}}), small_data)
    with pytest.raises(PriorError, match="not in the design"):
        fit_bayes_ancova(ancova_spec.replace(priors={"terms": {"age": {"sigma": 1}}}), small_data)
    with pytest.raises(SamplerError, match="choose one of nutpie, nutpie-jax, pymc"):
        fit_bayes_ancova(ancova_spec, small_data, sampler={"backend": "stan"})
    with pytest.raises(ValueError, match="not in the data"):
        fit_bayes_ancova(ancova_spec.replace(fixed="arm + weight"), small_data)
    with pytest.raises(ValueError, match="one row per patient_id"):
        fit_bayes_ancova(ancova_spec, pd.concat([small_data, small_data.iloc[:2]]))


def test_dispatch_without_visit_runs_the_ancova(ancova_spec, small_data, small_fit):
    from longmod.engines.bayes import fit_bayes

    r = fit_bayes(ancova_spec, small_data, day=7, estimand="treatment policy")
    assert r.fit_stats["method"] == "bayes-ancova"
    pd.testing.assert_frame_equal(r.effects, small_fit.effects)


def test_prior_predictive_is_on_clinical_scale(ancova_spec, small_data, small_fit):
    pp = prior_predictive_ancova(ancova_spec, small_data, draws=400)
    sig = pp["sigma"].values.ravel()
    # HalfNormal(2.5 x 100): E = 250 sqrt(2/pi) = 199.5, SD = 250 sqrt(1 - 2/pi) = 150.7
    assert sig.mean() == pytest.approx(199.5, abs=4 * 150.7 / np.sqrt(400))
    idata = small_fit.extras["inference_data"]
    assert idata.prior_predictive["y"].shape == (1, 500, 60)
    assert idata.observed_data["y"].shape == (60,) and idata.log_likelihood["y"].shape == (2, 1000, 60)


def test_inference_data_saved_with_provenance(small_fit, tmp_path):
    import arviz as az

    idata = small_fit.extras["inference_data"]
    before = dict(idata.posterior.attrs)
    path = save_inference_data(idata, tmp_path / "fit.nc", small_fit.provenance)
    assert dict(idata.posterior.attrs) == before  # caller's object unchanged
    back = az.from_netcdf(path)
    assert back.posterior.attrs["longmod_spec_hash"] == small_fit.provenance["spec_hash"]
    assert back.posterior.attrs["longmod_seed"] == 7
    assert "longmod_pymc_version" in back.posterior.attrs
    np.testing.assert_array_equal(back.posterior["beta"].values, idata.posterior["beta"].values)


@pytest.mark.slow
def test_sampler_fallback_is_recorded_not_silent(ancova_spec, small_data, monkeypatch):
    """nutpie failing makes PyMC's NUTS sample; the row, the provenance and the warnings
    say so, and the fit is not ``converged`` (the declared sampler did not run)."""
    from longmod.engines.bayes import runtime

    def boom(*args, **kwargs):
        raise RuntimeError("simulated nutpie failure")

    monkeypatch.setattr(runtime, "_nutpie_compile", boom)
    r = fit_bayes_ancova(ancova_spec, small_data, sampler={"draws": 300, "tune": 300, "cores": 1}, prior_draws=0)
    row = r.effects.iloc[0]
    assert row["sampler"] == "pymc" and "simulated nutpie failure" in row["sampler_fallback"]
    assert r.provenance["sampler_requested"] == "nutpie" and r.provenance["sampler"] == "pymc"
    assert not r.convergence.converged
    assert any(w.startswith("sampler fallback: nutpie failed") for w in r.convergence.warnings)
    assert r.extras["inference_data"].attrs["sampler_fallback"].startswith("nutpie failed")


def test_an_interrupt_while_compiling_stops_the_fit_instead_of_falling_back(ancova_spec, small_data, monkeypatch):
    """A Ctrl-C that an extension wraps as another error (pybind11: ImportError('initialization failed')) during
    nutpie's compile stops the fit; it is not taken for a compile failure and sampled with PyMC instead."""
    from longmod.engines.bayes import runtime

    def interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise ImportError("initialization failed") from e

    monkeypatch.setattr(runtime, "_nutpie_compile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit_bayes_ancova(ancova_spec, small_data, sampler={"draws": 50, "tune": 50, "cores": 1}, prior_draws=0)
