"""Time-to-event, ordinal and meta-analysis figures: the data twins against hand computation, labels never cut,
drawing into a given axes, and renaming arms changes no number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.engines.meta.frequentist import meta_rows
from longmod.engines.survival.data import survival_data
from longmod.report.canvas import new_figure
from longmod.report.meta_plots import meta_forest_data, meta_forest_plot
from longmod.report.ordinal_plots import ordinal_bars_data, ordinal_bars_plot
from longmod.report.survival_plots import cif_plot, cif_plot_data, km_plot, km_plot_data
from longmod.resources import fixtures_dir


def texts_inside(fig) -> list[str]:
    """Drawn texts that leave the figure (empty = nothing cut): the figure's tight box must lie inside it."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    tight = fig.get_tightbbox(renderer)  # inches, drawn artists only (ticks outside the view are not drawn)
    w, h = fig.get_size_inches()
    eps = 0.01
    if tight.x0 >= -eps and tight.y0 >= -eps and tight.x1 <= w + eps and tight.y1 <= h + eps:
        return []
    box = fig.bbox
    out = []
    for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent")):
        if t.get_visible() and t.get_text().strip():
            b = t.get_window_extent(renderer)
            if b.x0 < box.x0 - 1 or b.x1 > box.x1 + 1 or b.y0 < box.y0 - 1 or b.y1 > box.y1 + 1:
                out.append(t.get_text())
    return out or [f"tight box {tight} outside the figure {w} x {h}"]


@pytest.fixture(scope="module")
def martinez():
    folder = fixtures_dir() / "martinez_munoz_2024"
    return pd.read_csv(folder / "patients.csv"), pd.read_csv(folder / "measurements.csv")


def _o2(patients, arm_map=None):
    p = patients.assign(e=1)
    if arm_map:
        p["arm"] = p["arm"].map(arm_map)
    arms = ("placebo", "bm_msc") if not arm_map else (arm_map["placebo"], arm_map["bm_msc"])
    return survival_data(p, time="o2_stop_day", event="e", arm="arm", arms=arms)


def test_km_data_is_the_empirical_curve_without_censoring(martinez):
    patients, _ = martinez
    cd = km_plot_data(_o2(patients), at_risk_times=[0, 7, 14, 21, 28])
    for arm, g in patients.groupby("arm"):
        c = cd.curves[cd.curves["arm"] == arm]
        days = np.sort(g["o2_stop_day"].to_numpy())
        # no censoring: S(t) = share of the arm still on oxygen after t
        for t, s in zip(c["time"], c["estimate"]):
            assert s == pytest.approx((days > t).mean(), abs=1e-12)
        ar = cd.at_risk[cd.at_risk["arm"] == arm].set_index("time")["n_risk"]
        for t in (0, 7, 14, 21, 28):
            assert ar[float(t)] == (days >= t).sum()
    assert cd.censored.empty


def test_km_rename_arms_changes_no_number(martinez):
    patients, _ = martinez
    a = km_plot_data(_o2(patients))
    b = km_plot_data(_o2(patients, {"placebo": "ctl", "bm_msc": "cells"}))
    pd.testing.assert_frame_equal(a.curves.drop(columns="arm"), b.curves.drop(columns="arm"))
    assert list(b.curves["arm"].unique()) == ["ctl", "cells"]


def test_cif_data_event_plus_competing_plus_event_free_is_one():
    rng = np.random.default_rng(5)
    d = pd.DataFrame({"t": rng.integers(1, 30, 40), "e": rng.choice([0, 1, 2], 40, p=[0.2, 0.6, 0.2]),
                      "g": np.repeat(["x", "y"], 20)})
    sd = survival_data(d, time="t", event="e", arm="g", arms=("x", "y"), max_event_code=2)
    cd = cif_plot_data(sd)
    from longmod.engines.survival.km import km_table

    for arm in ("x", "y"):
        ev = cd.curves.query("arm == @arm and curve == 'event'").set_index("time")["estimate"]
        co = cd.curves.query("arm == @arm and curve == 'competing'").set_index("time")["estimate"]
        m = d["g"] == arm
        allcause = km_table(d.loc[m, "t"], (d.loc[m, "e"] > 0).astype(int)).set_index("time")["surv"]
        for t in allcause.index:
            assert ev[t] + co[t] + allcause[t] == pytest.approx(1.0, abs=1e-12)


