"""The R scripts behind the front-end references still write the stored numbers.

Each script runs on a copy in a temporary folder (the stored JSON is not overwritten). The
numbers that define the references (-2 log L, coefficients, emmeans contrasts) must reproduce to
1e-8 relative: every script sets tight optimiser tolerances, and R's BLAS changes the last digits
only (measured below 1e-9 for these fits).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_rscript

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.r


def _run(script: Path, tmp_path: Path, extra=()):
    require_rscript()
    work = tmp_path / script.parent.name
    work.mkdir()
    shutil.copy(script, work / script.name)
    subprocess.run(["Rscript", str(work / script.name), *map(str, extra)], check=True, capture_output=True, timeout=900)
    return work


def _close(a, b, path=""):
    if isinstance(b, dict):
        for k in b:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(b, list) and b and isinstance(b[0], (int, float)):
        np.testing.assert_allclose(a, b, rtol=1e-8, err_msg=path)
    elif isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-8), path


def test_visit_order_script(tmp_path):
    fev = HERE / "mmrm" / "fev_data.csv"
    work = _run(HERE / "nlme" / "visit_order.R", tmp_path, [fev])
    new = json.loads((work / "visit_order.json").read_text())
    old = json.loads((HERE / "nlme" / "visit_order.json").read_text())
    for cov in ("ar1", "sp_exp"):
        _close(new[cov], old[cov], cov)
    assert (work / "visit_order.csv").read_bytes() == (HERE / "nlme" / "visit_order.csv").read_bytes()


def test_singular_script(tmp_path):
    work = _run(HERE / "lme4" / "singular.R", tmp_path)
    new = json.loads((work / "singular.json").read_text())
    old = json.loads((HERE / "lme4" / "singular.json").read_text())
    assert new["ris"]["singular"] is old["ris"]["singular"] is True
    _close(new["ri"]["neg2_log_likelihood"], old["ri"]["neg2_log_likelihood"])
    assert (work / "singular.csv").read_bytes() == (HERE / "lme4" / "singular.csv").read_bytes()


@pytest.mark.slow
def test_emmeans_script(tmp_path):
    fev = HERE / "mmrm" / "fev_data.csv"
    work = _run(HERE / "emmeans" / "emmeans_refs.R", tmp_path, [fev])
    new = json.loads((work / "emmeans_refs.json").read_text())
    old = json.loads((HERE / "emmeans" / "emmeans_refs.json").read_text())
    for key in ("fev_ri", "fev_ris", "sleep_ris", "sleep_ris_diag"):
        _close(new[key]["neg2_log_likelihood"], old[key]["neg2_log_likelihood"], key)
        _close(new[key]["coef"], old[key]["coef"], key)
    _close(new["fev_ris"]["trt_vs_ctrl_by_visit"], old["fev_ris"]["trt_vs_ctrl_by_visit"], "contrasts")
