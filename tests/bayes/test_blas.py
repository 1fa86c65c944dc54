"""PyTensor links Debian's OpenBLAS (installed by scripts/setup) once longmod configures it."""

from __future__ import annotations

import ctypes.util

import pytest

from .fresh_process import run_fresh

SCRIPT = ("import json; from longmod.engines.bayes.runtime import configure_pytensor; "
          "r = configure_pytensor(); print('RESULT ' + json.dumps({'blas': r['blas'], 'warnings': r['warnings']}))")


@pytest.mark.skipif(not ctypes.util.find_library("openblas"), reason="OpenBLAS not installed (apt-get install libopenblas-dev)")
def test_openblas_is_linked_and_no_blas_warning(tmp_path):
    r = run_fresh(SCRIPT, str(tmp_path))
    assert r["blas"] == "-lopenblas" and r["warnings"] == []


def test_a_users_blas_choice_is_kept(tmp_path):
    r = run_fresh(SCRIPT, str(tmp_path), PYTENSOR_FLAGS="blas__ldflags=")
    assert r["blas"] == ""
    assert any("found no BLAS" in w for w in r["warnings"])  # reported as data, not hidden
