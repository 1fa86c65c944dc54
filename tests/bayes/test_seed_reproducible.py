"""Same seed -> same draws, cold vs warm compile cache, and a process-independent cache key.

Two fresh Python processes fit the Bayesian ANCOVA with the same seed against
one new ``LONGMOD_CACHE``: the first compiles the model (cold, empty cache),
the second loads it from numba's disk cache (warm). They run with different
``PYTHONHASHSEED`` values (1 and 4): before the fix these two seeds gave the
ANCOVA's logp graph two different numba cache keys (a commutative ``Eq`` of
``X``'s rows and ``y``'s length came in either order), so the warm process
recompiled. Asserted: identical whole-graph cache keys, the warm process
compiles nothing, and the posterior draws are bit-identical.

The cold process compiles in a child process and samples with the code loaded
from the disk cache (``longmod.engines.bayes.runtime``, "Reproducibility"), as
the warm one does; for the 4-visit MMRM this was measured by hand (3-minute
cold compile, too slow for the suite; ``benchmarks/README.md``).
"""

from __future__ import annotations

import pytest

from .fresh_process import run_fresh

pytestmark = pytest.mark.slow

SCRIPT = r"""
import hashlib, json
import numpy as np, pandas as pd
from longmod.engines.bayes import fit_bayes_ancova
from longmod.spec.model import ModelSpec, Treatment

rng = np.random.default_rng(3)
n = 60
d = pd.DataFrame({"patient_id": [f"p{i:03d}" for i in range(n)],
                  "arm": np.where(np.arange(n) % 2 == 0, "placebo", "uc_msc"),
                  "baseline": rng.normal(120.0, 40.0, n), "age_gt70": rng.integers(0, 2, n),
                  "sofa_gt11": rng.integers(0, 2, n)})
d["change"] = 60.0 + 20.0 * (d.arm == "uc_msc") - 0.3 * (d.baseline - 120) + rng.normal(0, 70.0, n)
spec = ModelSpec(name="bayes-ancova", outcome="change", fixed="arm + baseline + age_gt70 + sofa_gt11",
                 subject="patient_id", engine="pymc", mcid=20.0,
                 treatment=Treatment(variable="arm", reference="placebo", active="uc_msc"),
                 sampler={"chains": 2, "draws": 100, "tune": 100, "seed": 4242, "cores": 1})
fit = fit_bayes_ancova(spec, d, day=7)
idata = fit.extras["inference_data"]
h = hashlib.sha256()
for name in sorted(idata.posterior.data_vars):
    h.update(name.encode())
    h.update(np.ascontiguousarray(idata.posterior[name].values).tobytes())
print("RESULT " + json.dumps({**{k: idata.attrs[k] for k in ("sampler_backend", "compile_source", "compiled_by_child",
                                                             "numba_compiled",
                                                             "graphs_compiled", "graph_cache_keys", "compile_seconds")},
                              "draws_sha256": h.hexdigest(), "first": float(idata.posterior["beta"].values[0, 0, 1])}))
"""


def test_same_seed_same_draws_cold_and_warm(tmp_path):
    cache = str(tmp_path / "cache")
    cold = run_fresh(SCRIPT, cache, PYTHONHASHSEED="1")
    warm = run_fresh(SCRIPT, cache, PYTHONHASHSEED="4")
    print(f"compile seconds: cold {cold['compile_seconds']:.1f}, warm {warm['compile_seconds']:.1f}")
    assert cold["sampler_backend"] == warm["sampler_backend"] == "nutpie"
    # cold: a child process compiled the model into the empty cache, this process loaded it from disk
    assert cold["compiled_by_child"] == 1 and cold["graphs_compiled"] > 0 and cold["compile_source"] == "disk", cold
    assert warm["compiled_by_child"] == 0, warm
    assert cold["graph_cache_keys"] and cold["graph_cache_keys"] == warm["graph_cache_keys"]
    assert warm["compile_source"] == "disk" and warm["numba_compiled"] == 0, warm
    assert warm["draws_sha256"] == cold["draws_sha256"], (cold["first"], warm["first"])
