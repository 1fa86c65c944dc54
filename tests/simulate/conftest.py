"""Small scenarios for the simulation tests."""

from __future__ import annotations

import tomllib

import pytest

from longmod.resources import models_dir
from longmod.simulate.scenario import parse_scenario


def bundled_doc(name: str = "stroma_cov2_null") -> dict:
    """The parsed TOML document of a bundled scenario."""
    with (models_dir() / "scenarios" / f"{name}.toml").open("rb") as fh:
        return tomllib.load(fh)


def small_scenario(**scenario_changes):
    """The bundled null scenario with other cells/analyses (a fresh, frozen Scenario)."""
    doc = bundled_doc()
    doc["scenario"].update(scenario_changes)
    return parse_scenario(doc)


@pytest.fixture(scope="session")
def null_doc() -> dict:
    return bundled_doc()
