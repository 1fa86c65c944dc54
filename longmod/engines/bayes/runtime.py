"""Sampling: sampler settings, nutpie (default) or PyMC NUTS, and the record of what happened.

Sampler settings come from ``ModelSpec.sampler`` (keys in
:data:`SAMPLER_KEYS`). The default backend is nutpie (numba-compiled model;
compiled models are cached in-process and refreshed with new data through
``CompiledModel.with_data``, and across processes through the compile cache
of :mod:`longmod.engines.bayes.compile_cache`). PyMC's NUTS with
``init="jitter+adapt_diag_grad"`` runs when ``backend = "pymc"`` is requested,
and as a *fallback* when nutpie is missing or fails to compile: a fallback is
never silent. It is recorded in :class:`SampleInfo` (``backend``,
``fallback``), in the fit's warnings, in the ``sampler`` and
``sampler_fallback`` columns of the effect rows, and the fit is not
``converged`` (the declared method did not run). BLAS threads are limited to
one per chain while sampling (:class:`~longmod.engines.bayes.pytensor_setup.blas_limits`).

Reproducibility (the exact guarantee): with the same versions, data, settings
and seed, the draws are bit-identical in every run, the first (compiling) one
included, because a model is compiled by a fresh process into the disk cache
and always loaded from there (:mod:`longmod.engines.bayes.compile_cache`);
``tests/bayes/test_seed_reproducible.py`` checks it. A fit that compiled in
its own process (no ``cache_key``, or the child failed) says so in its
warnings.

Compile and timing facts are kept in :class:`SampleInfo`, the fit's
``fit_stats`` and ``InferenceData.attrs`` (not in the effect rows).

Interrupts: nutpie and PyMC both catch ``KeyboardInterrupt`` while sampling
and return the draws made so far. longmod never makes a result of such a
partial trace: a SIGINT or SIGTERM that arrives while sampling is raised again
when the sampler returns (:class:`~longmod.errors.Interrupted`), and a trace
with fewer chains or draws than asked for is an error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from longmod.engines.bayes.pytensor_setup import (  # noqa: F401 - re-exported (public API of the runtime)
    blas_limits,
    cache_dir,
    configure_pytensor,
    enable_numba_graph_cache,
)
from longmod.errors import reraise_interrupt

#: Keys accepted in ``ModelSpec.sampler``.
SAMPLER_KEYS: tuple[str, ...] = (
    "backend", "chains", "draws", "tune", "seed", "target_accept", "cores", "progress_bar", "mass_matrix",
)
#: nutpie's mass-matrix adaptation: ``diag`` (diagonal, nutpie's default) or ``low_rank`` (diagonal plus a
#: low-rank correction learnt from the draws and gradients, for correlated posteriors; nutpie only).
MASS_MATRICES: tuple[str, ...] = ("diag", "low_rank")
#: ``nutpie`` (numba-compiled model), ``nutpie-jax`` (nutpie with a JAX-compiled model, XLA's
#: persistent compilation cache under ``cache_dir()/jax``), ``pymc`` (PyMC's NUTS, C backend).
BACKENDS: tuple[str, ...] = ("nutpie", "nutpie-jax", "pymc")
DEFAULT_SAMPLER: Mapping[str, Any] = {
    "backend": "nutpie", "chains": 4, "draws": 1000, "tune": 1000, "seed": 20240607,
    "target_accept": 0.9, "progress_bar": False, "mass_matrix": "diag",
}
PYMC_INIT = "jitter+adapt_diag_grad"

_COMPILED: dict[Any, Any] = {}  # in-process cache of nutpie compiled models
_GRAPH_KEYS: dict[Any, tuple[str, ...]] = {}  # numba graph cache keys of the models in _COMPILED

#: Warning text of an in-process compile (the same-seed-same-draws guarantee does not hold for that run).
IN_PROCESS_WARNING = ("the model was compiled in this process (not loaded from the compile cache), so this run's "
                      "draws may differ in rounding from later runs with the same seed")


class SamplerError(ValueError):
    """Unknown sampler option or backend.

    Examples
    --------
    >>> SamplerSettings.from_mapping({"backend": "stan"})
    Traceback (most recent call last):
    ...
    longmod.engines.bayes.runtime.SamplerError: sampler backend 'stan' is not supported; choose one of ...
    """


@dataclass(frozen=True)
class SamplerSettings:
    """Validated sampler settings (from ``ModelSpec.sampler`` + overrides).

    Examples
    --------
    >>> s = SamplerSettings.from_mapping({"chains": 2, "draws": 300}, seed=7)
    >>> s.backend, s.chains, s.draws, s.tune, s.seed
    ('nutpie', 2, 300, 1000, 7)
    >>> SamplerSettings(chains=2, cores=1).n_cores()
    1
    """

    backend: str = "nutpie"
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    seed: int = 20240607
    target_accept: float = 0.9
    cores: int | None = None
    progress_bar: bool = False
    mass_matrix: str = "diag"

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
        longmod.engines.bayes.runtime.SamplerError: unknown sampler option(s) nuts; valid: backend, chains, draws, tune, seed, target_accept, cores, progress_bar, mass_matrix
        >>> SamplerSettings.from_mapping({"backend": "pymc", "mass_matrix": "low_rank"})
        Traceback (most recent call last):
        ...
        longmod.engines.bayes.runtime.SamplerError: mass_matrix 'low_rank' needs a nutpie backend (nutpie, nutpie-jax); PyMC's NUTS adapts a diagonal mass matrix only
        """
        merged = {**DEFAULT_SAMPLER, **dict(sampler or {}), **{k: v for k, v in overrides.items() if v is not None}}
        unknown = [k for k in merged if k not in SAMPLER_KEYS]
        if unknown:
            raise SamplerError(f"unknown sampler option(s) {', '.join(unknown)}; valid: {', '.join(SAMPLER_KEYS)}")
        if merged["backend"] not in BACKENDS:
            raise SamplerError(f"sampler backend {merged['backend']!r} is not supported; choose one of {', '.join(BACKENDS)}")
        if merged["mass_matrix"] not in MASS_MATRICES:
            raise SamplerError(f"sampler option mass_matrix must be one of {', '.join(MASS_MATRICES)}, "
                               f"got {merged['mass_matrix']!r}")
        if merged["mass_matrix"] != "diag" and merged["backend"] == "pymc":
            raise SamplerError(f"mass_matrix {merged['mass_matrix']!r} needs a nutpie backend (nutpie, nutpie-jax); "
                               "PyMC's NUTS adapts a diagonal mass matrix only")
        for k in ("chains", "draws", "tune"):
            if int(merged[k]) < 1:
                raise SamplerError(f"sampler option {k} must be >= 1, got {merged[k]}")
        out = cls(
            backend=str(merged["backend"]), chains=int(merged["chains"]), draws=int(merged["draws"]),
            tune=int(merged["tune"]), seed=int(merged["seed"]), target_accept=float(merged["target_accept"]),
            cores=None if merged.get("cores") is None else int(merged["cores"]),
            progress_bar=bool(merged["progress_bar"]), mass_matrix=str(merged["mass_matrix"]),
        )
        return out

    def n_cores(self) -> int:
        """Worker processes/threads: ``cores`` or min(chains, CPUs)."""
        return self.cores or max(1, min(self.chains, os.cpu_count() or 1))




