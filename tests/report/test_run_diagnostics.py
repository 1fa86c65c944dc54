"""One diagnostics count per run: small-sample flags, the biomarker models, and the same count everywhere."""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace

import pandas as pd
import pytest

from longmod.cli import summary_table
from longmod.report.run_diagnostics import run_diagnostics
from longmod.results.schema import effects_frame

ROWS = [
    {"analysis": "ancova", "outcome": "pf", "day": 7, "contrast": "a - b", "estimate": 5.0, "df": 40.0,
     "conf_low": -40.0, "conf_high": 50.0, "engine": "ancova-ols"},
    # an MMRM at a late visit: Kenward-Roger df 4.5, interval wider than the plausible range 20-700
    {"analysis": "mmrm", "outcome": "pf", "day": 28, "contrast": "a - b", "estimate": -28.0, "df": 4.5,
     "conf_low": -267.0, "conf_high": 490.0, "engine": "native", "converged": True},
    {"analysis": "mmrm", "outcome": "pf", "day": 7, "contrast": "a - b", "estimate": 10.0, "df": 38.0,
     "conf_low": -30.0, "conf_high": 50.0, "engine": "native", "converged": True},
]
SECTION = {
    "censored_mixed": pd.DataFrame({"analysis": ["censored", "censored"], "engine": ["tobit", "tobit"],
                                    "outcome": ["il6", "crp"], "day": [7, 7], "converged": [True, False]}),
    "pooled_diagnostics": pd.DataFrame({"prior": ["horseshoe"], "max_r_hat": [1.02], "min_ess_bulk": [161.0],
                                        "divergences": [0], "warnings": [""]}),
}
TRIAL = SimpleNamespace(meta=SimpleNamespace(variables={"pf": SimpleNamespace(min=20.0, max=700.0)}))


def _res(rows=ROWS, section=SECTION):
    return SimpleNamespace(effects=effects_frame(rows), biomarkers=section, trial=TRIAL)


def test_small_samples_and_biomarker_models_are_flagged():
    d = run_diagnostics(_res()).set_index("analysis")
    assert list(d.index) == ["ancova", "mmrm", "censored (il6)", "censored (crp)",
                             "biomarkers pooled (horseshoe prior)"]
    assert not d.loc["ancova", "problem"] and not d.loc["censored (il6)", "problem"]
    assert "df 4.5 < 10" in d.loc["mmrm", "problems"]
    assert "95% interval 757 wider than the plausible range of pf (680)" in d.loc["mmrm", "problems"]
    assert "did not converge" in d.loc["censored (crp)", "problems"]
    pooled = d.loc["biomarkers pooled (horseshoe prior)"]
    assert pooled.problem and "R-hat 1.020" in pooled.problems and "bulk ESS 161" in pooled.problems


def test_no_range_declared_no_width_flag_and_inputs_unchanged():
    res = _res()
    res.trial = SimpleNamespace(meta=SimpleNamespace(variables={"pf": SimpleNamespace(min=None, max=None)}))
    before = res.effects.copy(deep=True)
    d = run_diagnostics(res).set_index("analysis")
    assert "plausible range" not in d.loc["mmrm", "problems"] and "df 4.5" in d.loc["mmrm", "problems"]
    pd.testing.assert_frame_equal(res.effects, before)


def test_row_order_and_names_change_nothing():
    a = run_diagnostics(_res()).set_index("analysis")
    renamed = [{**r, "contrast": "x - y"} for r in reversed(ROWS)]
    b = run_diagnostics(_res(renamed)).set_index("analysis").loc[a.index]
    assert a["problems"].tolist() == b["problems"].tolist()


@pytest.mark.slow
def test_terminal_markdown_and_json_give_one_count(tmp_path):
    from longmod.pipeline import reanalyse
    from longmod.report.html import _diagnostics_html
    from longmod.report.markdown import _diagnostics_md

    res = reanalyse("stroma-cov2", only=["primary_ancova"])
    res = dataclasses.replace(res, biomarkers={**(res.biomarkers or {}), **SECTION})
    d = run_diagnostics(res)
    n, m = int(d["problem"].sum()), len(d)
    assert (n, m) == (2, 4)  # the ANCOVA, two censored models (one not converged), the pooled model (R-hat)
    assert f"diagnostics: {n} of {m} fits flagged" in summary_table(res.effects, d)
    assert re.search(rf"\b{n} of {m} fits flagged\.", "\n".join(_diagnostics_md(res)))
    html = _diagnostics_html(res)
    assert html.count('<tr class="problem"') == n and "biomarkers pooled (horseshoe prior)" in html


@pytest.mark.slow
def test_method_statements_are_notes_not_flags():
    """How a result was computed (a per-patient slope, free days, an event derived from scheduled measurements) is
    said in the rows' ``note`` and the table's notes, and does not flag the fit; a real warning still does."""
    from longmod.pipeline import reanalyse

    res = reanalyse("stroma-cov2", only=["sofa_slope", "ventilator_free_days", "pf_above_200"])
    e = res.effects[res.effects["engine"] != "published"]
    for name, said in [("sofa_slope", "per-patient least-squares slope"), ("ventilator_free_days", "carried forward"),
                       ("pf_above_200", "dated at the later visit")]:
        rows = e[e["analysis"] == name]
        assert len(rows) and rows["note"].str.contains(said).all(), name
        assert not rows["warnings"].fillna("").str.contains(said).any(), name
    d = run_diagnostics(res).set_index(["analysis", "engine"])
    for name in ("sofa_slope", "ventilator_free_days"):
        assert not d.loc[name, "problem"].any() and d.loc[name, "notes"].str.len().gt(0).all(), name
    fg = d.loc["pf_above_200"]
    assert fg["notes"].str.contains("dated at the later visit").all()
    # the competing-risk fits still carry their real warning (censoring not independent): flagged for it, not the note
    assert not fg["warnings"].str.contains("dated at the later visit").any()
