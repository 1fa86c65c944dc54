"""emmeans-like reference grids: LS-means matrices and Type III hypothesis matrices.

Convention (as emmeans' defaults and SAS LSMEANS): an LS mean of a cell of the
``by`` variables averages the model prediction with **equal weights over every
level of each other factor** in the formula, with **numeric covariates at their
mean over the rows used in the fit** (unless a numeric variable is itself in
``by``, then it takes the cell's value).

Numeric covariates are *variables*: with ``log(x)`` in the formula, the grid holds
``x`` at its mean and the design takes ``log(mean(x))``, as emmeans does.

Type III hypotheses follow SAS (see :func:`type3_matrices`): contrasts of
cell means over the term's factors, with the other factors averaged equally
and numeric terms at 0 (SAS's convention for Type III, unlike LS means).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations, product

import numpy as np
import pandas as pd

from longmod.spec.formula import Formula


def lsmeans_matrix(
    formula: Formula,
    data: pd.DataFrame,
    by: Sequence[str],
    values: Mapping[str, Sequence] | None = None,
    numeric_at: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of L such that ``L @ beta`` are the LS means of the ``by`` cells.

    Parameters
    ----------
    formula : Formula
    data : pandas.DataFrame
        Rows used in the fit (for numeric means).
    by : sequence of str
        Variables defining the cells, e.g. ``["AVISIT", "ARMCD"]``.
    values : mapping, optional
        Values per ``by`` variable (default: factor levels; numeric ``by``
        variables need explicit values).
    numeric_at : mapping, optional
        Values of numeric covariates not in ``by`` (default: their mean).

    Returns
    -------
    grid : pandas.DataFrame
        One row per cell with the ``by`` columns (first ``by`` varies slowest).
    L : numpy.ndarray
        ``(n_cells, n_columns)``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"arm": ["A", "B", "A", "B"], "sex": ["F", "F", "M", "M"], "x": [1.0, 2, 3, 4]})
    >>> f = Formula.from_data("arm + sex + x", d)
    >>> g, L = lsmeans_matrix(f, d, ["arm"])
    >>> g["arm"].tolist(), L.tolist()
    (['A', 'B'], [[1.0, 0.0, 0.5, 2.5], [1.0, 1.0, 0.5, 2.5]])
    """
    values = dict(values or {})
    by = list(by)
    for v in by:
        if v not in values:
            if v not in formula.factor_levels:
                raise ValueError(f"numeric 'by' variable {v!r} needs explicit values")
            values[v] = list(formula.factor_levels[v])
    others = [v for v in formula.factor_levels if v not in by]
    numeric_at = dict(numeric_at or {})
    numeric = {v: float(numeric_at[v]) if v in numeric_at else float(pd.to_numeric(data[v]).mean())
               for v in formula.numeric if v not in by}
    cells = list(product(*[values[v] for v in by])) if by else [()]
    other_combos = list(product(*[formula.factor_levels[v] for v in others])) if others else [()]
    rows = []
    for cell in cells:
        for oc in other_combos:
            r = dict(zip(by, cell))
            r.update(dict(zip(others, oc)))
            r.update(numeric)
            rows.append(r)
    grid_full = pd.DataFrame(rows, columns=list(dict.fromkeys([*by, *others, *numeric])))
    for v in formula.variables:
        if v not in grid_full.columns:  # pragma: no cover - every variable is by/other/numeric
            raise ValueError(f"variable {v!r} missing from the reference grid")
    Xg = formula.matrix(grid_full)
    L = Xg.reshape(len(cells), len(other_combos), -1).mean(axis=1)
    grid = pd.DataFrame(cells, columns=by) if by else pd.DataFrame(index=[0])
    return grid, L


def _factor_means(formula: Formula, by: Sequence[str], at: Mapping[str, float]) -> np.ndarray:
    """Cell means over the levels of the categorical factors ``by`` with numeric *terms* set by ``at``.

    Other categorical factors are averaged with equal weights; first ``by`` varies slowest.
    """
    others = [v for v in formula.factor_levels if v not in by]
    cells = list(product(*[formula.factor_levels[v] for v in by])) if by else [()]
    other = list(product(*[formula.factor_levels[v] for v in others])) if others else [()]
    rows = [dict(zip(by, c)) | dict(zip(others, o)) for c in cells for o in other]
    grid = pd.DataFrame(rows, columns=[*by, *others])
    X = formula.matrix_at(grid, at)
    return X.reshape(len(cells), len(other), -1).mean(axis=1)


