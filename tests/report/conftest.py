"""Fixtures of the report tests: a seeded SYNTHETIC toy trial and its reanalysis (see toy_trial.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _toy():
    path = Path(__file__).with_name("toy_trial.py")
    spec = importlib.util.spec_from_file_location("longmod_tests_toy_trial", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


toy = _toy()


@pytest.fixture(scope="session")
def toy_folder(tmp_path_factory) -> Path:
    return toy.write_toy_trial(tmp_path_factory.mktemp("toy") / "toy_trial")


@pytest.fixture(scope="session")
def toy_res(toy_folder):
    """A Reanalysis of the toy trial with the bundled plan, plus the hand-made engine rows."""
    return toy.toy_reanalysis(toy_folder)
