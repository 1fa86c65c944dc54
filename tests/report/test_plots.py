"""Plot data functions and plot objects (longmod.report.plots)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from longmod.report import plots
from longmod.results.schema import effects_frame


def test_forest_data_one_row_per_analysis_engine_at_published_day(toy_res):
    before = toy_res.effects.copy()
    fd = plots.forest_data(toy_res.effects)
    pd.testing.assert_frame_equal(toy_res.effects, before)  # input untouched
    # the published row comes first and is flagged
    assert fd.iloc[0]["is_published"] and fd.iloc[0]["engine"] == "published"
    assert fd.iloc[0]["estimate"] == pytest.approx(7.4)
    assert fd["is_published"].sum() == 1
    # one row per (analysis, engine, prior); longitudinal engines contribute their day-7 contrast
    key = fd["analysis"] + "|" + fd["engine"] + "|" + fd["label"]
    assert key.is_unique
    mmrm = fd[fd["analysis"] == "mmrm_us"]
    assert len(mmrm) == 1 and mmrm["day"].item() == 7 and mmrm["estimate"].item() == pytest.approx(9.5)
    # within-arm signed-rank rows and the biomarker outcome are not on the forest plot
    assert not fd["contrast"].str.contains(":").any()
    assert "il6_censored" not in set(fd["analysis"])
    # every family present, in the documented order
    fams = list(dict.fromkeys(fd["family"]))
    assert fams == [f for f in plots.FAMILY_ORDER if f in fams]
    assert {"published", "ANCOVA", "rank-based", "LMM/MMRM", "Bayesian", "Bayesian prior grid"} <= set(fams)
    assert (fd["family"] == "Bayesian prior grid").sum() == 10


def test_forest_data_never_mixes_days():
    """A comparison holds one day: the estimand's; an analysis without a result at that day is left out
    (it used to be shown at its nearest day, beside rows of another day)."""
    eff = effects_frame([
        {"analysis": "p", "outcome": "pf_change", "day": 7, "contrast": "a - b", "estimate": 1.0,
         "conf_low": 0.0, "conf_high": 2.0, "engine": "published"},
        {"analysis": "late", "outcome": "pf", "day": 14, "contrast": "a - b", "estimate": 3.0,
         "conf_low": 1.0, "conf_high": 5.0, "engine": "core-mmrm", "estimand_day": 7},
        {"analysis": "other_scale", "outcome": "sofa", "day": 7, "contrast": "a - b", "estimate": -1.0,
         "conf_low": -2.0, "conf_high": 0.0, "engine": "core-mmrm", "estimand_day": 7},
    ])
    fd = plots.forest_data(eff)
    assert fd["analysis"].tolist() == ["p"] and set(fd["day"]) == {7.0}
    assert plots.forest_data(eff, day=14.0)["analysis"].tolist() == ["late"]
    assert plots.forest_data(eff, outcome="sofa")["analysis"].tolist() == ["other_scale"]


def test_forest_plot_ticks_match_data_and_band_drawn(toy_res):
    fig = plots.forest_plot(toy_res.effects)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == plots.forest_data(toy_res.effects)["label"].tolist()
    # the published CI band: a patch spanning exactly the published interval
    xs = []
    for p in ax.patches:
        if hasattr(p, "get_width"):  # Rectangle (matplotlib >= 3.9)
            xs.append([round(p.get_x(), 6), round(p.get_x() + p.get_width(), 6)])
        else:  # Polygon
            xs.append(sorted({round(float(x), 6) for x in np.asarray(p.get_xy())[:, 0]}))
    assert [-44.7, 59.7] in xs


def test_forest_plot_draws_into_given_axes_and_handles_empty():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    eff = effects_frame([{"analysis": "p", "outcome": "pf", "day": 7, "contrast": "a - b", "estimate": 1.0,
                          "conf_low": 0.0, "conf_high": 2.0, "engine": "published"}])
    assert plots.forest_plot(eff, ax=ax) is fig
    empty = plots.forest_plot(effects_frame([]))
    assert "no between-arm" in empty.axes[0].texts[0].get_text()


def test_trajectory_data_matches_hand_computation(toy_res):
    trial = toy_res.trial
    td = plots.trajectory_data(trial, "pao2_fio2")
    m = trial.measurements.merge(trial.patients[["patient_id", "arm"]], on="patient_id")
    sub = m[(m["variable"] == "pao2_fio2") & (m["arm"] == "uc_msc") & (m["day"] == 7)]["value"].dropna()
    row = td[(td["arm"] == "uc_msc") & (td["day"] == 7)].iloc[0]
    assert row["n"] == len(sub) and row["mean"] == pytest.approx(sub.mean())
    from scipy import stats
    half = stats.t.ppf(0.975, len(sub) - 1) * sub.std() / np.sqrt(len(sub))
    assert row["conf_high"] - row["mean"] == pytest.approx(half)
    assert td["arm"].iloc[0] == trial.meta.arms[0]
    with pytest.raises(KeyError, match="measured variables"):
        plots.trajectory_data(trial, "no_such_variable")


def test_trajectory_plot_has_one_line_per_patient_plus_means(toy_res):
    trial = toy_res.trial
    fig = plots.trajectory_plot(trial, "pao2_fio2")
    ax = fig.axes[0]
    n_pat = trial.variable("pao2_fio2")["patient_id"].nunique()
    # one line per patient (a LineCollection per arm) beneath the arm means
    per_arm = {c.get_gid(): len(c.get_segments()) for c in ax.collections if (c.get_gid() or "").startswith("patients-")}
    assert sum(per_arm.values()) == n_pat and set(per_arm) == {f"patients-{a}" for a in trial.meta.arms}
    assert ax.get_ylabel() == "PaO2/FiO2 (mmHg)"
    assert "synthetic" in ax.get_title()
    assert plots.trajectory_variables(trial) == ["pao2_fio2", "sofa"]


def test_prior_posterior_data_densities_are_normal(toy_res):
    rows = plots.prior_grid_rows(toy_res.effects)
    assert len(rows) == 10
    d = plots.prior_posterior_data(rows, n_points=2001)
    post = d[(d["kind"] == "posterior") & (d["prior"] == "sceptical-strong")]
    area = float(np.sum(np.diff(post["x"]) * (post["density"].to_numpy()[1:] + post["density"].to_numpy()[:-1]) / 2))
    assert area == pytest.approx(1.0, abs=1e-3)
    r = rows[rows["prior"] == "sceptical-strong"].iloc[0]
    assert post.loc[post["density"].idxmax(), "x"] == pytest.approx(r["estimate"], abs=0.2)
    assert post["sd"].iloc[0] == pytest.approx(r["std_error"])


def test_prior_posterior_plot_panels_and_empty():
    from longmod.engines.bayes.summary_grid import prior_grid_reanalysis

    g = prior_grid_reanalysis(7.4, -44.7, 59.7, mcid=20.0, outcome="pf", day=7)
    fig = plots.prior_posterior_plot(g, mcid=20.0)
    titles = [a.get_title().split(" (")[0] for a in fig.axes if a.get_title()]
    assert titles == list(dict.fromkeys(g["prior_family"]))
    # one dashed prior and one solid posterior per prior, in the panel of its family
    sceptical = fig.axes[titles.index("sceptical")]
    styles = [ln.get_linestyle() for ln in sceptical.lines if ln.get_label().lstrip("_").startswith("sceptical")]
    assert sorted(styles) == ["-"] * 3 + ["--"] * 3
    assert plots.prior_posterior_data(effects_frame([{"analysis": "x", "estimate": 1.0}])).empty


def test_import_has_no_global_side_effects():
    code = ("import sys, longmod.report.plots, longmod.report.html; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_engine_family_is_data_driven():
    assert plots.engine_family("published") == "published"
    assert plots.engine_family("some-new-engine") == "other"
    assert plots.engine_family("lme4") == "LMM/MMRM"
    assert plots.engine_family("native") == "LMM/MMRM"
