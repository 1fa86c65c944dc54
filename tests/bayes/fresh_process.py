"""Run a Python snippet in a fresh process (no PyTensor/numba state) and read its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: A tiny nutpie fit (1 chain x 30 draws); ``LONGMOD_TEST_CACHE_KEY`` in the environment is its ``cache_key``
#: (none: compiled in the process). Prints the sampler's warnings and record, and a hash of the draws.
TINY_FIT = r"""
import hashlib, json, os
import numpy as np
from longmod.engines.bayes import runtime

runtime.configure_pytensor()


def build():
    import pymc as pm

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 100.0)
        pm.Normal("obs", mu, 7.0, observed=np.array([1.0, 4.0, 2.5]))
    return model


settings = runtime.SamplerSettings.from_mapping({"chains": 1, "draws": 30, "tune": 30, "seed": 1, "cores": 1})
key = os.environ.get("LONGMOD_TEST_CACHE_KEY")
idata, info = runtime.sample_model(build, {}, settings, cache_key=key and ("tiny_fit", key))
draws = hashlib.sha256(np.ascontiguousarray(idata.posterior["mu"].values).tobytes()).hexdigest()
print("RESULT " + json.dumps({"warnings": info.warnings, "draws": draws, "sampler": info.backend, **info.fit_stats()}))
"""


def run_fresh(script: str, cache: str, **env: str) -> dict:
    """Run ``script`` with ``LONGMOD_CACHE=cache``, no inherited ``PYTENSOR_FLAGS``, and ``env``.

    The script prints one line ``RESULT <json>``; its JSON is returned.
    """
    full = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    full.update(LONGMOD_CACHE=cache, PYTHONPATH=str(ROOT), **env)
    out = subprocess.run([sys.executable, "-c", script], env=full, cwd=ROOT, capture_output=True, text=True,
                         timeout=900, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])
