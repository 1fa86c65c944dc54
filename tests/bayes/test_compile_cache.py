"""Compiled models are reused across processes (PyTensor's numba disk cache).

Two fresh Python processes sample the same small PyMC model with nutpie
through :func:`longmod.engines.bayes.runtime.sample_model`, against one new
``LONGMOD_CACHE``. The runtime records, as data, how many
PyTensor-generated numba functions it had to compile (numba fires its
``numba:compile`` event only on a cache miss). The first process must compile
the model's graph functions; the second must load all of them from the disk
cache (``graphs_compiled == 0``, ``compile_source == "disk"``). No timing is
asserted; the compile seconds are printed for the record.

The probe model has static data. PyTensor's whole-graph cache key depends on
the order of the operands of shape checks between two different symbolic
lengths, an order that follows ``PYTHONHASHSEED``; longmod's models declare
their data containers to share one length (``pt.specify_shape``) so that their
keys are the same in every process (``test_seed_reproducible.py``).
"""

from __future__ import annotations

import os

import pytest

from .fresh_process import run_fresh

pytestmark = pytest.mark.slow

SCRIPT = r"""
import json
import numpy as np
from longmod.engines.bayes import runtime

runtime.configure_pytensor()


def build():
    import pymc as pm

    y = np.array([12.0, -3.0, 25.0, 8.0, 40.0, -10.0, 15.0, 22.0])  # static data: a fixed graph
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 100.0)
        sigma = pm.HalfNormal("sigma", 50.0)
        pm.Normal("obs", mu, sigma, observed=y)
    return model


settings = runtime.SamplerSettings.from_mapping({"chains": 1, "draws": 50, "tune": 50, "seed": 1, "cores": 1})
idata, info = runtime.sample_model(build, {}, settings)
print("RESULT " + json.dumps(dict(idata.attrs), default=str))
"""


def test_second_process_loads_compiled_model_from_disk(tmp_path):
    cache = str(tmp_path / "cache")
    cold = run_fresh(SCRIPT, cache)
    warm = run_fresh(SCRIPT, cache)
    print(f"compile seconds: cold {cold['compile_seconds']:.1f}, warm {warm['compile_seconds']:.1f}")
    assert cold["sampler_backend"] == warm["sampler_backend"] == "nutpie"
    assert cold["compile_source"] == "compiled" and cold["graphs_compiled"] >= 1
    assert warm["compile_source"] == "disk"
    assert warm["graphs_compiled"] == 0 and warm["numba_compiled"] == 0, warm
    assert os.path.isdir(os.path.join(cache, "pytensor", "numba"))
