"""The estimand kinds in the pipeline: tipping_point, multiple_imputation, while_alive, worst_rank.

* the tipping grid point equal to the protocol's constants is the primary ANCOVA, number for number (exact);
* every kind produces its rows in a pipeline run, labelled with its estimand and what it assumes, on the
  bundled plan and on a user's own (simulated) trial folder, with two or three arms;
* renaming arms, strata and ids, or reordering the input rows, changes no number (metamorphic);
* a trial or plan where a kind does not apply is refused before anything is fitted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.pipeline import reanalyse
from longmod.spec.plan import PlanError

from .own_trial import write_own_trial
from .test_metamorphic import ARMS, _sub, make_copy

KINDS = ["tipping_point", "mi_mar", "mi_j2r", "mi_cr", "mi_cir", "while_alive_auc", "worst_rank"]
NUMBERS = ["estimate", "std_error", "df", "conf_low", "conf_high", "p_value", "n_obs", "n_patients"]
GRID = ["death_value", "discharge_rule", "discharge_factor", "active_delta"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("estimand_kinds")
    out = {}
    for key, kw in {"original": dict(names=False, ids=None, shuffle=False),
                    "renamed": dict(names=True, ids="shuffled", shuffle=True),
                    "renamed_same_order": dict(names=True, ids="ordered", shuffle=True),
                    "reordered": dict(names=False, ids=None, shuffle=True)}.items():
        only = ["primary_ancova", *KINDS] if key == "original" else \
            (["tipping_point", "while_alive_auc", "worst_rank"] if key == "renamed" else KINDS)
        out[key] = reanalyse(make_copy(base / key, **kw), only=only)
    return out


def _ours(res, analyses, *, names: bool) -> pd.DataFrame:
    e = res.effects[res.effects["analysis"].isin(analyses)].copy()
    if names:
        back = {v: k for k, v in ARMS.items()}
        e["contrast"] = e["contrast"].map(lambda c: _sub(str(c), back))
    for c in ("summary_measure", *GRID):
        e[c] = e[c].astype(str) if c in e else ""
    return e.set_index(["analysis", "contrast", "summary_measure", *GRID]).sort_index()


def test_the_protocols_grid_point_is_the_primary_analysis_exactly(runs):
    e = runs["original"].effects
    primary = e[(e["analysis"] == "primary_ancova") & (e["engine"] == "ancova-ols")].iloc[0]
    tp = e[e["analysis"] == "tipping_point"]
    proto = tp[tp["is_protocol"].astype(bool)]
    assert len(proto) == 1
    p = proto.iloc[0]
    # the plan's constants: death -> 50, discharge -> last value x 1.10, no delta
    assert (p["death_value"], p["discharge_rule"], p["discharge_factor"], p["active_delta"]) == \
        (50.0, "locf_multiplier", 1.1, 0.0)
    for c in NUMBERS:  # exact: the same analysis data through the same ANCOVA
        assert p[c] == primary[c], c
    assert tp["is_protocol"].iloc[0]  # first row: the one a one-row-per-analysis view shows


def test_tipping_grid_has_its_constants_in_columns_and_at_least_10_by_6_points(runs):
    tp = runs["original"].effects.query("analysis == 'tipping_point'")
    mult = tp[(tp["discharge_rule"] == "locf_multiplier") & (tp["active_delta"] == 0)]
    assert mult["death_value"].nunique() >= 10 and mult["discharge_factor"].nunique() >= 6
    assert mult["death_value"].min() == 0 and mult["death_value"].max() == 150
    assert mult["discharge_factor"].min() == pytest.approx(0.8) and mult["discharge_factor"].max() == pytest.approx(1.4)
    assert set(tp["discharge_rule"]) == {"locf_multiplier", "locf_plus_baseline_fraction"}
    assert tp["active_delta"].nunique() > 1
    assert not tp.duplicated(GRID).any()
    # P(benefit) rises with the delta on the active arm's imputed values (higher is better for PaO2/FiO2)
    s = tp[(tp["discharge_rule"] == "locf_multiplier") & (tp["discharge_factor"] == 1.1) & (tp["death_value"] == 50)]
    assert np.all(np.diff(s.sort_values("active_delta")["prob_benefit"].to_numpy()) > 0)
    assert tp["prob_benefit"].between(0, 1).all() and tp["prob_benefit_method"].str.contains("N\\(0, 100\\^2\\)").all()


def test_every_kind_gives_labelled_rows_with_what_it_assumes(runs):
    from longmod.estimands.descriptions import ESTIMANDS

    e = runs["original"].effects
    for name in KINDS:
        rows = e[e["analysis"] == name]
        assert len(rows) >= 1, name
        assert rows["estimate"].notna().all() and rows["conf_low"].lt(rows["conf_high"]).all(), name
        info = ESTIMANDS[name]
        assert (rows["estimand_label"] == info.label).all(), name
        assert (rows["assumes"] == info.assumes).all(), name
        assert (rows["status"] == "ok").all(), name
    mi = e[e["analysis"].str.startswith("mi_")]
    assert (mi["n_imputations"] == 20).all() and (mi["df_method"] == "barnard-rubin").all()
    assert (mi["outcome"] == "pao2_fio2_change").all() and (mi["day"] == 7).all()
    # J2R removes the benefit after the event: it does not exceed the MAR estimate on these data
    est = mi.set_index("analysis")["estimate"]
    assert est["mi_j2r"] < est["mi_mar"]
    wr = e[e["analysis"] == "worst_rank"].set_index("summary_measure")
    assert set(wr.index) == {"win_ratio", "mann_whitney_odds", "probabilistic_index"}


def test_renaming_arms_strata_and_ids_changes_no_number(runs):
    """Deterministic kinds with ids renamed in another order; MI (bootstrap over patients) with ids renamed in
    the same order, as the Bayesian metamorphic test does: the same seed then draws the same patients."""
    for key, analyses in (("renamed", ["tipping_point", "while_alive_auc", "worst_rank"]),
                          ("renamed_same_order", KINDS)):
        a = _ours(runs["original"], analyses, names=False)
        b = _ours(runs[key], analyses, names=True)
        assert a.index.equals(b.index), key
        for col in NUMBERS:
            x, y = a[col].to_numpy(float), b[col].to_numpy(float)
            assert np.allclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True), (key, col, np.nanmax(np.abs(x - y)))
    assert "cells - saline" in set(runs["renamed"].effects["contrast"].dropna())


def test_reordering_rows_changes_nothing_at_all(runs):
    a = _ours(runs["original"], KINDS, names=False)
    b = _ours(runs["reordered"], KINDS, names=False)
    pd.testing.assert_frame_equal(a[NUMBERS], b[NUMBERS], check_exact=True)


OWN_PLAN = """\
[plan]
trial = "vitc-sim"