@dataclass
class SampleInfo:
    """What happened while sampling (recorded in results, never hidden).

    Examples
    --------
    >>> info = SampleInfo(backend="pymc", requested="nutpie", fallback="nutpie is not installed")
    >>> a = info.attrs()
    >>> a["sampler_backend"], a["sampler_fallback"]
    ('pymc', 'nutpie is not installed')
    """

    backend: str
    #: the backend the settings asked for
    requested: str = ""
    #: why the requested backend was replaced ("" = no fallback)
    fallback: str = ""
    compile_seconds: float = 0.0
    sample_seconds: float = 0.0
    compile_cached: bool = False
    #: where nutpie's compiled model came from: "memory" (this process), "disk" (numba loaded
    #: the model's graph functions from the cache), "compiled" (this process compiled at least
    #: one graph function) or "" (PyMC backend)
    compile_source: str = ""
    #: a fresh child process compiled the model into the disk cache during this fit
    compiled_by_child: bool = False
    #: PyTensor-generated numba functions compiled (cache misses), in this process and its child
    numba_compiled: int = 0
    #: of which whole-graph functions (logp/gradient, expand); 0 on a warm disk cache
    graphs_compiled: int = 0
    #: of which in this process (> 0: the fit is flagged, see IN_PROCESS_WARNING)
    graphs_compiled_here: int = 0
    #: PyTensor's numba cache keys (sha256) of the model's whole-graph functions and C callbacks, sorted
    graph_cache_keys: tuple[str, ...] = ()
    #: where nutpie's C callbacks came from: "stored" (loaded with the marker's layout, no graph rebuilt),
    #: "disk" (graphs rebuilt, callbacks loaded), "compiled" (here), "not cached: <why>", or "" (not nutpie-numba)
    callbacks: str = ""
    #: the mass-matrix adaptation the sampler ran with ("diag" under PyMC's NUTS, whatever was asked)
    mass_matrix: str = ""
    warnings: list[str] = field(default_factory=list)

    def attrs(self) -> dict[str, Any]:
        """Compile/sampling record for ``InferenceData.attrs`` (saved with the netCDF)."""
        return {"sampler_backend": self.backend, "sampler_requested": self.requested,
                "sampler_fallback": self.fallback, "compile_seconds": float(self.compile_seconds),
                "compile_source": self.compile_source, "compiled_by_child": int(self.compiled_by_child),
                "numba_compiled": int(self.numba_compiled), "graphs_compiled": int(self.graphs_compiled),
                "graphs_compiled_here": int(self.graphs_compiled_here),
                "graph_cache_keys": ",".join(self.graph_cache_keys), "callbacks": self.callbacks,
                "mass_matrix": self.mass_matrix, "sample_seconds": float(self.sample_seconds)}

    def fit_stats(self) -> dict[str, Any]:
        """Compile/timing facts for ``FitResult.fit_stats`` (not for the effect rows)."""
        return {"compile_seconds": float(self.compile_seconds), "sample_seconds": float(self.sample_seconds),
                "compile_cached": bool(self.compile_cached), "compile_source": self.compile_source,
                "compiled_by_child": bool(self.compiled_by_child), "numba_compiled": int(self.numba_compiled),
                "graphs_compiled": int(self.graphs_compiled), "graphs_compiled_here": int(self.graphs_compiled_here),
                "callbacks": self.callbacks}


