"""emmeans-like reference grids: LS-means matrices and Type III hypothesis matrices.

Convention (as emmeans' defaults and SAS LSMEANS): an LS mean of a cell of the
``by`` variables averages the model prediction with **equal weights over every
level of each other factor** in the formula, with **numeric covariates at their
mean over the rows used in the fit** (unless a numeric variable is itself in
``by``, then it takes the cell's value).

Type III hypotheses for a term made only of factors are the interaction
contrasts (level minus first level, Kronecker products) of the LS means over that
term's factors, which reproduces SAS's Type III F tests for full-rank designs
with treatment or any other coding. Terms containing a numeric variable are
tested through their own coefficients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product

import numpy as np
import pandas as pd

from longmod.spec.formula import Formula


def lsmeans_matrix(
    formula: Formula,
    data: pd.DataFrame,
    by: Sequence[str],
    values: Mapping[str, Sequence] | None = None,
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
    numeric = {v: float(pd.to_numeric(data[v]).mean()) for v in formula.numeric if v not in by}
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


def _diff_matrix(m: int) -> np.ndarray:
    """(m-1) x m contrasts of each later level against the first (as SAS's Type III rows)."""
    D = np.zeros((m - 1, m))
    for i in range(m - 1):
        D[i, 0], D[i, i + 1] = -1.0, 1.0
    return D


def type3_matrices(formula: Formula, data: pd.DataFrame, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Type III hypothesis matrix per term (``term label -> L``), R term labels (``ARMCD:AVISIT``).

    ``columns`` restricts L to the kept (non-aliased) design columns.

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
    for ti, term in enumerate(formula.terms):
        label = ":".join(term)
        if all(v in formula.factor_levels for v in term):
            _, Lg = lsmeans_matrix(formula, data, list(term))
            C = np.ones((1, 1))
            for v in term:
                C = np.kron(C, _diff_matrix(len(formula.factor_levels[v])))
            # lsmeans grid: first variable varies slowest -> kron order matches
            L = C @ Lg
        else:
            idx = [j for j, t in enumerate(formula.term_of_column) if t == ti]
            L = np.eye(len(formula.columns))[idx]
        if keep is not None:
            L = L[:, keep]
        # drop numerically zero / dependent rows
        u, s, vt = np.linalg.svd(L, full_matrices=False)
        r = int(np.sum(s > 1e-8 * max(1.0, s.max() if len(s) else 1.0)))
        if r == 0:
            continue
        L = L if r == L.shape[0] else vt[:r] * s[:r, None]
        out[label] = L
    return out