def test_km_and_cif_figures_never_cut_labels_and_accept_ax(martinez):
    patients, _ = martinez
    fig = km_plot(_o2(patients, {"placebo": "a very long reference arm label", "bm_msc": "x"}),
                  title="Time to stopping supplemental oxygen", ylabel="Still on oxygen")
    assert texts_inside(fig) == []
    own, axes = new_figure((6, 4))
    assert km_plot(_o2(patients), ax=axes[0, 0]) is own
    d = patients.assign(code=np.where(np.arange(len(patients)) < 3, 2, 1))
    sd = survival_data(d, time="o2_stop_day", event="code", arm="arm", arms=("placebo", "bm_msc"), max_event_code=2)
    fig = cif_plot(sd, event_label="oxygen stopped", competing_label="death")
    assert texts_inside(fig) == []
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["placebo: oxygen stopped", "placebo: death", "bm_msc: oxygen stopped", "bm_msc: death"]


def test_km_refuses_competing_codes():
    d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 2, 0, 1], "g": list("aabb")})
    sd = survival_data(d, time="t", event="e", arm="g", arms=("a", "b"), max_event_code=2)
    with pytest.raises(ValueError, match="competing"):
        km_plot_data(sd)


def test_ordinal_bars_match_counts_and_skip_small_days(martinez):
    patients, meas = martinez
    w = meas[meas["variable"] == "who_scale"].merge(patients[["patient_id", "arm"]])
    d = ordinal_bars_data(w, levels=range(9), arms=["placebo", "bm_msc"], days=[0, 7, 28])
    for (day, arm), g in d.groupby(["day", "arm"]):
        obs = w[(w["day"] == day) & (w["arm"] == arm)]["value"]
        assert g["n"].sum() == len(obs) == g["n_patients"].iloc[0]
        assert g["proportion"].sum() == pytest.approx(1.0)
        assert dict(zip(g["level"], g["n"])) == {lev: int((obs == lev).sum()) for lev in range(9)}
    few = w[(w["day"] == 7) & (w["arm"] == "bm_msc")].head(2)
    small = pd.concat([w[w["day"] == 0], few])
    d2 = ordinal_bars_data(small, levels=range(9), arms=["placebo", "bm_msc"])
    assert not d2[(d2["day"] == 7) & (d2["arm"] == "bm_msc")]["drawn"].any()
    fig = ordinal_bars_plot(small, levels=range(9), arms=["placebo", "bm_msc"], title="WHO")
    assert "bm_msc D7" in fig.axes[0].get_xlabel()
    assert texts_inside(fig) == []
    renamed = w.assign(arm=w["arm"].map({"placebo": "P", "bm_msc": "M"}), value=w["value"])
    d3 = ordinal_bars_data(renamed, levels=range(9), arms=["P", "M"], days=[0, 7, 28])
    pd.testing.assert_frame_equal(d.drop(columns="arm"), d3.drop(columns="arm"))
    with pytest.raises(ValueError, match="not one of the levels"):
        ordinal_bars_data(w.assign(value=w["value"] + 20), levels=range(9), arms=["placebo", "bm_msc"])


def test_meta_forest_data_and_plot():
    s = pd.DataFrame({"study": ["A", "B", "C"], "estimate": [np.log(0.2), np.log(0.9), np.log(1.3)],
                      "std_error": [1.5, 0.6, 0.5]})
    r = meta_rows(s, analysis="m", outcome="death", contrast="x - c")
    d = meta_forest_data(r, ratio=True)
    assert d["kind"].tolist() == ["study"] * 3 + ["pooled", "prediction"]
    pooled = r[r["statistic"] == "pooled"].iloc[0]
    assert d.iloc[3]["estimate"] == pytest.approx(np.exp(pooled["estimate"]))
    assert d.iloc[4][["conf_low", "conf_high"]].tolist() == pytest.approx([np.exp(pooled["pi_low"]), np.exp(pooled["pi_high"])])
    assert d.iloc[0]["estimate"] == pytest.approx(0.2)
    long = s.assign(study=["A study whose label is far too long to fit in one line of the plot, by design"] + ["B", "C"])
    fig = meta_forest_plot(meta_rows(long, analysis="m", outcome="death", contrast="x - c"), ratio=True,
                           title="D28 mortality", xlabel="Odds ratio", favours=("favours x", "favours c"))
    assert texts_inside(fig) == []
    assert "\n" in fig.axes[0].get_yticklabels()[0].get_text()
    bayes = pd.DataFrame({"parameter": ["mu", "tau", "theta_new"], "tau_prior": ["HN(0.5)"] * 3,
                          "estimate": [-0.3, 0.2, -0.3], "conf_low": [-1.0, 0.0, -1.5], "conf_high": [0.4, 0.6, 0.9],
                          "prob_benefit": [0.8, np.nan, 0.7]})
    d = meta_forest_data(r, bayes)
    assert d["kind"].tolist()[-2:] == ["bayes_mean", "bayes_prediction"]
    assert d.iloc[-1]["conf_low"] == -1.5


def test_cut_label_check_can_fail():
    fig, axes = new_figure((3, 2))
    fig.text(0.9, 0.5, "a label running off the right edge of the figure")
    assert texts_inside(fig) == ["a label running off the right edge of the figure"]
