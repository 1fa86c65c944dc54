"""Published results: values and verbatim quotes checked against the paper and the shared fact file."""

from __future__ import annotations

import math

import pytest
import yaml

from longmod.published import available_trials, published_descriptives, published_effects, published_results

#: trial -> (seed text, shared fact file)
SOURCES = {
    "stroma-cov2": ("stroma-cov2_monsel2022_fulltext.txt", "stroma_cov2_monsel2022.yaml"),
    "martinez-munoz-2024": ("martinez-munoz2024_abstract.txt", "martinez_munoz2024_bm_msc_rct.yaml"),
    "gregoire-2022": ("gregoire2022_abstract.txt", "gregoire2022_bm_msc_phase1_2.yaml"),
}


def test_every_registered_trial_has_its_sources():
    assert available_trials() == sorted(SOURCES)


@pytest.mark.parametrize("trial", sorted(SOURCES))
def test_quotes_are_verbatim_substrings_of_the_paper(shared_dir, trial):
    text = (shared_dir / "seeds" / SOURCES[trial][0]).read_text(encoding="utf-8")
    results = published_results(trial)
    assert results
    for r in results:
        for part in r.quote.split(" … "):
            assert part in text, (r.id, part)


@pytest.mark.parametrize("trial", sorted(SOURCES))
def test_values_match_the_shared_fact_file(shared_dir, trial):
    facts = yaml.safe_load((shared_dir / "published" / SOURCES[trial][1]).read_text(encoding="utf-8"))
    for r in published_results(trial):
        values = {k: getattr(r, k) for k in ("estimate", "conf_low", "conf_high", "p_value", "sd", "q1", "q3") 
                  if getattr(r, k) is not None and not math.isnan(getattr(r, k))}
        published = []
        for key in r.fact_keys:
            section, name = key.split(".")
            published.append(facts[section][name]["value"])
        assert sorted(values.values()) == sorted(published), r.id


def test_primary_published_row():
    row = published_effects("stroma-cov2").iloc[0]
    assert (row["estimate"], row["conf_low"], row["conf_high"], row["p_value"]) == (7.4, -44.7, 59.7, 0.77)
    assert row["engine"] == "published" and "ANCOVA treatment-effect estimate 7.4" in row["source_quote"]


def test_descriptives_include_subgroup_means_and_medians():
    d = published_descriptives("stroma-cov2").set_index(["estimand", "variable", "arm", "day", "statistic"])["published"]
    assert d[("observed_alive_in_icu", "baseline", "uc_msc", 0, "mean")] == 156.2
    assert d[("observed_alive_in_icu", "value", "placebo", 7, "sd")] == 85.6
    assert d[("primary", "change", "placebo", 7, "q3")] == 104.6
    assert d[("observed_alive_in_icu", "value", "uc_msc", 7, "p_value")] == 0.03


def test_unknown_trial_lists_available():
    with pytest.raises(KeyError, match="available: gregoire-2022, martinez-munoz-2024, stroma-cov2"):
        published_results("recovery")


def test_new_trials_published_numbers():
    m = {r.id: r for r in published_results("martinez-munoz-2024")}
    assert (m["pf_increase_bm_msc"].estimate, m["pf_increase_placebo"].estimate) == (83.3, 57.6)
    assert (m["who_improved_d7_bm_msc"].estimate, m["who_improved_d7_bm_msc"].p_value) == (5, 0.033)
    assert (m["o2_stop_bm_msc"].estimate, m["o2_stop_placebo"].estimate, m["o2_stop_bm_msc"].p_value) == (14, 23, 0.007)
    assert (m["hospital_stay_bm_msc"].estimate, m["hospital_stay_placebo"].estimate) == (17.5, 28)
    g = {r.id: r for r in published_results("gregoire-2022")}
    assert (g["survival_d28_matched_control"].estimate, g["survival_d28_bm_msc"].p_value) == (79.2, 0.025)
    assert (g["survival_d60_matched_control"].estimate, g["survival_d60_bm_msc"].p_value) == (70.8, 0.0082)
    d = g["d_dimer_d7_matched_control"]
    assert (d.estimate, d.q1, d.q3, g["d_dimer_d7_bm_msc"].p_value) == (3553, 1155.0, 6433.5, 0.0085)
    assert published_effects("gregoire-2022").empty  # no effect estimate with a CI is published


def test_extractor_regenerates_the_shipped_files(shared_dir):
    """The registry files are exactly what tools/extract_published.py writes (no hand edits)."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("extract_published", root / "tools" / "extract_published.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for stem, (_, facts_file, *_rest) in mod.TRIALS.items():
        doc = yaml.safe_load((shared_dir / "published" / facts_file).read_text(encoding="utf-8"))
        assert mod.render(stem, doc) == (root / "longmod" / "published" / f"{stem}.toml").read_text(encoding="utf-8"), stem
