"""The compile cache under concurrency, and compiled models reused across processes.

Two fresh Python processes start *at the same time* on one EMPTY
``LONGMOD_CACHE`` and fit the same tiny model (``fresh_process.TINY_FIT``, one
parameter: the smallest model that takes the compile cache's path; the
Bayesian ANCOVA used before cost the test 90 s of op compiles) with the same seed.
Asserted: both succeed; exactly one of them had a child process compile the
model (the other waited on the lock, then loaded it); neither compiled a graph
in its own process; the draws are bit-identical. A third process after the
model's numba graphs were deleted (a pruned cache) detects it, recompiles in a
child and still gives the same draws. A model sampled without a ``cache_key``
that has to be compiled is flagged in the fit's warnings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .fresh_process import ROOT, TINY_FIT, run_fresh

pytestmark = pytest.mark.slow

#: the fitted model's cache key (TINY_FIT reads it from the environment)
KEY = {"LONGMOD_TEST_CACHE_KEY": "test_compile_cache"}


def _start(script: str, cache: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    env.update(LONGMOD_CACHE=cache, PYTHONPATH=str(ROOT), **KEY)
    return subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _result(p: subprocess.Popen) -> dict:
    out, err = p.communicate(timeout=1800)
    assert p.returncode == 0, err[-3000:]
    return json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[len("RESULT "):])


def test_two_concurrent_processes_on_an_empty_cache(tmp_path):
    cache = str(tmp_path / "cache")
    procs = [_start(TINY_FIT, cache), _start(TINY_FIT, cache)]
    a, b = (_result(p) for p in procs)
    assert sorted([a["compiled_by_child"], b["compiled_by_child"]]) == [False, True]
    for r in (a, b):
        assert r["sampler"] == "nutpie" and r["graphs_compiled_here"] == 0, r
        assert r["compile_source"] == "disk"
        assert not any("compiled in this process" in w for w in r["warnings"]), r["warnings"]
    assert a["draws"] == b["draws"]
    markers = list((tmp_path / "cache" / "pytensor" / "longmod_compiled").glob("*.json"))
    assert len(markers) == 1
    keys = json.loads(markers[0].read_text())["graph_cache_keys"]
    assert keys
    # prune numba's cache of this model's graphs: detected, recompiled by a child, same draws
    numba_dir = tmp_path / "cache" / "pytensor" / "numba"
    for f in numba_dir.iterdir():
        if any(k in f.name for k in keys):
            f.unlink()
    c = run_fresh(TINY_FIT, cache, **KEY)
    assert c["compiled_by_child"] and c["graphs_compiled_here"] == 0
    assert any("pruned numba cache" in w for w in c["warnings"]), c["warnings"]
    assert c["draws"] == a["draws"]


def test_an_in_process_compile_is_flagged(tmp_path):
    r = run_fresh(TINY_FIT, str(tmp_path / "cache"))
    assert r["graphs_compiled_here"] >= 1 and r["compile_source"] == "compiled"
    assert any("compiled in this process" in w for w in r["warnings"]), r["warnings"]
    again = run_fresh(TINY_FIT, str(tmp_path / "cache"))  # now loaded from numba's disk cache: not flagged
    assert again["graphs_compiled_here"] == 0 and again["compile_source"] == "disk"
    assert not any("compiled in this process" in w for w in again["warnings"])
