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
versions of numba, llvmlite, nutpie and the rest of the stack. A second process then loads the
callbacks from disk instead of compiling them.

The compiled model's layout (sizes, variable names, slices and shapes,
shared-variable names, graph keys) is returned too; the compile cache stores
it with the model's marker, and :func:`load_numba_model` then builds the
compiled model in a later process from that layout, the model's data and the
cached callbacks without rebuilding the PyTensor graphs (a layout that does
not fit the model is not used).

It uses five of nutpie's internal helpers (``_make_functions``,
``make_user_data``, ``_prepare_dims_and_coords``,
``_rv_dict_to_flat_array_wrapper``, ``address_as_void_pointer``) and checks
the fields of its ``CompiledPyMCModel``. When they are missing or have changed
(another nutpie version), or when a graph is not in PyTensor's cache (its code
could not be keyed), it raises :class:`CallbackCacheUnavailable` and the
caller uses ``nutpie.compile_pymc_model`` itself, which samples identically
but compiles the callbacks in every process; the reason is kept in the fit's
record (``callbacks``), never silent. ``tests/bayes/test_nutpie_callbacks.py``
checks that the same seed gives bit-identical draws from both, before and
after ``with_data``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import threading
import warnings
from functools import wraps
from typing import Any

class CallbackCacheUnavailable(RuntimeError):
    """The callbacks cannot be cached for this model or nutpie version (the caller compiles them as nutpie does).

    Examples
    --------
    >>> load_numba_model(model, {**layout, "free": ["other"]})  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    longmod.engines.bayes.nutpie_callbacks.CallbackCacheUnavailable: the model's free variables are not the stored ones
    """


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

    The versions are :func:`~longmod.engines.bayes.compile_cache.key_versions` (numba, llvmlite, nutpie among them).

    Examples
    --------
    >>> import numpy as np
    >>> k = callback_key("src", "g" * 64, np.dtype([("a", "u8")]), {"N_DIM": 3})
    >>> k == callback_key("src", "g" * 64, np.dtype([("a", "u8")]), {"N_DIM": 3})
    True
    >>> k == callback_key("src", "g" * 64, np.dtype([("a", "u8")]), {"N_DIM": 4})
    False
    """
    from longmod.engines.bayes.compile_cache import key_versions

    layout = sorted((k, repr(v)) for k, v in constants.items())
    text = repr((source, graph_key, record_dtype.descr, layout, key_versions()))
    return hashlib.sha256(text.encode()).hexdigest()


def _graph_key(fn: Any) -> str:
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    key = CACHED_SRC_FUNCTIONS.get(getattr(fn, "py_func", None))
    if key is None:
        raise CallbackCacheUnavailable("a model graph is not in PyTensor's numba cache, so its callback cannot be keyed")
    return key


def _cfunc(kind: str, inner: Any, graph_key: str, keys: list[str], shared: dict[str, Any], record: Any,
           signature: Any, constants: dict[str, Any]) -> Any:
    """The ``kind`` C callback; ``inner=None``: load it from the disk cache only (a miss raises)."""
    import numba
    import numpy as np
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import compile_numba_function_src

    view = view_source(kind, keys, [shared[k].ndim for k in keys])
    source = callback_source(kind)
    constants = {**constants, **{f"DT{i}": np.dtype(shared[k].dtype) for i, k in enumerate(keys)}}
    key = callback_key(view + source, graph_key, record, constants)
    env = {"__name__": __name__, "np": np, "numba": numba, "as_ptr": address_as_void_pointer, "INNER": inner,
           "RECORD": record, **constants}
    if inner is None:
        from longmod.engines.bayes.compile_cache import missing_graphs

        if missing_graphs([key]):
            raise CallbackCacheUnavailable(f"the {kind} callback is not in numba's disk cache")
    else:
        env["CALL"] = numba.njit(compile_numba_function_src(view, f"longmod_nutpie_{kind}_view", env))
    fn = compile_numba_function_src(source, f"longmod_nutpie_{kind}", env, cache_key=key)
    with warnings.catch_warnings():
        # an uncacheable callback must not pass unnoticed
        warnings.filterwarnings("error", message="Cannot cache", category=numba.NumbaWarning)
        try:
            cf = numba.cfunc(signature, cache=True)(fn)
        except numba.NumbaWarning as exc:
            raise CallbackCacheUnavailable(f"numba cannot cache the {kind} callback ({exc})") from exc
        except numba.core.errors.TypingError as exc:  # inner=None and the cache entry did not load
            raise CallbackCacheUnavailable(f"the {kind} callback did not load from numba's disk cache") from exc
    return cf


def graph_fingerprint(model: Any) -> str:
    """sha256 of the model's log-density and trace graphs before rewriting: their structure and every constant.

    Each node enters by its operation and its inputs, each leaf by its type
    and, for a constant, its value; the names and identities of constants do
    not enter (compiling the model's functions renames and merges constants
    in its graph), the names of the free and shared variables do. Shared data
    (``pm.Data``) enter by name and type, not value, so the same model
    structure on other data has the same fingerprint; a changed constant,
    distribution or shape does not.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> def model(scale, y):
    ...     with pm.Model() as m:
    ...         x = pm.Data("x", np.ones(len(y)))
    ...         b = pm.Normal("b", 0.0, scale)
    ...         _ = pm.Normal("y", x * b, 1.0, observed=pm.Data("y_obs", y))
    ...     return m
    >>> graph_fingerprint(model(3.0, np.zeros(4))) == graph_fingerprint(model(3.0, np.arange(6.0)))
    True
    >>> graph_fingerprint(model(3.0, np.zeros(4))) == graph_fingerprint(model(5.0, np.zeros(4)))
    False
    """
    import numpy as np
    from pytensor.graph.basic import Constant

    try:
        from pytensor.graph.traversal import graph_inputs, io_toposort
    except ImportError:  # PyTensor < 2.32
        from pytensor.graph.basic import graph_inputs, io_toposort

    outputs = [model.logp(), *model.unobserved_value_vars]
    h = hashlib.sha256()
    leaves: dict[tuple, int] = {}  # a leaf by what it is: compiling can merge equal constants in the model's graph
    position: dict[Any, Any] = {}

    def ref(v: Any) -> Any:
        if v not in position:  # a leaf: a constant, a free or shared variable
            if isinstance(v, Constant):
                data = np.ascontiguousarray(v.data)
                # an object constant (PyTensor's NoneConst) by its repr: its bytes are memory addresses
                value = repr(v.data).encode() if data.dtype.hasobject else data.tobytes()
                key = ("constant", str(v.type), hashlib.sha256(value).hexdigest())
            else:
                key = ("input", str(v.type), v.name or f"unnamed {len(leaves)}")
            if key not in leaves:
                leaves[key] = len(leaves)
                h.update(repr(key).encode())
            position[v] = ("leaf", leaves[key])
        return position[v]

    made = 0
    for node in io_toposort(list(graph_inputs(outputs)), outputs):
        h.update(f"{node.op} {[ref(i) for i in node.inputs]}".encode())
        for out in node.outputs:
            position[out], made = made, made + 1
            h.update(f" {out.type}".encode())
    h.update(repr([ref(o) for o in outputs]).encode())
    return h.hexdigest()


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


def _nutpie() -> Any:
    """nutpie's ``compile_pymc`` module, if its internals are the ones this module was written for."""
    import dataclasses

    try:
        from nutpie import compile_pymc

        fields = {f.name for f in dataclasses.fields(compile_pymc.CompiledPyMCModel)}
        for name in ("_make_functions", "_prepare_dims_and_coords", "make_user_data", "_rv_dict_to_flat_array_wrapper"):
            getattr(compile_pymc, name)
    except (ImportError, AttributeError) as exc:
        raise CallbackCacheUnavailable(f"nutpie's internals are not the expected ones ({exc})") from exc
    if fields != _MODEL_FIELDS:
        raise CallbackCacheUnavailable(f"nutpie {md.version('nutpie')}'s compiled model has other fields than the "
                                       "ones this cache was written for")
    return compile_pymc


