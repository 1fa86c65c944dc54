"""The self-contained HTML report and the saved figures (longmod.report.html)."""

from __future__ import annotations

import base64
import re
import shutil

import pandas as pd
import pytest

from longmod.report.html import build_figures, write_html_report
from longmod.report.tables import biomarker_rows, diagnostics_table, published_vs_reproduced


@pytest.fixture(scope="module")
def report(toy_res, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    before = toy_res.effects.copy()
    path = write_html_report(toy_res, out)
    pd.testing.assert_frame_equal(toy_res.effects, before)
    return path, path.read_text(encoding="utf-8")


def _section(text: str, anchor: str) -> str:
    start = text.index(f'id="{anchor}"')
    nxt = text.find("<h2 ", start + 1)
    return text[start: nxt if nxt > 0 else None]


def test_synthetic_banner_provenance_and_calibration(report, toy_res):
    path, text = report
    assert path.name == "report.html"
    assert 'id="synthetic-banner"' in text and "SYNTHETIC DATA" in text
    assert "(SYNTHETIC data)</title>" in text
    prov = _section(text, "provenance")
    for name, sha in toy_res.provenance["data"]["sha256"].items():
        assert name in prov and sha in prov
    # the calibration table of the fixture is rendered as a table
    assert "<td>n_msc</td>" in prov and "Calibration of the pseudo-patient data" in prov


def test_estimands_and_published_beside_reproduction(report, toy_res):
    _, text = report
    est = _section(text, "estimands")
    assert toy_res.plan.estimands["primary"].label in est
    pub = _section(text, "published")
    rows = re.findall(r"<tr( class=\"(?:published|construction)\")?><td><code>primary_ancova</code>", pub)
    assert rows[0] == ' class="published"' and len(rows) == 2  # published row first, then its reproduction
    assert "reproduced: ancova-ols" in pub and "agreement" in pub


def test_forest_plot_embedded_and_lists_published_row(report):
    _, text = report
    forest = _section(text, "forest")
    assert 'id="fig-forest"' in forest
    alt = re.search(r'<img src="data:image/png;base64,[^"]+" alt="([^"]+)"', forest).group(1)
    assert "Published: ANCOVA of D0-&gt;D7 change (primary): 7.4 (-44.7 to 59.7)" in alt
    table = re.search(r'<table id="forest-rows">.*?</table>', forest, re.S).group(0)
    first = re.search(r"<tbody><tr( class=\"published\")?>(.*?)</tr>", table).groups()
    assert first[0] == ' class="published"' and "published" in first[1] and "7.4" in first[1]


def test_images_are_png_and_no_external_resources(report):
    _, text = report
    imgs = re.findall(r'<img src="([^"]+)"', text)
    assert len(imgs) == 4  # forest, 2 trajectories, 1 prior grid
    for src in imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script" not in text and "@import" not in text and "url(" not in text
    # the only <link> is the inline (empty) favicon, so browsers do not request /favicon.ico
    assert re.findall(r"<link[^>]*>", text) == ['<link rel="icon" href="data:,">']


def test_trajectories_and_prior_posterior_sections(report):
    _, text = report
    traj = _section(text, "trajectories")
    assert 'id="fig-trajectory_pao2_fio2"' in traj and 'id="fig-trajectory_sofa"' in traj
    assert 'id="fig-prior_posterior_prior_grid"' in _section(text, "prior-posterior")


def test_diagnostics_highlight_problems(report, toy_res):
    _, text = report
    diag = _section(text, "diagnostics")
    rows = re.findall(r"<tr( class=\"problem\")?><td>([^<]+)</td>", diag)
    flagged = {name for cls, name in rows if cls}
    assert flagged == {"lmm_ri", "bayes_mmrm"}
    assert "did not converge" in diag and "R-hat 1.080 &gt; 1.01" in diag and "3 divergent transitions" in diag
    d = diagnostics_table(toy_res.effects)
    assert not d.loc[d["analysis"] == "primary_ancova", "problem"].item()
    assert d.loc[d["analysis"] == "mmrm_us", "converged"].item() is True


def test_biomarker_section(report, toy_res):
    _, text = report
    bm = _section(text, "biomarkers")
    assert "il6_log" in bm and "IL-6 (log), censored at LLOQ" in bm
    assert biomarker_rows(toy_res.effects, toy_res.trial)["analysis"].tolist() == ["il6_censored"]


def test_figures_saved_as_png_and_svg(report):
    path, _ = report
    files = sorted(p.name for p in (path.parent / "figures").iterdir())
    stems = {f.rsplit(".", 1)[0] for f in files}
    assert stems == {"forest", "trajectory_pao2_fio2", "trajectory_sofa", "prior_posterior_prior_grid"}
    assert len(files) == 2 * len(stems)
    for f in (path.parent / "figures").glob("*.svg"):
        assert f.read_text(encoding="utf-8").lstrip().startswith("<?xml") and f.stat().st_size > 1000


def test_user_data_report_has_hashes_and_no_synthetic_banner(toy_folder, tmp_path):
    from longmod.pipeline import reanalyse
    from longmod.resources import models_dir

    folder = tmp_path / "mine"
    shutil.copytree(toy_folder, folder)
    (folder / "CALIBRATION.md").unlink()
    toml = folder / "trial.toml"
    toml.write_text(toml.read_text().replace("synthetic = true", "synthetic = false")
                    .replace(" (SYNTHETIC test data)", ""), encoding="utf-8")
    res = reanalyse(folder, plan=models_dir() / "stroma_cov2" / "plan.toml", only=["primary_ancova"])
    text = write_html_report(res, tmp_path / "out", with_figures=False).read_text(encoding="utf-8")
    assert "SYNTHETIC" not in text and "User data from" in text
    assert res.provenance["data"]["sha256"]["measurements.csv"] in text
    assert not (tmp_path / "out" / "figures").exists()
    # no prior grid, no biomarkers: the sections say so instead of failing
    assert "No prior-grid analyses" in text and "No biomarker analyses" in text


def test_published_vs_reproduced_table(toy_res):
    t = published_vs_reproduced(toy_res.effects)
    assert t["source"].tolist() == ["published", "ancova-ols"]
    assert t["estimate"].iloc[0] == pytest.approx(7.4)


def test_build_figures_without_optional_parts(toy_res):
    import dataclasses

    eff = toy_res.effects[toy_res.effects["engine"].isin(["published", "ancova-ols"])]
    figs = build_figures(dataclasses.replace(toy_res, effects=eff))
    assert [f.name for f in figs] == ["forest", "trajectory_pao2_fio2", "trajectory_sofa"]


def test_diagnostics_tolerate_missing_columns_and_empty_warnings():
    from longmod.results.schema import effects_frame

    eff = effects_frame([
        {"analysis": "a", "engine": "native", "estimate": 1.0, "converged": True, "warnings": "[]"},
        {"analysis": "b", "engine": "native", "estimate": 1.0, "converged": "False", "warnings": ("singular fit",)},
        {"analysis": "c", "engine": "ancova-ols", "estimate": 1.0},
    ])
    d = diagnostics_table(eff).set_index("analysis")
    assert not d.loc["a", "problem"] and d.loc["a", "warnings"] == ""
    assert d.loc["b", "problem"] and d.loc["b", "problems"] == "did not converge; 1 warning(s)"
    assert d.loc["b", "warnings"] == "singular fit"
    assert d.loc["c", "converged"] is None and not d.loc["c", "problem"]


def test_report_of_empty_effects_still_builds(toy_res, tmp_path):
    import dataclasses

    from longmod.results.schema import effects_frame

    res = dataclasses.replace(toy_res, effects=effects_frame([]))
    text = write_html_report(res, tmp_path).read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in text and "No published results registered" in text
    assert 'id="fig-forest"' not in text and 'id="fig-trajectory_pao2_fio2"' in text


@pytest.fixture(scope="module")
def model_res(toy_folder):
    """The plan's first longitudinal ``model`` analysis, really fitted, on the toy trial."""
    from longmod.pipeline import reanalyse
    from longmod.resources import models_dir
    from longmod.spec.plan import load_plan

    plan = load_plan(models_dir() / "stroma_cov2" / "plan.toml")
    models = [a.name for a in plan.analyses if a.kind == "model"]
    if not models:
        pytest.skip("the bundled plan declares no longitudinal model analyses yet")
    return reanalyse(toy_folder, plan=models_dir() / "stroma_cov2" / "plan.toml", only=["primary_ancova", models[0]]), models[0]


def test_report_with_real_longitudinal_engine_rows(model_res, tmp_path):
    res, name = model_res
    rows = res.effects[res.effects["analysis"] == name]
    assert len(rows) and rows["day"].nunique() > 1
    text = write_html_report(res, tmp_path).read_text(encoding="utf-8")
    forest = _section(text, "forest")
    table = re.search(r'<table id="forest-rows">.*?</table>', forest, re.S).group(0)
    # one row of the model at the published day (7), beside the published row
    assert table.count(f"[{rows['engine'].iloc[0]}]") == rows.loc[rows["outcome"] == "pao2_fio2", "engine"].nunique()
    assert "<td>D7</td>" in table and table.count('class="published"') == 1
    # SOFA is fitted by the same analysis: it gets its own forest plot
    if (rows["outcome"] == "sofa").any():
        assert 'id="fig-forest_sofa"' in forest
    diag = _section(text, "diagnostics")
    assert f"<td>{name}</td>" in diag


def test_biomarker_section_caps_long_tables(toy_res, tmp_path):
    import dataclasses

    from longmod.report.html import BIOMARKER_ROWS_SHOWN
    from longmod.results.schema import concat_effects, effects_frame

    many = effects_frame([{"analysis": "markers_wilcoxon", "outcome": "il6", "day": d, "contrast": "uc_msc - placebo",
                           "estimate": 0.1 * i, "p_value": (i + 1) / 100, "p_value_bh": min(1.0, (i + 1) / 50),
                           "engine": "wilcoxon-rank-sum"} for i, d in enumerate([0, 7] * 25)])
    res = dataclasses.replace(toy_res, effects=concat_effects([toy_res.effects, many]))
    bm = _section(write_html_report(res, tmp_path, with_figures=False).read_text(encoding="utf-8"), "biomarkers")
    table = re.search(r'<table id="biomarker-table">.*?</table>', bm, re.S).group(0)
    assert table.count("<tr>") == BIOMARKER_ROWS_SHOWN + 1  # header + shown rows
    assert f"of {len(many) + 1}; every row is in effects.csv" in bm
    # smallest BH-adjusted P first; the summary counts BH P < 0.05 per analysis
    assert table.split("</tr>")[1].endswith('<td class="num">0.010</td><td class="num">0.020</td><td>wilcoxon-rank-sum</td>')
    summary = re.search(r'<table id="biomarker-summary">.*?</table>', bm, re.S).group(0)
    assert re.search(r"markers_wilcoxon</code></td><td>wilcoxon-rank-sum</td><td class=\"num\">1</td>"
                     r"<td class=\"num\">50</td><td class=\"num\">2</td>", summary)


def test_diagnostics_list_repeated_warnings_once_and_engine_flags():
    from longmod.results.schema import effects_frame

    w = "FutureWarning: applymap is deprecated"
    eff = effects_frame([
        {"analysis": "l", "engine": "lme4", "day": d, "estimate": 1.0, "converged": True, "warnings": f"{w}; {w}"}
        for d in (3, 7)
    ] + [{"analysis": "b", "engine": "pymc", "estimate": 1.0, "r_hat": 1.0, "ess_bulk": 900.0, "ess_tail": 250.0,
          "divergences": 0.0, "diagnostic_flags": "ess_tail 250 < 400; energy BFMI 0.2 < 0.3"}])
    d = diagnostics_table(eff).set_index("analysis")
    assert d.loc["l", "warnings"] == w and d.loc["l", "problems"] == "1 warning(s)"
    # tail ESS is checked by the table itself; an engine flag it does not know is passed on
    assert d.loc["b", "problems"] == "tail ESS 250 < 400; energy BFMI 0.2 < 0.3"


def test_no_double_escaped_text(report):
    _, text = report
    # "<" in a header or cell is escaped once ("&lt;"), never twice ("&amp;lt;", shown to the reader as "&lt;")
    assert "p value &lt; 0.05" in text
    assert not re.search(r"&amp;(lt|gt|amp|quot);", text)
