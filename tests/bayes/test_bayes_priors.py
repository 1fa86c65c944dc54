"""Priors as declared: families, clear errors, and the treatment prior as the prior of every per-visit contrast.

The prior-predictive check draws ``beta`` from the prior of the model that is
fitted (20,000 forward draws) and applies the *front end's* contrast matrix
(``effect_grid``), the quantity every engine reports as "the D7 effect". With
``treatment = normal(0, 10)`` the SD of every visit's contrast must be 10 within
3%: with 20,000 draws the SD's relative Monte Carlo SE is 1/sqrt(2 x 20000) =
0.5%, so 3% is 6 SEs (a false alarm has probability ~1e-9), and the old
parametrisation (the prior on the arm and arm-by-visit coefficients) gave
10 x sqrt(2) = 14.1 at D7 and D14, 41% off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.engines.bayes.design import bayes_design
from longmod.engines.bayes.priors import (
    COEFFICIENT_FAMILIES,
    CORRELATION_FAMILIES,
    SCALE_FAMILIES,
    PriorError,
    resolve_priors,
)
from longmod.spec.model import ModelSpec

from .conftest import TREATMENT, VISITS, long_data

DRAWS = 20000


def _spec(fixed: str = "arm * visit + baseline", cov: str = "us", **priors) -> ModelSpec:
    return ModelSpec(name="prior-check", outcome="pf", fixed=fixed, subject="patient_id", visit="visit", time="day",
                     covariance=cov, levels={"visit": list(VISITS)}, engine="pymc", mcid=20.0, priors=priors,
                     treatment=TREATMENT)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return long_data(40, seed=2)


@pytest.mark.parametrize("cov", ["us", "ar1"])
def test_declared_treatment_prior_is_the_prior_of_every_visit_contrast(data, cov):
    from longmod.engines.bayes import prior_effect_check

    chk = prior_effect_check(_spec(cov=cov, treatment={"mu": 0.0, "sigma": 10.0}), data, draws=DRAWS, seed=3)
    assert chk["visit"].tolist() == list(VISITS)
    assert chk["declared"].eq("normal(mu=0, sigma=10)").all()
    d = chk.set_index("visit")
    for v in ("D7", "D14"):
        assert d.loc[v, "prior_sd"] == pytest.approx(10.0, rel=0.03), v
        assert abs(d.loc[v, "prior_mean"]) < 4 * 10.0 / np.sqrt(DRAWS)  # mean 0 within 4 MC SEs
    assert (chk["sd_ratio"] - 1).abs().max() < 0.03


def test_the_old_coefficient_prior_would_fail_the_check(data):
    """The check has teeth: D7's contrast row has two treatment coefficients (arm and
    arm:visitD7), so independent N(0, 10^2) priors on the coefficients give SD 14.1."""
    d = bayes_design(_spec(), data)
    C = d.contrast
    j = [i for i, c in enumerate(d.columns) if c.startswith("arm")]
    sd_if_coefficients = 10.0 * np.sqrt((C[:, j] ** 2).sum(axis=1))
    assert sd_if_coefficients.tolist() == pytest.approx([10.0, 10.0 * np.sqrt(2), 10.0 * np.sqrt(2)])


def test_student_t_treatment_prior_and_shared_contrast(data):
    """A Student-t prior is kept as declared (nu = 5: SD = sigma sqrt(5/3)); in ``arm + visit``
    every visit shares one contrast, which then has the declared prior at every visit."""
    from longmod.engines.bayes import prior_effect_check

    t = {"dist": "student_t", "nu": 5.0, "mu": 0.0, "sigma": 10.0}
    chk = prior_effect_check(_spec(fixed="arm + visit + baseline", treatment=t), data, draws=DRAWS, seed=4)
    assert chk["declared"].eq("student_t(nu=5, mu=0, sigma=10)").all()
    sd = 10.0 * np.sqrt(5.0 / 3.0)
    # the sample SD of a t(5) converges slowly (infinite kurtosis): 10% here
    assert chk["prior_sd"].to_numpy() == pytest.approx([sd] * 3, rel=0.10)
    assert chk["prior_sd"].nunique() == 1  # one parameter, the same draws at every visit


def test_a_declared_treatment_prior_that_cannot_hold_is_refused(data):
    """``arm * day`` with numeric day: the contrasts at D3, D7, D14 lie on a line, so no
    prior on them can be N(0, 10^2) at every visit: an error, not a different prior."""
    with pytest.raises(PriorError, match="no prior can be the prior of the contrast at every visit"):
        bayes_design(_spec(fixed="arm * day + baseline"), data, treatment_declared=True)
    d = bayes_design(_spec(fixed="arm * day + baseline"), data, treatment_declared=False)
    assert d.treatment_prior_on == "coefficients" and "coefficient prior" in d.warnings[0]


@pytest.mark.parametrize("decl, kind, msg", [
    ({"treatment": {"dist": "cauchy", "sigma": 1}}, "coefficient", "unknown family 'cauchy' for a coefficient; valid: normal, student_t"),
    ({"sigma": {"dist": "normal", "sigma": 1}}, "scale", "unknown family 'normal' for a scale; valid: half_normal, half_t, exponential"),
    ({"correlation": {"dist": "uniform"}}, "correlation", "unknown family 'uniform' for a correlation; valid: lkj"),
    ({"treatment": {"mu": 0, "sd": 1}}, "", "unknown key(s) sd for normal; valid: dist, mu, sigma"),
    ({"sigma": {"dist": "half_t", "sigma": 1}}, "", "half_t needs nu"),
    ({"sigma": {"dist": "exponential", "rate": -1}}, "", "rate must be > 0"),
    ({"treatmnt": {"sigma": 1}}, "", "unknown prior key(s) treatmnt; valid: scale, intercept, treatment"),
    ({"correlation": {"eta": 2}, "lkj_eta": 2}, "", "give the correlation prior once"),
    ({"terms": {"armuc_msc": {"sigma": 1}}}, "", "per-visit treatment contrasts take `treatment`"),
])
def test_unknown_keys_and_families_are_clear_errors(decl, kind, msg):
    cols = ["(Intercept)", "armuc_msc", "baseline"]
    with pytest.raises(PriorError) as err:
        resolve_priors(decl, cols, contrast_columns=["armuc_msc"], mcid=20.0)
    assert msg in str(err.value)
    if kind:
        valid = {"coefficient": COEFFICIENT_FAMILIES, "scale": SCALE_FAMILIES, "correlation": CORRELATION_FAMILIES}[kind]
        assert all(f in str(err.value) for f in valid)


def test_every_default_is_documented_and_resolved():
    from longmod.engines.bayes import priors

    p = resolve_priors({}, ["(Intercept)", "armuc_msc", "baseline"], contrast_columns=["armuc_msc"], mcid=20.0)
    assert p.as_dict() == {
        "scale": 100.0, "scale_source": "5 x mcid (mcid = 20)", "intercept": "normal(mu=0, sigma=1000)",
        "treatment": "normal(mu=0, sigma=250)", "coefficients": {"baseline": "normal(mu=0, sigma=250)"},
        "sigma": "half_normal(sigma=250)", "random_intercept_sd": "half_normal(sigma=250)",
        "random_slope_sd": "half_normal(sigma=100)", "correlation": "lkj(eta=2)"}
    doc = priors.__doc__
    for text in ("``normal(0, 10 x scale)``", "``normal(0, 2.5 x scale)``", "``half_normal(2.5 x scale)``",
                 "``half_normal(scale)``", "``lkj(eta = 2)``"):
        assert text in doc
    assert not p.treatment_declared


def test_families_in_a_fitted_model_are_the_declared_ones(data):
    """Each declared family becomes that PyMC distribution (no silent substitution)."""
    import pymc as pm

    from longmod.engines.bayes.longitudinal import prepare_mmrm

    spec = _spec(cov="ar1", treatment={"dist": "student_t", "nu": 4, "sigma": 10},
                 coefficients={"dist": "student_t", "nu": 3, "sigma": 50},
                 sigma={"dist": "half_t", "nu": 3, "sigma": 40}, correlation={"dist": "lkj", "eta": 3})
    model = prepare_mmrm(spec, data)["build"]()
    ops = {v.name: type(v.owner.op).__name__ for v in model.free_RVs}
    assert ops["effect"] == "StudentTRV" and ops["coef"] == "StudentTRV" and ops["intercept"] == "NormalRV"
    assert ops["sd"] == "HalfStudentTRV" and ops["rho_beta"] == "BetaRV"
    assert (model["prior__effect__nu"].get_value() == 4).all() and model["prior__correlation__eta"].get_value() == 3
    spec = _spec(cov="cs", sigma={"dist": "exponential", "rate": 0.02})
    model = prepare_mmrm(spec, data)["build"]()
    assert type(model["sd"].owner.op).__name__ == "ExponentialRV"
    assert isinstance(model, pm.Model)