def _initial_point_fn(model: Any) -> Any:
    from pymc.initial_point import make_initial_point_fn

    return _with_lock(make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point", jitter_rvs=set(model.free_RVs),
        return_transformed=True))


def _assemble(model: Any, meta: dict[str, Any], shared_vars: dict[str, Any], init_fn: Any,
              inner: dict[str, Any] | None = None) -> Any:
    """nutpie's compiled model from its layout (``meta``), shared variables and the two callbacks."""
    import numba
    import numpy as np

    nutpie = _nutpie()
    shared_data = {}
    for name, var in shared_vars.items():
        shared_data[name] = np.array(var.get_value(), order="C", copy=True)
        shared_data[name].flags.writeable = False
    user_data = nutpie.make_user_data(shared_vars, shared_data)
    c = numba.types
    signatures = {"logp": c.int64(c.uint64, c.CPointer(c.double), c.CPointer(c.double), c.CPointer(c.double),
                                  c.voidptr),
                  "expand": c.int64(c.uint64, c.uint64, c.CPointer(c.double), c.CPointer(c.double), c.voidptr)}
    constants = {"logp": {"N_DIM": meta["n_dim"]},
                 "expand": {"N_DIM": meta["n_dim"], "N_EXPANDED": meta["n_expanded"]}}
    callbacks = {kind: _cfunc(kind, (inner or {}).get(kind), meta[f"{kind}_graph"], meta[f"{kind}_shared"],
                              shared_data, user_data.dtype, signatures[kind], constants[kind])
                 for kind in ("logp", "expand")}
    shape_info = (list(meta["names"]), [slice(a, b) for a, b in meta["slices"]],
                  [tuple(x) for x in meta["shapes"]])
    dims, coords = nutpie._prepare_dims_and_coords(model, shape_info)
    n_free = len(meta["free"])
    return nutpie.CompiledPyMCModel(
        _n_dim=meta["n_dim"], dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=callbacks["logp"], compiled_expand_func=callbacks["expand"],
        initial_point_func=nutpie._rv_dict_to_flat_array_wrapper(init_fn, names=shape_info[0][:n_free],
                                                                 shapes=shape_info[2][:n_free]),
        shared_data=shared_data, user_data=user_data, n_expanded=meta["n_expanded"], shape_info=shape_info,
        logp_func=(inner or {}).get("logp_pt"), expand_func=(inner or {}).get("expand_pt"))


