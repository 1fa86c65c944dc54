"""Multiple imputation from a Bayesian MMRM's posterior as a plan option (``draws = "bayes"``).

On the bundled STROMA-CoV-2 fixture, D3 and D7 (a small model, short chains): the posterior-draws MI
and the approximate-Bayesian-bootstrap MI target the same MAR estimand and must agree within Monte
Carlo and model-fitting error; the row carries the Bayesian fit's diagnostics, so the run's one
diagnostics count covers it; a bad ``draws`` is refused before anything is fitted.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from longmod.pipeline import reanalyse
from longmod.pipeline.run import resolve_trial
from longmod.report.run_diagnostics import run_diagnostics
from longmod.spec.plan import PlanError, load_plan

pytestmark = pytest.mark.slow  # compiles a small Bayesian MMRM

SMALL = {"days": [3, 7], "imputations": 40, "sampler": {"chains": 2, "draws": 400, "tune": 400, "seed": 3}}


def _plan(**changes):
    td, path = resolve_trial("stroma-cov2")
    plan = load_plan(path)
    a = {x.name: x for x in plan.analyses}
    boot = replace(a["mi_mar"], options={**a["mi_mar"].options, "days": [3, 7], "imputations": 40})
    bayes = replace(a["mi_mar_bayes"], options={**a["mi_mar_bayes"].options, **SMALL, **changes})
    return td, replace(plan, analyses=(boot, bayes))


@pytest.fixture(scope="module")
def res():
    td, plan = _plan()
    return reanalyse(td, plan=plan, biomarkers=False)  # the MI analyses only


def test_posterior_draws_mi_agrees_with_the_bootstrap_mi(res):
    e = res.effects.set_index("analysis")
    boot, bayes = e.loc["mi_mar"], e.loc["mi_mar_bayes"]
    assert boot["draws_source"] == "approx_bayes_bootstrap" and bayes["draws_source"] == "bayes_posterior"
    assert bayes["estimand"] == boot["estimand"] == "hypothetical"
    # same MAR estimand, same imputation model: the two MIs differ by Monte Carlo error (40 imputations each)
    # and by the prior; half the MI standard error is far beyond both, far below any effect of interest
    assert abs(bayes["estimate"] - boot["estimate"]) < 0.5 * boot["std_error"], (bayes["estimate"], boot["estimate"])
    assert 0.7 < bayes["std_error"] / boot["std_error"] < 1.4
    assert "posterior draws of a Bayesian MMRM" in bayes["imputation_model"]


def test_the_bayesian_fit_is_in_the_runs_diagnostics_count(res):
    bayes = res.effects.set_index("analysis").loc["mi_mar_bayes"]
    assert np.isfinite([bayes["r_hat"], bayes["ess_bulk"], bayes["divergences"]]).all()
    assert bayes["sampler"] == "nutpie"
    d = run_diagnostics(res).set_index("analysis")
    assert "mi_mar_bayes" in d.index
    assert d.loc["mi_mar_bayes", "r_hat"] == pytest.approx(bayes["r_hat"])
    flagged = bayes["r_hat"] > 1.01 or bayes["ess_bulk"] < 400 or bayes["divergences"] > 0
    assert bool(d.loc["mi_mar_bayes", "problem"]) == flagged == (not bayes["converged"])


def test_a_bad_draws_option_is_refused_before_fitting():
    td, plan = _plan(draws="posterior")
    with pytest.raises(PlanError, match="draws = 'posterior' is not one of 'bootstrap', 'bayes'"):
        reanalyse(td, plan=plan)
