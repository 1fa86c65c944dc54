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


def _requires(wheel) -> list[str]:
    zf = zipfile.ZipFile(wheel)
    meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    return [line.split(":", 1)[1].strip() for line in zf.read(meta).decode().splitlines()
            if line.startswith("Requires-Dist:")]


def test_bayesian_packages_are_core_and_pandas_cap_only_in_the_lme4_extra(wheel):
    """`pip install longmod` (no extras) brings PyMC, ArviZ and nutpie (the default plan's Bayesian models need
    them); the pandas < 3 cap is pymer4's, so it is in the lme4 extra only."""
    reqs = _requires(wheel)
    core = {r.split(";")[0].split(">")[0].split("<")[0].split("=")[0].strip(): r for r in reqs if "extra ==" not in r}
    assert {"pymc", "arviz", "nutpie", "numpy", "scipy", "pandas", "statsmodels", "formulaic"} <= set(core)
    assert "<3" not in core["pandas"]
    lme4 = [r for r in reqs if "extra == 'lme4'" in r or 'extra == "lme4"' in r]
    assert any(r.startswith("pandas") and "<3" in r for r in lme4)
    assert {r.split("=")[0] for r in lme4 if not r.startswith("pandas")} == {"rpy2", "pymer4"}
    assert not any(r.startswith(("rpy2", "pymer4")) for r in core.values())


@pytest.mark.slow
def test_fresh_venv_without_the_lme4_extra_runs_the_main_job(wheel, tmp_path):
    """A fresh venv holding the wheel and the core dependencies but not the lme4 extra (pymer4, rpy2).

    Resolving the dependencies from an index is not possible in CI here (no network), so the venv's
    dependencies are the project environment's packages minus the lme4 extra, linked one by one. The lme4
    rows then say "not run: install longmod[lme4] and R" and the rest of the job runs.
    """
    import sysconfig
    import venv

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True)
    deps = tmp_path / "deps"
    deps.mkdir()
    skip = ("longmod", "__editable__", "_longmod", "pymer4", "rpy2", "__pycache__")
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(skip) and not entry.name.endswith(".pth"):
            (deps / entry.name).symlink_to(entry)
    (site / "zz_core_deps.pth").write_text(str(deps) + "\n")
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "LONGMOD_CACHE": str(tmp_path / "c")}
    check = ("import longmod, pymc, nutpie, arviz; from longmod.engines.registry import engine_unavailable; "
             "print(longmod.__file__); print(engine_unavailable('lme4'))")
    out = subprocess.run([str(py), "-c", check], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env=env).stdout.splitlines()
    assert out[0].startswith(str(site))
    assert out[1].startswith("not run: install longmod[lme4] and R") and "pymer4" in out[1]
    run = subprocess.run([str(py), "-m", "longmod.cli", "reanalyse", "stroma-cov2", "--out", str(tmp_path / "out"),
                          "--only", "primary_ancova", "lmm_ris"], capture_output=True, text=True, cwd=tmp_path,
                         env=env)
    assert run.returncode == 0, run.stderr
    import pandas as pd

    eff = pd.read_csv(tmp_path / "out" / "effects.csv")
    lme4 = eff[eff["engine"].astype(str).str.startswith("lme4")]
    assert len(lme4) and lme4["status"].str.startswith("not run: install longmod[lme4] and R").all()
    assert (eff.loc[eff["analysis"] == "primary_ancova", "estimate"].notna()).all()
    native = eff[(eff["analysis"] == "lmm_ris") & ~eff["engine"].astype(str).str.startswith("lme4")]
    assert len(native) and native["estimate"].notna().all()
    assert "not run: install longmod[lme4] and R" in (tmp_path / "out" / "report.md").read_text()
