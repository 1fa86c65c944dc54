"""The compile cache of the Bayesian models: compiled once, by a fresh process, under a file lock.

Why a fresh process: nutpie draws depend only on the seed, the data, the model
and the machine code of the compiled graph, but numba code compiled inside a
process does not round exactly like the same code loaded from the disk cache by
a later process (measured: the STROMA-CoV-2 Bayesian MMRM's first draw agreed to
9 significant digits, then the chains took different paths). So a model is
never compiled in the sampling process: the first time a model is seen, a
fresh child process compiles it into numba's disk cache
(:func:`ensure_compiled`), and every sampling process loads it from there.
With the same versions, data and settings, the same seed then gives
bit-identical draws in the first run and every later one.

The cache entry of a model (a marker file ``longmod_compiled/<digest>.json``
under PyTensor's ``base_compiledir``) is keyed by (:func:`model_digest`):

* the model's structural key (``cache_key``: model kind, columns, visits,
  covariance structure, prior families; not data values);
* :func:`code_hash`: a sha256 of the model-building code (every module of
  :mod:`longmod.engines.bayes` and the covariance table, docstrings and
  comments left out), so changed model code is never served from an old compile;
* the versions of pytensor, numba, nutpie, pymc, numpy and Python.

The marker lists the numba cache keys of the model's whole-graph functions
(``graph_cache_keys``); before trusting a marker, :func:`ensure_compiled`
checks that numba's cache still holds those graphs (a pruned numba cache is
detected and the model recompiled by a child). Check-and-compile runs under an
exclusive ``fcntl`` lock per model (:func:`compile_lock`), so concurrent
processes on one cache never race: the first compiles, the others wait and
then load. A compile that happens in the sampling process anyway (the child
failed, no ``cache_key``, or numba missed its cache) is counted
(:class:`NumbaCompileCounter`) and flagged in the fit's warnings.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: packages whose versions enter the key of a compiled model
KEY_PACKAGES: tuple[str, ...] = ("pytensor", "numba", "nutpie", "pymc", "numpy", "llvmlite")


def _model_files() -> list[Path]:
    here = Path(__file__).resolve().parent
    return sorted(here.glob("*.py")) + [here.parent / "core" / "covariance.py"]


def _code_only(source: str) -> str:
    """The code of a module without docstrings and comments (``ast.dump``): what a compile depends on."""
    import ast

    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def code_salt(path: Path) -> int:
    """An integer from the code of one module (:func:`_code_only`): a version salt for PyTensor's numba cache key.

    A module that registers its own numba kernels adds it to their key, so that
    an edited kernel is compiled again instead of loaded stale from the disk cache.

    Examples
    --------
    >>> code_salt(Path(__file__)) == code_salt(Path(__file__)) > 0
    True
    """
    code = _code_only(path.read_text(encoding="utf-8"))
    return int(hashlib.sha256(code.encode()).hexdigest()[:12], 16)


def kernel_njit() -> Callable:
    """The decorator longmod's own numba kernels are compiled with: PyTensor's ``numba_njit``, NumPy's error model.

    A division by zero then gives inf/NaN, which the sampler rejects (as it did
    PyTensor's own graphs), instead of raising ``ZeroDivisionError`` inside the
    sampler's C callback.

    Examples
    --------
    >>> kernel_njit().keywords
    {'error_model': 'numpy'}
    """
    from pytensor.link.numba.dispatch import basic as numba_basic

    return functools.partial(numba_basic.numba_njit, error_model="numpy")


_KERNELS_REGISTERED: set[str] = set()


def register_kernels_once(module_file: str, register_numba: Callable[[int, Callable], None],
                          register_jax: Callable[[], None]) -> None:
    """Register a module's Op kernels with PyTensor once per process: numba's, and JAX's when JAX is importable.

    ``register_numba(salt, njit)`` receives :func:`code_salt` of ``module_file``
    (the version salt of the kernels' numba cache key) and :func:`kernel_njit`.

    Examples
    --------
    >>> calls = []
    >>> register_kernels_once(__file__, lambda salt, njit: calls.append(salt), lambda: None)
    >>> register_kernels_once(__file__, lambda salt, njit: calls.append(salt), lambda: None)  # does nothing
    >>> len(calls), calls[0] == code_salt(Path(__file__))
    (1, True)
    """
    if module_file in _KERNELS_REGISTERED:
        return
    import importlib.util

    register_numba(code_salt(Path(module_file)), kernel_njit())
    if importlib.util.find_spec("jax") is not None:
        register_jax()
    _KERNELS_REGISTERED.add(module_file)


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """sha256 of the model-building code: every ``.py`` of ``longmod/engines/bayes`` + the covariance table.

    Docstrings and comments are left out (:func:`_code_only`), so editing
    documentation does not invalidate compiled models; any change to the code does.

    Examples
    --------
    >>> len(code_hash())
    64
    >>> _code_only("'''doc'''\\nx = 1  # note") == _code_only("x = 1")
    True
    >>> _code_only("x = 1") == _code_only("x = 2")
    False
    """
    h = hashlib.sha256()
    for f in _model_files():
        h.update(f.name.encode())
        h.update(_code_only(f.read_text(encoding="utf-8")).encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def key_versions() -> tuple[tuple[str, str], ...]:
    """(package, version) pairs of :data:`KEY_PACKAGES` and Python."""
    import importlib.metadata as md

    out = []
    for name in KEY_PACKAGES:
        try:
            out.append((name, md.version(name)))
        except md.PackageNotFoundError:
            out.append((name, "not installed"))
    out.append(("python", sys.version.split()[0]))
    return tuple(out)


def model_digest(cache_key: Any) -> str:
    """Key of a compiled model: its structural key, :func:`code_hash` and :func:`key_versions`.

    Examples
    --------
    >>> model_digest(("ancova", ("x",))) == model_digest(("ancova", ("x",)))
    True
    >>> model_digest(("ancova", ("x",))) == model_digest(("ancova", ("y",)))
    False
    """
    return hashlib.sha256(repr((cache_key, code_hash(), key_versions())).encode()).hexdigest()


def compiled_dir() -> Path:
    """Folder of the markers (``base_compiledir/longmod_compiled``).

    Examples
    --------
    >>> compiled_dir().name  # doctest: +SKIP
    'longmod_compiled'
    """
    import pytensor

    return Path(str(pytensor.config.base_compiledir)) / "longmod_compiled"


def numba_cache_dir() -> Path:
    """numba's disk cache of PyTensor functions (``base_compiledir/numba``).

    Examples
    --------
    >>> numba_cache_dir().name  # doctest: +SKIP
    'numba'
    """
    import pytensor

    return Path(str(pytensor.config.base_compiledir)) / "numba"


@contextlib.contextmanager
def compile_lock(digest: str) -> Iterator[Path]:
    """Exclusive ``fcntl`` lock of one model's cache entry (blocks until free).

    Examples
    --------
    >>> with compile_lock(model_digest(("ancova", ("x",)))) as path:  # doctest: +SKIP
    ...     path.suffix
    '.lock'
    """
    import fcntl

    d = compiled_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{digest}.lock"
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def graph_functions() -> dict[Any, str]:
    """Whole-graph numba functions (PyTensor's) and nutpie C callbacks (longmod's) alive here -> their cache keys.

    Examples
    --------
    >>> isinstance(graph_functions(), dict)  # doctest: +SKIP
    True
    """
    try:
        from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS
    except ImportError:  # pragma: no cover - numba missing
        return {}
    names = {"numba_funcified_fgraph", "longmod_nutpie_logp", "longmod_nutpie_expand"}
    return {f: k for f, k in list(CACHED_SRC_FUNCTIONS.items()) if getattr(f, "__name__", "") in names}


def missing_graphs(keys: list[str] | tuple[str, ...]) -> list[str]:
    """Graph cache keys with no numba index + code file on disk (a pruned cache).

    Examples
    --------
    >>> missing_graphs(["ab" * 32])  # doctest: +SKIP
    ['abababababababababababababababababababababababababababababababab']
    """
    d = numba_cache_dir()
    names = os.listdir(d) if d.is_dir() else []
    out = []
    for k in keys:
        hit = [n for n in names if k in n]
        if not (any(n.endswith(".nbi") for n in hit) and any(n.endswith(".nbc") for n in hit)):
            out.append(k)
    return out


class NumbaCompileCounter:
    """Count numba compilations (disk-cache misses) of PyTensor-generated functions.

    numba fires a ``"numba:compile"`` event only when a dispatcher actually
    compiles, not when it loads a signature from its disk cache.

    Examples
    --------
    >>> with NumbaCompileCounter() as counter:
    ...     pass
    >>> counter.compiled, counter.graphs
    (0, 0)
    """

    def __enter__(self) -> "NumbaCompileCounter":
        from numba.core import event

        counter = self
        self.compiled, self.graphs = 0, 0

        class _Listener(event.Listener):
            def on_start(self, ev: Any) -> None:
                fn = getattr((ev.data or {}).get("dispatcher"), "py_func", None)
                if fn is not None and str(getattr(fn, "__module__", "")).startswith("pytensor"):
                    counter.compiled += 1
                    counter.graphs += getattr(fn, "__name__", "") == "numba_funcified_fgraph"

            def on_end(self, ev: Any) -> None:
                pass

        self._listener = _Listener()
        event.register("numba:compile", self._listener)
        return self

    def __exit__(self, *exc: Any) -> None:
        from numba.core import event

        event.unregister("numba:compile", self._listener)


_CHILD_COMPILE = """
import json, sys
import cloudpickle
from longmod.engines.bayes import compile_cache, pytensor_setup
pytensor_setup.configure_pytensor()
pytensor_setup.enable_numba_graph_cache()
from longmod.engines.bayes import nutpie_callbacks
with open(sys.argv[1], "rb") as fh:
    build = cloudpickle.load(fh)
before = compile_cache.graph_functions()
with compile_cache.NumbaCompileCounter() as counter:
    _, callbacks, layout = nutpie_callbacks.compile_with_cached_callbacks(build())
keys = sorted({k for f, k in compile_cache.graph_functions().items() if f not in before})
cb = 2 * (callbacks == "compiled")
print("RESULT " + json.dumps({"numba_compiled": counter.compiled + cb, "graphs_compiled": counter.graphs + cb,
                              "graph_cache_keys": keys, "nutpie_model": layout}))
"""


def _compile_in_child(build: Callable[[], Any]) -> tuple[dict | None, str]:
    import subprocess
    import tempfile

    import cloudpickle

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "build.pkl"
        path.write_bytes(cloudpickle.dumps(build))
        out = subprocess.run([sys.executable, "-c", _CHILD_COMPILE, str(path)], capture_output=True, text=True,
                             check=False, env=dict(os.environ))
    result = next((line[len("RESULT "):] for line in out.stdout.splitlines() if line.startswith("RESULT ")), None)
    if out.returncode != 0 or result is None:
        return None, (out.stderr.strip().splitlines() or ["no message"])[-1]
    return json.loads(result), ""


def stored_marker(cache_key: Any) -> dict:
    """The marker of model ``cache_key`` ({} when there is none or it is unreadable).

    It holds the model's ``graph_cache_keys`` and, written by the child that
    compiled it, the compiled nutpie model's layout ``nutpie_model``
    (:func:`longmod.engines.bayes.nutpie_callbacks.compile_numba_model`), with
    which a later process loads the model without rebuilding its graphs.

    Examples
    --------
    >>> stored_marker(None)
    {}
    """
    if cache_key is None:
        return {}
    try:
        return json.loads((compiled_dir() / f"{model_digest(cache_key)}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def ensure_compiled(build: Callable[[], Any], cache_key: Any, warnings: list[str]) -> dict | None:
    """Make sure model ``cache_key`` is in numba's disk cache, compiled by a fresh process.

    Under :func:`compile_lock`: a valid marker (its graphs present in numba's
    cache) means nothing to do; else a child process compiles the model and
    the marker is written (atomically). Problems go to ``warnings``.

    Returns
    -------
    dict or None
        The child's record (``numba_compiled``, ``graphs_compiled``,
        ``graph_cache_keys``) when it compiled; None when nothing was compiled
        (already cached, no ``cache_key``, or the child failed: then this
        process compiles and the caller flags it).

    Examples
    --------
    >>> warnings = []
    >>> ensure_compiled(build, ("mmrm", "us"), warnings)  # doctest: +SKIP
    """
    if cache_key is None:
        return None
    digest = model_digest(cache_key)
    marker = compiled_dir() / f"{digest}.json"
    with compile_lock(digest):
        if marker.exists():
            try:
                keys = json.loads(marker.read_text(encoding="utf-8"))["graph_cache_keys"]
            except (ValueError, KeyError, OSError):
                keys = None
            gone = missing_graphs(keys) if keys is not None else ["(unreadable marker)"]
            if not gone:
                return None
            warnings.append(f"the compile cache had lost {len(gone)} compiled graph(s) of this model (pruned numba "
                            f"cache); recompiled it in a fresh process")
            marker.unlink(missing_ok=True)
        child, err = _compile_in_child(build)
        if child is None:
            warnings.append("compiling the model in a fresh process failed (" + err + "); compiled in this process "
                            "instead, so this run's draws may differ from later runs with the same seed")
            return None
        tmp = marker.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"cache_key": repr(cache_key), **child}, indent=1), encoding="utf-8")
        tmp.replace(marker)
        return child
