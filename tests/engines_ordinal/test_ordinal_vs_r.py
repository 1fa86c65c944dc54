"""Ordinal engines against R ``ordinal`` 2022.11-16 (clm, clmm) and ``MASS::polr``.

Reference: tests/reference/ordinal/ordinal.R read who_long.csv (seeded, written
by make_data.py) and wrote ordinal.json; compared here after an md5 check; the
``r``-marked test re-runs the script and checks the stored JSON is current.

Tolerances:
* clm / polr (both Newton-type to a gradient ~1e-6..1e-10, same likelihood):
  thresholds, coefficient, SE rtol 1e-5 vs clm (observed ~1e-11); polr
  (BFGS, stops earlier) atol 1e-4; log-likelihood rtol 1e-9;
* clmm AGQ (10 nodes): estimates atol 1e-5 (R's nlminb stops ~1e-7 short),
  log-likelihood rtol 1e-9, SEs rtol 1e-4 (both invert finite-difference
  Hessians; observed ~5e-6);
* clmm Laplace with exact conditional modes (R ``gradTol = 1e-8``): estimates
  atol 1e-4 (observed ~4e-6), log-likelihood atol 1e-6 (observed 4e-8);
* clmm Laplace with R's defaults (inner modes to a gradient of 1e-4, so R's
  objective is noisy at that level): estimates atol 5e-3 (< 1% of an SE),
  log-likelihood atol 5e-4, SEs rtol 1e-2 (2e-2 for log sigma_b's). R's Laplace SEs come from finite
  differences of that noisy objective (with exact modes its finite differences
  break down and its SEs move by 10%); longmod's Hessian is stable to 1e-5
  across step sizes and agrees with the AGQ SEs of R and longmod to < 0.5%.
"""

from __future__ import annotations

import doctest
import hashlib
import importlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from longmod.engines.ordinal.cumlogit import fit_clm, fit_clmm, ordinal_rows
from longmod.engines.ordinal.design import OrdinalInputError, ordinal_data
from tests.conftest import assert_json_close, require_rscript

HERE = Path(__file__).resolve().parents[1] / "reference" / "ordinal"
DATA = pd.read_csv(HERE / "who_long.csv")
ARMS = ("control", "active")


@pytest.fixture(scope="module")
def ref() -> dict:
    r = json.loads((HERE / "ordinal.json").read_text())
    assert hashlib.md5((HERE / "who_long.csv").read_bytes()).hexdigest() == r["inputs"]["md5"]["who_long"]
    return r


def od(fixed="arm + day", subject="id", data=DATA, **kw):
    return ordinal_data(data, outcome="who", levels=range(11), better="lower", fixed=fixed, treatment="arm", arms=ARMS,
                        subject=subject, **kw)


@pytest.fixture(scope="module")
def clmm_fits():
    o = od()
    return {"laplace": fit_clmm(o, nagq=1), "agq10": fit_clmm(o, nagq=10)}


@pytest.mark.parametrize("name", ["design", "cumlogit", "bayes"])
def test_docstring_examples_run(name):
    mod = importlib.import_module(f"longmod.engines.ordinal.{name}")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def test_clm_one_day_matches_clm_and_polr(ref):
    f = fit_clm(od("arm", None, DATA[DATA.day == 7]))
    r = ref["clm_day7"]
    np.testing.assert_allclose(f.thresholds, r["thresholds"], rtol=1e-5)
    np.testing.assert_allclose(f.beta, np.atleast_1d(r["beta"]), rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(f.vcov)), r["se"], rtol=1e-5)
    np.testing.assert_allclose(f.loglik, r["loglik"], rtol=1e-9)
    p = ref["polr_day7"]
    np.testing.assert_allclose(np.concatenate([f.thresholds, f.beta]), [*p["zeta"], p["beta"]], atol=1e-4)
    np.testing.assert_allclose(f.loglik, p["loglik"], rtol=1e-9)


def test_clm_all_rows(ref):
    f = fit_clm(od(subject=None))
    r = ref["clm_all"]
    np.testing.assert_allclose(np.concatenate([f.thresholds, f.beta]), [*r["thresholds"], *r["beta"]], rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(f.vcov)), r["se"], rtol=1e-5)
    np.testing.assert_allclose(f.loglik, r["loglik"], rtol=1e-9)


