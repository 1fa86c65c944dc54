"""Studies tables of a meta-analysis: conversions from published summaries, errors, and renaming/reordering."""

from __future__ import annotations

import math
import tomllib

import pytest
from scipy import stats

from longmod.resources import models_dir
from longmod.spec.studies import StudiesError, load_studies, parse_studies, scenarios, study_table

STUDIES = models_dir() / "msc_meta" / "studies.toml"


@pytest.fixture(scope="module")
def doc():
    return tomllib.loads(STUDIES.read_text(encoding="utf-8"))


def test_bundled_studies_conversions_by_hand():
    spec = load_studies(STUDIES)
    pf = study_table(spec, "pf_change_d7").set_index("study")
    # STROMA: published ANCOVA 7.4 (-44.7, 59.7), a t interval on 40 df
    assert pf.loc["stroma_cov2", "estimate"] == 7.4
    assert pf.loc["stroma_cov2", "std_error"] == pytest.approx((59.7 + 44.7) / 2 / stats.t.ppf(0.975, 40), rel=1e-12)
    # Martinez-Munoz: 83.3 - 57.6 with the assumed SD 90 in 10 + 10 patients
    assert pf.loc["martinez_munoz_2024", "estimate"] == pytest.approx(25.7)
    assert pf.loc["martinez_munoz_2024", "std_error"] == pytest.approx(math.sqrt(2 * 90**2 / 10))
    assert pf.loc["martinez_munoz_2024", "assumptions"] == "sd = 90"
    assert pf.loc["gregoire_2022", "status"].startswith("excluded: the abstract reports no PaO2/FiO2")
    death = study_table(spec, "death_d28").set_index("study")
    # Gregoire: 0/8 vs 5/24 deaths, 0.5 added to each cell
    a, b, c, d = 0.5, 8.5, 5.5, 19.5
    assert death.loc["gregoire_2022", "estimate"] == pytest.approx(math.log(a * d / (b * c)))
    assert death.loc["gregoire_2022", "std_error"] == pytest.approx(math.sqrt(1 / a + 1 / b + 1 / c + 1 / d))
    assert "0/8 vs 5/24" in death.loc["gregoire_2022", "conversion"]
    assert death.loc["stroma_cov2", "estimate"] == pytest.approx(math.log(4 / 17 / (5 / 19)))
    assert death.loc["martinez_munoz_2024", "status"].startswith("excluded")


def test_scenarios_vary_one_assumption_at_a_time():
    spec = load_studies(STUDIES)
    names = [s[0] for s in scenarios(spec.outcome("pf_change_d7"))]
    assert names == ["base", "martinez_munoz_2024: sd = 60", "martinez_munoz_2024: sd = 120"]
    sd60 = study_table(spec, "pf_change_d7", scenarios(spec.outcome("pf_change_d7"))[1][1]).set_index("study")
    assert sd60.loc["martinez_munoz_2024", "std_error"] == pytest.approx(math.sqrt(2 * 60**2 / 10))
    assert sd60.loc["stroma_cov2", "std_error"] == study_table(spec, "pf_change_d7").set_index("study").loc[
        "stroma_cov2", "std_error"]
    death = [s[0] for s in scenarios(spec.outcome("death_d28"))]
    assert death == ["base", "stroma_cov2: events = [3, 5]", "stroma_cov2: events = [5, 5]", "stroma_cov2: events = [6, 5]"]


def test_renaming_studies_and_reordering_entries_changes_no_number(doc):
    base = study_table(parse_studies(doc), "death_d28").set_index("study")
    ren = {"stroma_cov2": "S", "martinez_munoz_2024": "M", "gregoire_2022": "G"}
    d2 = {"studies": {ren[k]: v for k, v in doc["studies"].items()},
          "outcomes": {o: {**v, "entries": [{**e, "study": ren[e["study"]]} for e in reversed(v["entries"])]}
                       for o, v in doc["outcomes"].items()}}
    other = study_table(parse_studies(d2), "death_d28").set_index("study").rename(index={v: k for k, v in ren.items()})
    other = other.loc[base.index]
    for c in ("estimate", "std_error", "n_patients"):
        assert other[c].tolist() == pytest.approx(base[c].tolist(), nan_ok=True)
    assert other["status"].tolist() == base["status"].tolist()


def test_problems_are_collected_and_named(doc):
    bad = {"studies": {"a": {}}, "outcomes": {"y": {"measure": "risk_ratio", "better": "up", "entries": [
        {"study": "a", "summary": "two_means", "means": [1.0], "n": [10, 0], "assumed": ["sd"]},
        {"study": "zz", "summary": "estimate_ci", "from": "stroma-cov2:nope"},
        {"study": "a", "summary": "guess"}]}}}
    with pytest.raises(StudiesError) as err:
        parse_studies(bad, where="s.toml")
    msg = str(err.value)
    for part in ("measure = 'risk_ratio'", "better must be", "needs 'sd'", "means must be [active arm, control arm]",
                 "n must be", "assumed = ['sd'] but 'sd' is not set", "study 'zz' is not a [studies.*] table",
                 "no result 'nope'", "summary = 'guess'", "two entries"):
        assert part in msg, part
    assert msg.startswith("13 problem(s) in the studies file s.toml")


def test_percent_that_is_not_a_count_is_refused():
    doc = {"studies": {"a": {}}, "outcomes": {"d": {"measure": "log_odds_ratio", "better": "lower", "entries": [
        {"study": "a", "summary": "survival_percent", "percent": [100, 77.0], "n": [8, 24]}]}}}
    with pytest.raises(ValueError, match="not a whole number of patients"):
        study_table(parse_studies(doc), "d")


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="studies file"):
        load_studies(tmp_path / "none.toml")
    p = tmp_path / "bad.toml"
    p.write_text("[studies\n", encoding="utf-8")
    with pytest.raises(StudiesError, match="not valid TOML"):
        load_studies(p)
