"""Two runs of the same job with the same seed write byte-identical results: effects.csv holds results only
(timings and compile facts are in timings.csv), report.md and the figures carry no time or date."""

from __future__ import annotations

import pandas as pd
import pytest

from longmod.cli import main

ONLY = ["primary_ancova", "rank_sum", "prior_grid_published"]
TIMING = {"compile_seconds", "sample_seconds", "numba_compiled", "graphs_compiled", "compile_source", "seconds"}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("bytes")
    for name in ("a", "b"):
        assert main(["reanalyse", "stroma-cov2", "--out", str(base / name), "--quiet", "--seed", "11",
                     "--only", *ONLY]) == 0
    return base / "a", base / "b"


def test_effects_hold_results_only(two_runs):
    a, _ = two_runs
    assert not TIMING & set(pd.read_csv(a / "effects.csv").columns)
    assert "seconds" in pd.read_csv(a / "timings.csv").columns


@pytest.mark.parametrize("name", ["effects.csv", "report.md", "descriptives.csv"])
def test_same_seed_same_bytes(two_runs, name):
    a, b = two_runs
    assert (a / name).read_bytes() == (b / name).read_bytes()


def test_same_seed_same_figures(two_runs):
    a, b = two_runs
    figs = sorted(p.relative_to(a).as_posix() for p in (a / "figures").rglob("*") if p.is_file())
    assert figs, "no figures written"
    different = [f for f in figs if (a / f).read_bytes() != (b / f).read_bytes()]
    assert different == []
