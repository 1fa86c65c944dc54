"""Shared fixtures for the engine tests: reference folders and session-scoped fits.

The external references live in ``shared/`` *beside* the repository clone
(``<repo>/../shared``); when it is absent the reference tests skip and say why.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO / ".." / "shared").resolve()
MMRM_REF = SHARED / "reference" / "mmrm"
R_REF = REPO / "tests" / "reference" / "r"


def _need_shared() -> None:
    if not (MMRM_REF / "fev_data.csv").is_file():
        pytest.skip(f"external reference folder not found at {MMRM_REF} (expected shared/ beside the repo clone)")


@pytest.fixture(scope="session")
def fev_data() -> pd.DataFrame:
    """openpharma/mmrm's fev_data (Apache-2.0), 800 rows, FEV1 missing in 263."""
    _need_shared()
    return pd.read_csv(MMRM_REF / "fev_data.csv")


@pytest.fixture(scope="session")
def sas_cases() -> dict:
    """SAS reference cases keyed by id, every scalar kept as the printed string."""
    _need_shared()
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read sas_reference.yaml (pip install pyyaml)")
    with open(MMRM_REF / "sas_reference.yaml") as fh:
        doc = yaml.load(fh, Loader=yaml.BaseLoader)  # strings: keeps SAS's printed digits
    return {c["id"]: c for c in doc["cases"]}


@pytest.fixture(scope="session")
def has_rscript() -> bool:
    return shutil.which("Rscript") is not None
