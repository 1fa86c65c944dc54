"""The biomarker section inside ``reanalyse``: run, written whole, and in every report format.

Runs the STROMA-CoV-2 fixture (SYNTHETIC) with 5 of its 48 markers and short
chains, so that the pooled model samples in seconds; the full 48-marker run is
timed in ``benchmarks/bench_biomarkers.py``.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from longmod.pipeline import reanalyse

MARKERS = ["IL-6", "IL-8", "IL-1RA", "EGF", "CXCL-9"]  # 2 late decreases in the fixture, 1 null, 1 heavily censored
OPTIONS = {"markers": MARKERS, "sampler": {"draws": 200, "tune": 200, "seed": 5}}


@pytest.fixture(scope="module")
def with_section(tmp_path_factory):
    messages: list[str] = []
    res = reanalyse("stroma-cov2", only=["primary_ancova", "biomarkers"], biomarker_options=OPTIONS,
                    progress=messages.append)
    out = res.write(tmp_path_factory.mktemp("bm") / "job")
    return res, out, messages


def test_section_runs_inside_reanalyse(with_section):
    res, _, messages = with_section
    sec = res.biomarkers
    assert {"bh_table", "pooled", "pooled_diagnostics", "pooled_hyper", "paper_tests", "censored_mixed"} <= set(sec)
    assert sorted(sec["markers"]["marker"]) == sorted(MARKERS)
    assert len(sec["bh_table"]) == len(MARKERS) * 5  # days 0, 2, 4, 7, 14
    assert sec["pooled_diagnostics"]["prior"].iloc[0] == "horseshoe"
    seconds = res.timings.set_index("analysis")["seconds"]
    assert seconds["biomarkers"] > 0 and "primary_ancova" in seconds
    assert [m for m in messages if m.startswith("biomarkers:")] == [
        "biomarkers: test-by-test Wilcoxon + BH (5 markers)", "biomarkers: censored mixed models (5 markers)",
        "biomarkers: pooled Bayesian model (horseshoe prior, 5 markers)"]
    assert (sec["pooled"]["data_label"] == "SYNTHETIC pseudo-patient data").all()


def test_section_is_written_as_csv_and_figure(with_section):
    res, out, _ = with_section
    written = sorted(p.name for p in (out / "biomarkers").iterdir())
    assert written == sorted(f"{k}.csv" for k in res.biomarkers)
    bh = pd.read_csv(out / "biomarkers" / "bh_table.csv")
    pd.testing.assert_frame_equal(bh, res.biomarkers["bh_table"].reset_index(drop=True), check_dtype=False)
    assert (out / "figures" / "biomarker_volcano.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "figures" / "biomarker_volcano.svg").is_file()


def test_reports_have_the_section(with_section):
    res, out, _ = with_section
    md = (out / "report.md").read_text()
    sec_md = md[md.index("## Biomarker analyses"):]
    assert "SYNTHETIC" in sec_md.split("\n\n")[1]
    assert "| marker | day | log2 FC | Wilcoxon P | BH P |" in sec_md and "| P(decrease) | lfsr |" in sec_md
    assert "### Pooled model diagnostics" in sec_md and "](figures/biomarker_volcano.png)" in sec_md
    rep = json.loads((out / "report.json").read_text())
    bj = rep["biomarkers"]
    assert bj["data_label"] == "synthetic" and bj["thresholds"]["lfsr"] == 0.05
    assert len(bj["bh_table"]) == len(MARKERS) * 5
    diag = bj["pooled_diagnostics"][0]
    assert diag["divergences"] == int(res.biomarkers["pooled_diagnostics"]["divergences"].iloc[0])
    assert diag["problem"] == bool(diag["problems"])  # flagged exactly when a problem is listed
    html = (out / "report.html").read_text()
    i = html.index('<h2 id="biomarkers">')
    frag = html[i:]
    assert 'id="biomarker-bh-table"' in frag and 'id="fig-biomarker_volcano"' in frag
    assert 'id="biomarker-diagnostics"' in frag and "data:image/png;base64," in frag
    assert html.count('id="fig-biomarker_volcano"') == 1  # drawn once, in the biomarker section
    volcano = [f for f in rep["figures"] if f["kind"] == "volcano"]
    assert [f["png"] for f in volcano] == ["figures/biomarker_volcano.png"]


def test_discoveries_agree_across_formats(with_section):
    """The per-day counts in the JSON are the BH table's own, recomputed here."""
    res, out, _ = with_section
    bh = res.biomarkers["bh_table"]
    per_day = {r["day"]: r for r in json.loads((out / "report.json").read_text())["biomarkers"]["per_day"]}
    for day, g in bh.groupby("day"):
        assert per_day[day]["wilcoxon_bh"] == (g["wilcoxon_p_bh"] < 0.05).sum()
        assert per_day[day]["pooled_lfsr"] == (g["pooled_lfsr"] < 0.05).sum()


