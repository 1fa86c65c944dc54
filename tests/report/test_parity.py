"""report.html, report.md and report.json carry the same content (issue 6: "the same content as Markdown and JSON").

Each check reads the three files that ``Reanalysis.write`` produces for the SYNTHETIC toy
trial (with hand-made MMRM/LMM/Bayesian rows, two of them with diagnostics problems) and
compares what each one lists: forest-plot rows, figures, diagnostics flags, estimands,
provenance, the published result and the prior grid.
"""

from __future__ import annotations

import html as htmllib
import json
import math
import re

import pytest

from longmod.report.tables import diagnostics_table, published_vs_reproduced


@pytest.fixture(scope="module")
def written(toy_res, tmp_path_factory):
    out = toy_res.write(tmp_path_factory.mktemp("parity") / "out")
    text = (out / "report.json").read_text(encoding="utf-8")
    return {
        "dir": out,
        "html": (out / "report.html").read_text(encoding="utf-8"),
        "md": (out / "report.md").read_text(encoding="utf-8"),
        "json_text": text,
        "json": json.loads(text),
    }


def _html_section(text: str, anchor: str) -> str:
    start = text.index(f'id="{anchor}"')
    nxt = text.find("<h2 ", start + 1)
    return text[start: nxt if nxt > 0 else None]


def _md_section(md: str, heading: str) -> str:
    start = md.index(f"\n## {heading}")
    nxt = md.find("\n## ", start + 1)
    return md[start: nxt if nxt > 0 else None]


def _html_table(text: str, table_id: str) -> list[tuple[str, list[str]]]:
    """(row class, cell texts) of an HTML table, tags stripped and entities unescaped."""
    table = re.search(rf'<table id="{table_id}">.*?</table>', text, re.S).group(0)
    body = table.split("<tbody>", 1)[1]
    rows = []
    for cls, cells in re.findall(r'<tr(?: class="([^"]*)")?>(.*?)</tr>', body, re.S):
        rows.append((cls, [htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)]))
    return rows


def _md_tables(section: str) -> list[list[list[str]]]:
    """Pipe tables of a Markdown section: list of tables, each a list of rows of cells (header excluded)."""
    tables, cur = [], None
    for line in section.splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if cur is None:
                cur = []
                tables.append(cur)
                header = True
            if header:
                header = False
                continue
            if all(set(c) <= {"-"} for c in cells):
                continue
            cur.append(cells)
        else:
            cur = None
    return tables


def test_json_is_strict_and_says_synthetic(written):
    # json.dumps writes NaN for float nan: a strict parser must read every value
    assert not re.search(r"\bNaN\b|\bInfinity\b", written["json_text"])
    d = written["json"]
    assert d["synthetic"] is True and d["data_label"] == "synthetic" and "SYNTHETIC" in d["data_note"]
    assert "SYNTHETIC DATA" in written["md"] and "SYNTHETIC DATA" in written["html"]


def test_figures_are_the_same_and_exist(written):
    html_figs = set(re.findall(r'<figure id="fig-([^"]+)">', written["html"]))
    md_pngs = re.findall(r"!\[[^\]]*\]\(figures/([^)]+)\.png\)", written["md"])
    json_figs = [f["name"] for f in written["json"]["figures"]]
    assert html_figs == set(md_pngs) == set(json_figs)
    assert len(md_pngs) == len(json_figs) == len(set(json_figs))
    assert {"forest", "trajectory_pao2_fio2", "trajectory_sofa", "prior_posterior_prior_grid"} <= html_figs
    for f in written["json"]["figures"]:
        assert (written["dir"] / f["png"]).is_file() and (written["dir"] / f["svg"]).is_file()
        assert f"]({f['svg']})" in written["md"]
    # every relative link of the Markdown report resolves
    for link in re.findall(r"\]\((figures/[^)]+)\)", written["md"]):
        assert (written["dir"] / link).is_file(), link


def test_every_forest_row_is_in_all_three(written):
    html_rows = _html_table(_html_section(written["html"], "forest"), "forest-rows")
    labels = [cells[0] for _, cells in html_rows]
    assert labels and any(lab.startswith("Published:") for lab in labels)
    md_forest = _md_tables(_md_section(written["md"], "Forest plot of every treatment effect"))
    md_labels = [row[0].strip("*") for row in md_forest[0]]
    json_forest = written["json"]["forest"]
    assert json_forest[0]["figure"] == "forest"
    json_labels = [r["label"] for r in json_forest[0]["rows"]]
    assert labels == md_labels == json_labels
    # the published row is marked in each: HTML class, Markdown bold, JSON flag
    pub = [i for i, (cls, _) in enumerate(html_rows) if cls == "published"]
    assert pub == [i for i, row in enumerate(md_forest[0]) if row[0].startswith("**")]
    assert pub == [i for i, r in enumerate(json_forest[0]["rows"]) if r["is_published"]]
    # same estimates (rounded as displayed)
    assert [cells[3] for _, cells in html_rows] == [row[3].strip("*") for row in md_forest[0]] == \
        [f"{r['estimate']:.1f}" for r in json_forest[0]["rows"]]