def _nutpie_compile(build: Callable[[], Any], data: Mapping[str, Any], cache_key: Any, info: SampleInfo,
                    model: Any = None) -> Any:
    """Compiled nutpie model: from memory, else from the disk cache (compiled by a child if new).

    The model's graphs and nutpie's two C callbacks both come from numba's
    disk cache (:mod:`longmod.engines.bayes.nutpie_callbacks`); a callback
    compiled here counts as a graph compiled here.
    """
    from longmod.engines.bayes import compile_cache, nutpie_callbacks

    if cache_key is not None and cache_key in _COMPILED:
        info.graph_cache_keys = _GRAPH_KEYS.get(cache_key, ())
        info.compile_cached = True
        info.compile_source = "memory"
        return _COMPILED[cache_key].with_data(**data)
    child = compile_cache.ensure_compiled(build, cache_key, info.warnings)
    marker = compile_cache.stored_marker(cache_key)
    before = compile_cache.graph_functions()
    with compile_cache.NumbaCompileCounter() as counter:
        compiled, info.callbacks, _ = nutpie_callbacks.compile_with_cached_callbacks(
            build() if model is None else model, marker.get("nutpie_model"))
    here = counter.graphs + 2 * (info.callbacks == "compiled")  # graphs and callbacks compiled in this process
    info.numba_compiled = counter.compiled + here - counter.graphs
    info.graphs_compiled = info.graphs_compiled_here = here
    if child is not None:  # the numba functions were compiled by the child, loaded here
        info.compiled_by_child = True
        info.numba_compiled += child["numba_compiled"]
        info.graphs_compiled += child["graphs_compiled"]
    info.compile_source = "compiled" if here else "disk"
    if here:
        info.warnings.append(IN_PROCESS_WARNING)
    info.graph_cache_keys = tuple(sorted({k for f, k in compile_cache.graph_functions().items() if f not in before}))
    if info.callbacks == "stored":  # no graph was built here: the model's keys are the marker's
        info.graph_cache_keys = tuple(marker.get("graph_cache_keys", ()))
    if cache_key is not None:
        _COMPILED[cache_key] = compiled
        _GRAPH_KEYS[cache_key] = info.graph_cache_keys
    return compiled


