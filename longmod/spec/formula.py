"""Fixed-effects formulas through formulaic, with R's coding rule and R's column names.

The right-hand side is parsed by `formulaic <https://matthewwardrop.github.io/formulaic/>`_
(Wilkinson syntax: ``a + b``, ``a:b``, ``a * b``, ``(a + b)**2``, ``a / b``, ``- a``,
``0 +`` / ``- 1``) and every factor is evaluated by it, so ``C(x)``,
``C(x, Treatment("placebo"))``, ``C(x, levels=[...])``, ``I(x**2)``, ``log(x)``,
``exp(x)``, ``sqrt(x)``, ``center(x)``, ``scale(x)``, ``poly(x, 2)`` work, with their
state (e.g. a centring mean) kept for new data such as an LS-means grid.

What stays longmod's own is R's *coding* of the terms, so that the columns and their
names are exactly R's ``model.matrix`` ones:

* a data column is **categorical** when its dtype is object/string/category/bool, when
  ``levels`` names it, or when the formula wraps it in ``C()``; a categorical term must
  be a column or ``C(column, ...)`` (the column is then the variable of LS-means grids);
* level order: ``C(x, levels=[...])``, else ``levels``, else the categories of a pandas
  Categorical, else the sorted unique values; ``C(x, Treatment(ref))`` moves ``ref``
  first (the first level is the reference of the treatment contrasts);
* R's rule (``TermCode``) decides when a factor gets full indicator coding (the term
  without it is absent, e.g. ``0 + ARMCD``);
* names: ``(Intercept)``, ``SEXFemale``, ``ARMCDTRT:AVISITVIS2``, ``FEV1_BL``; a ``C()``
  factor is named after its column (``C(ARMCD)`` gives ``ARMCDTRT``, so one model written
  with or without ``C()`` has one set of names); other expressions keep their text
  (``log(x)``, ``I(x ** 2)``, ``poly(x, 2)1``). Terms are ordered like R: by interaction
  order, then by position in the formula; within a term by first appearance.

Only treatment contrasts are supported (``Sum``/``Helmert``/``Poly`` codings are refused):
LS means, contrasts and Type III tests are built on the cell means, which any coding
spans, so nothing is lost. Random-effect bars and covariance terms are not part of a
fixed-effects formula: :mod:`longmod.spec.model_formula` splits them off first.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import pandas as pd

from longmod.spec.terms import (  # noqa: F401  (re-exported: the formula API lives here)
    CONTEXT,
    FormulaError,
    _as_labels,
    _clean,
    _default_levels,
    _display,
    _is_categorical_dtype,
    _is_lookup,
    _labels,
    _ordered_terms,
    _parse_terms,
    _quote,
    formula_variables,
    level_label,
    parse_formula,
)

__all__ = ["FormulaError", "Formula", "FactorInfo", "parse_formula", "formula_variables", "design_matrix",
           "level_label"]


@dataclass(frozen=True)
class FactorInfo:
    """One factor of a formula: a categorical column or a numeric expression.

    Attributes
    ----------
    name : str
        Name in column names and term labels.
    expr : str
        formulaic expression.
    kind : {"categorical", "numeric"}
    variables : tuple of str
        Data columns it reads.
    levels : tuple of str
        Level labels, reference first (categorical).
    suffixes : tuple of str
        Column suffixes of a multi-column numeric factor (``poly(x, 2)``: ``("1", "2")``).
    """

    name: str
    expr: str
    kind: str
    variables: tuple[str, ...]
    levels: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ("",)


@dataclass(frozen=True)
class Formula:
    """A fixed-effects formula bound to the variable types and factor levels of a data set.

    Build it with :meth:`Formula.from_data`; then :meth:`matrix` gives the design matrix
    for the fitting data or for any new data (e.g. an LS-means reference grid) with the
    same columns.

    Attributes
    ----------
    rhs : str
        The right-hand side as written.
    intercept : bool
    terms : tuple of tuple of str
        Terms in R order, each a tuple of factor names.
    factor_levels : mapping
        Level labels (str) per categorical variable, reference first.
    numeric : tuple of str
        Data columns used numerically (held at their mean in LS-means grids).
    columns : tuple of str
        Design-matrix column names, R style.
    term_of_column : tuple of int
        Index into ``terms`` per column (-1 for the intercept).
    factors : mapping
        :class:`FactorInfo` per factor name.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"arm": ["PBO", "TRT", "TRT"], "v": ["V1", "V2", "V1"], "x": [1.0, 2.0, 3.0]})
    >>> f = Formula.from_data("arm * v + x", d)
    >>> list(f.columns)
    ['(Intercept)', 'armTRT', 'vV2', 'x', 'armTRT:vV2']
    >>> f.matrix(d)[:, 4].tolist()
    [0.0, 1.0, 0.0]
    >>> list(Formula.from_data('C(arm, Treatment("TRT")) + log(x)', d).columns)
    ['(Intercept)', 'armPBO', 'log(x)']
    """

    rhs: str
    intercept: bool
    terms: tuple[tuple[str, ...], ...]
    factor_levels: Mapping[str, tuple[str, ...]]
    numeric: tuple[str, ...]
    columns: tuple[str, ...]
    term_of_column: tuple[int, ...]
    _coding: tuple[tuple[bool, ...], ...]  # per term, per factor: True = full indicator coding
    factors: Mapping[str, FactorInfo] = field(default_factory=dict)
    _raw_levels: Mapping[str, tuple] = field(default_factory=dict, repr=False)  # values formulaic saw
    _numeric_spec: Any = field(default=None, repr=False, compare=False)  # formulaic ModelSpec

    @property
    def variables(self) -> tuple[str, ...]:
        """Every data column the formula uses, in first-use order."""
        seen: list[str] = []
        for t in self.terms:
            for f in t:
                for v in self.factors[f].variables:
                    if v not in seen:
                        seen.append(v)
        return tuple(seen)

    @property
    def numeric_factors(self) -> tuple[str, ...]:
        """Names of the numeric factors (``x``, ``log(x)``, ...)."""
        return tuple(n for n, f in self.factors.items() if f.kind == "numeric")

    @classmethod
    def from_data(cls, rhs: str, data: pd.DataFrame, levels: Mapping[str, Sequence] | None = None) -> "Formula":
        """Parse ``rhs`` (formulaic) and bind variable types and levels from ``data``.

        Parameters
        ----------
        rhs : str
            Right-hand side (a leading ``y ~`` is ignored).
        data : pandas.DataFrame
            Data holding every variable (not modified).
        levels : mapping, optional
            Level order per categorical column; the first is the reference.

        Raises
        ------
        FormulaError
            Unknown syntax, a column missing from ``data`` (the message lists the
            available columns), data values outside ``levels``, a non-treatment
            coding, or a categorical term that is not a column.
        """
        from formulaic import model_matrix
        from formulaic.errors import FormulaicError

        levels = {k: [level_label(x) for x in v] for k, v in dict(levels or {}).items()}
        text = rhs.split("~", 1)[1] if "~" in rhs else rhs
        terms, intercept = _parse_terms(text)
        ordered, factors = _ordered_terms(terms)
        from formulaic import Formula as _F

        cols = formula_variables(text, list(data.columns))
        work = data.loc[:, cols].copy()
        converted: dict[str, list[str]] = {}
        for v in cols:
            if v in levels or _is_categorical_dtype(work[v]):
                lv = levels.get(v) or _default_levels(work[v])
                work[v] = _as_labels(work[v], v, lv)
                converted[v] = list(lv)
        enc: dict = {}
        fvars: dict = {}
        struct: dict = {}
        for fa in factors:  # plain columns: typed here, no evaluation needed
            if _is_lookup(fa):
                if fa.expr in converted:
                    enc[fa.expr] = ("CATEGORICAL", {"categories": converted[fa.expr]})
                elif pd.api.types.is_numeric_dtype(work[fa.expr].dtype):
                    enc[fa.expr] = ("NUMERICAL", {})
                else:
                    raise FormulaError(f"column {fa.expr!r} is neither numeric nor categorical (dtype {work[fa.expr].dtype})")
                fvars[fa.expr] = (fa.expr,)
        calls = [fa for fa in factors if not _is_lookup(fa)]
        if calls:  # C(), I(), log(), ...: formulaic evaluates them (categories and codings from distinct rows)
            text_all = "0 + " + " + ".join(fa.expr for fa in calls)
            try:
                with np.errstate(all="ignore"):
                    mm = model_matrix(_F(text_all, _ordering="none"), work.drop_duplicates(), ensure_full_rank=False,
                                      na_action="ignore", context=CONTEXT)
            except (FormulaicError, ValueError, TypeError, NameError) as exc:
                raise FormulaError(f"cannot evaluate formula {rhs!r}: {_clean(exc)}") from None
            spec_all = mm.model_spec
            enc.update({str(k): v for k, v in spec_all.encoder_state.items()})
            fvars.update({str(k): tuple(str(getattr(v, "name", v)) for v in vs if getattr(v, "source", "data") == "data")
                          for k, vs in spec_all.factor_variables.items()})
            struct.update({str(st.term): list(st.columns) for st in spec_all.structure})
        infos: dict[str, FactorInfo] = {}
        raw: dict[str, tuple] = {}
        by_expr: dict[str, str] = {}
        for fa in factors:
            kind, state = enc.get(fa.expr, (None, {}))
            dvars = tuple(sorted(fvars.get(fa.expr, ())))
            name = _display(fa)
            if str(kind).endswith("CATEGORICAL"):
                if len(dvars) != 1 or name not in dvars:
                    raise FormulaError(
                        f"categorical term {fa.expr!r} must be a column or C(column, ...) so that LS means "
                        "can set its levels; create the column in the data first"
                    )
                var = dvars[0]
                contrasts = getattr(state.get("contrasts"), "contrasts", None)
                cname = type(contrasts).__name__ if contrasts is not None else "TreatmentContrasts"
                if cname != "TreatmentContrasts":
                    raise FormulaError(
                        f"{fa.expr!r}: only treatment contrasts are supported (C(x) or C(x, Treatment(reference))), "
                        f"got {cname}"
                    )
                cats = list(state.get("categories", []))
                lab = [level_label(c) for c in cats]
                base = getattr(contrasts, "base", None)
                if base is not None and "UNSET" not in repr(base):
                    b = level_label(base)
                    if b not in lab:
                        raise FormulaError(f"{fa.expr!r}: reference {base!r} is not a level of {var!r} ({lab})")
                    order = [lab.index(b)] + [i for i in range(len(lab)) if lab[i] != b]
                else:
                    order = list(range(len(lab)))
                info = FactorInfo(name, fa.expr, "categorical", (var,), tuple(lab[i] for i in order))
                if var in raw and infos[var].levels != info.levels:
                    raise FormulaError(f"column {var!r} is coded twice with different levels in {rhs!r}")
                raw[var] = tuple(cats[i] for i in order)
            else:
                ncols = struct.get(fa.expr, [fa.expr])
                suffixes = ("",) if len(ncols) == 1 else tuple(
                    c[len(fa.expr):].strip("[]") for c in ncols)
                info = FactorInfo(name, fa.expr, "numeric", dvars, (), suffixes)
            if name in infos and infos[name].expr != fa.expr:
                if info.kind == "numeric" or infos[name].kind == "numeric":
                    raise FormulaError(f"{name!r} enters {rhs!r} both as categorical and numeric; use one")
            infos.setdefault(name, info)
            by_expr[fa.expr] = name
        flevels = {n: f.levels for n, f in infos.items() if f.kind == "categorical"}
        cat_vars = {f.variables[0] for f in infos.values() if f.kind == "categorical"}
        numeric_vars: list[str] = []
        for f in infos.values():
            if f.kind == "numeric":
                for v in f.variables:
                    if v in cat_vars:
                        raise FormulaError(
                            f"column {v!r} is categorical in {rhs!r} and also used numerically in {f.expr!r}; use one"
                        )
                    if v in converted:
                        raise FormulaError(
                            f"numeric term {f.expr!r} uses column {v!r}, which is categorical (dtype "
                            f"{data[v].dtype}{' or declared in levels' if v in levels else ''})"
                        )
                    if v not in numeric_vars:
                        numeric_vars.append(v)
        nterms = tuple(dict.fromkeys(tuple(dict.fromkeys(by_expr[fa.expr] for fa in t)) for t in ordered))
        numeric_spec = None
        nfac = [f for f in infos.values() if f.kind == "numeric" and f.expr not in work.columns]
        if nfac:  # numeric expressions keep formulaic's state (centring means, polynomial bases)
            nwork = work.loc[:, [v for v in numeric_vars]]
            ntext = "0 + " + " + ".join(f.expr for f in nfac)
            with np.errstate(all="ignore"):
                numeric_spec = model_matrix(_F(ntext, _ordering="none"), nwork, ensure_full_rank=False,
                                            na_action="ignore", context=CONTEXT).model_spec
        present = {frozenset(t) for t in nterms}
        if intercept:
            present.add(frozenset())
        coding, columns, term_of = [], ["(Intercept)"] if intercept else [], [-1] if intercept else []
        for ti, t in enumerate(nterms):
            full = tuple((f in flevels) and (frozenset(t) - {f}) not in present for f in t)
            coding.append(full)
            parts = []
            for f, fl in zip(t, full):
                if f in flevels:
                    lv = flevels[f] if fl else flevels[f][1:]
                    parts.append([f"{f}{x}" for x in lv])
                else:
                    parts.append([f"{f}{s}" for s in infos[f].suffixes])
            for combo in product(*reversed(parts)):  # first factor varies fastest
                columns.append(":".join(reversed(combo)))
                term_of.append(ti)
        return cls(text.strip(), intercept, nterms, flevels, tuple(numeric_vars), tuple(columns), tuple(term_of),
                   tuple(coding), infos, raw, numeric_spec)

    # -- evaluation -------------------------------------------------------------------------
    def _categorical_block(self, name: str, values: pd.Series) -> np.ndarray:
        lv = self.factor_levels[name]
        lab = _labels(values) if len(values) > 200 else np.array([level_label(x) for x in values], dtype=object)
        bad = sorted(set(lab) - set(lv))
        if bad:
            raise FormulaError(f"column {name!r} has value(s) {bad} not among its levels {list(lv)}")
        return np.stack([(lab == x).astype(float) for x in lv], axis=1)

    def _numeric_blocks(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        calls = []
        for name in self.numeric_factors:
            f = self.factors[name]
            if f.expr in self.numeric and f.variables == (f.expr,):  # a plain column
                out[name] = pd.to_numeric(data[f.expr]).to_numpy(dtype=float)[:, None]
            else:
                calls.append(name)
        if not calls:
            return out
        from formulaic.errors import FormulaicError

        cols = [v for v in self.numeric if v in data.columns]
        try:
            with np.errstate(all="ignore"):  # non-finite values are reported below, with the term
                mm = self._numeric_spec.get_model_matrix(data.loc[:, cols], context=CONTEXT)
        except (FormulaicError, ValueError, TypeError) as exc:
            raise FormulaError(f"cannot evaluate the numeric terms of {self.rhs!r}: {_clean(exc)}") from None
        M = np.asarray(mm, dtype=float)
        j = 0
        for name in calls:
            m = len(self.factors[name].suffixes)
            out[name] = M[:, j:j + m]
            j += m
        return out

    def _compose(self, blocks: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        cols = [np.ones((n, 1))] if self.intercept else []
        for t, full in zip(self.terms, self._coding):
            parts = []
            for f, fl in zip(t, full):
                m = blocks[f]
                parts.append(m if (fl or f not in self.factor_levels) else m[:, 1:])
            out = parts[0]
            for b in parts[1:]:
                out = (b[:, :, None] * out[:, None, :]).reshape(n, -1)  # first factor fastest
            cols.append(out)
        return np.concatenate(cols, axis=1) if cols else np.zeros((n, 0))

    def matrix(self, data: pd.DataFrame) -> np.ndarray:
        """Design matrix (n_rows x n_columns) for ``data`` with this formula's columns.

        Raises
        ------
        FormulaError
            Missing columns, missing or non-finite values in a used column (e.g. the
            log of 0), or unknown levels.
        """
        missing = [v for v in self.variables if v not in data.columns]
        if missing:
            raise FormulaError(
                f"column(s) {', '.join(missing)} not in the data; available columns: {', '.join(map(str, data.columns))}"
            )
        for v in self.variables:
            if data[v].isna().any():
                raise FormulaError(f"column {v!r} has {int(data[v].isna().sum())} missing value(s); drop those rows first")
        n = len(data)
        blocks = {name: self._categorical_block(name, data[f.variables[0]])
                  for name, f in self.factors.items() if f.kind == "categorical"}
        num = self._numeric_blocks(data)
        for name, m in num.items():
            if not np.all(np.isfinite(m)):
                raise FormulaError(f"term {self.factors[name].expr!r} has missing or non-finite values "
                                   f"({int((~np.isfinite(m)).any(axis=1).sum())} row(s))")
        blocks.update(num)
        return self._compose(blocks, n)

    def matrix_at(self, cells: pd.DataFrame, numeric: Mapping[str, float]) -> np.ndarray:
        """Design rows with categorical variables from ``cells`` and numeric *factors* set directly.

        Used for SAS-style Type III hypotheses, where numeric terms are set to 0 or 1
        (not computed from a variable). ``numeric`` maps each numeric factor name
        (``x``, ``log(x)``) to its value; multi-column factors get the value in every column.
        """
        n = len(cells)
        blocks = {name: self._categorical_block(name, cells[name])
                  for name, f in self.factors.items() if f.kind == "categorical"}
        for name in self.numeric_factors:
            m = len(self.factors[name].suffixes)
            blocks[name] = np.full((n, m), float(numeric[name]))
        return self._compose(blocks, n)


def design_matrix(
    formula: str, data: pd.DataFrame, levels: Mapping[str, Sequence] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Build the design matrix of a right-hand side with R's column names.

    Parameters
    ----------
    formula : str
        Right-hand side, e.g. ``"RACE + SEX + ARMCD * AVISIT"`` or ``"C(arm) + log(x)"``.
    data : pandas.DataFrame
        Data with every variable of the formula (not modified; no missing values in
        used columns).
    levels : mapping, optional
        Level order per categorical column (first = reference); otherwise
        Categorical order or sorted unique values.

    Returns
    -------
    X : numpy.ndarray
        ``(len(data), n_columns)`` float matrix.
    columns : list of str
        R ``model.matrix`` column names.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"SEX": ["Male", "Female"], "ARMCD": ["PBO", "TRT"], "AVISIT": ["VIS1", "VIS2"]})
    >>> X, cols = design_matrix("SEX + ARMCD * AVISIT", d, {"SEX": ["Male", "Female"]})
    >>> cols
    ['(Intercept)', 'SEXFemale', 'ARMCDTRT', 'AVISITVIS2', 'ARMCDTRT:AVISITVIS2']
    >>> X.tolist()
    [[1.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]]
    >>> design_matrix("0 + ARMCD", d)[1]
    ['ARMCDPBO', 'ARMCDTRT']
    """
    f = Formula.from_data(formula, data, levels)
    return f.matrix(data), list(f.columns)
