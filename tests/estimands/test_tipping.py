"""Tipping-point sweeps on the bundled STROMA-CoV-2 pseudo-patient data (SYNTHETIC)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from longmod.data import load_trial
from longmod.engines.ancova import fit_ancova
from longmod.estimands import apply_estimand
from longmod.estimands.tipping import normal_prob_benefit, tipping_contour, tipping_point_sweep, tipping_points
from longmod.estimands.tipping_plot import tipping_plot, tipping_plot_data
from longmod.resources import fixtures_dir
from longmod.spec.estimand import Estimand, Strategy
from longmod.spec.model import Treatment

COV = ["baseline", "age_gt70", "sofa_gt11"]
TR = Treatment("arm", "placebo", "uc_msc")
DEATHS = [0.0, 75.0, 150.0]  # the protocol's 50 is added by the sweep
MULT = [0.8, 1.4]            # and its 1.10
ADD = [0.0, 0.2]
DELTAS = [-30.0, 0.0]


@pytest.fixture(scope="module")
def trial():
    return load_trial(fixtures_dir() / "stroma_cov2")


@pytest.fixture(scope="module")
def primary():
    return Estimand("primary", "pao2_fio2", day=7, death={"strategy": "composite", "value": 50},
                    discharge={"strategy": "locf_multiplier", "factor": 1.10})


@pytest.fixture(scope="module")
def sweep(trial, primary):
    return tipping_point_sweep(trial, primary, treatment=TR, covariates=COV, death_values=DEATHS,
                               discharge_factors={"locf_multiplier": MULT, "locf_plus_baseline_fraction": ADD},
                               active_deltas=DELTAS, prob_benefit=normal_prob_benefit(0.0, 250.0))


def test_protocol_point_is_the_primary_result_exactly(trial, primary, sweep):
    fit = fit_ancova(apply_estimand(trial, primary).complete, treatment=TR, outcome="change", covariates=COV)
    p = sweep[sweep["is_protocol"]]
    assert len(p) == 1
    row = p.iloc[0]
    assert (row["death_value"], row["discharge_rule"], row["discharge_factor"], row["active_delta"]) == (
        50.0, "locf_multiplier", 1.1, 0.0)
    for key in ("estimate", "std_error", "df", "conf_low", "conf_high", "p_value", "n_obs"):
        assert row[key] == getattr(fit, key), key  # exactly: the same data through the same fit_ancova call


def test_grid_shape_columns_and_labels(sweep):
    # (3 + 1 death values) x ((2 + 1 multipliers) + 2 additive factors) x 2 deltas
    assert len(sweep) == 4 * 5 * 2
    assert not sweep.duplicated(["death_value", "discharge_rule", "discharge_factor", "active_delta"]).any()
    assert sweep["analysis"].eq("tipping_point").all() and sweep["engine"].eq("ancova-ols").all()
    assert sweep["estimand"].str.startswith("Composite").all() and sweep["assumes"].str.len().gt(50).all()
    assert sweep["prob_benefit"].between(0, 1).all()
    assert sweep["n_imputed_death"].eq(2).all()


@pytest.mark.parametrize("death,rule,factor,delta", [(0.0, "locf_multiplier", 0.8, 0.0),
                                                     (150.0, "locf_plus_baseline_fraction", 0.2, -30.0),
                                                     (75.0, "locf_multiplier", 1.1, -30.0)])
def test_each_grid_point_equals_its_own_estimand(trial, primary, sweep, death, rule, factor, delta):
    """Independent route: apply the grid point's estimand, shift the active arm's imputed values by
    hand, fit_ancova. Equal to rtol 1e-10 (the sweep solves the grid with one QR per factor)."""
    e = primary.replace(death=Strategy("composite", value=death), discharge=Strategy(rule, factor=factor))
    d = apply_estimand(trial, e).complete
    hit = (d["arm"] == "uc_msc") & (d["source"] == "imputed")
    d.loc[hit, "change"] += delta
    fit = fit_ancova(d, treatment=TR, outcome="change", covariates=COV)
    row = sweep[(sweep["death_value"] == death) & (sweep["discharge_rule"] == rule)
                & (sweep["discharge_factor"] == factor) & (sweep["active_delta"] == delta)].iloc[0]
    for key in ("estimate", "std_error", "conf_low", "conf_high", "p_value"):
        assert row[key] == pytest.approx(getattr(fit, key), rel=1e-10), key
    assert row["n_shifted"] == (int(hit.sum()) if delta else 0)
    # the closed-form P(benefit): posterior of a N(0, 250^2) prior and the N(estimate, SE^2) likelihood
    w0, w1 = 1 / 250.0**2, 1 / fit.std_error**2
    m, s = (w1 * fit.estimate) / (w0 + w1), (w0 + w1) ** -0.5
    from scipy import stats

    assert row["prob_benefit"] == pytest.approx(stats.norm.cdf(m / s), rel=1e-12)


def test_renamed_arms_ids_and_reordered_rows_change_no_number(trial, primary, sweep):
    pts, meas = trial.patients, trial.measurements
    arm = {"uc_msc": "A_active", "placebo": "Z_control"}
    ids = {p: f"X{i:03d}" for i, p in enumerate(pts["patient_id"][::-1])}
    pts = pts.assign(arm=pts["arm"].map(arm), patient_id=pts["patient_id"].map(ids)).sample(frac=1.0, random_state=1)
    meas = meas.assign(patient_id=meas["patient_id"].map(ids)).sample(frac=1.0, random_state=2)
    from longmod.data import from_frames

    meta = dataclasses.replace(trial.meta, arms=("A_active", "Z_control"), reference_arm="Z_control")
    other = tipping_point_sweep(from_frames(pts, meas, meta), primary, treatment=Treatment("arm", "Z_control", "A_active"),
                                covariates=COV, death_values=DEATHS,
                                discharge_factors={"locf_multiplier": MULT, "locf_plus_baseline_fraction": ADD},
                                active_deltas=DELTAS)
    for key in ("estimate", "std_error", "p_value", "death_value", "discharge_factor", "active_delta"):
        np.testing.assert_allclose(other[key].to_numpy(), sweep[key].to_numpy(), rtol=1e-9, err_msg=key)
    assert other["contrast"].eq("A_active - Z_control").all()


def test_contour_and_tipping_points_on_a_known_surface():
    """p = 0.05 where a linear surface crosses it: the contour is the line x + 10 y = 50."""
    xs, ys = np.arange(0.0, 101.0, 10.0), np.arange(0.0, 6.0)
    g = pd.DataFrame([(x, y) for y in ys for x in xs], columns=["death_value", "discharge_factor"])
    g["p_value"] = 0.05 + 0.001 * (g["death_value"] + 10 * g["discharge_factor"] - 50)
    c = tipping_contour(g, "p_value", 0.05)
    np.testing.assert_allclose(c["x"] + 10 * c["y"], 50.0, atol=1e-9)
    t = tipping_points(g, "p_value", 0.05)
    np.testing.assert_allclose(t["tipping_value"], 50.0 - 10 * ys)
    assert tipping_contour(g, "p_value", 0.9).empty


def test_plot_and_its_data(sweep):
    d = tipping_plot_data(sweep, where={"discharge_rule": "locf_multiplier"})
    assert d["protocol"][["x", "y"]].to_numpy().tolist() == [[50.0, 1.1]]
    assert len(d["surface"]) == 4 * 3 and set(d["surface"]["quantity"]) == {"estimate"}
    assert d["axes"].iloc[0]["fixed_active_delta"] == 0.0
    fig = tipping_plot(sweep, fill="p_value", where={"discharge_rule": "locf_multiplier"})
    assert fig.axes[0].get_xlabel() == "value imputed at death"
    fig2 = tipping_plot(sweep, x="death_value", y="active_delta", where={"discharge_rule": "locf_multiplier"})
    assert fig2.axes[0].get_ylabel().startswith("delta")
    with pytest.raises(ValueError, match="no grid point has"):
        tipping_plot_data(sweep, where={"discharge_rule": "nope"})


def test_bad_grids_are_rejected(trial, primary):
    with pytest.raises(ValueError, match="not supported"):
        tipping_point_sweep(trial, primary, treatment=TR, covariates=COV, death_values=[0.0],
                            discharge_factors={"locf_times": [1.0]})
    with pytest.raises(ValueError, match="at least one finite"):
        tipping_point_sweep(trial, primary, treatment=TR, covariates=COV, death_values=[np.nan],
                            discharge_factors=[1.0])


@pytest.mark.slow
def test_bayesian_prob_benefit_callable(trial, primary):
    """The Bayesian ANCOVA at two grid points (the plan's spec, small draws; the model compiles once and
    is re-sampled with each point's data). With its weakly informative priors the posterior is close to
    the t likelihood: P(benefit) within 0.03 of the closed form with the same N(0, 250^2) treatment prior
    (Monte Carlo error of 2 x 500 draws ~0.01)."""
    from longmod.estimands.tipping import bayes_ancova_prob_benefit
    from longmod.resources import models_dir
    from longmod.spec.model import load_model_spec

    spec = load_model_spec(models_dir() / "stroma_cov2" / "bayes_ancova.toml")
    kw = dict(treatment=TR, covariates=COV, death_values=[50.0], discharge_factors=[1.1], active_deltas=[0.0, 150.0])
    bayes = tipping_point_sweep(trial, primary, **kw, prob_benefit=bayes_ancova_prob_benefit(
        spec, sampler={"chains": 2, "draws": 500, "tune": 500, "seed": 3}))
    closed = tipping_point_sweep(trial, primary, **kw, prob_benefit=normal_prob_benefit(0.0, 250.0))
    np.testing.assert_allclose(bayes["prob_benefit"], closed["prob_benefit"], atol=0.03)
    assert bayes["prob_benefit"].iloc[1] > bayes["prob_benefit"].iloc[0]
    assert (bayes["r_hat"] < 1.05).all() and bayes["divergences"].eq(0).all()