@contextlib.contextmanager
def _interrupts_kept() -> Iterator[list[int]]:
    """Record SIGINT/SIGTERM while a sampler runs (it swallows the KeyboardInterrupt); re-raise after it.

    Only the signals whose handler is a Python function (Ctrl-C's default,
    longmod's CLI handler) are recorded; the recorder then calls that handler.
    """
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    old = {s: h for s, h in old.items() if callable(h)}

    def record(signum, frame):
        seen.append(signum)
        old[signum](signum, frame)

    from longmod.errors import Interrupted

    for s in old:
        signal.signal(s, record)
    try:
        yield seen
    except KeyboardInterrupt as exc:  # raised before the sampler could catch it (e.g. while PyMC compiles)
        if seen and not isinstance(exc, Interrupted):
            raise Interrupted(seen[0]) from exc
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if seen:
        raise Interrupted(seen[0])


def _check_complete(idata: Any, settings: SamplerSettings) -> None:
    """A trace with fewer chains or draws than asked for comes from an interrupted sampler: refuse it."""
    n = idata.posterior.sizes
    if n.get("chain") != settings.chains or n.get("draw") != settings.draws:
        raise RuntimeError(f"the sampler returned {n.get('chain')} chain(s) x {n.get('draw')} draws, not "
                           f"{settings.chains} x {settings.draws} (interrupted?); no result is made of a partial "
                           "trace")


def _nutpie_sample(nutpie: Any, compiled: Any, settings: SamplerSettings, info: SampleInfo) -> Any:
    t0 = time.perf_counter()
    info.mass_matrix = settings.mass_matrix
    with blas_limits(), _interrupts_kept():
        idata = nutpie.sample(
            compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
            cores=settings.n_cores(), seed=settings.seed, progress_bar=settings.progress_bar,
            save_warmup=False, target_accept=settings.target_accept,
            low_rank_modified_mass_matrix=settings.mass_matrix == "low_rank",
        )
    _check_complete(idata, settings)
    info.sample_seconds = time.perf_counter() - t0
    idata.attrs.update(info.attrs())
    return idata


def _jax_compile(model: Any, info: SampleInfo) -> Any:
    """nutpie model compiled by JAX (XLA); XLA's persistent cache under ``cache_dir()/jax``."""
    import jax
    import nutpie

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    info.compile_source = "jax"
    return nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax", freeze_model=False)