def compile_numba_model(model: Any) -> tuple[Any, dict[str, Any]]:
    """``nutpie.compile_pymc_model(model)`` (numba backend, nutpie's defaults) with disk-cached C callbacks.

    Returns
    -------
    (compiled, meta)
        nutpie's compiled model, and its layout (JSON-able: sizes, variable
        names/slices/shapes, shared-variable names, graph cache keys) with
        which :func:`load_numba_model` rebuilds it in another process
        without rebuilding the PyTensor graphs.

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
    >>> compiled, meta = compile_numba_model(m)  # doctest: +SKIP
    >>> compiled.n_dim, meta["names"]  # doctest: +SKIP
    (1, ['mu'])
    """
    nutpie = _nutpie()
    fingerprint = graph_fingerprint(model)  # before compiling, which renames and merges constants in the graph
    init_fn = _initial_point_fn(model)
    made = nutpie._make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=True,
                                  pymc_initial_point_fn=init_fn, var_names=None)
    if len(made) != 6:
        raise CallbackCacheUnavailable(f"nutpie {md.version('nutpie')}'s model functions are not the expected ones")
    n_dim, n_expanded, logp_pt, expand_pt, _, (names, slices, shapes) = made
    shared_vars: dict[str, Any] = {}
    for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if shared_vars.setdefault(var.name, var) is not var:
            raise ValueError(f"Shared variables must have unique names: {var.name}")
    meta = {"n_dim": int(n_dim), "n_expanded": int(n_expanded), "names": list(names),
            "slices": [[int(sl.start), int(sl.stop)] for sl in slices], "shapes": [[int(d) for d in x] for x in shapes],
            "free": [v.name for v in (model.rvs_to_values[rv] for rv in model.free_RVs)],
            "logp_shared": [v.name for v in logp_pt.get_shared()],
            "expand_shared": [v.name for v in expand_pt.get_shared()],
            "logp_graph": _graph_key(logp_pt.vm.jit_fn), "expand_graph": _graph_key(expand_pt.vm.jit_fn),
            "fingerprint": fingerprint}
    inner = {"logp": logp_pt.vm.jit_fn, "expand": expand_pt.vm.jit_fn, "logp_pt": logp_pt, "expand_pt": expand_pt}
    return _assemble(model, meta, shared_vars, init_fn, inner), meta


