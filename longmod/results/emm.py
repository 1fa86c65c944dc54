"""emmeans-style estimated marginal means and linear contrasts of a fitted model.

:class:`LinearInference` holds what a frequentist fit knows about ``beta``: the
formula and rows it was fitted on, the estimate, its covariance (Kenward-Roger adjusted
when the fit's df method is KR) and a function giving the df of any linear combination
by the fit's df method. :meth:`FitResult.lsmeans <longmod.results.fit.FitResult.lsmeans>`
and :meth:`FitResult.contrast <longmod.results.fit.FitResult.contrast>` use it.

Conventions are emmeans' defaults: the reference grid crosses the levels of every
factor; numeric variables sit at their mean over the fitted rows (``at`` overrides
either); a marginal mean averages the grid with equal weights over the factors not
asked for; in a grid of several factors the first varies fastest; contrasts are taken
within each ``by`` group. Unlike emmeans, no multiplicity adjustment is applied
(``adjust="none"``, stated in the result).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import pandas as pd

from longmod.results.schema import t_interval
from longmod.spec.terms import level_label

CONTRAST_METHODS = ("pairwise", "revpairwise", "trt.vs.ctrl", "consec")


@dataclass(frozen=True)
class LinearInference:
    """Inference on linear combinations of the fixed effects of one fit.

    Attributes
    ----------
    formula : longmod.spec.formula.Formula
    frame : pandas.DataFrame
        Rows used in the fit (numeric means of the reference grid).
    columns : tuple of str
        Kept (non-aliased) design columns, the order of ``beta``.
    beta, vcov : numpy.ndarray
    df_method : str
        What ``df`` computes (``kenward-roger``, ``satterthwaite``, ``residual``,
        ``between-within``, ``asymptotic``).
    df : callable
        ``df(c) -> float`` for a row ``c`` over ``columns``; ``inf`` means a z test.
    """

    formula: Any
    frame: pd.DataFrame
    columns: tuple[str, ...]
    beta: np.ndarray
    vcov: np.ndarray
    df_method: str
    df: Callable[[np.ndarray], float] = field(repr=False)

    def _grid(self, variables: Sequence[str], at: Mapping[str, Sequence] | None):
        """Cells of ``variables`` (first fastest) and their LS-means rows over ``columns``."""
        from longmod.engines.core.lsmeans import lsmeans_matrix

        f = self.formula
        at = {k: list(v) if isinstance(v, (list, tuple, np.ndarray, pd.Index)) else [v] for k, v in (at or {}).items()}
        unknown = [v for v in [*variables, *at] if v not in f.factor_levels and v not in f.numeric]
        if unknown:
            raise ValueError(f"{unknown} not in the model's variables: factors {list(f.factor_levels)}, "
                             f"numeric {list(f.numeric)}")
        values = {}
        for v in variables:
            if v in at:
                values[v] = [str(x) for x in at[v]] if v in f.factor_levels else [float(x) for x in at[v]]
            elif v in f.factor_levels:
                values[v] = list(f.factor_levels[v])
            else:
                raise ValueError(f"numeric variable {v!r} in specs/by needs values: at={{{v!r}: [...]}}")
            if v in f.factor_levels:
                bad = [x for x in values[v] if x not in f.factor_levels[v]]
                if bad:
                    raise ValueError(f"{bad} are not levels of {v!r}: {list(f.factor_levels[v])}")
        cells = [tuple(reversed(c)) for c in product(*[values[v] for v in reversed(variables)])] if variables else [()]
        averaged = {}
        for v in at:
            if v in variables:
                continue
            if v in f.factor_levels:
                averaged[v] = [str(x) for x in at[v]]
                bad = [x for x in averaged[v] if x not in f.factor_levels[v]]
                if bad:
                    raise ValueError(f"{bad} are not levels of {v!r}: {list(f.factor_levels[v])}")
            else:
                averaged[v] = [float(x) for x in at[v]]
        keep = [f.columns.index(c) for c in self.columns]
        rows = []
        for cell in cells:
            vals = {**{v: [x] for v, x in zip(variables, cell)}, **averaged}
            _, L = lsmeans_matrix(f, self.frame, [*variables, *averaged], vals)
            rows.append(L.mean(axis=0)[keep])  # equal weights over the `at` values of other variables
        grid = pd.DataFrame(cells, columns=list(variables)) if variables else pd.DataFrame(index=[0])
        return grid, np.array(rows).reshape(len(cells), len(keep))

    def _rows(self, L: np.ndarray, level: float) -> pd.DataFrame:
        out = []
        for c in L:
            est = float(c @ self.beta)
            se = float(np.sqrt(c @ self.vcov @ c))
            df = float(self.df(c))
            fallback = not np.isfinite(df) and self.df_method != "asymptotic"
            lo, hi, p = t_interval(est, se, df, level)
            out.append({"estimate": est, "std_error": se, "df": df, "statistic": est / se if se > 0 else np.nan,
                        "p_value": p, "conf_low": lo, "conf_high": hi, "df_method": self.df_method,
                        "df_fallback": fallback})
        return pd.DataFrame(out, columns=["estimate", "std_error", "df", "statistic", "p_value", "conf_low",
                                          "conf_high", "df_method", "df_fallback"])

    def lsmeans(self, specs: str | Sequence[str], by: str | Sequence[str] | None = None,
                at: Mapping[str, Any] | None = None, level: float = 0.95) -> pd.DataFrame:
        """Estimated marginal means of the cells of ``specs`` (within ``by``); see the module."""
        specs, by = _names(specs), _names(by)
        grid, L = self._grid([*specs, *by], at)
        res = self._rows(L, level).drop(columns=["statistic", "p_value"])
        return pd.concat([grid.reset_index(drop=True), res], axis=1)

    def contrast(self, method: str | Mapping[str, Sequence[float]] | Sequence[float] = "pairwise",
                 specs: str | Sequence[str] | None = None, by: str | Sequence[str] | None = None,
                 at: Mapping[str, Any] | None = None, ref: str | int = 0, level: float = 0.95,
                 adjust: str = "none") -> pd.DataFrame:
        """Linear contrasts of the marginal means of ``specs`` within each ``by`` group; see the module."""
        if adjust != "none":
            raise ValueError(f"adjust={adjust!r}: only 'none' is supported (no multiplicity adjustment)")
        specs, by = _names(specs), _names(by)
        if not specs:
            raise ValueError("contrast() needs specs: the variable(s) whose marginal means are contrasted")
        grid, L = self._grid([*specs, *by], at)
        n_cells = int(np.prod([len(grid[v].unique()) for v in specs]))
        labels = [" ".join(level_label(x) for x in row) for row in grid[specs].itertuples(index=False)][:n_cells]
        W, names = _weights(method, labels, ref)
        out = []
        groups = [()] if not by else list(dict.fromkeys(tuple(r) for r in grid[by].itertuples(index=False)))
        for gi, g in enumerate(groups):
            Lg = L[gi * n_cells:(gi + 1) * n_cells]
            res = self._rows(W @ Lg, level)
            res.insert(0, "contrast", names)
            for v, x in zip(by, g):
                res.insert(1, v, x)
            out.append(res)
        table = pd.concat(out, ignore_index=True)
        table["adjust"] = "none"
        return table


def _names(x) -> list[str]:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)


def _weights(method, labels: list[str], ref) -> tuple[np.ndarray, list[str]]:
    n = len(labels)
    if isinstance(method, str):
        rows, names = [], []
        if method == "pairwise":
            pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        elif method == "revpairwise":
            pairs = [(i, j) for i in range(1, n) for j in range(i)]
        elif method in ("trt.vs.ctrl", "trt_vs_ctrl"):
            r = labels.index(ref) if isinstance(ref, str) else int(ref)
            pairs = [(i, r) for i in range(n) if i != r]
        elif method == "consec":
            pairs = [(i, i - 1) for i in range(1, n)]
        else:
            raise ValueError(f"contrast method {method!r}: choose {', '.join(CONTRAST_METHODS)}, "
                             "a dict {name: weights} or one weight vector")
        for i, j in pairs:
            w = np.zeros(n)
            w[i], w[j] = 1.0, -1.0
            rows.append(w)
            names.append(f"{labels[i]} - {labels[j]}")
        return np.array(rows).reshape(len(rows), n), names
    if isinstance(method, Mapping):
        names, rows = list(method), [np.asarray(w, float) for w in method.values()]
    else:
        names, rows = ["custom"], [np.asarray(method, float)]
    for name, w in zip(names, rows):
        if w.shape != (n,):
            raise ValueError(f"contrast {name!r} has {w.size} weights; the grid has {n} cells: {labels}")
    return np.array(rows), names