[estimands.protocol]
outcome = "spo2_fio2"
day = 7
death = { strategy = "composite", value = 60 }
discharge = { strategy = "locf_multiplier", factor = 1.0 }

[estimands.hypo]
outcome = "spo2_fio2"
day = 7
death = "hypothetical"
discharge = "hypothetical"
other_missing = "hypothetical"

[[analyses]]
name = "primary_ancova"
kind = "ancova"
estimand = "protocol"

[[analyses]]
name = "tipping"
kind = "tipping_point"
estimand = "protocol"
death_values = [0, 40, 80, 120]
discharge_multipliers = [0.9, 1.1]
discharge_fractions = []

[[analyses]]
name = "mi"
kind = "multiple_imputation"
estimand = "hypo"
method = { death = "j2r", discharge = "cir" }
imputations = 5

[[analyses]]
name = "alive"
kind = "while_alive"
stop_at = ["discharge"]

[[analyses]]
name = "ranks"
kind = "worst_rank"
estimand = "protocol"
rank_by = "value"
"""


@pytest.mark.parametrize("arms", [2, 3])
def test_the_kinds_run_on_a_users_own_trial(tmp_path, arms):
    f = write_own_trial(tmp_path / "vitc", n=72)
    if arms == 3:
        pts = pd.read_csv(f / "patients.csv")
        pts.loc[pts.index % 4 == 0, "arm"] = "high_dose"
        pts.to_csv(f / "patients.csv", index=False)
        toml = (f / "trial.toml").read_text().replace('arms = ["vitamin_c", "usual_care"]',
                                                      'arms = ["vitamin_c", "high_dose", "usual_care"]')
        (f / "trial.toml").write_text(toml)
    (f / "plan.toml").write_text(OWN_PLAN, encoding="utf-8")
    e = reanalyse(f).effects
    contrasts = {"vitamin_c - usual_care"} | ({"high_dose - usual_care"} if arms == 3 else set())
    for name in ("tipping", "mi", "alive", "ranks"):
        rows = e[e["analysis"] == name]
        assert set(rows["contrast"]) == contrasts, name
        assert rows["estimate"].notna().all() and rows["assumes"].str.len().gt(0).all(), name
    tp = e[e["analysis"] == "tipping"]
    assert len(tp) == len(contrasts) * 5 * 3  # 4 death values + the protocol's 60, 2 factors + the protocol's 1.0
    mi = e[e["analysis"] == "mi"]
    assert mi["estimand_label"].str.startswith("Per event: death: Jump to reference").all()
    alive = e[e["analysis"] == "alive"]
    assert (alive["outcome"] == "spo2_fio2_while_alive").all() and (alive["day"] == 7).all()
    if arms == 2:  # with two arms the protocol's point is the primary analysis
        p = tp[tp["is_protocol"].astype(bool)].iloc[0]
        prim = e[(e["analysis"] == "primary_ancova") & (e["engine"] == "ancova-ols")].iloc[0]
        assert [p[c] for c in NUMBERS] == [prim[c] for c in NUMBERS]


def test_a_kind_that_does_not_apply_is_refused_before_fitting(tmp_path):
    f = write_own_trial(tmp_path / "vitc")
    toml = (f / "trial.toml").read_text()
    (f / "trial.toml").write_text(toml.replace('kind = "death"', 'kind = "other"'))
    bad = OWN_PLAN.replace('death = "hypothetical"\ndischarge = "hypothetical"',
                           'death = { strategy = "composite", value = 0 }\ndischarge = "hypothetical"')
    (f / "plan.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(PlanError) as err:
        reanalyse(f)
    msg = str(err.value)
    assert "analysis 'alive' (while_alive): the trial declares no event of kind death" in msg
    assert "analysis 'ranks' (worst_rank): the trial declares no event of kind death" in msg
    assert "analysis 'mi': multiple imputation imputes the values missing after death and ICU discharge" in msg


@pytest.mark.parametrize("name", ["longmod.pipeline.runners_estimands", "longmod.pipeline.runners_tipping",
                                  "longmod.report.estimands_section", "longmod.estimands.ancova_batch"])
def test_examples_run(name):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0
