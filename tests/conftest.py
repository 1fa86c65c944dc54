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


def assert_json_close(fresh, stored, tolerance, path: str = "", skip: tuple[str, ...] = ()) -> None:
    """Same structure and text as ``stored``; numbers within ``tolerance(path) -> (rtol, atol)``.

    For the checks that an R script still writes its stored JSON; paths starting with one of ``skip`` are not
    compared.
    """
    import numpy as np

    if skip and path.startswith(skip):
        return
    if isinstance(stored, dict):
        assert isinstance(fresh, dict) and fresh.keys() == stored.keys(), path
        for k in stored:
            assert_json_close(fresh[k], stored[k], tolerance, f"{path}/{k}", skip)
    elif isinstance(stored, list):
        assert isinstance(fresh, list) and len(fresh) == len(stored), path
        for i, (a, b) in enumerate(zip(fresh, stored)):
            assert_json_close(a, b, tolerance, f"{path}[{i}]", skip)
    elif isinstance(stored, (int, float)) and not isinstance(stored, bool):
        rtol, atol = tolerance(path)
        np.testing.assert_allclose(fresh, stored, rtol=rtol, atol=atol, err_msg=path)
    else:
        assert fresh == stored, path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared/ folder beside the repository (papers, published facts, SAS references)."""
    if not SHARED.is_dir():
        pytest.skip(f"shared/ folder not found at {SHARED}")
    return SHARED


#: The longest test files (pytest --durations of a full warm run, longest first), started first: under
#: ``pytest -n 2 --dist loadfile`` each worker takes the next file when it is free, so long files at the start
#: and short ones at the end leave the two workers finishing together (longest-processing-time-first); a
#: 3-minute file drawn last kept one worker busy alone at the end.
LONG_FIRST = (
    "tests/docs/test_site_in_browser.py",
    "tests/bayes/test_compile_cache.py",
    "tests/bayes/test_bayes_longitudinal.py",
    "tests/bayes/test_nutpie_callbacks.py",
    "tests/simulate/test_run.py",
    "tests/bayes/test_seed_reproducible.py",
    "tests/reconstruct/test_build.py",
    "tests/test_doctests.py",
    "tests/biomarkers/test_bayes.py",
    "tests/bayes/test_bayes_vs_bambi.py",
)


def pytest_configure(config):
    # pytest-xdist (3.x) reorders files by their number of tests unless told not to, which undid LONG_FIRST
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):  # noqa: ARG001 - pytest hook signature
    def rank(item) -> int:
        path = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        return LONG_FIRST.index(path) if path in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: the collection order otherwise
