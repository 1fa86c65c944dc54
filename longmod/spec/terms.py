"""Parsing half of the formula front end: formulaic parses, longmod orders terms as R does.

:func:`parse_formula` and :func:`formula_variables` read a right-hand side without data;
:mod:`longmod.spec.formula` binds it to data (:class:`~longmod.spec.formula.Formula`).
"""


from __future__ import annotations

import builtins
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FormulaError", "parse_formula", "formula_variables", "level_label", "CONTEXT"]


class FormulaError(ValueError):
    """A formula cannot be parsed or does not match the data."""


FormulaError.__module__ = "longmod.spec.formula"  # its public home


#: names a formula may call besides formulaic's transforms (``log``, ``exp``, ``C``, ``I``, ...)
CONTEXT: dict[str, Any] = {"sqrt": np.sqrt, "abs": np.abs}

_ANSI = re.compile(r"\x1b\[[0-9;]*m|[⧛⧚]")
_C_CALL = re.compile(r"^C\(\s*(`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)\s*[,)]")


def level_label(v: object) -> str:
    """Text label of a factor level as R prints it: ``True -> "TRUE"``, ``7.0 -> "7"``.

    Examples
    --------
    >>> level_label(7.0), level_label(True), level_label("VIS1")
    ('7', 'TRUE', 'VIS1')
    """
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _clean(msg: str) -> str:
    return _ANSI.sub("", str(msg)).strip()


def _parse_terms(rhs: str):
    """formulaic terms (written order) and the intercept flag of a right-hand side."""
    from formulaic import Formula as _F
    from formulaic.errors import FormulaicError

    if "|" in re.sub(r"\"[^\"]*\"|'[^']*'", "", rhs):
        raise FormulaError(
            f"random-effect bars and covariance terms are not part of a fixed-effects formula: {rhs!r}; "
            "write the whole model formula (longmod.mmrm / longmod.lmm, or ModelSpec(formula=...))"
        )
    try:
        parsed = _F(rhs, _ordering="none")
    except (FormulaicError, SyntaxError, ValueError) as exc:
        raise FormulaError(f"cannot parse formula {rhs!r}: {_clean(exc)}") from None
    if hasattr(parsed, "rhs"):  # "y ~ x": keep the right-hand side
        parsed = parsed.rhs
    terms = list(parsed)
    intercept = any(len(t.factors) == 1 and t.factors[0].expr == "1" for t in terms)
    terms = [t for t in terms if not (len(t.factors) == 1 and t.factors[0].expr in ("1", "0"))]
    for t in terms:
        for fa in t.factors:
            if str(fa.eval_method).endswith("LITERAL"):
                raise FormulaError(f"literal {fa.expr!r} in term {str(t)!r} of {rhs!r}: only 0 and 1 may stand alone")
    return terms, intercept


def _display(factor) -> str:
    """Name used in column names and term labels: the column for ``x`` and ``C(x, ...)``."""
    if str(factor.eval_method).endswith("LOOKUP"):
        return factor.expr
    m = _C_CALL.match(factor.expr)
    return m.group(1).strip("`") if m else factor.expr


def _ordered_terms(terms) -> tuple[list[tuple], list]:
    """R order: terms by interaction order then position; factors by first appearance."""
    first: dict[str, int] = {}
    for t in terms:
        for fa in t.factors:
            first.setdefault(fa.expr, len(first))
    seen, out = set(), []
    for t in terms:
        key = tuple(sorted(first[fa.expr] for fa in t.factors))
        if key in seen:
            continue
        seen.add(key)
        out.append(tuple(sorted(t.factors, key=lambda fa: first[fa.expr])))
    order = sorted(range(len(out)), key=lambda i: (len(out[i]), i))
    factors = sorted({fa.expr: fa for t in terms for fa in t.factors}.values(), key=lambda fa: first[fa.expr])
    return [out[i] for i in order], factors


