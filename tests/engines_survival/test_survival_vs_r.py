"""Survival engines against R ``survival`` 3.5-3 and ``cmprsk`` 2.2-11.

Reference: tests/reference/survival/survival.R read the seeded CSVs written by
make_data.py beside it and wrote survival.json. These tests compare with the
stored JSON (after checking it was computed from the same CSV bytes); the
``r``-marked test re-runs the script and checks the stored JSON is current.

Tolerances:
* Kaplan-Meier, Greenwood SE, log CI, medians, numbers at risk, RMST, the
  cumulative incidence and its variance, the exact conditional test: closed
  forms evaluated in double precision by both sides -> rtol 1e-9;
* log-rank family (statsmodels survdiff vs R survdiff / the R transcription of
  the weighted statistics): same sums -> rtol 1e-9;
* Fine-Gray (administrative censoring, and censoring before the end with the
  censoring weights) vs cmprsk::crr (Newton to 1e-6 on the score): estimate
  and sandwich SE rtol 1e-6, log partial likelihood rtol 1e-8;
* Cox / conditional logistic estimates: both maximise the same partial
  likelihood iteratively (R stops at a relative loglik change < 1e-9, a
  coefficient error ~1e-5 relative); estimate and SE rtol 1e-5, log-likelihood
  and P values rtol 1e-6 (first order insensitive to the coefficient error);
  clogit (Newton on both sides, exact likelihood): rtol 1e-7;
* R ``mantelhaen.test(exact = TRUE)`` finds its conditional MLE and exact
  limits with ``uniroot`` at its default tolerance (1.2e-4), longmod with
  brentq at 1e-12: those three agree to atol 2e-4 (log scale); the exact P
  is a finite sum -> rtol 1e-9;
* infinite estimates: R's iteration stops at a large finite coefficient with
  a warning; longmod reports +-inf, and R's LRT P (taken at its last
  iterate, within ~exp(-|beta|) of the supremum) must agree to rtol 1e-6.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from longmod.engines.survival.clogit import clogit_fit, exact_conditional, matched_binary
from longmod.engines.survival.competing import cif_at, cumulative_incidence
from longmod.engines.survival.fine_gray import fine_gray_fit, fine_gray_rows
from longmod.engines.survival.cox import cox_fit
from longmod.engines.survival.data import survival_data
from longmod.engines.survival.km import km_quantile, km_table, numbers_at_risk, rmst, survival_at
from longmod.engines.survival.logrank import logrank_test
from tests.conftest import require_rscript

HERE = Path(__file__).resolve().parents[1] / "reference" / "survival"
TIGHT = dict(rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def ref() -> dict:
    r = json.loads((HERE / "survival.json").read_text())
    for name, md5 in r["inputs"]["md5"].items():
        assert hashlib.md5((HERE / f"{name}.csv").read_bytes()).hexdigest() == md5, f"re-run survival.R ({name}.csv changed)"
    return r


@pytest.fixture(scope="module")
def two_arm() -> pd.DataFrame:
    return pd.read_csv(HERE / "two_arm.csv")


def vec(x) -> np.ndarray:
    """R's JSON writes length-1 vectors as scalars and NA as null."""
    return np.array([np.nan if v is None else v for v in np.atleast_1d(np.array(x, dtype=object))], dtype=float)


def sdata(d, event="event1", strata=None, max_code=1):
    return survival_data(d, time="time", event=event, arm="arm", arms=("control", "active"), strata=strata,
                         max_event_code=max_code)


@pytest.mark.parametrize("arm", ["control", "active"])
def test_km_curve_median_rmst_at_risk(ref, two_arm, arm):
    r = ref["km"][arm]
    d = two_arm[two_arm.arm == arm]
    tab = km_table(d.time, d.event1)
    np.testing.assert_allclose(tab["time"], r["time"], **TIGHT)
    np.testing.assert_allclose(tab["n_risk"], r["n_risk"], **TIGHT)
    np.testing.assert_allclose(tab["surv"], r["surv"], **TIGHT)
    np.testing.assert_allclose(tab["std_err"], vec(r["std_err"]), **TIGHT)
    np.testing.assert_allclose(tab["conf_low"], vec(r["lower"]), **TIGHT)
    np.testing.assert_allclose(tab["conf_high"], vec(r["upper"]), **TIGHT)
    med = km_quantile(tab)
    expect = [np.nan if v is None else v for v in (r["median"], r["median_low"], r["median_high"])]
    np.testing.assert_allclose(med, expect, **TIGHT)
    area, se = rmst(d.time, d.event1, 21)
    np.testing.assert_allclose([area, se], [r["rmean21"], r["rmean21_se"]], **TIGHT)
    at = survival_at(tab, r["surv_times"])
    np.testing.assert_allclose(at["surv"], r["surv_at"], **TIGHT)
    np.testing.assert_allclose(at["std_err"], vec(r["surv_at_se"]), **TIGHT)  # summary() gives se(S); / S = se(log S)
    np.testing.assert_allclose(at["conf_low"], vec(r["surv_at_lower"]), **TIGHT)
    np.testing.assert_allclose(at["conf_high"], vec(r["surv_at_upper"]), **TIGHT)
    nar = numbers_at_risk(sdata(two_arm), r["at_risk_times"])
    np.testing.assert_array_equal(nar.loc[nar.arm == arm, "n_risk"], r["at_risk"])


