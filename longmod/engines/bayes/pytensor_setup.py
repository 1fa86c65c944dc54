"""PyTensor set-up for the Bayesian engine: persistent compile cache, BLAS, thread limits.

Nothing here runs at import time. :func:`configure_pytensor` is called by
every fitting function *before* PyTensor is first imported; it points
PyTensor's ``base_compiledir`` at a persistent folder so that a second run (or
a second process) reuses the compiled code:

* ``$LONGMOD_CACHE/pytensor`` if ``LONGMOD_CACHE`` is set, else
  ``~/.cache/longmod/pytensor``;
* a ``base_compiledir`` the user already put in ``PYTENSOR_FLAGS`` wins.

BLAS: pip's PyTensor links no BLAS unless the system has one; ``scripts/setup``
installs Debian's ``libopenblas-dev``, which PyTensor's own search does not find
(it wants ``libcblas`` or ``libgfortran`` beside it), so :func:`configure_pytensor`
sets ``blas__ldflags=-lopenblas`` when OpenBLAS is installed and the user set no
``blas__ldflags``. When none is found the result carries a warning
(``convergence.warnings``), never silently.

:func:`enable_numba_graph_cache` lets numba cache whole PyTensor graphs on disk
(folded constant arrays made contiguous); :class:`blas_limits` gives each chain
one BLAS thread while sampling.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path
from typing import Any

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

    Examples
    --------
    >>> info = configure_pytensor()  # doctest: +SKIP
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


class blas_limits:
    """One BLAS thread per chain: threadpoolctl in this process, env vars for child processes.

    Measured here (2 cores): PyTensor's OpenBLAS gemv + gradient (3000 x 20) took
    21 us per call with one thread and 32 us with OpenBLAS's default two (the
    NumPy C-API fallback without BLAS: 28 us).

    Examples
    --------
    >>> with blas_limits():  # doctest: +SKIP
    ...     idata = nutpie.sample(compiled)
    """

    def __enter__(self) -> "blas_limits":
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