@pytest.mark.parametrize("key,method,atol,ll_tol,se_rtol", [
    ("clmm_agq10", "agq10", 1e-5, dict(rtol=1e-9), 1e-4),
    ("clmm_laplace", "laplace", 1e-4, dict(atol=1e-6), None),
    ("clmm_laplace_default", "laplace", 5e-3, dict(atol=5e-4), 1e-2),
])
def test_clmm_matches_r(ref, clmm_fits, key, method, atol, ll_tol, se_rtol):
    f, r = clmm_fits[method], ref[key]
    np.testing.assert_allclose(f.thresholds, r["thresholds"], atol=atol)
    np.testing.assert_allclose(f.beta, r["beta"], atol=atol)
    np.testing.assert_allclose(f.sigma_b, r["sigma_b"], atol=atol)
    np.testing.assert_allclose(f.loglik, r["loglik"], **ll_tol)
    if se_rtol is not None:  # thresholds and coefficients; the log(sigma_b) SE at twice that
        se = np.sqrt(np.diag(f.vcov))
        np.testing.assert_allclose(se[:-1], r["se"][:-1], rtol=se_rtol)
        np.testing.assert_allclose(se[-1], r["se"][-1], rtol=2 * se_rtol)
    assert f.converged


def test_clmm_day_as_factor_laplace(ref):
    f = fit_clmm(od("arm + day_f"), nagq=1)
    r = ref["clmm_dayf_laplace"]
    np.testing.assert_allclose(np.concatenate([f.thresholds, f.beta]), [*r["thresholds"], *r["beta"]], atol=1e-4)
    np.testing.assert_allclose(f.loglik, r["loglik"], atol=1e-6)


def test_row_direction_and_metamorphic_invariance(clmm_fits):
    row = ordinal_rows(clmm_fits["agq10"], analysis="who_clmm", outcome="who").iloc[0]
    b, _ = clmm_fits["agq10"].treatment()
    assert row["estimate"] == pytest.approx(-b) and row["r_coefficient"] == pytest.approx(b)
    assert row["odds_ratio"] > 1 and "lower (better)" in row["direction"]
    # rename arms/columns/ids and shuffle rows: same numbers
    d = DATA.rename(columns={"who": "score", "arm": "group", "id": "pid"}).sample(frac=1.0, random_state=5)
    d["group"] = d["group"].map({"control": "P", "active": "M"})
    d["pid"] = "x" + d["pid"].str[::-1]
    o2 = ordinal_data(d, outcome="score", levels=range(11), better="lower", fixed="group + day", treatment="group",
                      arms=("P", "M"), subject="pid")
    row2 = ordinal_rows(fit_clmm(o2, nagq=10), analysis="who_clmm", outcome="who").iloc[0]
    # the optimiser's path depends on the row order in the last bits: estimates/loglik 1e-6, SE 1e-4
    np.testing.assert_allclose(row2[["estimate", "loglik"]].to_numpy(float), row[["estimate", "loglik"]].to_numpy(float),
                               rtol=1e-6)
    np.testing.assert_allclose(row2[["std_error", "p_value"]].to_numpy(float), row[["std_error", "p_value"]].to_numpy(float),
                               rtol=1e-4)


def test_bad_input_named_and_missing_rows_reported():
    bad = DATA.copy()
    bad.loc[4, "who"] = 12
    with pytest.raises(OrdinalInputError, match="row 4 has 12"):
        od(data=bad)
    holes = DATA.copy()
    holes.loc[[1, 2], "who"] = np.nan
    o = od(data=holes)
    assert o.y.size == len(DATA) - 2 and any("2 row(s)" in w for w in o.warnings)
    assert any("not observed" in w for w in o.warnings)  # levels 0, 1, 9, 10 never occur


@pytest.mark.r
def test_stored_reference_is_what_ordinal_r_writes(tmp_path):
    rscript = require_rscript()
    out = tmp_path / "ordinal.json"
    subprocess.run([rscript, str(HERE / "ordinal.R"), str(HERE), str(out)], check=True, capture_output=True, text=True)
    fresh, stored = json.loads(out.read_text()), json.loads((HERE / "ordinal.json").read_text())
    assert_json_close(fresh, stored, _tolerance, skip=CPU_DEPENDENT)


#: R's clmm with exact conditional modes (``clmm_laplace``) takes its SEs from finite differences that break
#: down on this data (see the module docstring): the same script, data and R packages gave SEs 25% apart on two
#: CPUs (OpenBLAS picks its kernels per CPU), while estimates and log-likelihood agreed to 1e-7. No test compares
#: longmod with those SEs (test_clmm_matches_r: se_rtol None), so they are not re-checked here either.
CPU_DEPENDENT = ("/clmm_laplace/se", "/clmm_laplace/vcov")


def _tolerance(path: str) -> tuple[float, float]:
    """Estimates and log-likelihoods rtol 2e-4 (R's optimisers stop at ~1e-5 to 1e-4 relative), SEs and
    covariances rtol 5e-3 (finite-difference Hessians); see CPU_DEPENDENT."""
    return (5e-3, 1e-4) if ("/se" in path or "/vcov" in path) else (2e-4, 1e-6)