def test_km_median_on_a_flat_half(ref):
    est, lo, hi = km_quantile(km_table([3, 7, 14, 14, 21, 28], [1, 1, 1, 0, 1, 0]))
    r = ref["km_tie"]
    assert est == r["median"] == 17.5  # the midpoint of [14, 21], R's definition
    np.testing.assert_allclose([lo, hi], [r["low"], np.nan if r["high"] is None else r["high"]], **TIGHT)


@pytest.mark.parametrize("weights,stratified,key", [
    ("logrank", False, "logrank"), ("peto", False, "peto"), ("gehan", False, "gehan"),
    ("tarone-ware", False, "tarone_ware"), ("logrank", True, "stratified_logrank"), ("peto", True, "stratified_peto"),
])
def test_logrank_family(ref, two_arm, weights, stratified, key):
    r = logrank_test(sdata(two_arm, strata="site"), weights=weights, stratified=stratified)
    np.testing.assert_allclose([r["statistic"], r["p_value"]], [ref["logrank"][key]["chisq"], ref["logrank"][key]["p"]], **TIGHT)


@pytest.mark.parametrize("key", ["plain", "adjusted", "stratified", "cause2"])
def test_cox_efron(ref, two_arm, key):
    r = ref["cox"][key]
    sd = sdata(two_arm, event="code", strata="site", max_code=2)
    res = cox_fit(sd, covariates=two_arm[["age"]] if key == "adjusted" else None, stratified=key == "stratified",
                  cause=2 if key == "cause2" else 1)
    np.testing.assert_allclose(res.coefficients["estimate"], r["coef"], rtol=1e-5)
    np.testing.assert_allclose(res.coefficients["std_error"], r["se"], rtol=1e-5)
    np.testing.assert_allclose([res.conf_low, res.conf_high], [vec(r["low"])[0], vec(r["high"])[0]], rtol=1e-5)
    np.testing.assert_allclose([res.loglik_null, res.loglik], r["loglik"], rtol=1e-6)
    np.testing.assert_allclose([res.p_wald, res.p_lrt, res.p_score], [vec(r["p"])[0], r["p_lrt"], r["p_score"]], rtol=1e-6)


@pytest.mark.parametrize("arm", ["control", "active"])
@pytest.mark.parametrize("cause", [1, 2])
def test_cumulative_incidence_matches_cuminc(ref, two_arm, arm, cause):
    r = ref["cuminc"][f"{arm}_{cause}"]
    d = two_arm[two_arm.arm == arm]
    got = cif_at(cumulative_incidence(d.time, d.code, cause), ref["cuminc"]["times"])
    np.testing.assert_allclose(got["cif"], vec(r["est"]), **TIGHT)
    np.testing.assert_allclose(got["std_error"] ** 2, vec(r["var"]), **TIGHT)
    if cause == 1:  # survfit's Aalen-Johansen gives the same estimate
        strata = np.array(ref["cuminc"]["survfit_strata"])
        ms = vec(ref["cuminc"]["survfit_pstate_1"])[strata == f"arm={arm}"]
        np.testing.assert_allclose(got["cif"][: ms.size], ms, **TIGHT)  # survfit omits times past follow-up


def test_fine_gray_matches_crr_with_administrative_censoring(ref, two_arm):
    adm = two_arm.assign(time=two_arm["time"].where(two_arm["code"] != 0, 28))
    row = fine_gray_rows(sdata(adm, event="code", max_code=2), analysis="fg", outcome="o").iloc[0]
    r = ref["fine_gray_admin"]
    np.testing.assert_allclose([row["estimate"], row["std_error"]], [r["coef"], r["se"]], rtol=1e-6)


def test_fine_gray_matches_crr_with_censoring_before_the_end(ref, two_arm):
    """Censored from day 5 on, tied integer days: the censoring weights and their variance term as crr."""
    assert ((two_arm["code"] == 0) & (two_arm["time"] < 28)).sum() > 5
    row = fine_gray_rows(sdata(two_arm, event="code", max_code=2), analysis="fg", outcome="o").iloc[0]
    r = ref["fine_gray"]
    np.testing.assert_allclose([row["estimate"], row["std_error"]], [r["coef"], r["se"]], rtol=1e-6)
    assert "censored before the end" in row["note"]
    active = (two_arm["arm"] == "active").to_numpy(float)
    fit = fine_gray_fit(two_arm["time"], two_arm["code"], np.c_[active, two_arm["age"]])
    r = ref["fine_gray_age"]
    np.testing.assert_allclose(fit.coef, r["coef"], rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), r["se"], rtol=1e-6)
    np.testing.assert_allclose(fit.loglik, r["loglik"], rtol=1e-8)