def parse_formula(rhs: str) -> tuple[bool, list[tuple[str, ...]]]:
    """Parse a right-hand side into ``(has_intercept, terms)`` (formulaic does the parsing).

    Terms come in R's order (by interaction order, then formula position); each is a
    tuple of factor names (a column for ``x`` and ``C(x, ...)``, else the expression).

    Examples
    --------
    >>> parse_formula("RACE + SEX + ARMCD * AVISIT")
    (True, [('RACE',), ('SEX',), ('ARMCD',), ('AVISIT',), ('ARMCD', 'AVISIT')])
    >>> parse_formula("0 + C(ARMCD):AVISIT + log(x)")
    (False, [('log(x)',), ('ARMCD', 'AVISIT')])
    """
    if "~" in rhs:
        rhs = rhs.split("~", 1)[1]
    terms, intercept = _parse_terms(rhs)
    ordered, _ = _ordered_terms(terms)
    return intercept, [tuple(_display(fa) for fa in t) for t in ordered]


def _expr_names(factor) -> set[str]:
    """Names a factor reads (not the functions it calls): its column(s)."""
    if str(factor.eval_method).endswith("LOOKUP"):
        return {factor.expr}
    import ast

    try:
        tree = ast.parse(factor.expr, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"cannot parse term {factor.expr!r}: {exc.msg}") from None
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    called |= {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}  # np.log
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}
    keywords = {"True", "False", "None"}
    return names - keywords


def formula_variables(rhs: str, columns: Sequence[str]) -> list[str]:
    """Data columns a right-hand side reads (parsed, not evaluated), in ``columns`` order.

    Raises
    ------
    FormulaError
        Syntax errors, or names that are neither columns nor known functions (the
        message lists the available columns).

    Examples
    --------
    >>> formula_variables("C(arm) * visit + log(bl)", ["id", "visit", "arm", "bl", "y"])
    ['visit', 'arm', 'bl']
    """
    from formulaic.transforms import TRANSFORMS

    text = rhs.split("~", 1)[1] if "~" in rhs else rhs
    terms, _ = _parse_terms(text)
    if not terms:
        return []
    required: set[str] = set()
    for t in terms:
        for fa in t.factors:
            required |= _expr_names(fa)
    known = set(TRANSFORMS) | set(CONTEXT) | set(dir(builtins))
    missing = sorted(v for v in required if v not in columns and v not in known)
    if missing:
        raise FormulaError(
            f"formula {rhs!r} uses column(s) {', '.join(missing)} not in the data; "
            f"available columns: {', '.join(map(str, columns))}"
        )
    return [c for c in columns if c in required]


def _is_lookup(factor) -> bool:
    return str(factor.eval_method).endswith("LOOKUP")


def _quote(factor) -> str:
    if str(factor.eval_method).endswith("LOOKUP"):
        return f"`{factor.expr}`"
    return factor.expr


def _is_categorical_dtype(s: pd.Series) -> bool:
    dt = s.dtype
    return bool(isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dt)
                or pd.api.types.is_object_dtype(dt) or pd.api.types.is_string_dtype(dt))


def _default_levels(s: pd.Series) -> list[str]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [level_label(x) for x in s.cat.categories]
    vals = pd.unique(s.dropna())
    try:
        vals = sorted(vals)
    except TypeError:  # mixed types: sort their labels
        vals = sorted(vals, key=level_label)
    return list(dict.fromkeys(level_label(x) for x in vals))


def _labels(s: pd.Series) -> np.ndarray:
    """Level labels of a column's values (object array; NaN stays NaN), fast on many rows."""
    codes, uniq = pd.factorize(s, use_na_sentinel=True)
    lab = np.array([level_label(u) for u in uniq] + [np.nan], dtype=object)
    return lab[codes]


def _as_labels(s: pd.Series, var: str, lv: Sequence[str]) -> pd.Categorical:
    lab = _labels(s)
    bad = sorted(set(lab[pd.notna(lab)]) - set(lv))
    if bad:
        raise FormulaError(f"column {var!r} has value(s) {bad} not among its levels {list(lv)}")
    return pd.Categorical(lab, categories=list(lv))
