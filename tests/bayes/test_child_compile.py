"""A model is compiled by a fresh process, once, under a lock; a failing child is reported, never hidden."""

from __future__ import annotations

from pathlib import Path

from longmod.engines.bayes import compile_cache, runtime


def test_a_failing_child_is_reported_and_leaves_no_marker(tmp_path, monkeypatch):
    # PyTensor of this (worker) process on the session's cache first: configured under the test's folder,
    # every later Bayesian test of that worker compiled into the temporary folder, and so did its children
    runtime.configure_pytensor()
    monkeypatch.setenv("LONGMOD_CACHE", str(tmp_path))  # the child's cache
    monkeypatch.delenv("PYTENSOR_FLAGS", raising=False)  # the child configures its own from LONGMOD_CACHE
    # this process's markers and lock in the test's folder, also when PyTensor was configured earlier
    monkeypatch.setattr(compile_cache, "compiled_dir", lambda: tmp_path / "pytensor" / "longmod_compiled")
    key = ("test-child-compile", str(tmp_path))
    warnings: list[str] = []
    failing_build = lambda: 1 / 0  # noqa: E731 - a lambda is pickled by value, so the child can load it
    assert compile_cache.ensure_compiled(failing_build, key, warnings) is None
    assert len(warnings) == 1 and "this run's draws may differ" in warnings[0]
    assert "ZeroDivisionError" in warnings[0]
    assert not (compile_cache.compiled_dir() / f"{compile_cache.model_digest(key)}.json").exists()
    import pytensor

    assert tmp_path not in Path(pytensor.config.base_compiledir).parents  # this process's cache is unchanged


def test_no_cache_key_compiles_in_process():
    warnings: list[str] = []
    assert compile_cache.ensure_compiled(lambda: 1 / 0, None, warnings) is None and warnings == []


def test_key_covers_model_code_and_package_versions(monkeypatch):
    """Changed model code (any module of the Bayesian engine or the covariance table) or
    another pytensor/numba/nutpie/pymc version gives another cache entry."""
    key = ("m", 1)
    d0 = compile_cache.model_digest(key)
    files = {f.name for f in compile_cache._model_files()}
    assert {"mmrm.py", "covstruct.py", "design.py", "rvs.py", "covariance.py"} <= files
    monkeypatch.setattr(compile_cache, "code_hash", lambda: "0" * 64)
    assert compile_cache.model_digest(key) != d0
    monkeypatch.undo()
    names = dict(compile_cache.key_versions())
    assert {"pytensor", "numba", "nutpie", "pymc"} <= set(names)
    monkeypatch.setattr(compile_cache, "key_versions", lambda: (("pytensor", "0.0"),))
    assert compile_cache.model_digest(key) != d0


def test_pruned_numba_cache_is_detected(tmp_path, monkeypatch):
    """A marker whose graphs are gone from numba's cache is not trusted."""
    # numba's cache folder of a fresh cache (PyTensor may already be configured in this process: a test
    # process that fitted a model earlier has its cache elsewhere, which this test must not write to)
    d = tmp_path / "pytensor" / "numba"
    d.mkdir(parents=True)
    monkeypatch.setattr(compile_cache, "numba_cache_dir", lambda: d)
    k = "ab" * 32
    assert compile_cache.missing_graphs([k]) == [k]
    for suffix in (".nbi", ".1.nbc"):
        (d / f"string.numba_funcified_fgraph-{k}_fastmath1.py311{suffix}").write_bytes(b"")
    assert compile_cache.missing_graphs([k]) == []
