"""Packaging: a built wheel carries models/ and fixtures/; import stays light."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_does_not_load_heavy_engines():
    code = (
        "import sys, longmod, longmod.reanalyse, longmod.pipeline, longmod.cli; "
        "heavy = [m for m in ('statsmodels', 'pymc', 'pytensor', 'rpy2', 'pymer4', 'matplotlib', 'arviz') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing longmod loaded heavy modules: {out}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("hatchling", reason="hatchling (build backend) is installed by scripts/setup")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    return next(out.glob("longmod-*.whl"))


def test_wheel_contains_models_and_fixtures(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("longmod/_bundled/models/stroma_cov2/plan.toml",
                   "longmod/_bundled/models/examples/fev_data_us_reml.toml",
                   "longmod/_bundled/fixtures/stroma_cov2/trial.toml",
                   "longmod/_bundled/fixtures/stroma_cov2/patients.csv",
                   "longmod/_bundled/fixtures/stroma_cov2/measurements.csv",
                   "longmod/published/stroma_cov2.toml"):
        assert needed in names, needed


def test_installed_wheel_finds_bundled_data(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True)
    code = (
        "import longmod.resources as r, longmod.reanalyse as ra; "
        "print(r.models_dir()); print(r.fixtures_dir()); "
        "res = ra.reanalyse('stroma-cov2', only=['primary_ancova']); print(res.data_label)"
    )
    # run from tmp_path so the source checkout is not importable
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path, env=env).stdout.split()
    assert out[0].startswith(str(target)) and out[0].endswith("_bundled/models")
    assert out[1].startswith(str(target)) and out[2] == "synthetic"
