"""Censored Gaussian models: survreg reference (fixed effects) and recovery (mixed model).

Reference: tests/reference/r_biomarkers/tobit_survreg.R -> tobit_survreg.json (input
tobit_input.csv from tests/biomarkers/refdata.py). Tolerance rtol=1e-4 (issue 5) on
coefficients, standard errors, log(scale) and the log-likelihood; both sides converge
to ~1e-10.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, sparse

from longmod.biomarkers.simulate import default_effects, simulate_biomarkers
from longmod.biomarkers.tobit import _mixed_negll, fit_all_markers, fit_censored_mixed, fit_tobit
from tests.biomarkers.refdata import REF, tobit_input
from tests.conftest import require_rscript


def _design(d: pd.DataFrame) -> np.ndarray:
    cols = [np.ones(len(d)), (d["arm"] == "uc_msc").astype(float)]
    cols += [(d["day"] == k).astype(float) for k in (2, 4, 7, 14)]
    cols += [d["x"].to_numpy()]
    return np.column_stack(cols)


def test_stored_tobit_input_is_reproducible():
    stored = pd.read_csv(REF / "tobit_input.csv")
    pd.testing.assert_frame_equal(stored, tobit_input(), check_exact=False, rtol=1e-12, check_dtype=False)


def test_fit_tobit_matches_survreg():
    ref = json.loads((REF / "tobit_survreg.json").read_text())
    d = pd.read_csv(REF / "tobit_input.csv")
    f = fit_tobit(d["y"], _design(d), d["event"] == 0)
    assert f.convergence.converged
    assert ref["n_censored"] > 0.3 * ref["n"]
    np.testing.assert_allclose(f.coef, ref["coef"], rtol=1e-4)
    np.testing.assert_allclose(f.std_error, ref["std_error"], rtol=1e-4)
    np.testing.assert_allclose(f.log_sigma, ref["log_scale"], rtol=1e-4)
    np.testing.assert_allclose(f.se_log_sigma, ref["se_log_scale"], rtol=1e-4)
    np.testing.assert_allclose(f.loglik, ref["loglik"], rtol=1e-4)


@pytest.mark.r
def test_survreg_script_reproduces_its_json(tmp_path):
    exe = require_rscript()
    out = tmp_path / "t.json"
    subprocess.run([exe, str(REF / "tobit_survreg.R"), str(REF / "tobit_input.csv"), str(out)], check=True,
                   capture_output=True)
    fresh, stored = json.loads(out.read_text()), json.loads((REF / "tobit_survreg.json").read_text())
    np.testing.assert_allclose(fresh["coef"], stored["coef"], rtol=1e-10)
    np.testing.assert_allclose(fresh["loglik"], stored["loglik"], rtol=1e-10)


def test_fit_tobit_without_censoring_is_ols():
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(50), rng.normal(size=50)])
    y = X @ [1.0, -0.5] + rng.normal(0, 0.3, 50)
    f = fit_tobit(y, X, np.zeros(50, bool))
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    np.testing.assert_allclose(f.coef, b, rtol=1e-8)
    np.testing.assert_allclose(f.sigma, np.sqrt(np.mean((y - X @ b) ** 2)), rtol=1e-8)  # ML sigma


def test_mixed_gradient_is_the_derivative_of_the_likelihood():
    d = simulate_biomarkers(1, censor_fractions=[0.4], seed=11)
    from longmod.biomarkers.frame import log10_frame
    from longmod.biomarkers.tobit import _design as design

    g = log10_frame(d, "loq")
    X, _, rows, dropped = design(g, sorted(g.day.unique()), "active", "control", g.censored.to_numpy())
    assert rows.all() and not dropped
    pid, inv = np.unique(g.patient_id, return_inverse=True)
    P = sparse.csr_matrix((np.ones(len(g)), (inv, np.arange(len(g)))))
    nodes, w = np.polynomial.hermite.hermgauss(20)
    args = (g.y.to_numpy(), X, g.censored.to_numpy(), P, nodes, np.log(w) - 0.5 * np.log(np.pi))
    theta = np.r_[np.full(X.shape[1], 1.5), np.log(0.3), np.log(0.2)]
    err = optimize.check_grad(lambda t: _mixed_negll(t, *args)[0], lambda t: _mixed_negll(t, *args)[1], theta)
    assert err < 1e-4 * np.abs(_mixed_negll(theta, *args)[1]).max()


def test_mixed_without_censoring_matches_statsmodels_ml():
    import statsmodels.formula.api as smf

    d = simulate_biomarkers(1, censor_fractions=[0.0], seed=12)
    f = fit_censored_mixed(d)  # 64 Gauss-Hermite nodes
    assert f.n_censored == 0 and f.convergence.converged
    g = d.assign(y=np.log10(d["value"]), active=(d.arm == "active").astype(int))
    m = smf.mixedlm("y ~ 0 + C(day) + C(day):active", g, groups="patient_id").fit(reml=False, method="lbfgs")
    eff = m.fe_params[[c for c in m.fe_params.index if ":active" in c]].to_numpy()
    np.testing.assert_allclose(f.effects["estimate"], eff, atol=1e-5)
    np.testing.assert_allclose(f.effects["std_error"], m.bse[[c for c in m.bse.index if ":active" in c]], rtol=1e-3)
    np.testing.assert_allclose(f.sigma**2, m.scale, rtol=1e-3)
    np.testing.assert_allclose(f.sigma_b**2, m.cov_re.iloc[0, 0], rtol=1e-3)


def test_censored_mixed_recovers_known_parameters():
    # 400 + 400 patients, 50% censored, known effects -0.175 (day 7) and -0.35 (day 14)
    d = simulate_biomarkers(1, censor_fractions=[0.5], n_active=400, n_reference=400, dropout=0.0,
                            effects=default_effects(1, n_affected=1), sd_between=0.3, sd_within=0.25, seed=13)
    f = fit_censored_mixed(d)
    assert f.convergence.converged
    truth = np.array([0, 0, 0, -0.175, -0.35])
    z = (f.effects["estimate"].to_numpy() - truth) / f.effects["std_error"].to_numpy()
    assert np.all(np.abs(z) < 3.5), z
    assert abs(f.sigma - 0.25) < 0.02 and abs(f.sigma_b - 0.3) < 0.03
    # LOQ/2 substitution on the same data is visibly biased towards zero at day 14
    naive = fit_censored_mixed(d, method="loq/2")
    assert abs(naive.effects["estimate"].iloc[4] + 0.35) > abs(f.effects["estimate"].iloc[4] + 0.35)


def test_all_censored_cell_is_reported_not_estimable():
    d = simulate_biomarkers(1, censor_fractions=[0.3], seed=15)
    before = d.copy()
    cell = (d.arm == "active") & (d.day == 14)
    d.loc[cell, "censored"] = True
    d.loc[cell, "value"] = np.nan
    before = d.copy()
    f = fit_censored_mixed(d)
    pd.testing.assert_frame_equal(d, before)
    assert f.convergence.converged
    assert any("not estimable" in w for w in f.convergence.warnings)
    e = f.effects.set_index("day")
    assert not e.loc[14.0, "estimable"] and np.isnan(e.loc[14.0, "estimate"])
    assert e.loc[[0.0, 2.0, 4.0, 7.0], "estimable"].all() and np.isfinite(e.loc[7.0, "std_error"])


def test_fit_all_markers_schema_and_bh_per_day():
    d = simulate_biomarkers(3, censor_fractions=[0.0, 0.3, 0.6], seed=14)
    t = fit_all_markers(d)
    assert t.groupby("day").size().eq(3).all()
    assert (t["p_value_bh"] >= t["p_value"] - 1e-15).all()
    assert np.isinf(t["df"]).all() and t["engine"].eq("longmod.biomarkers.tobit").all()
    with pytest.raises(ValueError, match="one marker"):
        fit_censored_mixed(d)
