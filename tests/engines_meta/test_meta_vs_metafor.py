"""Meta-analysis engines against R metafor 3.8-1 (and the published conversion formulas).

Reference: tests/reference/metafor/metafor.R read the CSVs beside it and wrote
metafor.json; these tests compare with the stored JSON (after an md5 check of
the inputs); the ``r``-marked test re-runs the script and checks it is current.

Tolerances: metafor was run with its REML threshold tightened to 1e-12 and
longmod solves the REML score equation with brentq to ~1e-14, so everything is
closed-form arithmetic on the same tau^2: rtol 1e-8 (atol 1e-10 for tau^2 and
I^2 at the 0 boundary, where metafor's iteration stops at ~1e-13 instead of 0).
The conversions are the same formulas in double precision: rtol 1e-12.
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

from longmod.engines.meta.convert import (log_odds_ratio, mean_difference, mean_sd_from_median_iqr,
                                          mean_sd_from_median_range)
from longmod.engines.meta.frequentist import meta_rows, random_effects
from tests.conftest import assert_json_close, require_rscript

HERE = Path(__file__).resolve().parents[1] / "reference" / "metafor"
STUDIES = pd.read_csv(HERE / "studies.csv")


@pytest.fixture(scope="module")
def ref() -> dict:
    r = json.loads((HERE / "metafor.json").read_text())
    for name, md5 in r["inputs"]["md5"].items():
        assert hashlib.md5((HERE / f"{name}.csv").read_bytes()).hexdigest() == md5, f"re-run metafor.R ({name}.csv changed)"
    return r


@pytest.mark.parametrize("name", ["convert", "frequentist", "priors", "bayes"])
def test_docstring_examples_run(name):
    mod = importlib.import_module(f"longmod.engines.meta.{name}")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize("method", ["REML", "DL"])
@pytest.mark.parametrize("study_set", ["moderate", "three", "homog", "mmhg"])
def test_random_effects_matches_rma(ref, study_set, method, test):
    r = ref["rma"][f"{study_set}_{method}_{test}"]
    d = STUDIES[STUDIES.set == study_set]
    got = random_effects(d.yi, d.sei, method=method, test=test)
    for ours, theirs in (("estimate", "estimate"), ("std_error", "se"), ("conf_low", "ci_lb"), ("conf_high", "ci_ub"),
                         ("p_value", "pval"), ("q", "QE"), ("q_p", "QEp"), ("pi_low", "pi_lb"), ("pi_high", "pi_ub"),
                         ("h2", "H2")):
        np.testing.assert_allclose(getattr(got, ours), r[theirs], rtol=1e-8, err_msg=ours)
    np.testing.assert_allclose([got.tau2, got.i2 / 100], [r["tau2"], r["I2"] / 100], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got.weights, r["weights"], rtol=1e-8)


def test_log_odds_ratio_matches_escalc(ref):
    counts = pd.read_csv(HERE / "counts.csv")
    eff = [log_odds_ratio(c.ai, c.n1i, c.ci, c.n2i) for c in counts.itertuples()]
    y = np.array([e.estimate for e in eff])
    v = np.array([e.std_error**2 for e in eff])
    drop = np.array([np.nan if x is None else x for x in ref["escalc_or_drop00"]["yi"]], float)
    np.testing.assert_allclose(y, drop, rtol=1e-12)  # double-zero study: NaN, as escalc(drop00 = TRUE)
    ok = np.isfinite(y)
    np.testing.assert_allclose(v[ok], np.array(ref["escalc_or"]["vi"])[ok], rtol=1e-12)
    assert "not estimable" in eff[2].note and "0.5 added" in eff[0].method and eff[5].method == "2x2 counts"


def test_mean_difference_matches_escalc(ref):
    e = mean_difference(83.3, 90, 10, 57.6, 85, 10)
    np.testing.assert_allclose([e.estimate, e.std_error**2], [ref["escalc_md"]["yi"], ref["escalc_md"]["vi"]], rtol=1e-12)


def test_median_conversions_match_the_papers_formulas(ref):
    sm = pd.read_csv(HERE / "summaries.csv")
    r = ref["summaries"]
    wan = np.array([mean_sd_from_median_iqr(s.q1, s.median, s.q3, s.n)[:2] for s in sm.itertuples()])
    luo = np.array([mean_sd_from_median_iqr(s.q1, s.median, s.q3, s.n, mean_method="luo")[0] for s in sm.itertuples()])
    rng = np.array([mean_sd_from_median_range(s.minimum, s.median, s.maximum, s.n)[:2] for s in sm.itertuples()])
    np.testing.assert_allclose(wan[:, 0], r["wan_iqr_mean"], rtol=1e-12)
    np.testing.assert_allclose(wan[:, 1], r["wan_iqr_sd"], rtol=1e-12)
    np.testing.assert_allclose(luo, r["luo_mean"], rtol=1e-12)
    np.testing.assert_allclose(rng, np.column_stack([r["wan_range_mean"], r["wan_range_sd"]]), rtol=1e-12)


def test_meta_rows_schema_and_study_order_invariance():
    d = STUDIES[STUDIES.set == "moderate"].rename(columns={"yi": "estimate", "sei": "std_error"})
    a = meta_rows(d, analysis="m", outcome="o", contrast="t - c")
    b = meta_rows(d.iloc[::-1].rename(columns={"study": "trial"}), analysis="m", outcome="o", contrast="t - c", study="trial")
    np.testing.assert_allclose(a.iloc[0][["estimate", "std_error", "tau2", "pi_low", "pi_high"]].to_numpy(float),
                               b.iloc[0][["estimate", "std_error", "tau2", "pi_low", "pi_high"]].to_numpy(float), rtol=1e-12)
    assert a["statistic"].tolist()[0] == "pooled" and (a["n_obs"].iloc[0] == 6)


def test_bad_study_is_named_not_dropped():
    with pytest.raises(ValueError, match="study 1"):
        random_effects([0.1, np.nan, 0.3], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="at least 2"):
        random_effects([0.1], [0.1])


@pytest.mark.r
def test_stored_reference_is_what_metafor_r_writes(tmp_path):
    rscript = require_rscript()
    out = tmp_path / "metafor.json"
    subprocess.run([rscript, str(HERE / "metafor.R"), str(HERE), str(out)], check=True, capture_output=True, text=True)
    # numbers equal to rounding: R's BLAS kernels differ by CPU (seen: a boundary tau2 of 3.6e-13 that differed
    # by 1.6e-19, estimates by 1e-15 relative)
    assert_json_close(json.loads(out.read_text()), json.loads((HERE / "metafor.json").read_text()),
                      lambda path: (1e-9, 1e-12))
