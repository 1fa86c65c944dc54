"""``az.loo`` / ``az.compare`` across covariance structures on the bundled STROMA-CoV-2 data (SYNTHETIC).

The plan's Bayesian MMRM (``models/stroma_cov2/bayes_mmrm.toml``, D1-D7, hypothetical
estimand) fitted with an unstructured and an AR(1) residual covariance, 2 chains x 500
draws (fixed seed), ranked by PSIS-LOO (leave one *patient* out). The same comparison is
the docs example ``docs/examples/bayes-mmrm.md``.

Independent check of the ranking: the native engine's ML fits of the same two models
(validated against SAS/R elsewhere) ranked by AIC. LOO and AIC estimate the same
out-of-sample log density; the test requires the same winner only when AIC separates
the two by more than 10 (a clear preference), and otherwise checks nothing more than
that both ranks exist.
"""

from __future__ import annotations

import numpy as np
import pytest

SAMPLER = {"chains": 2, "draws": 500, "tune": 500, "seed": 20220208}
DAYS = [1, 2, 3, 4, 5, 6, 7]


@pytest.fixture(scope="module")
def stroma():
    from longmod.data import load_trial
    from longmod.estimands.longitudinal import long_analysis_data
    from longmod.resources import fixtures_dir, models_dir
    from longmod.spec.model import Treatment, load_model_spec

    trial = load_trial(fixtures_dir() / "stroma_cov2")
    (treatment,) = Treatment.for_trial(trial.meta.arms, trial.meta.reference_arm)
    long = long_analysis_data(trial, "pao2_fio2", days=DAYS)
    levels = {"visit": [f"D{d}" for d in DAYS], "arm": [trial.meta.reference_arm, *trial.meta.active_arms]}
    spec = load_model_spec(models_dir() / "stroma_cov2" / "bayes_mmrm.toml").replace(
        levels=levels, treatment=treatment, mcid=trial.meta.variables["pao2_fio2"].mcid)
    return spec, long


@pytest.fixture(scope="module")
def compared(stroma):
    from longmod.engines.bayes import compare_covariances

    spec, long = stroma
    return compare_covariances(spec, long, ["us", "ar1"], estimand="hypothetical", sampler=SAMPLER)


def test_loo_runs_on_each_fit(compared, stroma):
    import arviz as az

    _, long = stroma
    _, fits = compared
    n_pat = long.dropna(subset=["change"]).patient_id.nunique()
    for cov, fit in fits.items():
        idata = fit.extras["inference_data"]
        loo = az.loo(idata, pointwise=True)
        assert np.isfinite(loo.elpd_loo) and np.isfinite(loo.se), cov
        assert loo.loo_i.shape == (n_pat,), cov  # one value per patient
        assert fit.effects["sampler"].eq("nutpie").all()


def test_compare_ranks_us_and_ar1(compared):
    table, _ = compared
    assert set(table.index) == {"us", "ar1"}
    assert sorted(table["rank"].tolist()) == [0, 1]
    assert table["elpd_loo"].is_monotonic_decreasing
    assert table["weight"].sum() == pytest.approx(1.0)
    assert table.loc["us", "n_parameters"] == 28 and table.loc["ar1", "n_parameters"] == 2
    best = table.index[0]
    assert table.loc[best, "elpd_diff"] == 0.0 and (table["elpd_diff"] >= 0).all()


def test_ranking_agrees_with_the_native_ml_aic_when_aic_is_clear(compared, stroma):
    from longmod.engines.registry import fit_model

    spec, long = stroma
    table, _ = compared
    aic = {}
    for cov in ("us", "ar1"):
        native = spec.replace(engine="native", covariance=cov, method="ml", df="satterthwaite", priors={}, sampler={})
        fit = fit_model(native, long.dropna(subset=["change"]))
        aic[cov] = fit.fit_stats["aic"]
    gap = abs(aic["us"] - aic["ar1"])
    if gap > 10:
        assert table.index[0] == min(aic, key=aic.get), (table, aic)
