"""PyTensor links Debian's OpenBLAS (installed by scripts/setup) once longmod configures it."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys

import pytest

SCRIPT = ("import json; from longmod.engines.bayes.runtime import configure_pytensor; "
          "r = configure_pytensor(); print(json.dumps({'blas': r['blas'], 'warnings': r['warnings']}))")


def _configure(tmp_path, flags: str | None) -> dict:
    env = {**os.environ, "LONGMOD_CACHE": str(tmp_path)}
    env.pop("PYTENSOR_FLAGS", None)
    if flags is not None:
        env["PYTENSOR_FLAGS"] = flags
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not ctypes.util.find_library("openblas"), reason="OpenBLAS not installed (apt-get install libopenblas-dev)")
def test_openblas_is_linked_and_no_blas_warning(tmp_path):
    r = _configure(tmp_path, None)
    assert r["blas"] == "-lopenblas" and r["warnings"] == []


def test_a_users_blas_choice_is_kept(tmp_path):
    r = _configure(tmp_path, "blas__ldflags=")
    assert r["blas"] == ""
    assert any("found no BLAS" in w for w in r["warnings"])  # reported as data, not hidden
