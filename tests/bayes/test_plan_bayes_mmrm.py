"""The plan's Bayesian MMRM (kind ``bayes_model``) on the STROMA-CoV-2 fixture.

Runs the same plan analysis as ``longmod reanalyse stroma-cov2`` with small
draws and checks the rows against the frequentist MMRM (REML, unstructured)
fitted to the same visits.

Tolerance of the posterior-mean check: ``|posterior mean - REML| < 0.25 x SE``
(SE: the frequentist Kenward-Roger SE, ~25 mmHg at D7). Two parts:

* Monte Carlo error: 2 chains x 400 draws give a bulk ESS of ~400-700 for
  the contrasts, MCSE ~ 24 / sqrt(400) ~ 1.2 mmHg (0.05 SE).
* Model difference: the posterior integrates over the 28 covariance
  parameters (LKJ(2) prior, 45 patients) instead of plugging in their REML
  estimate, which changes the GLS weights. At full draws (4 x 1000) the
  posterior means differed from REML by 0.02-0.10 SE at every visit
  (D7: 16.5-17.6 vs 15.0 mmHg, SE 25.5).

0.25 SE leaves > 4 MCSE of room above that; a wrong contrast vector, a
visit mix-up or a mis-marginalised pattern moves estimates by far more
(e.g. D6 vs D7 differ by 13 mmHg = 0.5 SE).
"""

from __future__ import annotations

import numpy as np
import pytest

from longmod.data import load_trial
from longmod.resources import fixtures_dir, models_dir
from longmod.spec.plan import Analysis, load_plan

pytestmark = pytest.mark.slow

DAYS = [1, 2, 3, 4, 5, 6, 7]
SMALL = {"chains": 2, "draws": 400, "tune": 400, "seed": 11}


@pytest.fixture(scope="module")
def plan():
    return load_plan(models_dir() / "stroma_cov2" / "plan.toml")


@pytest.fixture(scope="module")
def trial():
    return load_trial(fixtures_dir() / "stroma_cov2")


@pytest.fixture(scope="module")
def bayes_ctx(plan, trial):
    from longmod.pipeline.context import RunContext
    from longmod.pipeline.models import run_bayes_model

    ctx = RunContext(trial, plan, sampler=SMALL)
    a = next(a for a in plan.analyses if a.name == "bayes_mmrm")
    return ctx, run_bayes_model(ctx, a)


@pytest.fixture(scope="module")
def bayes_rows(bayes_ctx):
    return bayes_ctx[1]


@pytest.fixture(scope="module")
def reml_rows(plan, trial):
    from longmod.pipeline.context import RunContext
    from longmod.pipeline.models import run_model

    a = Analysis("mmrm_same_visits", "model", "hypothetical",
                 {"spec": "mmrm_us.toml", "outcomes": ["pao2_fio2"], "days": DAYS})
    return run_model(RunContext(trial, plan), a)


def test_plan_declares_bayes_mmrm_under_hypothetical_estimand(plan):
    a = next(a for a in plan.analyses if a.name == "bayes_mmrm")
    assert a.kind == "bayes_model"
    assert a.estimand == "hypothetical"
    assert list(a.options["days"]) == DAYS
    from longmod.spec.model import load_model_spec

    spec = load_model_spec(plan.path.parent / a.options["spec"])
    freq = load_model_spec(plan.path.parent / "mmrm_us.toml")
    assert spec.fixed == freq.fixed and spec.covariance == "us" and spec.visit == freq.visit
    assert spec.priors and spec.sampler["backend"] == "nutpie" and spec.sampler["mass_matrix"] == "low_rank"


def test_rows_one_per_visit_with_estimand_label(bayes_rows, plan):
    r = bayes_rows
    assert list(r["visit"]) == [f"D{d}" for d in DAYS]
    assert list(r["day"]) == [float(d) for d in DAYS]
    assert set(r["estimand"]) == {"hypothetical"}
    assert set(r["estimand_label"]) == {plan.estimands["hypothetical"].label}
    assert set(r["analysis"]) == {"bayes_mmrm"} and set(r["engine"]) == {"pymc"}
    assert set(r["outcome"]) == {"pao2_fio2"} and set(r["model"]) == {"mmrm"}
    d7 = r[r["visit"] == "D7"]
    assert len(d7) == 1
    assert d7["conf_low"].iloc[0] < d7["estimate"].iloc[0] < d7["conf_high"].iloc[0]
    assert 0.0 <= d7["prob_mcid"].iloc[0] <= d7["prob_benefit"].iloc[0] <= 1.0


def test_diagnostics_reported_as_data(bayes_rows, bayes_ctx):
    r = bayes_rows
    for col in ("r_hat", "ess_bulk", "ess_tail", "divergences", "diagnostics_ok", "diagnostic_flags",
                "converged", "warnings"):
        assert col in r.columns, col
    assert np.isfinite(r["r_hat"].astype(float)).all() and (r["ess_bulk"] > 0).all()
    # compile and sampling facts go to timings.csv, never to the effects
    assert not {"compile_seconds", "compile_source", "sample_seconds"} & set(r.columns)
    (t,) = [t for t in bayes_ctx[0].timings if t.get("engine") == "pymc"]
    assert t["compile_source"] in {"memory", "disk", "compiled"} and t["sample_seconds"] > 0
    # a flagged row is flagged in words and makes the fit unconverged; never dropped
    flagged = (r["r_hat"] > 1.01) | (r["ess_bulk"] < 400) | (r["ess_tail"] < 400) | (r["divergences"] > 0)
    assert (flagged == ~r["diagnostics_ok"].astype(bool)).all()
    assert (r.loc[flagged, "diagnostic_flags"].str.len() > 0).all()
    # converged: no row of the fit flagged and no parameter flagged (e.g. "visit_corr: max r_hat 1.012 > 1.01")
    parameter_flagged = r["warnings"].str.contains(r"\w+: (?:max r_hat|min ess_bulk|min ess_tail) ").any()
    assert r["converged"].astype(bool).all() == (not flagged.any() and not parameter_flagged)


def test_posterior_means_near_reml(bayes_rows, reml_rows):
    f = reml_rows.set_index("day")
    b = bayes_rows.set_index("day")
    assert list(f.index) == list(b.index)
    gap = (b["estimate"] - f["estimate"]).abs() / f["std_error"]
    assert (gap < 0.25).all(), gap.to_dict()
    # the posterior SD and the KR standard error describe the same uncertainty
    ratio = b["std_error"] / f["std_error"]
    assert ((ratio > 0.7) & (ratio < 1.3)).all(), ratio.to_dict()