def _diff_matrix(m: int) -> np.ndarray:
    """(m-1) x m contrasts of each later level against the first (as SAS's Type III rows)."""
    D = np.zeros((m - 1, m))
    for i in range(m - 1):
        D[i, 0], D[i, i + 1] = -1.0, 1.0
    return D


def _margin_basis(formula: Formula, term, F, N):
    """Cell-space functions of the present terms contained in ``term`` (None when none apply).

    A term U + N with U a proper subset of the factors F is "present" if it is in the
    model (U empty and N empty: the intercept). Type III contrasts must be
    orthogonal to these functions (SAS); for regular models the Kronecker
    contrasts already are.
    """
    present = {frozenset(t) for t in formula.terms}
    if formula.intercept:
        present.add(frozenset())
    cols = []
    for r in range(len(F)):
        for U in combinations(F, r):
            if frozenset(U) | frozenset(N) not in present:
                continue
            M = np.ones((1, 1))
            for v in F:
                m = len(formula.factor_levels[v])
                M = np.kron(M, np.eye(m) if v in U else np.ones((m, 1)))
            cols.append(M)
    return np.hstack(cols) if cols else None


def type3_matrices(formula: Formula, data: pd.DataFrame, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Type III hypothesis matrix per term (``term label -> L``), R term labels (``ARMCD:AVISIT``).

    SAS's Type III construction: for a term with factors F and numeric
    variables N, take the mixed derivative of the prediction in N (numeric
    covariates otherwise at 0, other factors averaged with equal weights) in
    each cell of F, then the contrasts "level minus first level" over each
    factor of F (identity for a factor R codes in full because the term's
    margin is absent, e.g. ``ARMCD:FEV1_BL`` without ``FEV1_BL``), combined by
    Kronecker product; in irregular models (e.g. cell means plus an intercept)
    the contrasts are then made orthogonal to the cell-space functions of the
    present terms the term contains. ``columns`` restricts L to the kept
    (non-aliased) columns.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"arm": list("AABB"), "v": ["1", "2"] * 2})
    >>> f = Formula.from_data("arm * v", d)
    >>> {k: v.shape for k, v in type3_matrices(f, d).items()}
    {'arm': (1, 4), 'v': (1, 4), 'arm:v': (1, 4)}
    """
    out: dict[str, np.ndarray] = {}
    keep = None
    if columns is not None:
        keep = [formula.columns.index(c) for c in columns]
    zero = {v: 0.0 for v in formula.numeric_factors}
    for term, full in zip(formula.terms, formula._coding):
        label = ":".join(term)
        F = [v for v in term if v in formula.factor_levels]
        N = [v for v in term if v not in formula.factor_levels]
        if any(len(formula.factors[n].suffixes) > 1 for n in N):
            continue  # multi-column numeric terms (poly, splines): no SAS Type III hypothesis
        Lc = 0.0
        for r in range(len(N) + 1):
            for S in combinations(N, r):
                at = {**zero, **{n: 1.0 for n in S}}
                Lc = Lc + (-1) ** (len(N) - r) * _factor_means(formula, F, at)
        C = np.ones((1, 1))
        for v, f in zip(term, full):
            if v in formula.factor_levels:
                m = len(formula.factor_levels[v])
                C = np.kron(C, np.eye(m) if f else _diff_matrix(m))
        B = _margin_basis(formula, term, F, N)
        if B is not None:  # irregular model (a margin absent, e.g. cell means with an intercept)
            C = C - (C @ B) @ np.linalg.pinv(B)
        L = C @ Lc  # lsmeans grid: first variable varies slowest, as the Kronecker order
        if keep is not None:
            L = L[:, keep]
        # drop numerically zero / dependent rows
        u, sv, vt = np.linalg.svd(L, full_matrices=False)
        rank = int(np.sum(sv > 1e-8 * max(1.0, sv.max() if len(sv) else 1.0)))
        if rank == 0:
            continue
        L = L if rank == L.shape[0] else vt[:rank] * sv[:rank, None]
        out[label] = L
    return out