def test_section_only_when_asked_or_present(tmp_path):
    res = reanalyse("stroma-cov2", only=["primary_ancova"])
    assert res.biomarkers is None and "biomarkers" not in set(res.timings["analysis"])
    out = res.write(tmp_path / "plain")
    assert not (out / "biomarkers").exists()
    assert json.loads((out / "report.json").read_text())["biomarkers"] is None
    assert "## Biomarker analyses" not in (out / "report.md").read_text()
    off = reanalyse("stroma-cov2", only=["primary_ancova", "biomarkers"], biomarkers=False)
    assert off.biomarkers is None


def test_biomarkers_true_without_biomarkers_fails_and_only_lists_the_pseudo_name():
    from longmod.data import from_frames, load_trial
    from longmod.resources import fixtures_dir

    td = load_trial(fixtures_dir() / "stroma_cov2")
    m = td.measurements
    plain = from_frames(td.patients, m[m["lloq"].isna()].drop(columns="lloq"), td.meta)
    plan = __import__("longmod.resources", fromlist=["x"]).models_dir() / "stroma_cov2" / "plan.toml"
    res = reanalyse(plain, plan=plan, only=["primary_ancova"], biomarkers=None)
    assert res.biomarkers is None
    with pytest.raises(ValueError, match="no biomarker"):
        reanalyse(plain, plan=plan, only=["primary_ancova"], biomarkers=True)
    with pytest.raises(KeyError, match="'biomarkers', the biomarker section"):
        reanalyse("stroma-cov2", only=["biomarker"])


def test_volcano_data_and_plot_without_pooling():
    from longmod.biomarkers.section import biomarker_section
    from longmod.biomarkers.simulate import default_effects, simulate_biomarkers, to_trial
    from longmod.report.biomarkers import diagnostics_flags, volcano_plot, volcano_plot_data

    sim = simulate_biomarkers(6, effects=default_effects(6, n_affected=2, size=-0.8), seed=4)
    sec = biomarker_section(to_trial(sim), pooled=False)
    v = volcano_plot_data(sec)
    assert sorted(v.day.unique().tolist()) == [2.0, 4.0, 7.0, 14.0] and len(v) == 6 * 4
    assert v["pooled_lfsr"].isna().all() and not v["pooled_significant"].any()
    bh = sec["bh_table"].set_index(["outcome", "day"])
    assert (v["bh_significant"] == (bh.loc[list(zip(v.outcome, v.day)), "wilcoxon_p_bh"].to_numpy() < 0.05)).all()
    fig = volcano_plot(sec, days=[14])
    assert len(fig.axes) == 1 and "SYNTHETIC" in fig.get_suptitle()
    assert diagnostics_flags(sec).empty
    bad = pd.DataFrame([{"prior": "horseshoe", "divergences": 3, "max_r_hat": 1.002, "min_ess_bulk": 900}])
    assert diagnostics_flags({"pooled_diagnostics": bad})["problems"].iloc[0] == "3 divergent transitions"