def test_fine_gray_without_events_in_one_arm_is_infinite_not_a_crash(two_arm):
    d = two_arm.assign(code=two_arm["code"].where(~((two_arm["arm"] == "active") & (two_arm["code"] == 1)), 0))
    row = fine_gray_rows(sdata(d, event="code", max_code=2), analysis="fg", outcome="o").iloc[0]
    assert row["estimate"] == -np.inf and np.isnan(row["std_error"]) and np.isnan(row["p_value"])
    assert "no event of cause 1 in the active arm" in row["warnings"]


def test_fine_gray_ignores_row_order_and_arm_names(two_arm):
    base = fine_gray_rows(sdata(two_arm, event="code", max_code=2), analysis="fg", outcome="o").iloc[0]
    shuffled = two_arm.sample(frac=1.0, random_state=3).assign(arm=lambda d: d["arm"].map(
        {"active": "treated", "control": "usual care"}))
    sd = survival_data(shuffled, time="time", event="code", arm="arm", arms=("usual care", "treated"),
                       max_event_code=2)
    row = fine_gray_rows(sd, analysis="fg", outcome="o").iloc[0]
    np.testing.assert_allclose([row["estimate"], row["std_error"]], [base["estimate"], base["std_error"]], rtol=1e-12)


@pytest.mark.parametrize("file", ["matched", "matched_zero"])
@pytest.mark.parametrize("y", ["dead28", "dead"])
def test_clogit_and_exact_conditional(ref, file, y):
    r = ref[file][y]
    d = pd.read_csv(HERE / f"{file}.csv")
    mb = matched_binary(d, outcome=y, arm="arm", arms=("control", "msc"), matched_set="set")
    fit = clogit_fit(mb)
    ex = exact_conditional(mb)
    if (mb.y * mb.exposed).sum() == 0:  # no treated death: R's iteration drifts to a large negative number
        assert fit.estimate == -np.inf and fit.infinite == "-inf" and np.isnan(fit.std_error)
        assert r["clogit"]["coef"] < -5
        assert fit.p_value_method == "likelihood ratio" and fit.p_value == fit.p_lrt
        assert ex["log_or"] == -np.inf and ex["conf_low"] == -np.inf
    else:
        np.testing.assert_allclose([fit.estimate, fit.std_error], [r["clogit"]["coef"], r["clogit"]["se"]], rtol=1e-7)
        np.testing.assert_allclose(fit.estimate, ex["log_or"], rtol=1e-8)  # likelihood maximum = hypergeometric root
        np.testing.assert_allclose(fit.p_value, r["clogit"]["p"], rtol=1e-6)
        np.testing.assert_allclose([ex["log_or"], ex["conf_low"]], [r["exact"]["estimate"], r["exact"]["low"]], atol=2e-4)
    np.testing.assert_allclose([fit.p_lrt, fit.p_score], [r["clogit"]["p_lrt"], r["clogit"]["p_score"]], rtol=1e-6)
    np.testing.assert_allclose(fit.loglik_null, r["clogit"]["loglik"][0], rtol=1e-9)
    np.testing.assert_allclose(ex["conf_high"], vec(r["exact"]["high"])[0], atol=2e-4)
    np.testing.assert_allclose(ex["p_value"], r["exact"]["p"], **TIGHT)


@pytest.mark.parametrize("file", ["matched", "matched_zero"])
def test_matched_survival(ref, file):
    r = ref[file]
    d = pd.read_csv(HERE / f"{file}.csv")
    sd = survival_data(d, time="time", event="dead", arm="arm", arms=("control", "msc"), strata="set")
    for stratified, key in ((True, "stratified_logrank"), (False, "logrank")):
        lr = logrank_test(sd, stratified=stratified)
        np.testing.assert_allclose([lr["statistic"], lr["p_value"]], [r[key]["chisq"], r[key]["p"]], **TIGHT)
    cx = cox_fit(sd, stratified=True)
    np.testing.assert_allclose([cx.p_lrt, cx.p_score], [r["stratified_cox"]["p_lrt"], r["stratified_cox"]["p_score"]], rtol=1e-6)
    if file == "matched_zero":
        assert cx.estimate == -np.inf and cx.infinite == "-inf" and np.isnan(cx.std_error)
        assert np.isfinite(cx.conf_high) and cx.conf_low == -np.inf
    else:
        np.testing.assert_allclose([cx.estimate, cx.std_error], [r["stratified_cox"]["coef"], r["stratified_cox"]["se"]], rtol=1e-5)


@pytest.mark.r
def test_stored_reference_is_what_survival_r_writes(tmp_path):
    rscript = require_rscript()
    out = tmp_path / "survival.json"
    subprocess.run([rscript, str(HERE / "survival.R"), str(HERE), str(out)], check=True, capture_output=True, text=True)
    fresh, stored = json.loads(out.read_text()), json.loads((HERE / "survival.json").read_text())
    fresh["inputs"].pop("R"), stored["inputs"].pop("R")
    assert fresh == stored
