"""A model is compiled by a fresh process, once; a failing child is reported, never hidden."""

from __future__ import annotations

from longmod.engines.bayes import runtime


def test_a_failing_child_is_reported_and_leaves_no_marker(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGMOD_CACHE", str(tmp_path))
    runtime.configure_pytensor()
    key = ("test-child-compile", str(tmp_path))
    info = runtime.SampleInfo(backend="nutpie")
    failing_build = lambda: 1 / 0  # noqa: E731 - a lambda is pickled by value, so the child can load it
    assert runtime._compile_in_fresh_process(failing_build, key, info) is None
    assert len(info.warnings) == 1 and "this run's draws may differ" in info.warnings[0]
    assert "ZeroDivisionError" in info.warnings[0]
    assert not runtime._compiled_marker(key).exists()


def test_no_cache_key_compiles_in_process():
    info = runtime.SampleInfo(backend="nutpie")
    assert runtime._compile_in_fresh_process(lambda: 1 / 0, None, info) is None and info.warnings == []
