"""Visits in time order, number-coded factors, sp_exp, and honest labels (issue 11 items 4 and 6).

References:

* ``tests/reference/nlme/visit_order.R`` -> ``visit_order.json`` (+ ``visit_order.csv``, the
  data): fev_data with its visits on days 1, 2, 7, 14 labelled ``D1, D2, D7, D14`` (text order
  would be D1, D14, D2, D7); nlme::gls with corAR1 on the visit index in time order and corExp on
  the day, REML. Both optimisers converge tightly (gls tolerance 1e-10): -2RLL rtol 1e-9,
  coefficients and SEs rtol 1e-6 (measured: 1e-7), covariance parameters rtol 1e-5.
* SAS ``sp_exp(VISITN)`` intercept-only fits (``sas_reference.yaml``): -2 log L rtol 1e-8 as the
  other SAS structures; SP(EXP) printed with 4 decimals (half a unit + 1e-3 relative: SAS stops
  early on the flat surface).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import longmod
from longmod.engines.core import inference as inf
from longmod.engines.native import fit_native
from longmod.spec.model import ModelSpec, SpecError, Treatment

from .conftest import REPO
from .engine_refs import fev_spec, half_ulp

NLME = REPO / "tests" / "reference" / "nlme"


@pytest.fixture(scope="module")
def vo_ref():
    return json.loads((NLME / "visit_order.json").read_text())


@pytest.fixture(scope="module")
def vo_data():
    return pd.read_csv(NLME / "visit_order.csv")


@pytest.fixture(scope="module")
def vo_fits(vo_data):
    return {
        "ar1": longmod.mmrm("FEV1 ~ ARMCD * visit + ar1(visit | USUBJID)", vo_data, time="day", treatment="ARMCD",
                            df="satterthwaite"),
        "sp_exp": fit_native(ModelSpec(name="sp", formula="FEV1 ~ ARMCD * visit + sp_exp(day | USUBJID)",
                                       visit="visit", df="satterthwaite",
                                       treatment=Treatment("ARMCD", "PBO", "TRT")), vo_data),
    }


@pytest.mark.parametrize("cov", ["ar1", "sp_exp"])
def test_text_labels_with_time_match_nlme(cov, vo_fits, vo_ref):
    fit, ref = vo_fits[cov], vo_ref[cov]
    assert fit.convergence.converged
    assert fit.provenance["visit_levels"] == vo_ref["visit_levels_time_order"] == ["D1", "D2", "D7", "D14"]
    assert fit.provenance["visit_order"] == "time"
    assert fit.fit_stats["neg2_log_likelihood"] == pytest.approx(ref["neg2_log_likelihood"], rel=1e-9)
    p = fit.params.set_index("term")
    assert list(p.index) == list(ref["coef"])  # R's names, visits in time order
    for term, value in ref["coef"].items():
        assert p.loc[term, "estimate"] == pytest.approx(value, rel=1e-6)
        assert p.loc[term, "std_error"] == pytest.approx(ref["se"][term], rel=1e-6)
    cov_par = fit.covariance.set_index("parameter")["estimate"]
    assert cov_par["residual"] == pytest.approx(ref["sigma2"], rel=1e-5)
    corr_name = "rho" if cov == "ar1" else "range"  # corAR1's Phi; corExp's range (corr = exp(-d / range))
    assert cov_par[corr_name] == pytest.approx(ref["correlation_parameter"], rel=1e-5)
    eff = fit.effects
    assert list(eff["visit"]) == ref["contrasts"]["visit"]
    np.testing.assert_allclose(eff["estimate"], ref["contrasts"]["estimate"], rtol=1e-6)
    np.testing.assert_allclose(eff["std_error"], ref["contrasts"]["se"], rtol=1e-6)


def test_sp_exp_uses_day_distances_not_visit_index(vo_fits):
    S = vo_fits["sp_exp"].extras["covariance_matrix"]
    rng = vo_fits["sp_exp"].covariance.set_index("parameter")["estimate"]["range"]
    R = S.to_numpy() / S.to_numpy()[0, 0]
    assert list(S.index) == ["1", "2", "7", "14"]
    assert R[0, 1] == pytest.approx(np.exp(-1 / rng)) and R[1, 2] == pytest.approx(np.exp(-5 / rng))


def test_ordered_structure_on_text_labels_without_order_is_an_error(vo_data):
    with pytest.raises(SpecError, match=r"holds text labels \(D1, D2, D7, D14\).*levels=\{'visit'.*time='day'"):
        longmod.mmrm("FEV1 ~ ARMCD * visit + toep(visit | USUBJID)", vo_data)


def test_order_free_structure_uses_natural_order_and_says_so(vo_data):
    fit = longmod.mmrm("FEV1 ~ ARMCD * visit + cs(visit | USUBJID)", vo_data, treatment="ARMCD", df="residual")
    assert fit.provenance["visit_levels"] == ["D1", "D2", "D7", "D14"]
    assert fit.provenance["visit_order"].startswith("natural sort")


def test_levels_contradicting_time_is_an_error(vo_data):
    with pytest.raises(SpecError, match="contradict time 'day': D7 .* before D2"):
        longmod.mmrm("FEV1 ~ ARMCD * visit + ar1(visit | USUBJID)", vo_data, time="day",
                     levels={"visit": ["D1", "D7", "D2", "D14"]})


def test_text_sorted_order_would_change_the_toeplitz_fit(vo_data):
    # the defect of issue 11: the same data with the visits in text order is a different model
    right = longmod.mmrm("FEV1 ~ ARMCD * visit + toep(visit | USUBJID)", vo_data, time="day", df="residual")
    wrong = longmod.mmrm("FEV1 ~ ARMCD * visit + toep(visit | USUBJID)", vo_data, df="residual",
                         levels={"visit": ["D1", "D14", "D2", "D7"]})
    assert abs(right.fit_stats["neg2_log_likelihood"] - wrong.fit_stats["neg2_log_likelihood"]) > 1.0


@pytest.mark.parametrize("method", ["ml", "reml"])
def test_sp_exp_against_sas(method, fev_data, sas_cases):
    c = sas_cases[f"sp_exp_intercept_{method}"]["reference"]
    fit = longmod.mmrm("FEV1 ~ 1 + sp_exp(VISITN | USUBJID)", fev_data, reml=method == "reml", df="satterthwaite")
    assert fit.fit_stats["neg2_log_likelihood"] == pytest.approx(float(c["neg2_loglik"]["value"]), rel=1e-8)
    cov = fit.covariance.set_index("parameter")["estimate"]
    for name, sas in (("range", "SP(EXP)"), ("residual", "Residual")):
        printed = next(p["estimate"] for p in c["covariance_parameters"] if p["sas_name"] == sas)
        assert abs(cov[name] - float(printed)) <= half_ulp(printed) + 1e-3 * float(printed)
    fe = c["fixed_effects"][0]
    assert abs(fit.params["estimate"].iloc[0] - float(fe["estimate"])) <= half_ulp(fe["estimate"]) + 1e-4 * 42


def test_numeric_treatment_or_visit_in_the_formula_is_refused(fev_data):
    d = fev_data.assign(arm=(fev_data["ARMCD"] == "TRT").astype(int) + 1)
    with pytest.raises(SpecError, match=r"treatment variable 'arm' is numeric.*C\(arm\).*levels="):
        fit_native(fev_spec("arm * AVISIT", "us").replace(treatment=Treatment("arm", "1", "2")), d)
    with pytest.raises(SpecError, match=r"visit variable 'VISITN' is numeric.*C\(VISITN\)"):
        fit_native(fev_spec("ARMCD * VISITN", "ar1").replace(visit="VISITN", time=None), fev_data)
    # declared categorical: C() or levels
    a = fit_native(fev_spec("C(arm) * AVISIT", "us").replace(treatment=Treatment("arm", "1", "2")), d)
    b = fit_native(fev_spec("ARMCD * AVISIT", "us"), fev_data)
    np.testing.assert_allclose(a.effects["estimate"], b.effects["estimate"], rtol=1e-9)
    c = fit_native(fev_spec("ARMCD * VISITN", "ar1", df="residual").replace(visit="VISITN", time=None,
                                                                           levels={"VISITN": [1, 2, 3, 4]}), fev_data)
    assert list(c.effects["visit"]) == ["1", "2", "3", "4"]


def test_dropped_rows_counted_and_per_visit_n_obs(fev_data):
    fit = fit_native(fev_spec("ARMCD * AVISIT", "us"), fev_data)
    n_missing = int(fev_data["FEV1"].isna().sum())
    assert fit.fit_stats["n_dropped"] == n_missing == 263
    assert (fit.effects["n_dropped"] == n_missing).all()
    assert any("263 row(s) with missing values dropped" in w for w in fit.convergence.warnings)
    assert fit.effects["warnings"].str.contains("263 row").all()
    per_visit = fev_data.dropna(subset=["FEV1"]).groupby("AVISIT").size()
    assert fit.effects.set_index("visit")["n_obs"].to_dict() == {k: float(v) for k, v in per_visit.items()}
    assert fit.effects["n_obs"].sum() == fit.fit_stats["n_obs"] == 537


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # Type III F with inf df
def test_df_fallback_is_flagged(fev_data, monkeypatch):
    monkeypatch.setattr(inf, "satterthwaite_df", lambda st, c: np.inf)  # as when the df cannot be computed
    fit = fit_native(fev_spec("ARMCD * AVISIT", "cs"), fev_data)
    assert fit.effects["df_fallback"].all() and np.isinf(fit.effects["df"]).all()
    assert fit.effects["df_method"].eq("satterthwaite").all()
    assert any("z tests (df = inf)" in w for w in fit.convergence.warnings)
    assert fit.effects["warnings"].str.contains("not computable").all()


def test_labels_say_what_was_computed(fev_data):
    ok = fit_native(fev_spec("ARMCD * AVISIT", "cs"), fev_data)
    assert not ok.effects["df_fallback"].any() and ok.effects["df_method"].eq("satterthwaite").all()
    z = fit_native(fev_spec("ARMCD * AVISIT", "cs", df="asymptotic"), fev_data)
    assert z.effects["df_method"].eq("asymptotic").all() and np.isinf(z.effects["df"]).all()
    assert not z.effects["df_fallback"].any()


@pytest.mark.slow
def test_statsmodels_rows_are_labelled_asymptotic(fev_data):
    fit = longmod.lmm("FEV1 ~ ARMCD * AVISIT + (1 | USUBJID)", fev_data, df="asymptotic", engine="statsmodels",
                      treatment="ARMCD", visit="AVISIT")
    assert fit.effects["df_method"].eq("asymptotic").all() and fit.fit_stats["df_method"] == "asymptotic"
    assert fit.fit_stats["n_dropped"] == 263


def test_between_within_unstructured_exception_and_other_structures(fev_data):
    # SAS: R-side-only UN gives every effect the between df (197 - rank(1, ARMCD) = 195);
    # ar1: the within-patient AVISIT terms get n - rank(X) - between = 537 - 8 - 195 = 334
    us = fit_native(fev_spec("ARMCD * AVISIT", "us", df="between-within"), fev_data)
    assert set(us.params["df"]) == {195.0}
    ar = fit_native(fev_spec("ARMCD * AVISIT", "ar1", df="between-within"), fev_data).params.set_index("term")["df"]
    assert ar["ARMCDTRT"] == 195 and ar["AVISITVIS2"] == ar["ARMCDTRT:AVISITVIS4"] == 537 - 8 - 195
