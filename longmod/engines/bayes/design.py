"""The Bayesian design: the frequentist front end, re-parametrised so the treatment contrasts are parameters.

The rows used, the design columns and the per-visit treatment contrast come
from the engines' one front end, :func:`longmod.engines.core.prepare.prepare`
and :func:`longmod.engines.core.prepare.effect_grid` (emmeans-style, equal
weights), so "the D7 effect" is the same linear function ``c_D7' beta`` of the
coefficients in every engine. What is Bayes-specific is only the change of
parameters, so that a prior declared for "the treatment effect" is the prior
of every per-visit contrast:

With ``C`` the contrast matrix (visits x columns), the columns that enter any
contrast are the treatment columns ``T``. Choose basis visits ``B`` (rows of
``C_T`` that are linearly independent, first to last) and as many columns
``S`` of ``T`` (first to last) with ``C_BS`` invertible; the other treatment
columns ``G`` (e.g. ``arm:baseline``) stay coefficients. The new parameters
are ``delta = C_B beta`` (the contrasts at the basis visits) and
``gamma = beta_G``, and

.. math::

    \\beta_S = C_{BS}^{-1} (\\delta - C_{BG} \\gamma), \\qquad
    X \\beta = Z \\theta, \\quad Z = X M, \\quad \\beta = M \\theta .

For ``arm * visit`` every visit is a basis visit and ``delta`` is the vector
of per-visit contrasts, with the arm-by-visit cell effects re-expressed as
those contrasts. The declared prior holds at *every* visit only if each
visit's contrast equals one basis contrast (e.g. ``arm + visit``: one contrast
shared by all visits); otherwise (``arm * day`` with numeric ``day`` over three
or more visits) the design cannot carry a per-visit prior: declaring
``treatment`` is then an error, and with the default the treatment columns keep
the coefficient prior and the result says so (``treatment_prior_on``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: relative tolerance of the rank decisions (contrast rows and columns are small integers or means)
_TOL = 1e-9


@dataclass(frozen=True)
class BayesDesign:
    """A fit's data and its re-parametrised design (all arrays are private copies).

    Attributes
    ----------
    prep : longmod.engines.core.prepare.Prepared
        The front end's result (rows used, ``X``, ``columns``, ``y``, ``subject``).
    visits : tuple of str
        Visit labels in time order (``("",)`` without a visit).
    days : ndarray
        Day of each visit (:func:`longmod.engines.core.prepare.day_of_level`).
    contrast : ndarray (visits x columns)
        ``C``: the per-visit treatment contrast is ``C @ beta``.
    Z : ndarray (n_obs x columns)
        Design of ``theta`` (non-intercept columns centred when there is an intercept).
    to_beta : ndarray (columns x columns)
        ``beta = to_beta @ theta`` (with the un-centred intercept, see :meth:`beta_of`).
    means : ndarray
        Column means of the un-centred ``X @ to_beta`` (0 for the intercept).
    theta_names : tuple of str
        Names of ``theta``: R-style column names, and ``effect[<visit>]`` for the contrasts.
    intercept : int or None
        Position of the intercept in ``theta``.
    effect_idx : ndarray of int
        Positions of the contrast parameters ``delta`` in ``theta`` (empty when
        the contrasts are not parameters).
    coef_idx : ndarray of int
        Positions of the other coefficients in ``theta``.
    effect_map : ndarray of int
        For each visit, its contrast's position in ``delta``.
    basis_visits : tuple of str
        Visit of each element of ``delta``.
    treatment_prior_on : {"contrast", "coefficients", "none"}
    contrast_columns : tuple of str
        Columns ``S`` replaced by the contrasts.
    warnings : tuple of str

    Examples
    --------
    >>> d = bayes_design(spec, long_data)  # doctest: +SKIP
    >>> d.visits, d.contrast.shape  # doctest: +SKIP
    """

    prep: Any
    visits: tuple[str, ...]
    days: np.ndarray
    contrast: np.ndarray
    Z: np.ndarray
    to_beta: np.ndarray
    means: np.ndarray
    theta_names: tuple[str, ...]
    intercept: int | None
    effect_idx: np.ndarray
    coef_idx: np.ndarray
    effect_map: np.ndarray
    basis_visits: tuple[str, ...]
    treatment_prior_on: str
    contrast_columns: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        """R-style names of ``beta``."""
        return list(self.prep.columns)

    def beta_of(self, theta: np.ndarray) -> np.ndarray:
        """Coefficients ``beta`` (R parametrisation) from draws of ``theta`` (last axis), centring undone.

        Examples
        --------
        >>> import numpy as np
        >>> d = contrast_design(_toy_prep(), np.array([[0.0, 1.0]]), ("",), np.array([np.nan]))
        >>> d.beta_of(np.array([2.0, 3.0])).tolist()  # theta = (centred intercept, contrast)
        [0.5, 3.0]
        """
        theta = np.asarray(theta, dtype=float)
        t = theta.copy()
        if self.intercept is not None:
            t[..., self.intercept] = theta[..., self.intercept] - theta @ self.means
        return t @ self.to_beta.T

    def effect_of(self, theta: np.ndarray) -> np.ndarray:
        """Per-visit contrasts ``C @ beta`` from draws of ``theta`` (last axis -> visits)."""
        return self.beta_of(theta) @ self.contrast.T


def _independent(A: np.ndarray, axis: int) -> list[int]:
    """Greedy first-to-last selection of linearly independent rows (axis 0) or columns (axis 1)."""
    M = A if axis == 1 else A.T
    keep: list[int] = []
    for j in range(M.shape[1]):
        cand = M[:, keep + [j]]
        if np.linalg.matrix_rank(cand, tol=_TOL * max(1.0, np.abs(M).max())) == len(keep) + 1:
            keep.append(j)
    return keep


def contrast_design(prep: Any, C: np.ndarray, visits: Sequence[str], days: np.ndarray, *,
                    treatment_declared: bool = False, name: str = "model") -> BayesDesign:
    """Re-parametrise ``prep.X`` so the per-visit contrasts ``C @ beta`` are parameters.

    Parameters
    ----------
    prep : Prepared
        Needs ``X``, ``columns``.
    C : ndarray (visits x columns)
        From :func:`longmod.engines.core.prepare.effect_grid`.
    visits, days
        Labels and days of the rows of ``C``.
    treatment_declared : bool
        The user declared a ``treatment`` prior: a design whose contrasts
        cannot carry it is an error instead of a reported fallback.
    name : str
        Model name for messages.

    Raises
    ------
    longmod.engines.bayes.priors.PriorError
        ``treatment`` declared but some visit's contrast is a combination of
        several free contrasts (the declared prior cannot hold at that visit).

    Examples
    --------
    >>> import numpy as np
    >>> prep = _toy_prep()  # columns (Intercept), armB; 2 patients per arm
    >>> d = contrast_design(prep, np.array([[0.0, 1.0]]), ("",), np.array([np.nan]))
    >>> d.theta_names, d.treatment_prior_on, d.Z.tolist()
    (('(Intercept)', 'effect'), 'contrast', [[1.0, -0.5], [1.0, -0.5], [1.0, 0.5], [1.0, 0.5]])
    """
    from longmod.engines.bayes.priors import PriorError

    X = np.asarray(prep.X, dtype=float)
    cols = list(prep.columns)
    p = X.shape[1]
    C = np.asarray(C, dtype=float).reshape(-1, p)
    visits = tuple(str(v) for v in visits)
    warnings: list[str] = []
    T = [j for j in range(p) if np.any(np.abs(C[:, j]) > _TOL)]
    CT = C[:, T]
    B = _independent(CT, axis=0) if T else []
    effect_map = np.zeros(len(visits), dtype=int)
    representable = bool(B)
    for v in range(len(visits)):
        hit = [b for b, row in enumerate(B) if np.allclose(CT[v], CT[row], rtol=0, atol=_TOL * max(1.0, np.abs(CT).max()))]
        if hit:
            effect_map[v] = hit[0]
        else:
            representable = False
    if not representable and T:
        msg = (f"model {name!r}: the per-visit treatment contrasts of this design are not separate parameters "
               f"(some visit's contrast combines others', e.g. a treatment slope on a numeric time), so no prior "
               f"can be the prior of the contrast at every visit")
        if treatment_declared:
            raise PriorError(msg + "; use a factor visit (treatment * visit) or declare priors on the coefficients "
                             "(coefficients / terms) instead of treatment")
        warnings.append(msg + f"; the treatment columns {', '.join(cols[j] for j in T)} have the coefficient prior")
    intercept = cols.index("(Intercept)") if "(Intercept)" in cols else None
    if representable:
        CB = CT[B]
        Sloc = _independent(CB, axis=1)
        S = [T[j] for j in Sloc]
        G = [j for j in T if j not in S]
        O = [j for j in range(p) if j not in T]
        order = O + [-1] * len(B) + G  # theta: other columns, contrasts, extra treatment columns
        M = np.zeros((p, p))
        CBS_inv = np.linalg.inv(CB[:, Sloc])
        for k, j in enumerate(O):
            M[j, k] = 1.0
        for k, j in enumerate(G):
            M[j, len(O) + len(B) + k] = 1.0
        M[np.ix_(S, range(len(O), len(O) + len(B)))] = CBS_inv
        if G:
            CBG = CB[:, [T.index(j) for j in G]]
            M[np.ix_(S, range(len(O) + len(B), p))] = -CBS_inv @ CBG
        basis = tuple(visits[b] for b in B)
        enames = ["effect" if visits == ("",) else f"effect[{v}]" for v in basis]
        names = [cols[j] for j in O] + enames + [cols[j] for j in G]
        effect_idx = np.arange(len(O), len(O) + len(B))
        intercept = O.index(intercept) if intercept is not None else None
        contrast_columns = tuple(cols[j] for j in S)
        on = "contrast"
    else:
        M = np.eye(p)
        names = list(cols)
        effect_idx = np.zeros(0, dtype=int)
        basis = ()
        contrast_columns = ()
        on = "coefficients" if T else "none"
    Z = X @ M
    means = np.zeros(p)
    if intercept is not None:
        means = np.array([0.0 if k == intercept else float(Z[:, k].mean()) for k in range(p)])
    coef_idx = np.array([k for k in range(p) if k not in set(effect_idx.tolist()) and k != intercept], dtype=int)
    return BayesDesign(
        prep=prep, visits=visits, days=np.asarray(days, dtype=float), contrast=C, Z=Z - means[None, :], to_beta=M,
        means=means, theta_names=tuple(names), intercept=intercept, effect_idx=effect_idx, coef_idx=coef_idx,
        effect_map=effect_map, basis_visits=basis, treatment_prior_on=on, contrast_columns=contrast_columns,
        warnings=tuple(warnings),
    )


def bayes_design(spec: Any, data: pd.DataFrame, *, treatment_declared: bool = False) -> BayesDesign:
    """Front end + contrast re-parametrisation of ``spec`` on ``data`` (not modified).

    Uses :func:`longmod.engines.core.prepare.prepare` (rows used, design) and
    :func:`longmod.engines.core.prepare.effect_grid` (the per-visit contrast),
    then :func:`contrast_design`.

    Raises
    ------
    ValueError
        No treatment contrast (the treatment variable is not in the formula).

    Examples
    --------
    >>> d = bayes_design(spec, long_data)  # doctest: +SKIP
    >>> d.treatment_prior_on  # doctest: +SKIP
    'contrast'
    """
    from longmod.engines.core.prepare import effect_grid, prepare

    spec.treatment.label  # noqa: B018 - a SpecError naming what to declare when no comparison is declared
    prep = prepare(spec, data)
    grid, _, C = effect_grid(spec, prep)
    if len(C) == 0:
        raise ValueError(f"model {spec.name!r}: the treatment variable {spec.treatment.variable!r} is not in "
                         f"fixed = {spec.fixed!r}, so there is no treatment contrast to estimate")
    g = grid.iloc[::2]
    visits = tuple("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in g["visit"])
    return contrast_design(prep, C, visits, g["day"].to_numpy(dtype=float), treatment_declared=treatment_declared,
                           name=spec.name)


def visit_positions(spec: Any, prep: Any) -> tuple[np.ndarray, np.ndarray]:
    """Visit index (0..K-1) of every row and the numeric position of each visit.

    The same definition as the native engine's: a visit's position is the mean
    of ``spec.time`` at that visit (``1..K`` without ``time``).

    Examples
    --------
    >>> pos, t = visit_positions(spec, prep)  # doctest: +SKIP
    """
    fr = prep.frame
    K = len(prep.visit_levels)
    if "__pos" in fr:
        pos = fr["__pos"].to_numpy(dtype=int)
    else:  # pragma: no cover - depends on the front end's columns
        lab = {str(v): i for i, v in enumerate(prep.visit_levels)}
        pos = fr[spec.visit].astype(str).map(lab).to_numpy(dtype=int)
    if spec.time and spec.time in fr:
        tv = pd.Series(fr[spec.time].to_numpy(dtype=float)).groupby(pos).mean()
        t = np.array([tv.get(k, k + 1.0) for k in range(K)], dtype=float)
    else:
        t = np.arange(1.0, K + 1)
    return pos, t


def _toy_prep() -> Any:
    """A tiny Prepared-like object for the doctests (two arms, two patients each)."""
    from types import SimpleNamespace

    X = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    return SimpleNamespace(X=X, columns=("(Intercept)", "armB"), y=np.array([1.0, 2.0, 3.0, 4.0]))
