"""One day per comparison: with the estimands set to day 14, nothing at day 7 appears in any comparison
(forest plots and their tables in every report, the CLI summary), and the day is shown."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from longmod.cli import summary_table
from longmod.pipeline import reanalyse
from longmod.report.forest import comparison_day, forest_data

from .test_metamorphic import make_copy

ONLY = ["primary_ancova", "locf_ancova", "rank_sum", "mmrm_us_kr_sofa", "lmm_ris"]


@pytest.fixture(scope="module")
def day14(tmp_path_factory):
    folder = make_copy(tmp_path_factory.mktemp("d14") / "trial", names=False, ids=None, shuffle=False)
    plan = folder / "plan.toml"
    text = plan.read_text(encoding="utf-8").replace("day = 7\n", "day = 14\n")
    text = text.replace('engines = ["native", "statsmodels"]', 'engines = ["native"]')
    plan.write_text(text, encoding="utf-8")
    res = reanalyse(folder, only=ONLY)
    out = res.write(tmp_path_factory.mktemp("d14out") / "out")
    return res, out


def test_every_comparison_is_at_the_estimands_day(day14):
    res, _ = day14
    eff = res.effects
    # the analyses do have rows at day 7 (longitudinal models give every visit) ...
    assert ((eff["day"] == 7) & (eff["engine"] != "published")).any()
    assert comparison_day(eff) == 14.0
    fd = forest_data(eff)
    # ... but the comparison holds day 14 only: no published day-7 row, no model row taken at day 7
    assert len(fd) >= 4 and set(fd["day"]) == {14.0} and not fd["is_published"].any()
    assert {"primary_ancova", "locf_ancova", "rank_sum", "lmm_ris"} <= set(fd["analysis"])
    # SOFA (its own forest plot) is compared at day 14 too
    assert set(forest_data(eff, outcome="sofa")["day"]) == {14.0}


def test_cli_summary_says_the_day_and_holds_only_it(day14):
    res, _ = day14
    text = summary_table(res.effects)
    head = text.splitlines()[0]
    assert head.startswith("pao2_fio2_change at D14 (")
    rows = text.splitlines()[2:]
    assert any(r.startswith("primary_ancova") for r in rows)
    assert not any(r.split()[1:2] == ["published"] for r in rows if r and not r.startswith("("))


def test_reports_show_one_day_in_their_forest_tables(day14):
    _, out = day14
    md = (out / "report.md").read_text(encoding="utf-8")
    forest_md = md.split("## Forest plot of every treatment effect", 1)[1].split("\n## ", 1)[0]
    days = set(re.findall(r"\| (D\d+) \|", forest_md))
    assert days == {"D14"} and "at day 14" in forest_md
    j = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for f in j["forest"]:
        assert {r["day"] for r in f["rows"]} == {14.0}
    html = (out / "report.html").read_text(encoding="utf-8")
    table = re.search(r'<table id="forest-rows">.*?</table>', html, re.S).group(0)
    assert set(re.findall(r"<td>(D\d+)</td>", table)) == {"D14"}


def test_default_day_follows_the_estimand_not_the_published_result(day14):
    res, _ = day14
    e = res.effects
    pub = e[e["engine"] == "published"]
    assert (pub["day"] == 7).all()
    # asking for the published day explicitly gives the day-7 comparison, again one day only
    fd7 = forest_data(e, day=7.0)
    assert set(fd7["day"]) == {7.0} and fd7["is_published"].any()
    assert pd.isna(fd7.loc[fd7["analysis"] == "primary_ancova", "estimate"]).sum() == 0
