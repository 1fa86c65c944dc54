"""Metamorphic tests: renaming the arms, the stratification covariates and the patient ids of the bundled
trial (in its files, its plan and its model specs), or reordering the rows of its input files, changes no
estimate, SE, df or P value of any analysis.

The frequentist analyses of the plan are run (ANCOVAs, rank tests, the SOFA and ventilation MMRMs, the LMM
with the native and statsmodels engines; the 10-visit PaO2/FiO2 MMRM and lme4 are left out for time).
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest

from longmod.pipeline import reanalyse
from longmod.resources import fixtures_dir, models_dir

ARMS = {"uc_msc": "cells", "placebo": "saline"}
STRATA = {"age_gt70": "older", "sofa_gt11": "sicker"}
FREQUENTIST = ["primary_ancova", "locf_ancova", "locf_additive_ancova", "per_protocol_ancova", "observed_ancova",
               "rank_sum", "signed_rank_observed", "signed_rank_post_imputation", "mmrm_us_kr_sofa",
               "mmrm_us_kr_ventilation", "lmm_ris"]
NUMBERS = ["estimate", "std_error", "df", "conf_low", "conf_high", "p_value", "n_obs", "n_patients"]


def _sub(text: str, mapping: dict[str, str]) -> str:
    for a, b in mapping.items():
        text = re.sub(rf"\b{re.escape(a)}\b", b, text)
    return text


def make_copy(dest, *, names: bool, ids: str | None, shuffle: bool, seed: int = 11):
    """Copy the bundled trial and its plan into ``dest``, optionally renamed and reordered.

    ``ids``: None (keep), ``"shuffled"`` (new ids in another order) or ``"ordered"`` (new ids, same order).
    """
    src, models = fixtures_dir() / "stroma_cov2", models_dir() / "stroma_cov2"
    dest.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    pts = pd.read_csv(src / "patients.csv", dtype={"patient_id": str})
    ms = pd.read_csv(src / "measurements.csv", dtype={"patient_id": str})
    toml = (src / "trial.toml").read_text(encoding="utf-8")
    files = {p.name: p.read_text(encoding="utf-8") for p in models.glob("*.toml")}
    # the same engines in every copy: lme4 (R) is left out for time
    files["plan.toml"] = files["plan.toml"].replace('engines = ["native", "statsmodels", "lme4"]',
                                                    'engines = ["native", "statsmodels"]')
    if names:
        pts["arm"] = pts["arm"].map(ARMS)
        pts = pts.rename(columns=STRATA)
        toml = _sub(toml.replace('arms = ["uc_msc", "placebo"]', 'arms = ["cells", "saline"]')
                    .replace('reference_arm = "placebo"', 'reference_arm = "saline"'), STRATA)
        files = {k: _sub(v, STRATA) for k, v in files.items()}
    if ids:
        old = sorted(pts["patient_id"])
        new = [f"id{k:03d}" for k in (rng.permutation(len(old)) if ids == "shuffled" else range(len(old)))]
        mapping = dict(zip(old, new))
        pts["patient_id"] = pts["patient_id"].map(mapping)
        ms["patient_id"] = ms["patient_id"].map(mapping)
    if shuffle:
        pts = pts.sample(frac=1.0, random_state=seed)
        ms = ms.sample(frac=1.0, random_state=seed + 1)
    pts.to_csv(dest / "patients.csv", index=False)
    ms.to_csv(dest / "measurements.csv", index=False)
    (dest / "trial.toml").write_text(toml, encoding="utf-8")
    for name, text in files.items():
        (dest / name).write_text(text, encoding="utf-8")
    return dest


def _ours(res, *, names: bool) -> pd.DataFrame:
    e = res.effects[res.effects["engine"] != "published"].copy()
    if names:  # map the new arm labels back, so that rows can be matched
        back = {v: k for k, v in ARMS.items()}
        e["contrast"] = e["contrast"].map(lambda c: _sub(str(c), back))
    e["visit"] = e["visit"].astype(str) if "visit" in e else ""
    return e.set_index(["analysis", "outcome", "day", "engine", "contrast", "visit"]).sort_index()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("meta")
    out = {}
    for key, kw in {"original": dict(names=False, ids=None, shuffle=False),
                    "renamed": dict(names=True, ids="shuffled", shuffle=True),
                    "reordered": dict(names=False, ids=None, shuffle=True)}.items():
        folder = make_copy(base / key, **kw)
        out[key] = reanalyse(folder, only=FREQUENTIST)
    return out


def test_renaming_arms_strata_and_ids_changes_no_number(runs):
    a = _ours(runs["original"], names=False)
    b = _ours(runs["renamed"], names=True)
    assert a.index.equals(b.index), "the renamed run has other rows"
    assert len(a) > 60 and set(a.index.get_level_values("analysis")) == set(FREQUENTIST)
    # new ids sort the patients in another order: sums are taken in another order and the MMRM/LMM optimiser
    # stops at its convergence tolerance, so numbers may differ in the last digits, never more than 1e-6 relative
    for col in NUMBERS:
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        assert np.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True), (col, np.nanmax(np.abs(x - y)))
    # the contrast labels say the new arm names
    assert set(runs["renamed"].effects["contrast"].dropna()) >= {"cells - saline"}


def test_reordering_rows_changes_nothing_at_all(runs):
    """The loader sorts the tables, so reordered files give the very same numbers (exact equality)."""
    a = _ours(runs["original"], names=False)
    b = _ours(runs["reordered"], names=False)
    pd.testing.assert_frame_equal(a[NUMBERS], b[NUMBERS], check_exact=True)


def test_renamed_strata_are_what_the_ancova_adjusts_for(runs):
    r = runs["renamed"].effects
    cov = r.loc[(r["analysis"] == "primary_ancova") & (r["engine"] == "ancova-ols"), "covariates"].iloc[0]
    assert cov == "baseline + older + sicker"


@pytest.mark.slow
def test_bayesian_ancova_is_unchanged_by_renaming_and_reordering(tmp_path):
    """Same seed, same draws: arms and strata renamed, ids renamed in the same order, rows shuffled."""
    sampler = {"chains": 2, "draws": 150, "tune": 150, "seed": 5}
    a = reanalyse(make_copy(tmp_path / "a", names=False, ids=None, shuffle=False), only=["bayes_ancova"],
                  sampler=sampler)
    b = reanalyse(make_copy(tmp_path / "b", names=True, ids="ordered", shuffle=True), only=["bayes_ancova"],
                  sampler=sampler)
    cols = ["estimate", "std_error", "conf_low", "conf_high", "prob_benefit", "prob_mcid"]
    x = a.effects[a.effects["engine"] != "published"][cols].to_numpy(float)
    y = b.effects[b.effects["engine"] != "published"][cols].to_numpy(float)
    np.testing.assert_allclose(x, y, rtol=1e-9)
