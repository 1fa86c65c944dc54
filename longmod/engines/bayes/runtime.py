"""Sampling runtime: PyTensor cache, BLAS check, thread limits, sampler dispatch.

Nothing here runs at import time. :func:`configure_pytensor` is called by
every fitting function *before* PyTensor is first imported; it points
PyTensor's ``base_compiledir`` at a persistent, shared folder so that a second
run (or a second process) reuses the compiled C modules:

* ``$LONGMOD_CACHE/pytensor`` if ``LONGMOD_CACHE`` is set, else
  ``~/.cache/longmod/pytensor``;
* a ``base_compiledir`` the user already put in ``PYTENSOR_FLAGS`` wins.

BLAS: pip's PyTensor links no BLAS unless the system has one; ``scripts/setup``
installs Debian's ``libopenblas-dev``, which PyTensor's own search does not find
(it wants ``libcblas`` or ``libgfortran`` beside it), so :func:`configure_pytensor`
sets ``blas__ldflags=-lopenblas`` when OpenBLAS is installed and the user set no
``blas__ldflags``. When none is found the result carries a
warning (``convergence.warnings``), never silently.

Compiled models across processes: PyTensor caches the numba code of each Op
and of whole graphs under ``base_compiledir/numba``;
:func:`enable_numba_graph_cache` makes sure folded array constants do not
stop numba from caching the whole graph, and :class:`SampleInfo` records
whether a model came from memory, from the disk cache or was compiled.
The cache keys of the model's whole graphs are recorded too
(``SampleInfo.graph_cache_keys``, ``graph_cache_keys`` in ``InferenceData.attrs``).
PyTensor derives them from the rewritten graph, so a model must give one graph
in every process: a check that two *different* symbolic lengths agree (e.g. the
rows of ``X`` and the length of ``y``) enters the graph as ``Eq(a, b)`` with
``a, b`` taken from a set of variables, in an order that follows
``PYTHONHASHSEED``; the models therefore declare every per-row container to have
``y``'s length (``pt.specify_shape``), which leaves a single length.

Reproducibility (the exact guarantee): nutpie draws depend only on the seed,
the data, the model and the machine code of the compiled graph. numba code
compiled inside a process does not round exactly like the same code loaded
from the disk cache by a later process (measured: the STROMA-CoV-2 Bayesian
MMRM's first draw agreed to 9 significant digits, then the chains took
different paths). So a model is never compiled in the sampling process: the
first time a model (its ``cache_key`` and the package versions) is seen,
a fresh child process compiles it into the disk cache
(:func:`_compile_in_fresh_process`, marker files under
``base_compiledir/longmod_compiled``), and the sampling process loads it from
there. With the same versions, data and settings, the same seed then gives
bit-identical draws in the first run and every later one (measured for the
ANCOVA and the 4-visit MMRM: ``tests/bayes/test_seed_reproducible.py`` and
``benchmarks/README.md``). A fit without a ``cache_key`` compiles in-process.

Sampler settings come from ``ModelSpec.sampler`` (keys in
:data:`SAMPLER_KEYS`). The default backend is nutpie (numba-compiled model,
compiled models cached in-process and refreshed with new data through
``CompiledModel.with_data``); PyMC's NUTS with ``init="jitter+adapt_diag_grad"``
is the fallback, used when nutpie is missing, fails to compile, or
``backend = "pymc"`` is requested. BLAS threads are limited to one per chain
(threadpoolctl) while sampling, because 2 chains x N BLAS threads oversubscribe
small machines.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Keys accepted in ``ModelSpec.sampler``.
SAMPLER_KEYS: tuple[str, ...] = (
    "backend", "chains", "draws", "tune", "seed", "target_accept", "cores", "progress_bar",
)
BACKENDS: tuple[str, ...] = ("nutpie", "pymc")
DEFAULT_SAMPLER: Mapping[str, Any] = {
    "backend": "nutpie", "chains": 4, "draws": 1000, "tune": 1000, "seed": 20240607,
    "target_accept": 0.9, "progress_bar": False,
}
PYMC_INIT = "jitter+adapt_diag_grad"

_COMPILED: dict[Any, Any] = {}  # in-process cache of nutpie compiled models
_GRAPH_KEYS: dict[Any, tuple[str, ...]] = {}  # numba graph cache keys of the models in _COMPILED


class SamplerError(ValueError):
    """Unknown sampler option or backend."""


def cache_dir() -> Path:
    """Folder of longmod's persistent caches (``$LONGMOD_CACHE`` or ``~/.cache/longmod``).

    Examples
    --------
    >>> cache_dir().name in {"longmod"} or "LONGMOD_CACHE" in __import__("os").environ
    True
    """
    env = os.environ.get("LONGMOD_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "longmod"


def configure_pytensor() -> dict[str, Any]:
    """Point PyTensor's compile cache at :func:`cache_dir` before its first import.

    Sets ``PYTENSOR_FLAGS`` (appending ``base_compiledir=...``) only if
    PyTensor is not yet imported and the user did not choose a
    ``base_compiledir`` themselves. Then imports PyTensor and reports where
    its cache lives and whether it found a BLAS library.

    Returns
    -------
    dict
        ``compiledir`` (str), ``base_compiledir`` (str),
        ``configured_here`` (bool: this call set the flag), ``blas`` (the
        ``blas__ldflags`` PyTensor uses; ``""`` = no BLAS) and ``warnings``
        (list of str: e.g. no BLAS, or PyTensor imported earlier with
        another cache).
    """
    warnings: list[str] = []
    target = cache_dir() / "pytensor"
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    configured = False
    if "pytensor" not in sys.modules and "base_compiledir" not in flags:
        target.mkdir(parents=True, exist_ok=True)
        extra = [f"base_compiledir={target}"]
        # PyTensor's own BLAS search wants libblas + libcblas or libopenblas + libgfortran;
        # Debian's libopenblas-dev has neither pair, so name OpenBLAS when the system has it
        if "blas__ldflags" not in flags and ctypes.util.find_library("openblas"):
            extra.append("blas__ldflags=-lopenblas")
        os.environ["PYTENSOR_FLAGS"] = ",".join(x for x in (flags, *extra) if x)
        configured = True
    import pytensor

    base = str(pytensor.config.base_compiledir)
    if not configured and "base_compiledir" not in flags and Path(base) != target:
        warnings.append(
            f"PyTensor was imported before longmod could set its compile cache; using {base} "
            f"instead of {target} (compiled models may not be reused between runs)"
        )
    blas = str(pytensor.config.blas__ldflags)
    if not blas:
        warnings.append(
            "PyTensor found no BLAS library (blas__ldflags is empty): PyMC's own NUTS (the fallback sampler) "
            "then uses slower NumPy C-API fallbacks for dot products; nutpie (numba, the default) is unaffected. "
            "Install OpenBLAS (Debian: apt-get install libopenblas-dev, done by scripts/setup): longmod then "
            "links it (PYTENSOR_FLAGS=blas__ldflags=-lopenblas) when it configures PyTensor before its first import"
        )
    return {"compiledir": str(pytensor.config.compiledir), "base_compiledir": base,
            "configured_here": configured, "blas": blas, "warnings": warnings}


@dataclass(frozen=True)
class SamplerSettings:
    """Validated sampler settings (from ``ModelSpec.sampler`` + overrides)."""

    backend: str = "nutpie"
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    seed: int = 20240607
    target_accept: float = 0.9
    cores: int | None = None
    progress_bar: bool = False

    @classmethod
    def from_mapping(cls, sampler: Mapping[str, Any] | None = None, **overrides: Any) -> "SamplerSettings":
        """Merge :data:`DEFAULT_SAMPLER`, ``sampler`` and non-None ``overrides``.

        Examples
        --------
        >>> SamplerSettings.from_mapping({"draws": 200}, chains=2).draws
        200
        >>> SamplerSettings.from_mapping({"nuts": 1})
        Traceback (most recent call last):
        ...
        longmod.engines.bayes.runtime.SamplerError: unknown sampler option(s) nuts; valid: backend, chains, draws, tune, seed, target_accept, cores, progress_bar
        """
        merged = {**DEFAULT_SAMPLER, **dict(sampler or {}), **{k: v for k, v in overrides.items() if v is not None}}
        unknown = [k for k in merged if k not in SAMPLER_KEYS]
        if unknown:
            raise SamplerError(f"unknown sampler option(s) {', '.join(unknown)}; valid: {', '.join(SAMPLER_KEYS)}")
        if merged["backend"] not in BACKENDS:
            raise SamplerError(f"sampler backend {merged['backend']!r} is not supported; choose one of {', '.join(BACKENDS)}")
        for k in ("chains", "draws", "tune"):
            if int(merged[k]) < 1:
                raise SamplerError(f"sampler option {k} must be >= 1, got {merged[k]}")
        out = cls(
            backend=str(merged["backend"]), chains=int(merged["chains"]), draws=int(merged["draws"]),
            tune=int(merged["tune"]), seed=int(merged["seed"]), target_accept=float(merged["target_accept"]),
            cores=None if merged.get("cores") is None else int(merged["cores"]),
            progress_bar=bool(merged["progress_bar"]),
        )
        return out

    def n_cores(self) -> int:
        """Worker processes/threads: ``cores`` or min(chains, CPUs)."""
        return self.cores or max(1, min(self.chains, os.cpu_count() or 1))


@dataclass
class SampleInfo:
    """What happened while sampling (recorded in results, never hidden)."""

    backend: str
    compile_seconds: float = 0.0
    sample_seconds: float = 0.0
    compile_cached: bool = False
    #: where nutpie's compiled model came from: "memory" (this process), "disk" (no
    #: PyTensor graph function had to be compiled: numba loaded them from the cache),
    #: "compiled" (at least one was compiled) or "" (PyMC backend)
    compile_source: str = ""
    #: PyTensor-generated numba functions compiled (cache misses) while compiling
    numba_compiled: int = 0
    #: of which whole-graph functions (logp/gradient, expand); 0 on a warm disk cache
    graphs_compiled: int = 0
    #: PyTensor's numba cache keys (sha256) of the model's whole-graph functions, sorted;
    #: the same model must give the same keys in every process (else a warm run recompiles)
    graph_cache_keys: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)

    def attrs(self) -> dict[str, Any]:
        """Compile/sampling record for ``InferenceData.attrs`` (saved with the netCDF)."""
        return {"sampler_backend": self.backend, "compile_seconds": float(self.compile_seconds),
                "compile_source": self.compile_source, "numba_compiled": int(self.numba_compiled),
                "graphs_compiled": int(self.graphs_compiled), "graph_cache_keys": ",".join(self.graph_cache_keys),
                "sample_seconds": float(self.sample_seconds)}


def _graph_functions() -> dict[Any, str]:
    """PyTensor-generated whole-graph numba functions alive in this process -> their cache keys."""
    try:
        from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS
    except ImportError:  # pragma: no cover - numba missing
        return {}
    return {f: k for f, k in list(CACHED_SRC_FUNCTIONS.items()) if getattr(f, "__name__", "") == "numba_funcified_fgraph"}


class _NumbaCompileCounter:
    """Count numba compilations (disk-cache misses) of PyTensor-generated functions.

    numba fires a ``"numba:compile"`` event only when a dispatcher actually
    compiles, not when it loads a signature from its disk cache.
    """

    def __enter__(self) -> "_NumbaCompileCounter":
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


_NUMBA_CONSTANTS_PATCHED = False


def enable_numba_graph_cache() -> bool:
    """Let numba cache whole PyTensor graphs on disk: make array constants contiguous.

    PyTensor (>= 2.3x) caches the numba code of every Op *and* of the whole
    compiled graph under ``base_compiledir/numba``, so a second process loads
    the model's logp/gradient instead of recompiling it. numba refuses to
    cache a function that embeds a non-contiguous (or > 1 MB) constant array
    (it stores a raw pointer, a "dynamic global"), and PyTensor's constant
    folding produces such arrays: a slice ``eye(7)[:5, :5]`` of a folded
    constant is a strided view. One such constant made the MMRM's logp graph
    (the bulk of nutpie's compile time) uncacheable, so every process
    recompiled it. This registers a :func:`pytensor.link.numba.dispatch.numba_typify`
    handler (PyTensor's extension point for how constants enter numba code)
    that hands numba a C-contiguous copy of such arrays; values are
    unchanged. Idempotent; called by :func:`sample_model` before compiling.

    Returns
    -------
    bool
        True if the handler is (now) registered, False if PyTensor's numba
        backend is unavailable.

    Examples
    --------
    >>> import numpy as np
    >>> enable_numba_graph_cache()
    True
    >>> from pytensor.link.numba.dispatch import numba_typify
    >>> numba_typify(np.eye(7)[:5, :5]).flags.c_contiguous
    True
    """
    global _NUMBA_CONSTANTS_PATCHED
    if _NUMBA_CONSTANTS_PATCHED:
        return True
    configure_pytensor()
    try:
        import numpy as np
        from pytensor.link.numba.dispatch import numba_typify
    except ImportError:  # pragma: no cover - numba missing
        return False

    @numba_typify.register(np.ndarray)
    def _contiguous_constant(data, dtype=None, **kwargs):  # noqa: ARG001 - signature of numba_typify
        return data if data.flags.c_contiguous or data.flags.f_contiguous else np.ascontiguousarray(data)

    _NUMBA_CONSTANTS_PATCHED = True
    return True


#: Thread-count variables set to 1 (when unset) while PyMC samples, so that its chain
#: processes, which do not inherit threadpoolctl's limits, use one BLAS thread each.
_THREAD_ENV: tuple[str, ...] = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class _blas_limits:
    """One BLAS thread per chain: threadpoolctl in this process, env vars for child processes.

    Measured here (2 cores): PyTensor's OpenBLAS gemv + gradient (3000 x 20) took
    21 us per call with one thread and 32 us with OpenBLAS's default two (the
    NumPy C-API fallback without BLAS: 28 us).
    """

    def __enter__(self) -> "_blas_limits":
        from threadpoolctl import threadpool_limits

        self._set = [k for k in _THREAD_ENV if k not in os.environ]
        for k in self._set:
            os.environ[k] = "1"
        self._limits = threadpool_limits(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._limits.restore_original_limits()
        for k in self._set:
            os.environ.pop(k, None)


_CHILD_COMPILE = """
import json, sys
import cloudpickle
from longmod.engines.bayes import runtime
runtime.configure_pytensor()
runtime.enable_numba_graph_cache()
import nutpie
with open(sys.argv[1], "rb") as fh:
    build = cloudpickle.load(fh)
with runtime._NumbaCompileCounter() as counter:
    nutpie.compile_pymc_model(build())
print("RESULT " + json.dumps({"numba_compiled": counter.compiled, "graphs_compiled": counter.graphs}))
"""


def _compiled_marker(cache_key: Any) -> Path | None:
    """File that says the model ``cache_key`` was compiled into the disk cache by a fresh process."""
    if cache_key is None:
        return None
    import hashlib

    import pytensor

    digest = hashlib.sha256(repr((cache_key, sorted(versions().items()))).encode()).hexdigest()
    return Path(str(pytensor.config.base_compiledir)) / "longmod_compiled" / digest


def _compile_in_fresh_process(build: Callable[[], Any], cache_key: Any, info: "SampleInfo") -> dict | None:
    """Compile a model's numba functions into the disk cache in a child process, once per model.

    numba code compiled in a process does not round exactly like the same code
    loaded from the disk cache by a later process, so a first (cold) run would
    give other draws than every later run with the same seed. Compiling in a
    child and loading from the disk cache here makes every run sample with the
    disk-loaded code. Returns the child's compile counts, or None when nothing
    was done (no ``cache_key``, already compiled, or the child failed; the
    failure is recorded in ``info.warnings`` and this process compiles instead).
    """
    import json
    import subprocess
    import tempfile

    marker = _compiled_marker(cache_key)
    if marker is None or marker.exists():
        return None
    import cloudpickle

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "build.pkl"
        path.write_bytes(cloudpickle.dumps(build))
        out = subprocess.run([sys.executable, "-c", _CHILD_COMPILE, str(path)], capture_output=True, text=True,
                             check=False, env=dict(os.environ))
    result = next((line[len("RESULT "):] for line in out.stdout.splitlines() if line.startswith("RESULT ")), None)
    if out.returncode != 0 or result is None:
        info.warnings.append("compiling the model in a fresh process failed; compiled in this process instead, so "
                             "this run's draws may differ from later runs with the same seed: "
                             + (out.stderr.strip().splitlines() or ["no message"])[-1])
        return None
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(repr(cache_key) + "\n", encoding="utf-8")
    return json.loads(result)


def sample_model(
    build: Callable[[], Any],
    data: Mapping[str, Any],
    settings: SamplerSettings,
    *,
    cache_key: Any = None,
) -> tuple[Any, SampleInfo]:
    """Sample a PyMC model with nutpie (default) or PyMC NUTS.

    Parameters
    ----------
    build : callable
        ``build() -> pymc.Model``; the model holds ``pm.Data`` containers
        named as the keys of ``data``.
    data : mapping of str to numpy.ndarray
        Values for the model's data containers (used to refresh a cached
        nutpie model through ``with_data``).
    settings : SamplerSettings
    cache_key : hashable, optional
        Identifies the model *structure* (not data values). When given, the
        nutpie compiled model is kept in-process and reused.

    Returns
    -------
    idata : arviz.InferenceData
    info : SampleInfo
    """
    info = SampleInfo(backend=settings.backend)
    if settings.backend == "nutpie":
        try:
            import nutpie
        except ImportError as exc:  # pragma: no cover - depends on the install
            info.warnings.append(f"nutpie unavailable ({exc}); fell back to PyMC NUTS")
            info.backend = "pymc"
        else:
            enable_numba_graph_cache()
            t0 = time.perf_counter()
            try:
                if cache_key is not None and cache_key in _COMPILED:
                    compiled = _COMPILED[cache_key].with_data(**data)
                    info.graph_cache_keys = _GRAPH_KEYS.get(cache_key, ())
                    info.compile_cached = True
                    info.compile_source = "memory"
                else:
                    child = _compile_in_fresh_process(build, cache_key, info)
                    before = _graph_functions()
                    with _NumbaCompileCounter() as counter:
                        compiled = nutpie.compile_pymc_model(build())
                    info.numba_compiled, info.graphs_compiled = counter.compiled, counter.graphs
                    if child is not None:  # the numba functions were compiled by the child, loaded here
                        info.numba_compiled += child["numba_compiled"]
                        info.graphs_compiled += child["graphs_compiled"]
                    info.compile_source = "compiled" if info.graphs_compiled else "disk"
                    info.graph_cache_keys = tuple(sorted({k for f, k in _graph_functions().items() if f not in before}))
                    if cache_key is not None:
                        _COMPILED[cache_key] = compiled
                        _GRAPH_KEYS[cache_key] = info.graph_cache_keys
            except Exception as exc:  # noqa: BLE001 - any compile failure triggers the documented fallback
                info.warnings.append(f"nutpie failed to compile the model ({type(exc).__name__}: {exc}); fell back to PyMC NUTS")
                info.backend = "pymc"
            else:
                info.compile_seconds = time.perf_counter() - t0
                t0 = time.perf_counter()
                with _blas_limits():
                    idata = nutpie.sample(
                        compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
                        cores=settings.n_cores(), seed=settings.seed, progress_bar=settings.progress_bar,
                        save_warmup=False, target_accept=settings.target_accept,
                    )
                info.sample_seconds = time.perf_counter() - t0
                idata.attrs.update(info.attrs())
                return idata, info
    import pymc as pm

    model = build()
    t0 = time.perf_counter()
    with _blas_limits(), model:
        idata = pm.sample(
            draws=settings.draws, tune=settings.tune, chains=settings.chains, cores=settings.n_cores(),
            random_seed=settings.seed, init=PYMC_INIT, target_accept=settings.target_accept,
            progressbar=settings.progress_bar, compute_convergence_checks=False,
        )
    info.sample_seconds = time.perf_counter() - t0  # PyMC compiles inside pm.sample
    idata.attrs.update(info.attrs())
    return idata, info


def versions() -> dict[str, str]:
    """Versions of the Bayesian stack (provenance)."""
    import importlib

    from longmod import __version__

    out = {"longmod": __version__}
    for name in ("pymc", "pytensor", "nutpie", "arviz", "numpy", "numba"):
        try:
            out[name] = str(importlib.import_module(name).__version__)
        except Exception:  # noqa: BLE001 - missing optional package is recorded as such
            out[name] = "not installed"
    return out
