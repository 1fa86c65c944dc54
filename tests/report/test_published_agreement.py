"""Agreement marks of published vs reproduced: by construction (within the calibration tolerance), independent, differs."""

from longmod.data import load_trial
from longmod.report.published import BY_CONSTRUCTION, calibration_targets, published_comparison
from longmod.resources import fixtures_dir
from longmod.results.schema import effects_frame


def _eff():
    return effects_frame([
        {"analysis": "surv", "day": 28, "contrast": "a - b", "p_value": 0.63, "engine": "published",
         "fact_keys": "sec.logrank_p"},
        {"analysis": "surv", "day": 28, "contrast": "a - b", "p_value": 0.6037, "engine": "sd", "test": "logrank"},
        {"analysis": "surv", "day": 28, "contrast": "a - b", "p_value": 0.6328, "engine": "sd", "test": "gehan"},
        {"analysis": "surv", "day": 28, "contrast": "a - b", "p_value": 0.55, "engine": "sd", "test": "cox"},
    ])


def test_calibrated_p_agrees_within_its_tolerance():
    t = published_comparison(_eff(), {"sec.logrank_p": (0.63, 0.03)}).set_index("test")
    assert t.loc["logrank", "agreement"] == f"P: {BY_CONSTRUCTION}"  # 0.604 does not print as 0.63 but is within 0.03
    assert t.loc["gehan", "agreement"] == f"P: {BY_CONSTRUCTION}"
    assert t.loc["cox", "agreement"] == "P: differs"  # 0.08 away: outside the tolerance


def test_without_calibration_only_printed_agreement_counts():
    t = published_comparison(_eff(), {}).set_index("test")
    assert t.loc["gehan", "agreement"] == "P: reproduced (independent check)"
    assert t.loc["logrank", "agreement"] == "P: differs"
    assert not t["by_construction"].astype(bool).any()


def test_stroma_death_days_calibrated_to_the_logrank_p():
    """STROMA's deaths were drawn until the log-rank P was within 0.03 of 0.63 (targets.toml, extension.deaths)."""
    cal = calibration_targets(load_trial(fixtures_dir() / "stroma_cov2"))
    assert cal["secondary_endpoints.survival_d28_logrank_p"] == (0.63, 0.03)
    assert cal["primary_endpoint.ancova_treatment_effect"][0] == 7.4
