"""fit_model: spec/engine validation before fitting, immutability, provenance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.engines.core.covariance import COVARIANCE_TABLE
from longmod.engines.registry import check_model, fit_model
from longmod.spec.model import COVARIANCE_STRUCTURES, ModelSpec, SpecError, Treatment


def _sim(n=60, seed=11):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"pid": np.repeat(np.arange(n), 4), "visit": np.tile(["D0", "D3", "D7", "D14"], n),
                      "day": np.tile([0.0, 3.0, 7.0, 14.0], n), "arm": np.repeat(rng.permutation(["ctl", "act"] * (n // 2)), 4)})
    b = np.repeat(rng.normal(0, 2, n), 4)
    d["y"] = 10 + (d["arm"] == "act") * 0.1 * d["day"] + b + rng.normal(0, 1, len(d))
    d.loc[rng.random(len(d)) < 0.15, "y"] = np.nan
    return d


def _spec(**kw):
    base = dict(name="sim", outcome="y", fixed="arm * visit", subject="pid", visit="visit", time="day",
                covariance="us", treatment=Treatment("arm", "ctl", "act"),
                levels={"visit": ["D0", "D3", "D7", "D14"], "arm": ["ctl", "act"]})
    base.update(kw)
    return ModelSpec(**base)


def test_every_native_structure_of_the_spec_is_in_the_table():
    assert set(COVARIANCE_STRUCTURES) == set(COVARIANCE_TABLE)


@pytest.mark.parametrize("engine,kw,match", [
    ("statsmodels", {"covariance": "us"}, "supports covariance ri, ris"),
    ("statsmodels", {"covariance": "ri", "df": "satterthwaite"}, "supports df asymptotic only"),
    ("lme4", {"covariance": "ar1"}, "supports covariance ri, ris"),
    ("native", {"vcov": "sandwich", "df": "satterthwaite"}, "supports df between-within, residual, asymptotic"),
    ("native", {"method": "ml", "df": "kenward-roger"}, "needs method='reml'"),
    ("pymc", {"covariance": "ar1"}, "pymc engine supports covariance us, ri, ris"),
    ("ancova", {}, "fits one row per patient"),
    ("stan", {}, "supported: ancova, native, statsmodels, lme4, pymc"),
])
def test_unsupported_combinations_fail_before_fitting(engine, kw, match):
    class Boom(pd.DataFrame):  # fitting would touch the data; validation must not
        def __getattribute__(self, name):
            raise AssertionError("data touched before validation")

    with pytest.raises(SpecError, match=match):
        fit_model(_spec(**kw), Boom(), engine=engine)


def test_valid_pairs_pass_the_check():
    check_model(_spec(), "native")
    check_model(_spec(covariance="ris", df="asymptotic"), "statsmodels")
    check_model(_spec(covariance="ri", df="kenward-roger"), "lme4")  # no R needed to validate


def test_missing_column_lists_available():
    with pytest.raises(Exception, match="available columns"):
        fit_model(_spec(fixed="arm * visit + age"), _sim())


def test_fit_does_not_mutate_and_records_provenance():
    d = _sim()
    before = d.copy()
    spec = _spec(df="kenward-roger")
    fit = fit_model(spec, d)
    pd.testing.assert_frame_equal(d, before)
    assert fit.provenance["spec_hash"] == spec.spec_hash()
    assert len(fit.provenance["data_sha256"]) == 64
    assert fit.provenance["rows_dropped_missing"] == int(d["y"].isna().sum())
    assert list(fit.effects["day"]) == [0.0, 3.0, 7.0, 14.0]
    assert list(fit.effects["visit"]) == ["D0", "D3", "D7", "D14"]
    assert set(fit.fit_stats) >= {"method", "log_likelihood", "neg2_log_likelihood", "aic", "bic", "n_obs", "n_patients"}
    assert fit.convergence.converged and fit.convergence.gradient_norm < 1e-4
    # a different data set gives a different hash
    assert fit_model(spec, _sim(seed=12)).provenance["data_sha256"] != fit.provenance["data_sha256"]


@pytest.mark.parametrize("cov", sorted(COVARIANCE_TABLE))
def test_every_structure_fits_and_nests_independence(cov):
    d = _sim()
    fit = fit_model(_spec(covariance=cov, df="satterthwaite"), d)
    assert fit.convergence.converged, fit.convergence
    assert np.isfinite(fit.effects["std_error"]).all() and (fit.effects["df"] > 1).all()
    # every structure contains sigma^2 I (a correlation or random-effect variance of 0): its ML maximum
    # cannot be below the independence model's (an optimiser that stopped early would be)
    ll = {c: fit_model(_spec(covariance=c, method="ml", df="residual"), d).fit_stats["log_likelihood"]
          for c in ("ind", cov)}
    assert ll[cov] >= ll["ind"] - 1e-6, ll


def test_nested_structures_order_of_likelihood():
    d = _sim()
    ll = {c: fit_model(_spec(covariance=c, method="ml", df="residual"), d).fit_stats["log_likelihood"]
          for c in ("ind", "cs", "csh", "us")}
    # ind within cs within csh within us (ML): log-likelihood cannot decrease
    assert ll["ind"] <= ll["cs"] + 1e-6 <= ll["csh"] + 2e-6 <= ll["us"] + 3e-6


def test_random_slope_lmm_with_time_effect():
    spec = _spec(fixed="arm * day", covariance="ris", df="kenward-roger", visit="visit")
    fit = fit_model(spec, _sim())
    # contrast at day d is b_arm + d * b_arm:day: it grows with day
    est = fit.effects["estimate"].to_numpy()
    p = fit.params.set_index("term")["estimate"]
    np.testing.assert_allclose(est, p["armact"] + np.array([0, 3, 7, 14]) * p["armact:day"], rtol=1e-10)


def test_numeric_visit_column_sorts_numerically():
    # visit given as numbers (0, 3, 7, 14) without levels: positions sort as numbers, not text
    spec = _spec(visit="day", fixed="arm", covariance="ar1", df="residual", levels={"arm": ["ctl", "act"]})
    fit = fit_model(spec, _sim())
    assert list(fit.effects["visit"]) == ["0", "3", "7", "14"]
    assert list(fit.effects["day"]) == [0.0, 3.0, 7.0, 14.0]
    S = fit.extras["covariance_matrix"].to_numpy()
    assert S[0, 1] > S[0, 3] > 0  # AR(1) over visit order: correlation decays with lag


def test_random_intercept_without_visit_gives_one_overall_contrast():
    spec = _spec(fixed="arm + day", visit=None, covariance="ri", df="satterthwaite")
    fit = fit_model(spec, _sim())
    assert len(fit.effects) == 1 and np.isnan(fit.effects["day"].iloc[0])
    assert fit.effects["estimate"].iloc[0] == pytest.approx(fit.params.set_index("term").loc["armact", "estimate"])


def test_result_writes_the_four_files_and_lsmeans_and_type3(tmp_path):
    import json

    fit = fit_model(_spec(covariance="cs", df="kenward-roger"), _sim())
    out = fit.write(tmp_path / "out")
    doc = json.loads((out / "fit.json").read_text())
    assert doc["engine"] == "native" and doc["converged"] is True and doc["method"] == "reml"
    assert doc["neg2_log_likelihood"] == pytest.approx(fit.fit_stats["neg2_log_likelihood"])
    params = pd.read_csv(out / "params.csv")
    assert list(params.columns) == ["term", "estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high"]
    assert list(params["term"]) == ["(Intercept)", "armact", "visitD3", "visitD7", "visitD14",
                                    "armact:visitD3", "armact:visitD7", "armact:visitD14"]
    assert list(pd.read_csv(out / "covariance.csv")["parameter"]) == ["cs_covariance", "residual"]
    assert len(pd.read_csv(out / "effects.csv")) == 4
    lsm, t3 = pd.read_csv(out / "lsmeans.csv"), pd.read_csv(out / "type3.csv")
    pd.testing.assert_frame_equal(lsm, fit.extras["lsmeans"].reset_index(drop=True), check_dtype=False)
    assert set(t3["term"]) >= {"arm", "visit", "arm:visit"}