def test_diagnostics_flags_in_all_three(written, toy_res):
    d = diagnostics_table(toy_res.effects)
    flagged = set(d.loc[d["problem"], "analysis"])
    assert flagged == {"lmm_ri", "bayes_mmrm"}
    html_rows = _html_table(_html_section(written["html"], "diagnostics"), "diagnostics-table")
    assert {cells[0] for cls, cells in html_rows if cls == "problem"} == flagged
    md_rows = _md_tables(_md_section(written["md"], "Diagnostics"))[0]
    assert {row[0].strip("*") for row in md_rows if row[-1].startswith("**PROBLEM")} == flagged
    assert {row[0] for row in md_rows if row[-1] == "none"} == set(d["analysis"]) - flagged
    jd = written["json"]["diagnostics"]
    assert {r["analysis"] for r in jd if r["problem"]} == flagged
    for _, r in d[d["problem"]].iterrows():
        for problem in r["problems"].split("; "):
            assert problem in htmllib.unescape(_html_section(written["html"], "diagnostics"))
            assert problem in _md_section(written["md"], "Diagnostics")
            assert problem in next(x["problems"] for x in jd if x["analysis"] == r["analysis"])
    bayes = next(x for x in jd if x["analysis"] == "bayes_mmrm")
    assert (bayes["r_hat"], bayes["ess_bulk"], bayes["divergences"]) == (1.08, 150.0, 3.0)
    assert written["json"]["diagnostics_thresholds"] == {"r_hat_max": 1.01, "ess_min": 400.0}


def test_provenance_calibration_and_estimands_in_all_three(written, toy_res):
    md, html_text, j = written["md"], htmllib.unescape(written["html"]), written["json"]
    for name, sha in toy_res.provenance["data"]["sha256"].items():
        assert sha in md and sha in html_text and j["provenance"]["data"]["sha256"][name] == sha
    # the calibration table of the fixture, rendered (HTML), embedded (Markdown) and parsed (JSON)
    assert "<td>n_msc</td>" in written["html"]
    assert "| n_msc | patients, uc_msc | 21 | 21 | 0 | pass |" in md
    targets = next(t for t in j["calibration"]["tables"] if t["heading"].startswith("Targets"))
    assert targets["rows"][0] == {"id": "n_msc", "statistic": "patients, uc_msc", "published": "21", "achieved": "21",
                                  "tolerance": "0", "result": "pass"}
    used = set(toy_res.effects["estimand"].dropna())
    assert {e["estimand"] for e in j["estimands_used"]} == used
    for name in used:
        e = toy_res.plan.estimands.get(name)
        if e is not None:
            assert e.label in md and e.label in html_text and e.describe() in md
    for a in j["analyses"]:
        assert f"`{a['analysis']}`" in md and f"<code>{a['analysis']}</code>" in written["html"]


def test_published_and_prior_grid_in_all_three(written, toy_res):
    md, j = written["md"], written["json"]
    pub_md = _md_tables(_md_section(md, "Published result beside its reproduction"))[0]
    pub_html = _html_table(_html_section(written["html"], "published"), "published-vs-reproduced")
    assert [r[4].strip("*") for r in pub_md] == [c[4] for _, c in pub_html] == ["published", "reproduced (ancova-ols)"]
    shown = [f"{x:.1f}" for x in published_vs_reproduced(toy_res.effects)["estimate"]]
    assert [r[6].strip("*") for r in pub_md] == [c[6] for _, c in pub_html] == shown
    assert shown[0] == "7.4"
    assert [r["source"] for r in j["published_vs_reproduced"]] == ["published", "ancova-ols"]
    assert j["published_vs_reproduced"][0]["estimate"] == pytest.approx(7.4)
    grid = j["prior_posterior"]
    assert len(grid) == 10 and all(not math.isnan(g["posterior_mean"]) for g in grid)
    html_grid = _html_table(_html_section(written["html"], "prior-posterior"), "prior-posterior-table")
    md_grid = _md_tables(_md_section(md, "Prior vs posterior"))[0]
    assert [g["prior"] for g in grid] == [c[1] for _, c in html_grid] == [r[1] for r in md_grid]
    assert [c[5] for _, c in html_grid] == [r[5] for r in md_grid] == [f"{g['posterior_mean']:.1f}" for g in grid]


def test_user_data_reports_have_hashes_and_no_calibration(toy_folder, tmp_path):
    import shutil

    from longmod.pipeline import reanalyse
    from longmod.resources import models_dir

    folder = tmp_path / "mine"
    shutil.copytree(toy_folder, folder)
    toml = folder / "trial.toml"
    toml.write_text(toml.read_text().replace("synthetic = true", "synthetic = false")
                    .replace(" (SYNTHETIC test data)", ""), encoding="utf-8")
    res = reanalyse(folder, plan=models_dir() / "stroma_cov2" / "plan.toml", only=["primary_ancova"])
    out = res.write(tmp_path / "out")
    md = (out / "report.md").read_text(encoding="utf-8")
    j = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert "SYNTHETIC" not in md and "User data" in md and j["calibration"] is None and j["synthetic"] is False
    assert "User data" in j["data_note"]
    for sha in res.provenance["data"]["sha256"].values():
        assert sha in md
