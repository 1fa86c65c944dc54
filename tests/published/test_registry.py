"""Published results: values and verbatim quotes checked against the paper and the shared fact file."""

from __future__ import annotations

import pytest
import yaml

from longmod.published import published_descriptives, published_effects, published_results


def test_quotes_are_verbatim_substrings_of_the_paper(shared_dir):
    text = (shared_dir / "seeds" / "stroma-cov2_monsel2022_fulltext.txt").read_text(encoding="utf-8")
    for r in published_results("stroma-cov2"):
        for part in r.quote.split(" … "):
            assert part in text, (r.id, part)


def test_values_match_the_shared_fact_file(shared_dir):
    facts = yaml.safe_load((shared_dir / "published" / "stroma_cov2_monsel2022.yaml").read_text(encoding="utf-8"))
    for r in published_results("stroma-cov2"):
        values = {k: getattr(r, k) for k in ("estimate", "conf_low", "conf_high", "p_value", "sd", "q1", "q3") if getattr(r, k) is not None}
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
    with pytest.raises(KeyError, match="available: stroma-cov2"):
        published_results("recovery")
