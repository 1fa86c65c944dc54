"""Reference-based imputation: closed-form conditional means by hand, MI vs conditional mean, metamorphic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.estimands.imputation_params import ImputationParams, bootstrap_params, em_fitter, point_params
from longmod.estimands.mi import complete_datasets, conditional_mean_estimate, conditional_mean_imputation, multiple_imputation
from longmod.estimands.reference_based import apply_strategy
from longmod.estimands.wide import wide_data
from longmod.spec.model import ModelSpec, Treatment

from .simdata import DAYS, VISITS, simulate, spec

COV = ["base", "stratum"]


def _toy():
    """Three visits; beta and Sigma chosen by hand; one patient per situation."""
    s = ModelSpec(name="toy", outcome="y", fixed="arm * visit", subject="id", visit="visit", covariance="us",
                  treatment=Treatment("arm", "R", "A"))
    pts = pd.DataFrame({"id": ["a1", "a2", "a3", "r1"], "arm": ["A", "A", "A", "R"],
                        "ice_day": [5.0, 5.0, 0.5, 5.0], "kind": ["death", "discharge", "death", "death"]})
    # visit days 1, 3, 7: an ICE on day 5 first affects V3; on day 0.5 it affects every visit
    long = pd.DataFrame({"id": ["a1", "a1", "a2", "a2", "r1", "r1"], "visit": ["V1", "V2"] * 3,
                         "y": [14.0, 30.0, 6.0, 12.0, 9.0, 11.0]})
    w = wide_data(long, pts, s, visits=["V1", "V2", "V3"], visit_days=[1, 3, 7], ice_day="ice_day", ice_event="kind")
    # columns: (Intercept), armA, visitV2, visitV3, armA:visitV2, armA:visitV3
    beta = np.array([10.0, 2.0, 5.0, 12.0, 4.0, 9.0])
    sd = np.array([4.0, 6.0, 8.0])
    corr = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.6], [0.3, 0.6, 1.0]])
    sigma = corr * np.outer(sd, sd)
    return w, beta, sigma


def _by_hand(y_obs, mu, sigma, o, u):
    """E[y_u | y_o] = mu_u + S_uo S_oo^-1 (y_o - mu_o), written out for this test."""
    s_uo = sigma[np.ix_(u, o)]
    s_oo = sigma[np.ix_(o, o)]
    return mu[u] + s_uo @ np.linalg.inv(s_oo) @ (y_obs - mu[o])


@pytest.mark.parametrize("method", ["mar", "j2r", "cr", "cir"])
def test_conditional_mean_closed_form(method):
    w, beta, sigma = _toy()
    assert w.columns == ("(Intercept)", "armA", "visitV2", "visitV3", "armA:visitV2", "armA:visitV3")
    assert w.ice_index.tolist() == [2, 2, 0, 2]
    # arm means per visit: reference 10, 15, 22; active 12, 21, 33
    ref = np.array([10.0, 15.0, 22.0])
    act = np.array([12.0, 21.0, 33.0])
    expect_mu = {"mar": act, "j2r": np.array([12.0, 21.0, 22.0]), "cr": ref,
                 "cir": np.array([12.0, 21.0, 21.0 + (22.0 - 15.0)])}[method]
    params = ImputationParams(beta[None], sigma[None], w.columns, w.visits, "point")
    data, methods = apply_strategy(w, method)
    done = complete_datasets(data, params, methods, seed=None)[0]
    o, u = np.array([0, 1]), np.array([2])
    # a1 (active, observed V1, V2, ICE before V3)
    assert done[0, 2] == pytest.approx(_by_hand(np.array([14.0, 30.0]), expect_mu, sigma, o, u)[0], rel=1e-12)
    # r1 (reference arm): MAR under the reference means whatever the method
    assert done[3, 2] == pytest.approx(_by_hand(np.array([9.0, 11.0]), ref, sigma, o, u)[0], rel=1e-12)
    # a3: ICE before V1, nothing observed -> marginal mean: own arm (MAR), reference (J2R, CR, and CIR
    # without a pre-ICE visit)
    np.testing.assert_allclose(done[2], act if method == "mar" else ref, rtol=1e-12)
    assert done[0, :2].tolist() == [14.0, 30.0]


def test_strategy_per_event_kind():
    w, beta, sigma = _toy()
    params = ImputationParams(beta[None], sigma[None], w.columns, w.visits, "point")
    data, methods = apply_strategy(w, {"death": "j2r", "discharge": "mar"})
    assert methods.tolist() == ["j2r", "mar", "j2r", "j2r"]
    done = complete_datasets(data, params, methods, seed=None)[0]
    act = np.array([12.0, 21.0, 33.0])
    o, u = np.array([0, 1]), np.array([2])
    assert done[1, 2] == pytest.approx(_by_hand(np.array([6.0, 12.0]), act, sigma, o, u)[0], rel=1e-12)
    with pytest.raises(ValueError, match="no method for event kind"):
        apply_strategy(w, {"death": "j2r"})
    with pytest.raises(ValueError, match="not supported"):
        apply_strategy(w, "jump")


def test_values_after_a_non_mar_ice_are_removed_and_counted():
    w, _, _ = _toy()
    y = w.y.copy()
    y[0, 2] = 40.0  # a value after a1's ICE
    from dataclasses import replace

    data, _ = apply_strategy(replace(w, y=y), "j2r")
    assert np.isnan(data.y[0, 2]) and data.removed == 1
    data, _ = apply_strategy(replace(w, y=y), "mar")
    assert data.y[0, 2] == 40.0 and data.removed == 0


@pytest.fixture(scope="module")
def sim():
    pts, long = simulate(80, seed=1)
    w = wide_data(long, pts, spec(), visits=VISITS, visit_days=DAYS, ice_day="event_day", ice_event="event")
    return pts, long, w


@pytest.mark.parametrize("method", ["mar", "j2r", "cr", "cir"])
def test_mi_with_fixed_parameters_converges_to_conditional_mean(sim, method):
    """With the same parameters in every imputation (no parameter uncertainty) the MI point estimate
    is an average of M independent draws whose expectation is the conditional-mean estimate (the
    ANCOVA estimate is linear in the imputed values). Tolerance: 4 Monte Carlo SEs, sqrt(B / M)."""
    _, _, w = sim
    data, methods = apply_strategy(w, method)
    p = point_params(data, em_fitter())
    cm = conditional_mean_estimate(data, em_fitter(), methods, 2, COV).estimate
    M = 200
    rep = ImputationParams(np.repeat(p.beta, M, 0), np.repeat(p.sigma, M, 0), p.columns, p.visits, "point")
    row = multiple_imputation(w, rep, strategy=method, covariates=COV, seed=11).iloc[0]
    mc_se = np.sqrt(row["between_var"] / M)
    assert abs(row["estimate"] - cm) < 4 * mc_se, (row["estimate"], cm, mc_se)
    assert row["n_imputations"] == M and row["analysis"] == f"mi_{method}"


def test_proper_mi_agrees_with_conditional_mean_and_orders_the_methods(sim):
    """Approximate Bayesian bootstrap MI vs conditional-mean imputation: the point estimates differ by
    Monte Carlo error plus the (small) nonlinearity of the estimate in the parameters; tolerance 4 MC SEs
    + 0.5 (the SE is ~9)."""
    _, _, w = sim
    draws = bootstrap_params(w, em_fitter(), 60, seed=3)
    assert draws.source == "approx_bayes_bootstrap" and draws.m == 60
    for method in ("mar", "j2r", "cr", "cir"):
        mi = multiple_imputation(w, draws, strategy=method, covariates=COV, seed=5).iloc[0]
        data, methods = apply_strategy(w, method)
        cm = conditional_mean_estimate(data, em_fitter(), methods, 2, COV).estimate
        assert abs(mi["estimate"] - cm) < 4 * np.sqrt(mi["between_var"] / 60) + 0.5, (method, mi["estimate"], cm)
        assert mi["df"] < mi["df_complete"] and 0 < mi["fmi"] < 1


def test_conditional_mean_jackknife_row():
    pts, long = simulate(40, seed=6)
    w = wide_data(long, pts, spec(), visits=VISITS, visit_days=DAYS, ice_day="event_day", ice_event="event")
    row = conditional_mean_imputation(w, em_fitter(), strategy="j2r", covariates=COV).iloc[0]
    data, methods = apply_strategy(w, "j2r")
    # jackknife by hand
    reps = np.array([conditional_mean_estimate(data.subset(np.delete(np.arange(w.n), i)), em_fitter(),
                                               np.delete(methods, i), 2, COV).estimate for i in range(w.n)])
    se = np.sqrt((w.n - 1) / w.n * ((reps - reps.mean()) ** 2).sum())
    assert row["std_error"] == pytest.approx(se, rel=1e-12)
    assert row["analysis"] == "cm_j2r" and row["se_method"] == "jackknife" and row["n_replicates"] == w.n
    assert row["conf_low"] == pytest.approx(row["estimate"] - 1.959963984540054 * se, rel=1e-12)
    assert row["n_imputed"] == int(np.isnan(w.y[:, 2]).sum()) and row["estimand"].startswith("Jump to reference")


def test_renaming_and_reordering_change_no_number():
    names = {"id": "subj", "arm": "treat", "base": "b0", "stratum": "s1", "ice_day": "d_ev", "ice": "what"}
    a_pts, a_long = simulate(60, seed=4)
    b_pts, b_long = simulate(60, seed=4, arms=("zz_ctl", "aa_trt"), names=names)
    b_pts["subj"] = "X" + b_pts["subj"].str[::-1]
    b_long["subj"] = "X" + b_long["subj"].str[::-1]
    b_pts = b_pts.iloc[::-1].reset_index(drop=True)
    b_long = b_long.sample(frac=1.0, random_state=2).reset_index(drop=True)
    wa = wide_data(a_long, a_pts, spec(), visits=VISITS, visit_days=DAYS, ice_day="event_day", ice_event="event")
    wb = wide_data(b_long, b_pts, spec(names, arms=("zz_ctl", "aa_trt")), visits=VISITS, visit_days=DAYS,
                   ice_day="d_ev", ice_event="what")
    for method in ("mar", "cir"):
        ra = conditional_mean_imputation(wa, em_fitter(), strategy=method, covariates=COV, se="bootstrap", n_boot=20)
        rb = conditional_mean_imputation(wb, em_fitter(), strategy=method, covariates=["b0", "s1"], se="bootstrap",
                                         n_boot=20)
        assert ra["estimate"].iloc[0] == pytest.approx(rb["estimate"].iloc[0], rel=1e-9)
    # the MI with the same draws (parameters do not depend on row order) and the same seed: patients are
    # imputed in data order, so compare with the same order but renamed arms/columns/ids
    c_pts, c_long = simulate(60, seed=4, arms=("zz_ctl", "aa_trt"), names=names)
    wc = wide_data(c_long, c_pts, spec(names, arms=("zz_ctl", "aa_trt")), visits=VISITS, visit_days=DAYS,
                   ice_day="d_ev", ice_event="what")
    da = bootstrap_params(wa, em_fitter(), 5, seed=1)
    dc = bootstrap_params(wc, em_fitter(), 5, seed=1)
    np.testing.assert_allclose(da.beta, dc.beta, rtol=1e-9)
    ma = multiple_imputation(wa, da, strategy="j2r", covariates=COV, seed=2).iloc[0]
    mc = multiple_imputation(wc, dc, strategy="j2r", covariates=["b0", "s1"], seed=2).iloc[0]
    for col in ("estimate", "std_error", "df", "p_value"):
        assert ma[col] == pytest.approx(mc[col], rel=1e-9), col
    assert mc["contrast"] == "aa_trt - zz_ctl"


def test_bad_input_is_reported():
    pts, long = simulate(20, seed=2)
    s = spec()
    with pytest.raises(ValueError, match="not among visits"):
        wide_data(long, pts, s, visits=VISITS[:2])
    with pytest.raises(ValueError, match="more than once"):
        wide_data(long, pd.concat([pts, pts.iloc[:1]]), s, visits=VISITS)
    bad = pts.copy()
    bad.loc[0, "base"] = np.nan
    with pytest.raises(ValueError, match="missing values in"):
        wide_data(long, bad, s, visits=VISITS)
    with pytest.raises(ValueError, match="only 'trt' and 'ctl'"):
        wide_data(long, pts.assign(group="other"), s, visits=VISITS)
    with pytest.raises(ValueError, match="ICE days need visit_days"):
        wide_data(long, pts, s, visits=VISITS, ice_day="event_day")
    before = pts.copy()
    wide_data(long, pts, s, visits=VISITS, visit_days=DAYS, ice_day="event_day", ice_event="event")
    pd.testing.assert_frame_equal(pts, before)


def test_ancova_batch_equals_fit_ancova(sim):
    from longmod.estimands.ancova_batch import ancova_batch
    from longmod.estimands.mi import _ancova

    _, _, w = sim
    data, methods = apply_strategy(w, "cir")
    draws = bootstrap_params(data, em_fitter(), 4, seed=9)
    done = complete_datasets(data, draws, methods, seed=1)[:, :, 2].T
    b = ancova_batch(data.patients, done, treatment=data.spec.treatment, covariates=COV)
    for m in range(4):
        f = _ancova(data, done[:, m], COV, 0.95)
        for key in ("estimate", "std_error", "conf_low", "conf_high", "p_value"):
            assert getattr(b, key)[m] == pytest.approx(getattr(f, key), rel=1e-10), (m, key)
        assert b.df == f.df and b.n_obs == f.n_obs


def test_per_event_strategy_rows_name_each_assumption(sim):
    _, _, w = sim
    draws = bootstrap_params(w, em_fitter(), 3, seed=1)
    row = multiple_imputation(w, draws, strategy={"death": "j2r", "discharge": "mar"}, covariates=COV).iloc[0]
    assert row["analysis"] == "mi_mixed" and row["method"] == "death: j2r, discharge: mar"
    assert row["estimand"].startswith("Per event: death: Jump to reference") and "After discharge:" in row["assumes"]
