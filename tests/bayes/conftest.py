"""Shared fixtures for the Bayesian engine tests (expensive fits run once per session)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.spec.model import ModelSpec, Treatment

FIXED = "arm + baseline + age_gt70 + sofa_gt11"


def ancova_data(n: int, seed: int, effect: float = 20.0) -> pd.DataFrame:
    """STROMA-like one-row-per-patient data (PaO2/FiO2 change to D7, mmHg)."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({
        "patient_id": [f"p{i:04d}" for i in range(n)],
        "arm": np.where(np.arange(n) % 2 == 0, "placebo", "uc_msc"),
        "baseline": rng.normal(120.0, 40.0, n),
        "age_gt70": rng.integers(0, 2, n),
        "sofa_gt11": rng.integers(0, 2, n),
    })
    d["change"] = (60.0 + effect * (d.arm == "uc_msc") - 0.3 * (d.baseline - 120) + 15 * d.age_gt70
                   - 20 * d.sofa_gt11 + rng.normal(0, 70.0, n))
    return d


@pytest.fixture(scope="session")
def ancova_spec() -> ModelSpec:
    return ModelSpec(name="bayes-ancova", outcome="change", fixed=FIXED, subject="patient_id", engine="pymc",
                     treatment=Treatment(variable="arm", reference="placebo", active="uc_msc"), mcid=20.0,
                     sampler={"chains": 2, "draws": 1000, "tune": 600, "seed": 7})


@pytest.fixture(scope="session")
def small_data() -> pd.DataFrame:
    return ancova_data(60, seed=3)


@pytest.fixture(scope="session")
def small_fit(ancova_spec, small_data):
    from longmod.engines.bayes.ancova import fit_bayes_ancova

    return fit_bayes_ancova(ancova_spec, small_data, day=7, estimand="treatment policy")


VISITS = ("D3", "D7", "D14")
DAYS = (3.0, 7.0, 14.0)
#: true treatment effect per visit in long_data (mmHg)
LONG_EFFECT = {"D3": 5.0, "D7": 20.0, "D14": 30.0}
#: residual covariance of long_data (unstructured; SDs 60, 70, 80)
LONG_SD = np.array([60.0, 70.0, 80.0])
LONG_CORR = np.array([[1.0, 0.6, 0.4], [0.6, 1.0, 0.6], [0.4, 0.6, 1.0]])


def long_data(n: int, seed: int, dropout: float = 0.15) -> pd.DataFrame:
    """Long data (one row per patient and visit), MVN residuals, MCAR monotone dropout."""
    rng = np.random.default_rng(seed)
    arm = np.where(np.arange(n) % 2 == 0, "placebo", "uc_msc")
    base = rng.normal(120.0, 40.0, n)
    cov = LONG_CORR * np.outer(LONG_SD, LONG_SD)
    eps = rng.multivariate_normal(np.zeros(3), cov, size=n)
    rows = []
    for i in range(n):
        last = 3 if rng.random() > dropout else int(rng.integers(1, 3))
        for k in range(last):
            v = VISITS[k]
            mean = 130.0 + 5.0 * DAYS[k] + 0.5 * (base[i] - 120) + (LONG_EFFECT[v] if arm[i] == "uc_msc" else 0.0)
            rows.append({"patient_id": f"p{i:04d}", "arm": arm[i], "visit": v, "day": DAYS[k],
                         "baseline": base[i], "pf": mean + eps[i, k]})
    return pd.DataFrame(rows)


#: the comparison of every test data set here (declared: longmod has no default arm)
TREATMENT = Treatment(variable="arm", reference="placebo", active="uc_msc")

#: sampler of the shared small MMRM fits (2 chains x 500 draws: enough for loo/compare and shape checks)
SMALL_MMRM_SAMPLER = {"chains": 2, "draws": 500, "tune": 500, "seed": 17}


def mmrm_spec(cov: str, **kw) -> ModelSpec:
    """The tests' MMRM: ``arm * visit + baseline`` over D3/D7/D14 (one compiled graph per structure)."""
    return ModelSpec(name=f"bayes-{cov}", outcome="pf", fixed="arm * visit + baseline", subject="patient_id",
                     visit="visit", time="day", covariance=cov, levels={"visit": list(VISITS)}, engine="pymc",
                     mcid=20.0, **{"sampler": SMALL_MMRM_SAMPLER, "treatment": TREATMENT, **kw})


@pytest.fixture(scope="session")
def mmrm_data() -> pd.DataFrame:
    return long_data(60, seed=21)


@pytest.fixture(scope="session")
def mmrm_fits(mmrm_data):
    """Small Bayesian MMRMs (us, ar1, cs) on one data set, shared by the tests."""
    from longmod.engines.bayes import fit_bayes_longitudinal

    return {cov: fit_bayes_longitudinal(mmrm_spec(cov), mmrm_data, estimand="hypothetical")
            for cov in ("us", "ar1", "cs")}
