"""Shared test helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def require_rscript() -> str:
    """Path of Rscript, or skip the test with the reason."""
    exe = shutil.which("Rscript")
    if exe is None:
        pytest.skip("Rscript not found: install r-base-core (scripts/setup does)")
    return exe


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared/ folder beside the repository (papers, published facts, SAS references)."""
    if not SHARED.is_dir():
        pytest.skip(f"shared/ folder not found at {SHARED}")
    return SHARED
