"""Scenario files: every key checked, errors name the file and the key; derived part re-derivable."""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from longmod.resources import models_dir
from longmod.simulate.scenario import load_scenario, parse_scenario
from longmod.spec.model import SpecError

from .conftest import bundled_doc


@pytest.mark.parametrize("path, change, message", [
    (("scenario",), {"reference_arm": "nobody"}, "reference_arm 'nobody' is not one of arms"),
    (("scenario",), {"endpoint_day": 9}, "endpoint_day 9 is not a post-baseline day"),
    (("scenario",), {"n_per_arm": [2]}, "n_per_arm values must be >= 3"),
    (("scenario",), {"colour": "red"}, "unknown key(s) colour"),
    (("outcome",), {"change_sd": [1.0, 2.0]}, "change_sd needs one value per post-baseline day (7), got 2"),
    (("outcome",), {"correlation": 1.2}, "correlation must be in [0, 1)"),
    (("death",), {"hazard_ratio": 0.0}, "hazard_ratio and scale must be > 0"),
])
def test_bad_scenarios_name_the_key(path, change, message):
    doc = bundled_doc()
    doc[path[0]].update(change)
    with pytest.raises(SpecError) as err:
        parse_scenario(doc, where="my.toml")
    assert message in str(err.value) and "my.toml" in str(err.value)


def test_unknown_analysis_kind_lists_the_valid_ones():
    doc = bundled_doc()
    doc["analyses"].append({"name": "x", "kind": "magic"})
    with pytest.raises(SpecError, match="kind 'magic' is not supported; choose one of ancova, mmrm, bayes_rule, worst_rank"):
        parse_scenario(doc)


def test_scenario_is_frozen_and_documented_in_its_digest():
    s = load_scenario(models_dir() / "scenarios" / "stroma_cov2_null.toml")
    with pytest.raises(AttributeError):
        s.alpha = 0.1
    other = copy.deepcopy(bundled_doc())
    other["scenario"]["alpha"] = 0.1
    assert parse_scenario(other).digest() != s.digest()


@pytest.mark.parametrize("name", ["stroma_cov2_null", "stroma_cov2_power"])
def test_bundled_scenarios_are_rederived_by_their_command(tmp_path, name):
    """The data-generating tables of a bundled scenario are what the command in its header writes."""
    path = models_dir() / "scenarios" / f"{name}.toml"
    cmd = next(line for line in path.read_text().splitlines() if line.startswith("# Written by: "))
    argv = cmd.removeprefix("# Written by: python -m longmod.simulate.derive ").split()
    i = argv.index("--out")
    argv[i + 1] = str(tmp_path / "derived.toml")
    subprocess.run([sys.executable, "-m", "longmod.simulate.derive", *argv], check=True, cwd=Path(__file__).parents[2])
    derived = tomllib.loads((tmp_path / "derived.toml").read_text())
    bundled = tomllib.loads(path.read_text())
    for table in ("scenario", "outcome", "death", "discharge"):
        for key, value in derived[table].items():
            if isinstance(value, float):
                assert bundled[table][key] == pytest.approx(value, rel=1e-9, abs=1e-9), (table, key)
            else:
                assert bundled[table][key] == value, (table, key)


def test_null_scenario_has_null_in_its_name_and_no_effect():
    files = sorted((models_dir() / "scenarios").glob("*null*.toml"))
    assert files
    for f in files:
        assert np.all(np.array(load_scenario(f).effect) == 0)
