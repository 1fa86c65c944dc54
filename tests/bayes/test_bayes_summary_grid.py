"""Summary-level prior-grid reanalysis: hand-computed values and an MCMC check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from longmod.engines.bayes import normal_posterior, prior_grid, prior_grid_reanalysis, se_from_ci
from longmod.results.schema import BAYES_COLUMNS, EFFECT_COLUMNS

# STROMA-CoV-2 primary ANCOVA (Monsel et al., Crit Care 2022): 7.4 mmHg, 95% CI -44.7 to 59.7.
EST, LO, HI, MCID = 7.4, -44.7, 59.7, 20.0


def test_se_from_ci_matches_hand_value():
    # (59.7 - -44.7) / (2 * 1.959964) = 104.4 / 3.919928 = 26.63314
    assert se_from_ci(LO, HI) == pytest.approx(104.4 / 3.919928, rel=1e-6)
    # 90% CI: z = 1.644854
    assert se_from_ci(-1.644854, 1.644854, level=0.90) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="must exceed"):
        se_from_ci(1.0, 0.0)


def test_textbook_normal_normal_update():
    # Gelman et al., BDA3 sec. 2.5: posterior precision = sum of precisions,
    # mean = precision-weighted mean. Prior N(0, 10^2), datum 20 with SE 5:
    # precision 1/100 + 1/25 = 0.05 -> SD sqrt(20) = 4.4721; mean (20/25)/0.05 = 16.
    m, s = normal_posterior(0.0, 10.0, 20.0, 5.0)
    assert m == pytest.approx(16.0, abs=1e-12)
    assert s == pytest.approx(math.sqrt(20.0), abs=1e-12)


def test_prior_sd_rule_gives_stated_tail_probabilities():
    g = prior_grid(MCID).set_index("prior")
    # hand values: 20 / z(0.70) = 20 / 0.5244005 = 38.138; 20 / 1.0364334 = 19.297; 20 / 1.6448536 = 12.159
    assert g.loc["sceptical-weak", "prior_sd"] == pytest.approx(38.1388, abs=1e-3)
    assert g.loc["sceptical-moderate", "prior_sd"] == pytest.approx(19.2968, abs=1e-3)
    assert g.loc["sceptical-strong", "prior_sd"] == pytest.approx(12.1591, abs=1e-3)
    for strength, p in (("weak", 0.30), ("moderate", 0.15), ("strong", 0.05)):
        sd = g.loc[f"sceptical-{strength}", "prior_sd"]
        assert stats.norm.sf(MCID, 0.0, sd) == pytest.approx(p, abs=1e-12)  # sceptical: P(> MCID) = p
        assert stats.norm.cdf(0.0, MCID, sd) == pytest.approx(p, abs=1e-12)  # optimistic: P(harm) = p
        assert stats.norm.sf(0.0, -MCID, sd) == pytest.approx(p, abs=1e-12)  # pessimistic: P(benefit) = p
        assert g.loc[f"optimistic-{strength}", "prior_mean"] == MCID
        assert g.loc[f"pessimistic-{strength}", "prior_mean"] == -MCID
    assert g.loc["minimally-informative", "prior_sd"] == 1e4


def test_stroma_grid_hand_computed_rows():
    t = prior_grid_reanalysis(EST, LO, HI, MCID, outcome="pf_ratio", day=7, contrast="uc_msc - placebo")
    assert list(t.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    assert set(BAYES_COLUMNS) <= set(t.columns)
    assert len(t) == 10 and t["engine"].eq("bayes-summary").all()
    assert t["p_value"].isna().all() and t["df"].isna().all()
    r = t.set_index("prior")
    se = 104.4 / 3.919928
    # sceptical-strong by hand: prior SD 12.1591, w_prior = 1/12.1591^2 = 0.0067638,
    # w_data = 1/26.63314^2 = 0.0014098; post SD = 1/sqrt(0.0081736) = 11.0609,
    # post mean = 7.4 * 0.0014098 / 0.0081736 = 1.2764
    row = r.loc["sceptical-strong"]
    assert row["std_error"] == pytest.approx(11.0609, abs=1e-3)
    assert row["estimate"] == pytest.approx(1.2764, abs=1e-3)
    assert row["prob_benefit"] == pytest.approx(stats.norm.sf(0, 1.2764, 11.0609), abs=1e-4)  # 0.5459
    assert row["prob_mcid"] == pytest.approx(stats.norm.sf(20, 1.2764, 11.0609), abs=1e-4)  # 0.0452
    assert row["prob_rope"] == pytest.approx(
        stats.norm.cdf(10, 1.2764, 11.0609) - stats.norm.cdf(-10, 1.2764, 11.0609), abs=1e-4)
    assert row["prior_weight"] == pytest.approx(0.0067638 / 0.0081736, abs=1e-4)
    # minimally informative prior: posterior = likelihood N(7.4, 26.633^2) to ~1e-5 relative
    flat = r.loc["minimally-informative"]
    assert flat["estimate"] == pytest.approx(EST, rel=1e-5)
    assert flat["std_error"] == pytest.approx(se, rel=1e-5)
    assert flat["prob_benefit"] == pytest.approx(stats.norm.cdf(EST / se), abs=1e-5)  # 0.6094
    # ordering: optimistic > sceptical > pessimistic for each strength
    for s in ("weak", "moderate", "strong"):
        assert r.loc[f"optimistic-{s}", "prob_mcid"] > r.loc[f"sceptical-{s}", "prob_mcid"] > r.loc[f"pessimistic-{s}", "prob_mcid"]


def test_lower_is_better_and_custom_rope():
    t = prior_grid_reanalysis(-5.0, -15.0, 5.0, 4.0, higher_is_better=False, rope=1.0).set_index("prior")
    flat = t.loc["minimally-informative"]
    se = 10.0 / 1.959964
    assert flat["prob_benefit"] == pytest.approx(stats.norm.cdf(0, -5.0, se), abs=1e-5)
    assert flat["prob_mcid"] == pytest.approx(stats.norm.cdf(-4.0, -5.0, se), abs=1e-5)
    assert (flat["rope_low"], flat["rope_high"]) == (-1.0, 1.0)
    assert t.loc["optimistic-weak", "prior_mean"] == -4.0


def test_bad_inputs_fail_clearly():
    with pytest.raises(ValueError, match="outside its interval"):
        prior_grid_reanalysis(100.0, -1.0, 1.0, 20.0)
    with pytest.raises(ValueError, match="mcid must be a positive"):
        prior_grid_reanalysis(0.0, -1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="unknown prior family"):
        prior_grid(20.0, families=("hopeful",))


@pytest.mark.slow
def test_closed_form_matches_pymc_sampling():
    """All ten posteriors from one PyMC NUTS run (independent components, fixed seed).

    Tolerance: |MCMC mean - closed form| < 4 Monte Carlo SEs of the mean
    (two-sided false-alarm rate ~6e-5 per component), and MCMC SD within
    10% of the closed-form SD (relative MC error of an SD with ESS >= 1000
    is ~2-3%).
    """
    import arviz as az
    import pymc as pm

    from longmod.engines.bayes import runtime

    runtime.configure_pytensor()
    t = prior_grid_reanalysis(EST, LO, HI, MCID)
    se = float(t["likelihood_se"].iloc[0])
    k = len(t)

    def build():
        with pm.Model() as m:
            eff = pm.Normal("effect", mu=t["prior_mean"].to_numpy(), sigma=t["prior_sd"].to_numpy(), shape=k)
            pm.Normal("obs", mu=eff, sigma=se, observed=np.full(k, EST))
        return m

    settings = runtime.SamplerSettings.from_mapping(
        {"backend": "pymc", "chains": 2, "draws": 1500, "tune": 700, "seed": 11, "cores": 1})
    idata, info = runtime.sample_model(build, {}, settings)
    assert info.backend == "pymc"
    draws = idata.posterior["effect"].values
    mcse = np.asarray(az.mcse(idata, var_names=["effect"])["effect"])
    ess = np.asarray(az.ess(idata, var_names=["effect"])["effect"])
    assert (ess > 1000).all(), ess
    mean = draws.mean(axis=(0, 1))
    sd = draws.std(axis=(0, 1), ddof=1)
    assert np.all(np.abs(mean - t["estimate"].to_numpy()) < 4 * mcse), (mean, t["estimate"].to_numpy(), mcse)
    np.testing.assert_allclose(sd, t["std_error"].to_numpy(), rtol=0.10)
    # probabilities: P(effect > MCID) within 4 binomial-ish SEs inflated by ESS
    p_mc = (draws > MCID).mean(axis=(0, 1))
    p_cf = t["prob_mcid"].to_numpy()
    tol = 4 * np.sqrt(p_cf * (1 - p_cf) / ess) + 1e-3
    assert np.all(np.abs(p_mc - p_cf) < tol), (p_mc, p_cf)


def test_input_scalars_only_and_frame_type():
    t = prior_grid_reanalysis(EST, LO, HI, MCID, families=("sceptical",), strengths={"strong": 0.05})
    assert isinstance(t, pd.DataFrame) and list(t["prior"]) == ["minimally-informative", "sceptical-strong"]
