"""Shared fixtures for the engine tests: reference folders and session-scoped fits.

The SAS references (``fev_data.csv``, ``sas_reference.yaml``, openpharma/mmrm,
Apache-2.0) are kept in ``tests/reference/mmrm/``, copies of the external folder
``shared/reference/mmrm/`` beside the repository clone, so they run on any clone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_MMRM = (REPO / ".." / "shared" / "reference" / "mmrm").resolve()
MMRM_REF = REPO / "tests" / "reference" / "mmrm"
R_REF = REPO / "tests" / "reference" / "r"


@pytest.fixture(scope="session")
def fev_data() -> pd.DataFrame:
    """openpharma/mmrm's fev_data (Apache-2.0), 800 rows, FEV1 missing in 263."""
    return pd.read_csv(MMRM_REF / "fev_data.csv")


@pytest.fixture(scope="session")
def sas_cases() -> dict:
    """SAS reference cases keyed by id, every scalar kept as the printed string."""
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read sas_reference.yaml (pip install pyyaml)")
    with open(MMRM_REF / "sas_reference.yaml") as fh:
        doc = yaml.load(fh, Loader=yaml.BaseLoader)  # strings: keeps SAS's printed digits
    return {c["id"]: c for c in doc["cases"]}


@pytest.fixture(scope="session")
def has_rscript() -> bool:
    return shutil.which("Rscript") is not None
