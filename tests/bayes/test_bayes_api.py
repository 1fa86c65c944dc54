"""``longmod.bayes(formula, data, priors=...)`` with the structured covariances: the model that is
fitted is the one the formula and the priors declare, and the result says so.

The fit shares its compiled graph with ``mmrm_fits["ar1"]`` (same design columns, visits,
structure and prior families; prior parameters are data of the compiled model), so it costs
one small sampling run.
"""

from __future__ import annotations

import numpy as np
import pytest

import longmod

from .conftest import SMALL_MMRM_SAMPLER, VISITS

FORMULA = "pf ~ arm * visit + baseline + ar1(visit | patient_id)"
PRIORS = {"treatment": {"dist": "normal", "mu": 0.0, "sigma": 10.0},
          "sigma": {"dist": "half_t", "nu": 3, "sigma": 80.0},
          "correlation": {"dist": "lkj", "eta": 2.0}}


@pytest.fixture(scope="module")
def api_fit(mmrm_data):
    return longmod.bayes(FORMULA, mmrm_data, priors=PRIORS, treatment="arm", levels={"visit": list(VISITS)},
                         sampler=SMALL_MMRM_SAMPLER, estimand="hypothetical")


def test_formula_covariance_and_declared_priors_reach_the_result(api_fit, mmrm_data):
    eff = api_fit.effects
    assert eff["visit"].tolist() == list(VISITS)
    assert eff["engine"].eq("pymc").all() and eff["sampler"].eq("nutpie").all()
    assert eff["sampler_fallback"].eq("").all()
    # the prior of every per-visit contrast is the declared one, reported as declared
    assert eff["treatment_prior"].eq("normal(mu=0, sigma=10)").all()
    pri = api_fit.extras["priors"]
    assert pri["treatment"] == "normal(mu=0, sigma=10)"
    assert pri["sigma"] == "half_t(nu=3, sigma=80)" and pri["correlation"] == "lkj(eta=2)"
    idata = api_fit.extras["inference_data"]
    assert {"sd", "rho"} <= set(idata.posterior.data_vars)  # ar1's parameters, not us's
    assert "visit_corr" not in idata.posterior
    assert idata.log_likelihood["y"].shape[-1] == mmrm_data.patient_id.nunique()
    # diagnostics are data in the rows
    for col in ("r_hat", "ess_bulk", "divergences", "prob_benefit"):
        assert np.isfinite(eff[col]).all(), col


def test_api_fit_is_the_engine_fit_of_the_same_model(api_fit, mmrm_data):
    """The front door adds nothing: the engine on the equivalent spec gives the same draws."""
    from longmod.engines.bayes import fit_bayes_longitudinal
    from .conftest import mmrm_spec

    # the formula names no time column, so neither does the engine's spec (same model, same compiled graph)
    spec = mmrm_spec("ar1", priors=PRIORS).replace(time=None)
    ref = fit_bayes_longitudinal(spec, mmrm_data, estimand="hypothetical")
    np.testing.assert_array_equal(ref.effects["estimate"].to_numpy(), api_fit.effects["estimate"].to_numpy())


@pytest.mark.parametrize("cov", ["cs", "toep", "us"])
def test_structured_formulas_resolve_to_the_bayesian_mmrm(mmrm_data, cov):
    """Every structure named in the formula is the covariance of the model built (no sampling)."""
    from longmod.engines.bayes.longitudinal import prepare_mmrm
    from longmod.spec.model import ModelSpec, Treatment

    spec = ModelSpec(name="api", formula=f"pf ~ arm * visit + baseline + {cov}(visit | patient_id)", engine="pymc",
                     priors=PRIORS, treatment=Treatment("arm", "placebo", "uc_msc"), levels={"visit": list(VISITS)})
    m = prepare_mmrm(spec, mmrm_data)
    assert m["structure"].name == cov
    model = m["build"]()
    assert type(model["effect"].owner.op).__name__ == "NormalRV"


def test_unknown_structure_or_family_is_a_clear_error(mmrm_data):
    from longmod.engines.bayes.priors import PriorError

    with pytest.raises(PriorError, match="unknown family 'cauchy'.*valid: normal, student_t"):
        longmod.bayes(FORMULA, mmrm_data, priors={"treatment": {"dist": "cauchy", "sigma": 1}}, treatment="arm",
                      levels={"visit": list(VISITS)}, sampler=SMALL_MMRM_SAMPLER)
    with pytest.raises(Exception, match="sp_exp"):
        longmod.bayes("pf ~ arm * visit + sp_exp(day | patient_id)", mmrm_data, treatment="arm",
                      sampler=SMALL_MMRM_SAMPLER)
