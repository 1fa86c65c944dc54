"""Rubin's rules and MAR multiple imputation against R ``mice`` (3.15, Debian r-cran-mice).

References in ``tests/reference/mice/``: ``make_case.py`` writes the shared case (incomplete data
and longmod's 20 completed datasets), ``pool_mice.R`` pools the same completed datasets with
``mice::pool`` and imputes the incomplete data with mice's own FCS ``norm`` (m = 500) ->
``pool_mice.json``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from longmod.engines.ancova import fit_ancova
from longmod.estimands.rubin import barnard_rubin_df, pool_scalar
from longmod.spec.model import Treatment

REF = Path(__file__).resolve().parents[1] / "reference" / "mice"
TR = Treatment("group", "ctl", "trt")


def _make_case():
    spec = importlib.util.spec_from_file_location("make_case", REF / "make_case.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "pool_mice.json").read_text())


@pytest.fixture(scope="module")
def completed():
    return pd.read_csv(REF / "mi_case_completed.csv")


def test_pool_equals_mice_pool_on_the_same_imputations(ref, completed):
    """Same completed datasets -> same per-imputation lm fits and the same pooled estimate, SE, df
    (Barnard-Rubin), riv, lambda, fmi, CI and P value. Tolerance rtol 1e-10: both are exact formulas
    on the same numbers (differences are floating-point rounding, ~1e-13)."""
    fits = [fit_ancova(d, treatment=TR, outcome="V3", covariates=["base", "stratum"])
            for _, d in completed.groupby(".imp", sort=True)]
    for f, r in zip(fits, ref["per_imputation"]):
        assert f.estimate == pytest.approx(r["estimate"], rel=1e-10)
        assert f.std_error == pytest.approx(r["std_error"], rel=1e-10)
    pooled = pool_scalar([f.estimate for f in fits], [f.std_error for f in fits], df_complete=fits[0].df)
    r = ref["exact_same_imputations"]
    assert fits[0].df == r["dfcom"] and pooled.m == r["m"] == 20
    got = {"estimate": pooled.estimate, "ubar": pooled.ubar, "b": pooled.b, "t": pooled.t, "df": pooled.df,
           "riv": pooled.riv, "lambda": pooled.lambda_, "fmi": pooled.fmi, "std_error": pooled.std_error,
           "p_value": pooled.p_value, "conf_low": pooled.conf_low, "conf_high": pooled.conf_high}
    for key, value in got.items():
        assert value == pytest.approx(r[key], rel=1e-10), key


def test_barnard_rubin_limits():
    # lambda floored at 1e-4 as mice::barnard.rubin: B = 0 gives a finite df close to the observed-data df
    nu = 50.0
    assert barnard_rubin_df(5, 0.0, 1.0, nu) == pytest.approx(
        ((4 / 1e-8) * ((nu + 1) / (nu + 3) * nu * (1 - 1e-4))) / (4 / 1e-8 + (nu + 1) / (nu + 3) * nu * (1 - 1e-4)))
    # infinite complete-data df: Rubin's (1987) df (m - 1) / lambda^2
    assert barnard_rubin_df(5, 1.0, 3.0, np.inf) == pytest.approx(4 / (1.2 / 3.0) ** 2)
    with pytest.raises(ValueError, match="at least 2 imputations"):
        pool_scalar([1.0], [1.0])
    with pytest.raises(ValueError, match="standard error"):
        pool_scalar([1.0, 2.0], [1.0, 0.0])


def test_stored_case_is_what_longmod_makes_now():
    """The completed datasets beside pool_mice.json are longmod's current imputations (seeded)."""
    mc = _make_case()
    frame = mc.incomplete()
    pd.testing.assert_frame_equal(frame, pd.read_csv(REF / "mi_case_incomplete.csv"), check_exact=False, rtol=1e-15)
    stored = pd.read_csv(REF / "mi_case_completed.csv")
    pd.testing.assert_frame_equal(mc.completed(frame), stored, check_exact=False, rtol=1e-12)


def test_mar_mi_distribution_matches_mice_norm(ref):
    """longmod's MAR MI (MMRM with visit-specific covariate effects, approximate Bayesian bootstrap)
    and mice's FCS norm target the same posterior predictive distribution (a joint normal model
    with arm-specific means and common covariance; monotone missingness). Pooled estimate within
    4 Monte Carlo SEs (sqrt(B1/M1 + B2/M2)); total variance T within 15% (the SE of B from 100
    imputations is ~14%, and B is ~20% of T)."""
    from longmod.estimands.imputation_params import bootstrap_params, em_fitter
    from longmod.estimands.mi import multiple_imputation

    mc = _make_case()
    w = mc.wide(mc.incomplete())
    M = 100
    draws = bootstrap_params(w, em_fitter(), M, seed=7)
    row = multiple_imputation(w, draws, strategy="mar", covariates=list(mc.COVARIATES), seed=8).iloc[0]
    r = ref["mice_norm_m500"]
    mc_se = np.sqrt(row["between_var"] / M + r["b"] / r["m"])
    assert abs(row["estimate"] - r["estimate"]) < 4 * mc_se, (row["estimate"], r["estimate"], mc_se)
    assert row["total_var"] == pytest.approx(r["t"], rel=0.15)
    assert row["ubar"] == pytest.approx(r["ubar"], rel=0.10)
    assert row["df_complete"] == r["dfcom"] and row["n_imputed"] == int(w.patients.shape[0] - (~np.isnan(w.y[:, 2])).sum())


@pytest.mark.r
def test_r_script_reproduces_the_exact_part(tmp_path, ref):
    from tests.conftest import require_rscript

    require_rscript()
    for f in ("pool_mice.R", "mi_case_incomplete.csv", "mi_case_completed.csv"):
        shutil.copy(REF / f, tmp_path / f)
    out = tmp_path / "out.json"
    subprocess.run(["Rscript", str(tmp_path / "pool_mice.R"), str(out), "--exact-only"], check=True,
                   capture_output=True, timeout=600)
    new = json.loads(out.read_text())
    for key, value in ref["exact_same_imputations"].items():
        assert new["exact_same_imputations"][key] == pytest.approx(value, rel=1e-12), key
