"""R-style right-hand-side formulas to design matrices, with R's column names.

Supported syntax: ``a + b``, interactions ``a:b``, crossing ``a * b`` (expands
to ``a + b + a:b``), intercept control ``0 +``, ``+ 0``, ``- 1`` and ``1 +``.
Columns are numeric or categorical. A column is categorical when its dtype is
object/string/category/bool or when ``levels`` names it. Level order is taken
from ``levels`` (first = reference), else the categories of a pandas
Categorical, else the sorted unique values. Factors use treatment contrasts,
and R's rule decides when a factor inside a term gets full indicator coding
(when the term without that factor is not in the model, e.g. ``0 + ARMCD``).

Column names follow ``model.matrix`` exactly: ``(Intercept)``, ``SEXFemale``,
``RACEBlack or African American``, ``ARMCDTRT:AVISITVIS2``, ``FEV1_BL``. Terms
are ordered like R: by interaction order, then by their position in the formula.

Function calls (``log(x)``, ``I(x^2)``), ``/`` and ``%in%`` are not supported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations, product

import numpy as np
import pandas as pd

__all__ = ["FormulaError", "Formula", "parse_formula", "design_matrix", "level_label"]


class FormulaError(ValueError):
    """A formula cannot be parsed or does not match the data."""


_NAME = re.compile(r"^[A-Za-z._][A-Za-z0-9._]*$|^`[^`]+`$")


def _split_plus_minus(rhs: str) -> list[tuple[str, str]]:
    out, sign, buf, depth = [], "+", "", 0
    for ch in rhs:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch in "+-" and depth == 0:
            if buf.strip():
                out.append((sign, buf.strip()))
            elif ch == "-" and sign == "+" and not out:
                pass
            sign, buf = ch, ""
        else:
            buf += ch
    if buf.strip():
        out.append((sign, buf.strip()))
    return out


def _expand(chunk: str) -> list[tuple[str, ...]]:
    """Expand ``a*b:c`` into its terms (each a tuple of variable names)."""
    factors = [f.strip() for f in chunk.split("*")]
    blocks = []
    for f in factors:
        names = tuple(n.strip().strip("`") for n in f.split(":"))
        for n in f.split(":"):
            if not _NAME.match(n.strip()):
                raise FormulaError(
                    f"cannot parse {n.strip()!r} in formula term {chunk!r}: only column names, ':', '*', "
                    "'+', '0', '1' and '- 1' are supported (no function calls such as log() or I())"
                )
        blocks.append(names)
    terms: list[tuple[str, ...]] = []
    for r in range(1, len(blocks) + 1):
        for combo in combinations(blocks, r):
            merged: list[str] = []
            for b in combo:
                for n in b:
                    if n not in merged:
                        merged.append(n)
            terms.append(tuple(merged))
    return terms


def parse_formula(rhs: str) -> tuple[bool, list[tuple[str, ...]]]:
    """Parse a right-hand side into ``(has_intercept, terms)``.

    Terms come in R's order (by interaction order, then formula position).

    Examples
    --------
    >>> parse_formula("RACE + SEX + ARMCD * AVISIT")
    (True, [('RACE',), ('SEX',), ('ARMCD',), ('AVISIT',), ('ARMCD', 'AVISIT')])
    >>> parse_formula("0 + ARMCD:AVISIT")
    (False, [('ARMCD', 'AVISIT')])
    """
    if "~" in rhs:
        rhs = rhs.split("~", 1)[1]
    if "|" in rhs:
        raise FormulaError(f"random-effect bars are not part of a fixed-effects formula: {rhs!r}")
    intercept = True
    terms: list[tuple[str, ...]] = []
    removed: list[frozenset[str]] = []
    for sign, chunk in _split_plus_minus(rhs):
        if chunk in ("0", "1", "-1"):
            if chunk == "0" or sign == "-" or chunk == "-1":
                intercept = False
            else:
                intercept = True
            continue
        for t in _expand(chunk):
            key = frozenset(t)
            if sign == "-":
                removed.append(key)
            elif key not in {frozenset(x) for x in terms}:
                terms.append(t)
    terms = [t for t in terms if frozenset(t) not in removed]
    order = sorted(range(len(terms)), key=lambda i: (len(terms[i]), i))
    return intercept, [terms[i] for i in order]


def _is_categorical(series: pd.Series, col: str, levels: Mapping) -> bool:
    if col in levels:
        return True
    dt = series.dtype
    return bool(
        isinstance(dt, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dt)
        or pd.api.types.is_object_dtype(dt)
        or pd.api.types.is_string_dtype(dt)
    )


def level_label(v: object) -> str:
    """Text label of a factor level as R prints it: ``True -> "TRUE"``, ``7.0 -> "7"``.

    Examples
    --------
    >>> level_label(7.0), level_label(True), level_label("VIS1")
    ('7', 'TRUE', 'VIS1')
    """
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


@dataclass(frozen=True)
class Formula:
    """A parsed formula bound to variable types and factor levels.

    Build it with :meth:`Formula.from_data`; then :meth:`matrix` gives the
    design matrix for the fitting data or for any new data (e.g. an LS-means
    reference grid) with the same columns.

    Attributes
    ----------
    rhs : str
        The right-hand side as written.
    intercept : bool
    terms : tuple of tuple of str
        Terms in R order.
    factor_levels : mapping
        Level labels (str) per categorical variable, reference first.
    numeric : tuple of str
        Numeric variables.
    columns : tuple of str
        Design-matrix column names, R style.
    term_of_column : tuple of int
        Index into ``terms`` per column (-1 for the intercept).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"arm": ["PBO", "TRT", "TRT"], "v": ["V1", "V2", "V1"], "x": [1.0, 2.0, 3.0]})
    >>> f = Formula.from_data("arm * v + x", d)
    >>> list(f.columns)
    ['(Intercept)', 'armTRT', 'vV2', 'x', 'armTRT:vV2']
    >>> f.matrix(d)[:, 4].tolist()
    [0.0, 1.0, 0.0]
    """

    rhs: str
    intercept: bool
    terms: tuple[tuple[str, ...], ...]
    factor_levels: Mapping[str, tuple[str, ...]]
    numeric: tuple[str, ...]
    columns: tuple[str, ...]
    term_of_column: tuple[int, ...]
    _coding: tuple[tuple[bool, ...], ...]  # per term, per variable: True = full indicator coding

    @property
    def variables(self) -> tuple[str, ...]:
        """Every data column the formula uses, in first-use order."""
        seen: list[str] = []
        for t in self.terms:
            for v in t:
                if v not in seen:
                    seen.append(v)
        return tuple(seen)

    @classmethod
    def from_data(cls, rhs: str, data: pd.DataFrame, levels: Mapping[str, Sequence] | None = None) -> "Formula":
        """Parse ``rhs`` and bind variable types and levels from ``data``.

        Parameters
        ----------
        rhs : str
            Right-hand side in R syntax (a leading ``y ~`` is ignored).
        data : pandas.DataFrame
            Data holding every variable (not modified).
        levels : mapping, optional
            Level order per categorical column; the first is the reference.

        Raises
        ------
        FormulaError
            Unknown syntax, a column missing from ``data`` (the message lists
            the available columns), or data values outside ``levels``.
        """
        levels = dict(levels or {})
        intercept, terms = parse_formula(rhs)
        used = [v for t in terms for v in t]
        missing = sorted({v for v in used if v not in data.columns})
        if missing:
            raise FormulaError(
                f"formula {rhs!r} uses column(s) {', '.join(missing)} not in the data; "
                f"available columns: {', '.join(map(str, data.columns))}"
            )
        flevels: dict[str, tuple[str, ...]] = {}
        numeric: list[str] = []
        for v in dict.fromkeys(used):
            s = data[v]
            if _is_categorical(s, v, levels):
                if v in levels:
                    lv = tuple(level_label(x) for x in levels[v])
                elif isinstance(s.dtype, pd.CategoricalDtype):
                    lv = tuple(level_label(x) for x in s.cat.categories)
                else:
                    lv = tuple(level_label(x) for x in sorted(pd.unique(s.dropna())))
                obs = {level_label(x) for x in pd.unique(s.dropna())}
                extra = sorted(obs - set(lv))
                if extra:
                    raise FormulaError(f"column {v!r} has value(s) {extra} not among its levels {list(lv)}")
                flevels[v] = lv
            else:
                if not pd.api.types.is_numeric_dtype(s.dtype):
                    raise FormulaError(f"column {v!r} is neither numeric nor categorical (dtype {s.dtype})")
                numeric.append(v)
        # R's coding rule (TermCode): a factor in a term gets contrasts if the term
        # without it is in the model (the empty term = the intercept), else full coding.
        present = {frozenset(t) for t in terms}
        if intercept:
            present.add(frozenset())
        coding, columns, term_of = [], ["(Intercept)"] if intercept else [], [-1] if intercept else []
        for ti, t in enumerate(terms):
            full = tuple((v in flevels) and (frozenset(t) - {v}) not in present for v in t)
            coding.append(full)
            parts = []
            for v, f in zip(t, full):
                if v in flevels:
                    lv = flevels[v] if f else flevels[v][1:]
                    parts.append([f"{v}{x}" for x in lv])
                else:
                    parts.append([v])
            # first variable varies fastest
            for combo in product(*reversed(parts)):
                columns.append(":".join(reversed(combo)))
                term_of.append(ti)
        return cls(rhs, intercept, tuple(terms), flevels, tuple(numeric), tuple(columns), tuple(term_of), tuple(coding))

    def matrix(self, data: pd.DataFrame) -> np.ndarray:
        """Design matrix (n_rows x n_columns) for ``data`` with this formula's columns.

        Raises
        ------
        FormulaError
            Missing columns, missing values in a used column, or unknown levels.
        """
        missing = [v for v in self.variables if v not in data.columns]
        if missing:
            raise FormulaError(
                f"column(s) {', '.join(missing)} not in the data; available columns: {', '.join(map(str, data.columns))}"
            )
        n = len(data)
        cache: dict[str, np.ndarray] = {}
        for v in self.variables:
            s = data[v]
            if s.isna().any():
                raise FormulaError(f"column {v!r} has {int(s.isna().sum())} missing value(s); drop those rows first")
            if v in self.factor_levels:
                lab = np.array([level_label(x) for x in s.to_numpy()], dtype=object)
                lv = self.factor_levels[v]
                bad = sorted(set(lab) - set(lv))
                if bad:
                    raise FormulaError(f"column {v!r} has value(s) {bad} not among its levels {list(lv)}")
                cache[v] = np.stack([(lab == x).astype(float) for x in lv], axis=1)
            else:
                cache[v] = s.to_numpy(dtype=float)[:, None]
        cols = [np.ones((n, 1))] if self.intercept else []
        for t, full in zip(self.terms, self._coding):
            blocks = []
            for v, f in zip(t, full):
                m = cache[v]
                blocks.append(m if (f or v not in self.factor_levels) else m[:, 1:])
            out = blocks[0]
            for b in blocks[1:]:
                out = (b[:, :, None] * out[:, None, :]).reshape(n, -1)  # first variable fastest
            cols.append(out)
        return np.concatenate(cols, axis=1) if cols else np.zeros((n, 0))


def design_matrix(
    formula: str, data: pd.DataFrame, levels: Mapping[str, Sequence] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Build the design matrix of an R-style right-hand side.

    Parameters
    ----------
    formula : str
        R-style right-hand side, e.g. ``"RACE + SEX + ARMCD * AVISIT"``.
    data : pandas.DataFrame
        Data with every variable of the formula (not modified; no missing values
        in used columns).
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
