"""Fixtures of the API tests: fev_data, the SAS references and the emmeans/lme4 reference JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
REF = REPO / "tests" / "reference"
FEV_LEVELS = {"AVISIT": ["VIS1", "VIS2", "VIS3", "VIS4"], "ARMCD": ["PBO", "TRT"],
              "RACE": ["Asian", "Black or African American", "White"], "SEX": ["Male", "Female"]}


@pytest.fixture(scope="session")
def fev_data() -> pd.DataFrame:
    """openpharma/mmrm's fev_data (Apache-2.0), 800 rows, FEV1 missing in 263."""
    return pd.read_csv(REF / "mmrm" / "fev_data.csv")


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    """lme4's sleepstudy, written by tests/reference/emmeans/emmeans_refs.R."""
    return pd.read_csv(REF / "emmeans" / "sleepstudy.csv")


@pytest.fixture(scope="session")
def emm_ref() -> dict:
    return json.loads((REF / "emmeans" / "emmeans_refs.json").read_text())


@pytest.fixture(scope="session")
def sas_cases() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read sas_reference.yaml (pip install pyyaml)")
    with open(REF / "mmrm" / "sas_reference.yaml") as fh:
        doc = yaml.load(fh, Loader=yaml.BaseLoader)
    return {c["id"]: c for c in doc["cases"]}