def load_numba_model(model: Any, meta: dict[str, Any]) -> Any:
    """nutpie's compiled model from the layout ``meta`` of :func:`compile_numba_model` and the disk cache.

    The PyTensor graphs are not rebuilt: the callbacks (which contain the
    compiled graphs) are loaded from numba's disk cache under the keys they
    were saved with, and the model's shared data are read from ``model``.
    ``meta`` comes from a model of the same structural key (the compile
    cache's marker). Checked here that it is this model's: the free
    variables' names, the :func:`graph_fingerprint` (the graphs before
    rewriting, constants included), the shared variables' names, dtypes and
    ranks (part of the callbacks' keys), and the initial point's shapes
    (checked by nutpie's wrapper at sampling).

    Raises
    ------
    CallbackCacheUnavailable
        Something does not match or is not in the cache: compile instead.

    Examples
    --------
    >>> compiled = load_numba_model(model, meta)  # doctest: +SKIP
    """
    free = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    if free != list(meta["free"]):
        raise CallbackCacheUnavailable("the model's free variables are not the stored ones")
    if graph_fingerprint(model) != meta.get("fingerprint"):
        raise CallbackCacheUnavailable("the model's graph is not the stored one")
    data = {v.name: v for v in model.data_vars}
    wanted = dict.fromkeys([*meta["logp_shared"], *meta["expand_shared"]])
    if not set(wanted) <= set(data):
        raise CallbackCacheUnavailable("the model's shared variables are not the stored ones")
    return _assemble(model, meta, {name: data[name] for name in wanted}, _initial_point_fn(model))


def compile_with_cached_callbacks(model: Any, meta: dict[str, Any] | None = None) -> tuple[Any, str, dict | None]:
    """Compiled nutpie model, where its C callbacks came from, and its layout.

    With ``meta`` (a stored layout of this model's structure) the model is
    first loaded without rebuilding its graphs (:func:`load_numba_model`);
    if that is not possible it is compiled (:func:`compile_numba_model`),
    and if the callbacks cannot be cached, by ``nutpie.compile_pymc_model``.

    Returns
    -------
    (compiled, callbacks, meta)
        ``callbacks`` is ``"stored"`` (loaded with the stored layout, no graph
        rebuilt), ``"disk"`` (graphs rebuilt, both callbacks loaded from numba's
        cache), ``"compiled"`` (compiled here, now in the cache) or
        ``"not cached: <why>"`` (:class:`CallbackCacheUnavailable`; compiled by
        ``nutpie.compile_pymc_model``, ``meta`` None).

    Examples
    --------
    >>> compiled, callbacks, meta = compile_with_cached_callbacks(model)  # doctest: +SKIP
    >>> callbacks  # doctest: +SKIP
    'disk'
    """
    if meta is not None:
        try:
            return load_numba_model(model, meta), "stored", meta
        except CallbackCacheUnavailable:
            pass
    try:
        compiled, meta = compile_numba_model(model)
    except CallbackCacheUnavailable as exc:
        import nutpie

        return nutpie.compile_pymc_model(model), f"not cached: {exc}", None
    loaded = compiled.compiled_logp_func.cache_hits and compiled.compiled_expand_func.cache_hits
    return compiled, "disk" if loaded else "compiled", meta
