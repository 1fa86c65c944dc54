"""The operations of the Gaussian core, for each of its two data layouts.

* :class:`~longmod.engines.core.likelihood.LongData` (patients grouped by
  missingness pattern over a grid of K positions; every structure of the
  covariance table): :mod:`likelihood` + :mod:`information`;
* :class:`~longmod.engines.core.woodbury.SubjectData` (one block per patient,
  ``V_i = Z_i G Z_i' + s2 I``, any times; random-effects structures):
  :mod:`woodbury`.

Both give the same functions (``evaluate``, ``gradient_weights``,
``information``, ``p_matrices``, ``kr_sums``, ``sandwich_meat``) with the same
meaning, so the optimiser and the inference code are written once.
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace


def ops(data) -> SimpleNamespace:
    """The operations for ``data``'s layout.

    Examples
    --------
    >>> import numpy as np
    >>> from longmod.engines.core.likelihood import build_long_data
    >>> d = build_long_data(np.arange(4.0), np.ones((4, 1)), np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]),
    ...                     np.array([1.0, 2.0]))
    >>> ops(d).name
    'patterns'
    """
    from longmod.engines.core import information, likelihood, woodbury

    if isinstance(data, woodbury.SubjectData):
        return woodbury.OPS
    return SimpleNamespace(
        name="patterns", evaluate=likelihood.evaluate, gradient_weights=likelihood.gradient_weights,
        information=information.information, p_matrices=information.p_matrices, kr_sums=information.kr_sums,
        sandwich_meat=information.sandwich_meat,
    )


@lru_cache(maxsize=1)
def blas_controller():
    """A threadpoolctl controller created once: inspecting the loaded libraries costs ~2 ms a call.

    Use ``blas_controller().limit(limits=1, user_api="blas")`` around the many small matrix
    products of a fit (BLAS threads only add contention there).
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
