"""PyMC censored models: real (small) sampling with fixed seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.biomarkers.tobit import fit_censored_mixed
from longmod.results.schema import BAYES_COLUMNS, EFFECT_COLUMNS
from tests.biomarkers.conftest import SMALL_SAMPLER


def test_per_marker_posterior_agrees_with_censored_mle(eight_markers):
    from longmod.biomarkers.bayes import fit_bayes_marker

    one = eight_markers[eight_markers.marker == "M05"]  # ~34% censored
    before = one.copy()
    out = fit_bayes_marker(one, sampler=SMALL_SAMPLER)
    pd.testing.assert_frame_equal(one, before)
    eb = out["effects"].set_index("day")
    ml = fit_censored_mixed(one).effects.set_index("day")
    # weak priors: posterior median ~ MLE (well within a posterior SD), posterior SD ~ Wald SE
    assert (np.abs(eb["estimate"] - ml["estimate"]) < 0.35 * ml["std_error"]).all()
    ratio = eb["std_error"] / ml["std_error"]
    assert ratio.between(0.8, 1.3).all(), ratio
    assert (eb["r_hat"] < 1.05).all() and (eb["divergences"] == 0).all()
    assert set(BAYES_COLUMNS) <= set(out["effects"].columns)
    with pytest.raises(ValueError, match="one marker"):
        fit_bayes_marker(eight_markers, sampler=SMALL_SAMPLER)


def test_pooled_model_diagnostics_are_data_and_clean(pooled_fit):
    diag = pooled_fit["diagnostics"].iloc[0]
    assert diag["divergences"] == 0
    assert diag["max_r_hat"] < 1.05
    assert diag["min_ess_bulk"] > 50
    assert diag["chains"] == 2 and diag["draws"] == 1000 and diag["seed"] == 11
    hyper = pooled_fit["hyper"]
    assert len(hyper) == 10 and set(hyper.parameter) == {"mu", "tau"}
    assert (hyper.loc[hyper.parameter == "tau", "mean"] > 0).all()


def test_pooled_model_finds_the_true_decreases(pooled_fit):
    e = pooled_fit["effects"]
    assert list(e.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    assert set(BAYES_COLUMNS) | {"prob_decrease", "lfsr"} <= set(e.columns)
    assert len(e) == 8 * 5
    d14 = e[e.day == 14].set_index("outcome")
    assert (d14.loc[["M01", "M02"], "prob_decrease"] > 0.95).all()
    assert (d14.loc[["M01", "M02"], "lfsr"] < 0.05).all()
    # no false sign claims among the null marker-days at lfsr < 0.05
    null = e[~(e.outcome.isin(["M01", "M02"]) & e.day.isin([7, 14]))]
    assert (null["lfsr"] >= 0.05).mean() > 0.9
    np.testing.assert_allclose(e["prob_benefit"], e["prob_decrease"])
    np.testing.assert_allclose(e["lfsr"], np.minimum(e["prob_decrease"], 1 - e["prob_decrease"]), atol=1e-12)
    assert (e["conf_low"] <= e["estimate"]).all() and (e["estimate"] <= e["conf_high"]).all()


def test_pooled_shrinks_null_effects_towards_the_day_mean(pooled_fit, eight_markers):
    from longmod.biomarkers.tobit import fit_all_markers

    ml = fit_all_markers(eight_markers).set_index(["outcome", "day"])
    po = pooled_fit["effects"].set_index(["outcome", "day"])
    null = [k for k in po.index if not (k[0] in ("M01", "M02") and k[1] in (7, 14))]
    assert po.loc[null, "std_error"].mean() < ml.loc[null, "std_error"].mean()
    assert po.loc[null, "estimate"].abs().mean() < ml.loc[null, "estimate"].abs().mean()


def test_default_prior_is_the_horseshoe_and_unknown_priors_fail(horseshoe_fit, eight_markers):
    from longmod.biomarkers.bayes import POOLING_PRIORS, fit_pooled

    assert POOLING_PRIORS[0] == "horseshoe"
    diag = horseshoe_fit["diagnostics"].iloc[0]
    assert diag["prior"] == "horseshoe" and diag["tau0"] > 0
    assert diag["divergences"] == 0, "the horseshoe pooled model diverged on the 8-marker simulation"
    assert diag["max_r_hat"] < 1.05 and diag["min_ess_bulk"] > 50
    hyper = horseshoe_fit["hyper"]
    assert list(hyper.parameter) == ["tau"] * 5 + ["slab"]
    assert (horseshoe_fit["effects"]["prior"] == "horseshoe").all()
    with pytest.raises(ValueError, match="unknown pooling prior 'laplace'; choose one of horseshoe, normal"):
        fit_pooled(eight_markers, prior="laplace")


def test_horseshoe_recovers_sparse_truth(horseshoe_fit, pooled_fit, eight_markers):
    """Known sparse truth: only M01, M02 at days 7 and 14 are non-null (-0.3 and -0.6 log10)."""
    e = horseshoe_fit["effects"]
    truth = (e.outcome.isin(["M01", "M02"]) & e.day.isin([7, 14]))
    d14 = e[e.day == 14].set_index("outcome")
    assert (d14.loc[["M01", "M02"], "lfsr"] < 0.05).all()
    assert (d14.loc[["M01", "M02"], "conf_high"] < 0).all()
    # no false sign claims at all among the 36 null marker-days
    assert not (e.loc[~truth, "lfsr"] < 0.05).any()
    # the clear effects are barely shrunk: the posterior median keeps > 70% of the censored MLE at day 14
    from longmod.biomarkers.tobit import fit_all_markers

    ml = fit_all_markers(eight_markers).query("day == 14").set_index("outcome")
    kept = d14.loc[["M01", "M02"], "estimate"] / ml.loc[["M01", "M02"], "estimate"]
    assert (kept > 0.7).all(), kept
    # the null effects are shrunk harder towards 0 than by the normal population model
    n = pooled_fit["effects"].set_index(["outcome", "day"]).loc[e.loc[~truth].set_index(["outcome", "day"]).index]
    assert e.loc[~truth, "estimate"].abs().mean() < 0.7 * n["estimate"].abs().mean()


def test_marker_means_are_integrated_out_exactly():
    """The patient levels' prior with a_m ~ N(0, 1) integrated out equals SciPy's MVN(0, s^2 I + 1 1')."""
    import pytensor.tensor as pt
    from scipy import stats

    from longmod.biomarkers.bayes import _levels_logp

    rng = np.random.default_rng(2)
    counts = np.array([3, 1, 5])
    r = rng.normal(0.0, 1.0, counts.sum())
    sb = np.array([0.4, 0.7, 1.3])
    got = _levels_logp(pt, pt.as_tensor(r), pt.as_tensor(sb), counts).eval()
    want, start = 0.0, 0
    for m, n in enumerate(counts):
        cov = sb[m] ** 2 * np.eye(n) + np.ones((n, n))
        want += stats.multivariate_normal(np.zeros(n), cov).logpdf(r[start:start + n])
        start += n
    assert got == pytest.approx(want, rel=1e-12)


def test_unknown_arm_is_a_clear_error(eight_markers):
    from longmod.biomarkers.bayes import fit_pooled

    with pytest.raises(ValueError, match=r"column 'arm': no rows for arm\(s\) 'drug'; arms present: .*active"):
        fit_pooled(eight_markers, active="drug")


def test_normal_logcdf_matches_scipy_and_has_finite_gradients():
    """The censored values' log-CDF (erfc only, numba-cacheable) against SciPy over the whole range used."""
    import pytensor
    import pytensor.tensor as pt
    from scipy import stats
    from scipy.special import log_ndtr

    from longmod.biomarkers.bayes import normal_logcdf

    z = np.concatenate([np.linspace(-80.0, 10.0, 4001), [-37.0, -1.0]])
    zt = pt.dvector("z")
    out = normal_logcdf(pt, zt)
    value, grad = pytensor.function([zt], [out, pytensor.grad(out.sum(), zt)])(z)
    np.testing.assert_allclose(value, log_ndtr(z), rtol=1e-10, atol=1e-300)
    # d/dz log Phi(z) = phi(z) / Phi(z)
    np.testing.assert_allclose(grad, np.exp(stats.norm.logpdf(z) - log_ndtr(z)), rtol=1e-8)


def test_compile_cache_key_covers_the_data(eight_markers):
    """The data are constants of the model's graph: its compile-cache key covers them and the options."""
    from longmod.biomarkers.bayes import _cache_key, _prepare
    from longmod.biomarkers.simulate import ACTIVE, REFERENCE

    p = _prepare(eight_markers, ACTIVE, REFERENCE)
    key = _cache_key(p, True, "horseshoe")
    assert key == _cache_key(_prepare(eight_markers.copy(), ACTIVE, REFERENCE), True, "horseshoe")
    assert key != _cache_key(p, True, "normal") and key != _cache_key(p, False, "horseshoe")
    other = eight_markers.copy()
    other.loc[other.index[0], "value"] = other["value"].iloc[0] * 1.5
    assert key != _cache_key(_prepare(other, ACTIVE, REFERENCE), True, "horseshoe")
