"""longmod's Bayesian random-intercept LMM vs bambi with identical priors.

Reference: ``tests/reference/bambi/ri_bambi.json``, written by
``tests/reference/bambi/make_ri_reference.py`` (bambi 0.17, 4 chains x 2500
draws, seeded) on ``ri_data.csv`` (SYNTHETIC). Why the random-intercept model
and not the correlated random slope: bambi has no LKJ prior for group-specific
effects (see the script's docstring).

Tolerance: for every quantity (7 fixed effects, 3 per-visit treatment
contrasts, residual SD, random-intercept SD) the posterior means differ by less
than 4 combined Monte Carlo SEs, ``|m_l - m_b| < 4 sqrt(mcse_l^2 + mcse_b^2)``,
and the posterior SDs by less than 4 combined MC SEs of the SD (ArviZ
``mcse(method="mean"|"sd")``). The priors are informative enough to move the
treatment contrasts by about one posterior SD from the REML estimate (recorded
in the JSON and checked below), so a prior mismatch would be detected.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REF = Path(__file__).resolve().parents[1] / "reference" / "bambi"
VISITS = ("D3", "D7", "D14")


def _load_script():
    spec = importlib.util.spec_from_file_location("make_ri_reference", REF / "make_ri_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def reference():
    ref = json.loads((REF / "ri_bambi.json").read_text())
    csv = REF / ref["data"]["file"]
    assert hashlib.sha256(csv.read_bytes()).hexdigest() == ref["data"]["sha256"], "ri_data.csv changed: re-run the script"
    return ref, pd.read_csv(csv)


@pytest.fixture(scope="module")
def longmod_fit(reference):
    from longmod.engines.bayes.longitudinal import fit_bayes_longitudinal

    ref, data = reference
    spec = _load_script().make_spec(ref["spec"])
    return fit_bayes_longitudinal(spec, data, sampler={"chains": 4, "draws": 1500, "tune": 1000, "seed": 3})


def _longmod_summary(res) -> dict:
    mod = _load_script()
    post = res.extras["inference_data"].posterior
    draws = mod.quantity_draws(post["beta"].values, list(res.params["term"]),
                               res.extras["contrast_vectors"].loc[list(VISITS)].to_numpy(),
                               {"sigma": post["sigma"].values, "re_sd": post["re_sd"].values})
    return mod.summarise(draws)


def _compare(a: dict, b: dict, k: float = 4.0) -> list[str]:
    bad = []
    for q, x in b.items():
        y = a[q]
        tol = k * np.hypot(x["mcse_mean"], y["mcse_mean"])
        if not abs(x["mean"] - y["mean"]) < tol:
            bad.append(f"{q}: mean {y['mean']:.3f} vs {x['mean']:.3f} (tol {tol:.3f})")
        tol_sd = k * np.hypot(x["mcse_sd"], y["mcse_sd"])
        if not abs(x["sd"] - y["sd"]) < tol_sd:
            bad.append(f"{q}: sd {y['sd']:.3f} vs {x['sd']:.3f} (tol {tol_sd:.3f})")
    return bad


def test_reference_is_discriminating(reference):
    """The recorded bambi run converged, and its priors matter: the D7 and D14 contrasts
    sit more than 0.5 posterior SD away from REML (the treatment prior shrinks them)."""
    ref, data = reference
    assert ref["divergences"] == 0
    post = ref["posterior"]
    assert len(post) == 12 and all(v["r_hat"] < 1.01 and v["ess_bulk"] > 1000 for v in post.values())
    assert abs(ref["prior_shift_in_posterior_sd"]["contrast[D7]"]) > 0.5
    assert abs(ref["prior_shift_in_posterior_sd"]["contrast[D14]"]) > 0.5
    assert data["patient_id"].nunique() == ref["data"]["n_patients"]


def test_longmod_matches_recorded_bambi(reference, longmod_fit):
    ref, _ = reference
    res = longmod_fit
    assert res.extras["parametrization"] == "marginal"
    ours = _longmod_summary(res)
    assert list(res.params["term"]) == ref["columns"]
    bad = _compare(ours, ref["posterior"])
    assert not bad, bad
    # tolerance is tight relative to the posterior: < 0.2 posterior SD for the D7 contrast
    d7, b7 = ours["contrast[D7]"], ref["posterior"]["contrast[D7]"]
    assert 4 * np.hypot(d7["mcse_mean"], b7["mcse_mean"]) < 0.2 * b7["sd"]


@pytest.mark.slow
def test_bambi_live_matches_longmod(reference, longmod_fit):
    """bambi refitted now (2 chains x 1000 draws, another seed) against the same longmod fit."""
    pytest.importorskip("bambi")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    from bambi_bridge import bambi_fixed_effects, bambi_model

    ref, data = reference
    mod = _load_script()
    spec = mod.make_spec(ref["spec"])
    model, info = bambi_model(spec, data)
    assert info["formula"] == ref["bambi_formula"]
    idata = model.fit(draws=1000, tune=1000, chains=2, cores=2, random_seed=77, progressbar=False,
                      target_accept=0.9)
    L = longmod_fit.extras["contrast_vectors"].loc[list(VISITS)].to_numpy()
    live = mod.summarise(mod.quantity_draws(
        bambi_fixed_effects(idata, info["column_terms"]), info["columns"], L,
        {"sigma": idata.posterior["sigma"].values, "re_sd": idata.posterior[f"1|{spec.subject}_sigma"].values}))
    bad = _compare(_longmod_summary(longmod_fit), live)
    assert not bad, bad
