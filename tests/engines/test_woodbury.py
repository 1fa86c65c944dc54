"""Per-subject (Woodbury) random-effects path of the native core.

* against lme4 / lmerTest / pbkrtest on data measured at irregular times (636 distinct times,
  more than the pattern layout's old 200-position limit): ``tests/reference/r/irregular_lmer.R``
  -> ``irregular_lmer.json`` on ``irregular_lmm.csv`` (``make_irregular_lmm.py``, seeded);
* against the pattern layout on a visit grid (two independent implementations of the same
  likelihood, gradient, Hessians and Kenward-Roger sums);
* metamorphic: renaming patients and arms and shuffling rows changes no number.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from longmod.engines.core import optimize as opt
from longmod.engines.core import woodbury as wb
from longmod.engines.core.covariance import get_structure
from longmod.engines.core.likelihood import build_long_data, objective
from longmod.engines.core.ops import ops
from longmod.engines.native import fit_native
from longmod.spec.model import ModelSpec, Treatment

from .conftest import R_REF


def _spec(cov="ris", method="reml", df="satterthwaite", subject="pid", arm="arm", levels=("ctl", "act")):
    return ModelSpec(name=f"irr_{cov}", outcome="y", fixed=f"base + {arm} * time", subject=subject, visit=None,
                     time="time", covariance=cov, method=method, df=df,
                     treatment=Treatment(arm, levels[0], levels[1]), levels={arm: list(levels)})


@pytest.fixture(scope="module")
def irregular():
    return pd.read_csv(R_REF / "irregular_lmm.csv")


@pytest.fixture(scope="module")
def lmer_irregular():
    return json.loads((R_REF / "irregular_lmer.json").read_text())["fits"]


@pytest.fixture(scope="module")
def native_irregular(irregular):
    fits = {f"{c}_{m}": fit_native(_spec(c, m), irregular) for c in ("ri", "ris") for m in ("reml", "ml")}
    for c in ("ri", "ris"):
        fits[f"{c}_reml_kr"] = fit_native(_spec(c, "reml", "kenward-roger"), irregular)
    return fits


def _varcomp(ref):
    vc = ref["varcomp"]
    out = {}
    for a, b, v in zip(vc["var1"], vc["var2"], vc["vcov"]):
        if a == "":
            out["residual"] = v
        elif b == "":
            out[f"var({'Intercept' if a == '(Intercept)' else a})"] = v
        else:
            out["cov(Intercept,time)"] = v
    return out


@pytest.mark.parametrize("key", ["ri_reml", "ri_ml", "ris_reml", "ris_ml"])
def test_irregular_times_against_lme4(key, native_irregular, lmer_irregular):
    ref, fit = lmer_irregular[key], native_irregular[key]
    assert ref["n_distinct_times"] > 200  # beyond the pattern layout's position grid
    assert fit.convergence.converged and fit.convergence.optimizer == "Newton"
    # both optimisers converge tightly (bobyqa rhoend 1e-10); measured: -2LL 4e-14, estimates
    # 4e-8, SEs 1e-7, variance components 2e-6 (flat directions), Satterthwaite df 4e-7
    # (lmerTest differentiates its deviance numerically, numDeriv). Tolerances ~10x those.
    assert fit.fit_stats["neg2_log_likelihood"] == pytest.approx(ref["neg2_log_likelihood"], rel=1e-10)
    p = fit.params.set_index("term")
    for term, value in ref["coef"].items():
        assert p.loc[term, "estimate"] == pytest.approx(value, rel=1e-6, abs=1e-8), term
        assert p.loc[term, "std_error"] == pytest.approx(ref["se"][term], rel=1e-6), term
        assert p.loc[term, "df"] == pytest.approx(ref["df_satterthwaite"][term], rel=1e-5), term
    cov = fit.covariance.set_index("parameter")["estimate"]
    for name, value in _varcomp(ref).items():
        assert cov[name] == pytest.approx(value, rel=2e-5), name
    eff = fit.effects.iloc[0]  # act - ctl at the mean time (emmeans' default for a numeric covariate)
    c = ref["contrast_satterthwaite"]
    assert eff["estimate"] == pytest.approx(c["estimate"], rel=1e-6)
    assert eff["std_error"] == pytest.approx(c["se"], rel=1e-6)
    assert eff["df"] == pytest.approx(c["df"], rel=1e-5)


@pytest.mark.parametrize("cov", ["ri", "ris"])
def test_irregular_times_kenward_roger_against_pbkrtest(cov, native_irregular, lmer_irregular):
    ref, fit = lmer_irregular[f"{cov}_reml"], native_irregular[f"{cov}_reml_kr"]
    # expected information, as pbkrtest: the same closed forms at optima that agree to ~1e-8;
    # measured SE 5e-8, df 2e-8 -> 1e-6
    p = fit.params.set_index("term")
    for term in ref["coef"]:
        assert p.loc[term, "std_error"] == pytest.approx(ref["se_kenward_roger"][term], rel=1e-6), term
        assert p.loc[term, "df"] == pytest.approx(ref["df_kenward_roger"][term], rel=1e-6), term
    c, eff = ref["contrast_kenward_roger"], fit.effects.iloc[0]
    assert eff["std_error"] == pytest.approx(c["se"], rel=1e-6)
    assert eff["df"] == pytest.approx(c["df"], rel=1e-6)


def test_many_times_report_a_quantile_covariance_grid(native_irregular):
    S = native_irregular["ris_reml"].extras["covariance_matrix"]
    assert S.shape == (11, 11)  # 636 distinct times: shown at 11 time quantiles, not 636 x 636
    assert np.all(np.linalg.eigvalsh(S.to_numpy()) > 0)
    assert native_irregular["ri_reml"].extras["covariance_matrix"].shape[0] == 9  # row order 1..max visits


def test_renaming_and_reordering_change_no_number(irregular):
    base = fit_native(_spec("ris", "reml", "kenward-roger"), irregular)
    d = irregular.sample(frac=1.0, random_state=3).rename(columns={"pid": "patient", "arm": "group"})
    d["patient"] = "Z" + d["patient"].str[::-1]
    d["group"] = d["group"].map({"ctl": "B", "act": "A"})
    other = fit_native(_spec("ris", "reml", "kenward-roger", "patient", "group", ("B", "A")), d)
    # same data, other summation order: 1e-9 relative
    assert other.fit_stats["neg2_log_likelihood"] == pytest.approx(base.fit_stats["neg2_log_likelihood"], rel=1e-12)
    np.testing.assert_allclose(other.params["estimate"], base.params["estimate"], rtol=1e-9)
    np.testing.assert_allclose(other.params[["std_error", "df"]], base.params[["std_error", "df"]], rtol=1e-7)
    np.testing.assert_allclose(other.effects[["estimate", "std_error", "df"]], base.effects[["estimate", "std_error", "df"]],
                               rtol=1e-7)


def _grid_data(n=40, seed=5):
    rng = np.random.default_rng(seed)
    times = np.array([0.0, 1.0, 2.5, 4.0, 7.0])
    X, subj, pos = [], [], []
    for i in range(n):
        keep = np.flatnonzero(rng.random(5) > 0.25)
        for k in (keep if len(keep) else [0]):
            X.append([1.0, float(i % 2), rng.normal(), times[k]])
            subj.append(i)
            pos.append(k)
    X, subj, pos = np.array(X), np.array(subj), np.array(pos)
    y = (X @ np.array([1.0, 0.5, 0.3, 0.2]) + rng.normal(size=len(X)) + np.repeat(rng.normal(size=n), np.bincount(subj))
         + times[pos] * np.repeat(0.3 * rng.normal(size=n), np.bincount(subj)))
    return y, X, subj, pos, times


@pytest.mark.parametrize("name", ["ri", "ris"])
@pytest.mark.parametrize("reml", [True, False])
def test_subject_layout_equals_pattern_layout(name, reml):
    y, X, subj, tpos, times = _grid_data()
    s = get_structure(name)
    if name == "ri":  # positions: the row order within the patient
        pos = np.concatenate([np.arange(c) for c in np.bincount(subj)])
        grid = np.arange(1.0, pos.max() + 2)
    else:
        pos, grid = tpos, times
    dense = build_long_data(y, X, subj, pos, grid)
    per = wb.build_subject_data(y, X, subj, times[tpos], s)
    th = opt.start_values(dense, s) + 0.1 * np.sin(np.arange(s.n_par(5)) + 1.0)
    out = []
    for data in (dense, per):
        sig, jac, _ = opt._funcs(data, s, reml)
        v, g, ev = objective(data, sig, jac, th, reml)
        dS, dn = jac(th)
        o = ops(data)
        W = np.eye(len(th)) + 0.1
        Q, R = o.kr_sums(data, ev, dS, dn, W, np.ones((data.K, data.K)), 0.3)
        info = o.information(data, ev, dS, dn, reml, None, ("observed", "expected", "average"))
        out.append([np.array([v]), g, info["observed"], info["expected"], info["average"], info["P"],
                    o.p_matrices(data, ev, dS, dn), Q, o.sandwich_meat(data, ev), ev.beta]
                   + ([R] if name == "ri" else []))
    # two implementations of the same formulas: agreement to rounding (1e-10 relative)
    for a, b in zip(*out):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10 * np.abs(a).max())


def test_structures_not_of_random_effects_form_have_no_subject_layout():
    assert wb.build_subject_data(np.zeros(2), np.ones((2, 1)), np.array([0, 1]), np.zeros(2), get_structure("cs")) is None