def sample_model(
    build: Callable[[], Any],
    data: Mapping[str, Any],
    settings: SamplerSettings,
    *,
    cache_key: Any = None,
    model: Any = None,
) -> tuple[Any, SampleInfo]:
    """Sample a PyMC model with nutpie (default) or PyMC NUTS.

    Parameters
    ----------
    build : callable
        ``build() -> pymc.Model``; the model holds ``pm.Data`` containers
        named as the keys of ``data``. Must be picklable by cloudpickle (a
        fresh process compiles it).
    data : mapping of str to numpy.ndarray
        Values for the model's data containers (used to refresh a cached
        nutpie model through ``with_data``).
    settings : SamplerSettings
    cache_key : hashable, optional
        Identifies the model *structure* (not data values). Without it the
        model is compiled in this process and the fit is flagged
        (:data:`IN_PROCESS_WARNING`).
    model : pymc.Model, optional
        ``build()``'s result when the caller already has it (not rebuilt).

    Returns
    -------
    idata : arviz.InferenceData
    info : SampleInfo

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> y = np.array([1.2, 0.4, 2.1, 1.7])
    >>> def build():
    ...     with pm.Model() as m:
    ...         yd = pm.Data("y", y)
    ...         mu = pm.Normal("mu", 0.0, 10.0)
    ...         pm.Normal("obs", mu, 1.0, observed=yd)
    ...     return m
    >>> settings = SamplerSettings.from_mapping({"backend": "pymc", "chains": 2, "draws": 200, "tune": 200})
    >>> idata, info = sample_model(build, {"y": y}, settings)  # doctest: +SKIP
    >>> info.backend, round(float(idata.posterior["mu"].mean()), 1)  # doctest: +SKIP
    ('pymc', 1.3)
    """
    info = SampleInfo(backend=settings.backend, requested=settings.backend)
    if settings.backend == "nutpie-jax":
        import nutpie

        t0 = time.perf_counter()
        compiled = _jax_compile(build() if model is None else model, info)
        info.compile_seconds = time.perf_counter() - t0
        return _nutpie_sample(nutpie, compiled, settings, info), info
    if settings.backend == "nutpie":
        try:
            import nutpie
        except ImportError as exc:  # pragma: no cover - depends on the install
            info.fallback = f"nutpie is not installed ({exc})"
        else:
            enable_numba_graph_cache()
            t0 = time.perf_counter()
            try:
                compiled = _nutpie_compile(build, data, cache_key, info, model)
            except Exception as exc:  # noqa: BLE001 - any compile failure triggers the documented fallback
                reraise_interrupt(exc)
                info.fallback = f"nutpie failed to compile the model ({type(exc).__name__}: {exc})"
            else:
                info.compile_seconds = time.perf_counter() - t0
                return _nutpie_sample(nutpie, compiled, settings, info), info
        info.backend = "pymc"
        lost = f" (a diagonal mass matrix, not {settings.mass_matrix!r})" if settings.mass_matrix != "diag" else ""
        info.warnings.append(f"sampler fallback: {info.fallback}; sampled with PyMC's NUTS{lost} instead of nutpie")
    import pymc as pm

    model = build() if model is None else model
    t0 = time.perf_counter()
    info.mass_matrix = "diag"
    with blas_limits(), model, _interrupts_kept():
        idata = pm.sample(
            draws=settings.draws, tune=settings.tune, chains=settings.chains, cores=settings.n_cores(),
            random_seed=settings.seed, init=PYMC_INIT, target_accept=settings.target_accept,
            progressbar=settings.progress_bar, compute_convergence_checks=False,
        )
    _check_complete(idata, settings)
    info.sample_seconds = time.perf_counter() - t0  # PyMC compiles inside pm.sample
    idata.attrs.update(info.attrs())
    return idata, info


def versions() -> dict[str, str]:
    """Versions of the Bayesian stack (provenance).

    Examples
    --------
    >>> v = versions()
    >>> {"longmod", "pymc", "arviz"} <= set(v), all(isinstance(x, str) for x in v.values())
    (True, True)
    """
    import importlib

    from longmod import __version__

    out = {"longmod": __version__}
    for name in ("pymc", "pytensor", "nutpie", "arviz", "numpy", "numba"):
        try:
            out[name] = str(importlib.import_module(name).__version__)
        except Exception:  # noqa: BLE001 - missing optional package is recorded as such
            out[name] = "not installed"
    return out
