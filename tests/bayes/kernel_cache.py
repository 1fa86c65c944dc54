"""A check shared by the tests of longmod's own numba kernels: their numba cache key follows their module's code."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from longmod.engines.bayes.compile_cache import code_salt, kernel_njit


def assert_cache_key_follows_code(monkeypatch, module: ModuleType, nodes: list, edit: tuple[str, str]) -> None:
    """Every node's Op has a numba cache key (else PyTensor would not cache the graph on disk), distinct per Op;
    another salt gives other keys; and an edit of the module's code (``edit``: old, new) changes the salt."""
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    def keys():
        return [numba_funcify_and_cache_key(node.op, node=node)[1] for node in nodes]

    module.register_kernels()
    before = keys()
    assert all(before) and len(set(before)) == len(before)
    salt = code_salt(Path(module.__file__))
    try:
        module._register_numba(salt + 1, kernel_njit())
        assert all(a != b for a, b in zip(keys(), before))
    finally:
        module._register_numba(salt, kernel_njit())
    assert keys() == before
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert edit[0] in source
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source.replace(*edit))
    assert code_salt(Path(module.__file__)) != salt
