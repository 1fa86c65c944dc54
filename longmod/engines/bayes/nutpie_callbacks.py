"""nutpie's numba model with its C callbacks kept in numba's disk cache.

``nutpie.compile_pymc_model`` wraps the model's logp/gradient and expand
functions (PyTensor graphs, which PyTensor keeps in numba's disk cache) in two
``numba.cfunc`` C callbacks. nutpie builds those callbacks as closures, which
numba cannot cache, so every process compiles them again, and compiling them
re-optimises the whole inlined model graph in LLVM: 55 of the 65 seconds of a
warm STROMA-CoV-2 Bayesian MMRM start (benchmarks/README.md, "Bayesian warm
start").

:func:`compile_numba_model` builds the same :class:`nutpie.compile_pymc.CompiledPyMCModel`
(same PyTensor functions, same initial points, same shared-data layout, so the
same sampler and the same numbers) but generates the two callbacks from source
code, registered with PyTensor's numba cache locator under a key
(:func:`callback_key`) that covers everything the compiled code depends on: the
generated source, the cache keys of the two PyTensor graphs it calls (their
code is linked into the callback), the layout of the shared data, and the
versions of numba, llvmlite and nutpie. A second process then loads the
callbacks from disk instead of compiling them.

It uses four of nutpie's internal helpers (``_make_functions``,
``make_user_data``, ``_prepare_dims_and_coords``, ``address_as_void_pointer``).
When they are missing or have changed (another nutpie version), or when a
graph is not in PyTensor's cache (its code could not be keyed), it raises
:class:`CallbackCacheUnavailable` and the caller uses ``nutpie.compile_pymc_model``
itself, which samples identically but compiles the callbacks every time; the
reason is kept in the fit's record (``callback_cache``), never silent.
``tests/bayes/test_nutpie_callbacks.py`` checks that both give the same logp,
gradient and expanded draws.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import threading
import warnings
from functools import wraps
from typing import Any

#: versions whose change can change the compiled callbacks
_KEY_PACKAGES = ("numba", "llvmlite", "nutpie")


class CallbackCacheUnavailable(RuntimeError):
    """The callbacks cannot be cached for this model or nutpie version (the caller compiles them as nutpie does)."""


def view_source(kind: str, keys: list[str], ndims: list[int]) -> str:
    """Source of ``CALL(x, user_data_)``: view each shared array in ``user_data`` and call the graph ``INNER``.

    A separate function, compiled on its own (not inlined into the callback's
    IR): numba's liveness analysis of one long function with an exception
    handler grows much faster than linearly with the number of arrays.

    Examples
    --------
    >>> src = view_source("logp", ["y"], [2])
    >>> "return INNER(x, a0)" in src and "int(sh['shape']['y'][1])" in src
    True
    >>> "return INNER(x)" in view_source("expand", [], [])
    True
    """
    lines = [f"def longmod_nutpie_{kind}_view(x, user_data_):"]
    if keys:
        lines += ["    sh = numba.carray(user_data_, (), RECORD)['shared']"]
    for i, (key, ndim) in enumerate(zip(keys, ndims)):
        shape = ", ".join(f"int(sh['shape'][{key!r}][{d}])" for d in range(ndim))
        shape = f"({shape},)" if ndim == 1 else f"({shape})"
        lines.append(f"    a{i} = numba.carray(as_ptr(sh['data'][{key!r}][()]), int(sh['size'][{key!r}][()]), "
                     f"DT{i}).reshape({shape})")
    lines += [f"    return INNER({', '.join(['x', *(f'a{i}' for i in range(len(keys)))])})", ""]
    return "\n".join(lines)


def callback_source(kind: str) -> str:
    """Python source of the ``logp`` or ``expand`` C callback (nutpie's, calling ``CALL`` of :func:`view_source`).

    Examples
    --------
    >>> "logp_val, grad = CALL(x, user_data_)" in callback_source("logp")
    True
    """
    if kind == "logp":
        return "\n".join([
            "def longmod_nutpie_logp(dim, x_, out_, logp_, user_data_):",
            "    if dim != N_DIM:",
            "        return -1",
            "    try:",
            "        x = numba.carray(x_, (N_DIM,))",
            "        out = numba.carray(out_, (N_DIM,))",
            "        logp = numba.carray(logp_, ())",
            "        logp_val, grad = CALL(x, user_data_)",
            "        logp[()] = logp_val",
            "        out[...] = grad",
            "        if not np.all(np.isfinite(out)):",
            "            return 3",
            "        if not np.isfinite(logp_val):",
            "            return 4",
            "    except Exception:",
            "        return 1",
            "    return 0",
            ""])
    return "\n".join([
        "def longmod_nutpie_expand(dim, expanded, x_, out_, user_data_):",
        "    if dim != N_DIM:",
        "        return -1",
        "    if expanded != N_EXPANDED:",
        "        return -1",
        "    try:",
        "        x = numba.carray(x_, (N_DIM,))",
        "        out = numba.carray(out_, (N_EXPANDED,))",
        "        (values,) = CALL(x, user_data_)",
        "        out[...] = values",
        "    except Exception:",
        "        return -2",
        "    return 0",
        ""])


def callback_key(source: str, graph_key: str, record_dtype: Any, constants: dict[str, Any]) -> str:
    """Cache key of a callback: its source, the graph it calls, the data layout, constants and versions.

    Examples
    --------
    >>> import numpy as np
    >>> k = callback_key("src", "g" * 64, np.dtype([("a", "u8")]), {"N_DIM": 3})
    >>> k == callback_key("src", "g" * 64, np.dtype([("a", "u8")]), {"N_DIM": 3})
    True
    >>> k == callback_key("src", "g" * 64, np.dtype([("a", "u8")]), {"N_DIM": 4})
    False
    """
    versions = []
    for name in _KEY_PACKAGES:
        try:
            versions.append((name, md.version(name)))
        except md.PackageNotFoundError:
            versions.append((name, ""))
    text = repr((source, graph_key, record_dtype.descr, sorted((k, repr(v)) for k, v in constants.items()), versions))
    return hashlib.sha256(text.encode()).hexdigest()


def _graph_key(fn: Any) -> str:
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    key = CACHED_SRC_FUNCTIONS.get(getattr(fn, "py_func", None))
    if key is None:
        raise CallbackCacheUnavailable("a model graph is not in PyTensor's numba cache, so its callback cannot be keyed")
    return key


def _cfunc(kind: str, inner: Any, keys: list[str], shared: dict[str, Any], record: Any, signature: Any,
           constants: dict[str, Any]) -> Any:
    import numba
    import numpy as np
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import compile_numba_function_src

    view = view_source(kind, keys, [shared[k].ndim for k in keys])
    source = callback_source(kind)
    constants = {**constants, **{f"DT{i}": np.dtype(shared[k].dtype) for i, k in enumerate(keys)}}
    key = callback_key(view + source, _graph_key(inner), record, constants)
    env = {"__name__": __name__, "np": np, "numba": numba, "as_ptr": address_as_void_pointer, "INNER": inner,
           "RECORD": record, **constants}
    env["CALL"] = numba.njit(compile_numba_function_src(view, f"longmod_nutpie_{kind}_view", env))
    fn = compile_numba_function_src(source, f"longmod_nutpie_{kind}", env, cache_key=key)
    with warnings.catch_warnings():
        # an uncacheable callback must not pass unnoticed
        warnings.filterwarnings("error", message="Cannot cache", category=numba.NumbaWarning)
        try:
            return numba.cfunc(signature, cache=True)(fn)
        except numba.NumbaWarning as exc:
            raise CallbackCacheUnavailable(f"numba cannot cache the {kind} callback ({exc})") from exc


def _with_lock(func: Any) -> Any:
    lock = threading.Lock()

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return func(*args, **kwargs)

    return wrapper


#: the fields of nutpie's ``CompiledPyMCModel`` this module builds (nutpie 0.16.x up to 0.16.8)
_MODEL_FIELDS = frozenset({
    "dims", "compiled_logp_func", "compiled_expand_func", "initial_point_func", "shared_data", "user_data",
    "n_expanded", "shape_info", "logp_func", "expand_func", "_n_dim", "_shapes", "_coords", "_transform_adapt_args"})


def compile_numba_model(model: Any) -> Any:
    """``nutpie.compile_pymc_model(model)`` (numba backend, nutpie's defaults) with disk-cached C callbacks.

    Raises
    ------
    CallbackCacheUnavailable
        nutpie's internals differ from the ones this was written for, or a
        graph cannot be keyed; use ``nutpie.compile_pymc_model`` instead.

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu")
    ...     _ = pm.Normal("y", mu, 1, observed=[0.5, 1.5])
    >>> compiled = compile_numba_model(m)  # doctest: +SKIP
    >>> compiled.n_dim  # doctest: +SKIP
    1
    """
    import dataclasses

    try:
        import numba
        import numpy as np
        from nutpie.compile_pymc import (
            CompiledPyMCModel,
            _make_functions,
            _prepare_dims_and_coords,
            make_user_data,
        )
        from pymc.initial_point import make_initial_point_fn
    except (ImportError, AttributeError) as exc:
        raise CallbackCacheUnavailable(f"nutpie's internals are not the expected ones ({exc})") from exc
    fields = {f.name for f in dataclasses.fields(CompiledPyMCModel)}
    if fields != _MODEL_FIELDS:
        raise CallbackCacheUnavailable(f"nutpie {md.version('nutpie')}'s compiled model has other fields than the "
                                       "ones this cache was written for")
    initial_point_fn = _with_lock(make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point", jitter_rvs=set(model.free_RVs),
        return_transformed=True))
    made = _make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=True,
                           pymc_initial_point_fn=initial_point_fn, var_names=None)
    if len(made) != 6:
        raise CallbackCacheUnavailable(f"nutpie {md.version('nutpie')}'s model functions are not the expected ones")
    n_dim, n_expanded, logp_pt, expand_pt, init_fn, shape_info = made
    shared_data: dict[str, Any] = {}
    shared_vars: dict[str, Any] = {}
    for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if var.name in shared_vars and shared_vars[var.name] is not var:
            raise ValueError(f"Shared variables must have unique names: {var.name}")
        shared_vars[var.name] = var
        shared_data[var.name] = np.array(var.get_value(), order="C", copy=True)
        shared_data[var.name].flags.writeable = False
    user_data = make_user_data(shared_vars, shared_data)
    c = numba.types
    logp_sig = c.int64(c.uint64, c.CPointer(c.double), c.CPointer(c.double), c.CPointer(c.double), c.voidptr)
    expand_sig = c.int64(c.uint64, c.uint64, c.CPointer(c.double), c.CPointer(c.double), c.voidptr)
    logp_cf = _cfunc("logp", logp_pt.vm.jit_fn, [v.name for v in logp_pt.get_shared()], shared_data,
                     user_data.dtype, logp_sig, {"N_DIM": n_dim})
    expand_cf = _cfunc("expand", expand_pt.vm.jit_fn, [v.name for v in expand_pt.get_shared()], shared_data,
                       user_data.dtype, expand_sig, {"N_DIM": n_dim, "N_EXPANDED": n_expanded})
    dims, coords = _prepare_dims_and_coords(model, shape_info)
    return CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=logp_cf, compiled_expand_func=expand_cf, initial_point_func=init_fn,
        shared_data=shared_data, user_data=user_data, n_expanded=n_expanded, shape_info=shape_info,
        logp_func=logp_pt, expand_func=expand_pt)


def compile_with_cached_callbacks(model: Any) -> tuple[Any, str]:
    """Compiled nutpie model and where its C callbacks came from.

    Returns
    -------
    (compiled, callbacks)
        ``callbacks`` is ``"disk"`` (both loaded from numba's cache),
        ``"compiled"`` (compiled here, now in the cache) or ``"not cached: <why>"``
        (:class:`CallbackCacheUnavailable`; compiled by ``nutpie.compile_pymc_model``).

    Examples
    --------
    >>> compiled, callbacks = compile_with_cached_callbacks(model)  # doctest: +SKIP
    >>> callbacks  # doctest: +SKIP
    'disk'
    """
    try:
        compiled = compile_numba_model(model)
    except CallbackCacheUnavailable as exc:
        import nutpie

        return nutpie.compile_pymc_model(model), f"not cached: {exc}"
    loaded = compiled.compiled_logp_func.cache_hits and compiled.compiled_expand_func.cache_hits
    return compiled, "disk" if loaded else "compiled"
