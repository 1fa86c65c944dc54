"""Whole model formulas: ``outcome ~ fixed effects + covariance or random-effects terms``.

The fixed-effects part goes to formulaic (:mod:`longmod.spec.formula`); this module
splits off, at the top level of the right-hand side, the terms formulaic does not know:

* **covariance terms**, as in R's mmrm: ``us(AVISIT | USUBJID)``, ``cs(...)``,
  ``csh``, ``ar1``, ``ar1h``, ``toep``, ``toeph``, ``ad``, ``adh``, ``ind`` over the levels of a
  visit column, and ``sp_exp(day | id)`` (spatial exponential in the distance of a
  numeric time column);
* **random-effect bars**, as in lme4: ``(1 | id)`` (structure ``ri``),
  ``(1 + t | id)`` or ``(t | id)`` (``ris``), ``(1 | id) + (0 + t | id)`` or
  ``(1 + t || id)`` (``ris_diag``: uncorrelated intercept and slope), with ``t`` one
  numeric column.

Anything else (two grouping factors, nested ``a/b`` groups, a random slope without
intercept, a covariance term beside random effects, grouped covariances
``us(v | g / id)``, several coordinates ``sp_exp(x, y | id)``) is refused with a
message naming what the native core fits.

Examples
--------
>>> m = parse_model_formula("FEV1 ~ RACE + ARMCD * AVISIT + us(AVISIT | USUBJID)")
>>> m.outcome, m.fixed, m.covariance, m.visit, m.subject
('FEV1', 'RACE + ARMCD * AVISIT', 'us', 'AVISIT', 'USUBJID')
>>> m = parse_model_formula("Reaction ~ Days + (1 + Days | Subject)")
>>> m.covariance, m.time, m.subject, m.fixed
('ris', 'Days', 'Subject', 'Days')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from longmod.spec.terms import FormulaError, _parse_terms

__all__ = ["ModelFormula", "parse_model_formula", "VISIT_STRUCTURES", "TIME_STRUCTURES", "RANDOM_STRUCTURES"]

#: covariance terms over the levels of a visit column (mmrm syntax ``name(visit | subject)``)
VISIT_STRUCTURES = ("us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh", "ind")
#: covariance terms over a numeric time column (``sp_exp(time | subject)``)
TIME_STRUCTURES = ("sp_exp",)
#: random-effects structures written with lme4 bars
RANDOM_STRUCTURES = ("ri", "ris", "ris_diag")

_NAME = r"(?:`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)"
_CALL = re.compile(rf"^({_NAME})\s*\((.*)\)$", re.S)
_WHAT_WE_FIT = (
    "the native core fits the random effects (1 | g), (1 + t | g), (1 | g) + (0 + t | g) or (1 + t || g) "
    "with one numeric t and one grouping column g, or one covariance term "
    f"{', '.join(s + '(visit | subject)' for s in VISIT_STRUCTURES[:3])}, ... "
    f"({', '.join(VISIT_STRUCTURES)}) or sp_exp(time | subject)"
)


@dataclass(frozen=True)
class ModelFormula:
    """A whole model formula, split.

    Attributes
    ----------
    text : str
        The formula as written.
    outcome : str or None
        Left-hand side (a column name).
    fixed : str
        Fixed-effects right-hand side (formulaic syntax; ``"1"`` when empty).
    covariance : str or None
        Structure name from the covariance or random-effects terms (None: none given).
    subject, visit, time : str or None
        Grouping column, visit column (covariance over visits) and numeric time column
        (random slope, spatial distance).
    """

    text: str
    outcome: str | None
    fixed: str
    covariance: str | None = None
    subject: str | None = None
    visit: str | None = None
    time: str | None = None


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1] if name.startswith("`") and name.endswith("`") else name


def _split_top(text: str, seps: str) -> list[tuple[str, str]]:
    """Split at top-level separators (outside (), [], {}, quotes, backticks): [(sep before, chunk)]."""
    out, buf, depth, quote, sep = [], "", 0, None, ""
    for ch in text:
        if quote:
            buf += ch
            if ch == quote:
                quote = None
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if depth == 0 and ch in seps:
            out.append((sep, buf))
            sep, buf = ch, ""
            continue
        buf += ch
    out.append((sep, buf))
    return out


def _has_top(text: str, ch: str) -> bool:
    return len(_split_top(text, ch)) > 1


def _strip_parens(chunk: str) -> str | None:
    """Inner text of a chunk that is one parenthesised group, else None."""
    c = chunk.strip()
    if not (c.startswith("(") and c.endswith(")")):
        return None
    return c[1:-1] if _balanced(c[1:-1]) else None


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def _bar(inner: str, where: str) -> tuple[str, str, bool]:
    """``lhs | group`` or ``lhs || group`` -> (lhs, group, double)."""
    double = "||" in inner
    parts = [p for _, p in _split_top(inner.replace("||", "|"), "|")]
    if len(parts) != 2:
        raise FormulaError(f"cannot read {where!r}: expected one '|' between the terms and the grouping column")
    lhs, group = parts[0].strip(), parts[1].strip()
    if not re.fullmatch(_NAME, group):
        raise FormulaError(
            f"grouping {group!r} in {where!r} must be one column (nested or crossed groups are not supported); "
            + _WHAT_WE_FIT
        )
    return lhs, _unquote(group), double


def _random_lhs(lhs: str, where: str) -> tuple[bool, list[str]]:
    terms, intercept = _parse_terms(lhs)
    slopes = []
    for t in terms:
        if len(t.factors) != 1 or not str(t.factors[0].eval_method).endswith("LOOKUP"):
            raise FormulaError(f"random term {str(t)!r} in {where!r}: only a numeric column may vary by group; "
                               + _WHAT_WE_FIT)
        slopes.append(t.factors[0].expr)
    return intercept, slopes


def _random_structure(bars: list[tuple[str, str]]) -> tuple[str, str, str | None]:
    """(structure, subject, time) from the random-effect bars."""
    groups, parts = set(), []
    for chunk, inner in bars:
        lhs, group, double = _bar(inner, chunk)
        groups.add(group)
        intercept, slopes = _random_lhs(lhs, chunk)
        if double:
            if not (intercept and len(slopes) == 1):
                raise FormulaError(f"{chunk!r}: '||' is supported as (1 + t || g); " + _WHAT_WE_FIT)
            parts += [("intercept", None, chunk), ("slope", slopes[0], chunk)]
            continue
        if intercept and not slopes:
            parts.append(("intercept", None, chunk))
        elif intercept and len(slopes) == 1:
            parts.append(("correlated", slopes[0], chunk))
        elif not intercept and len(slopes) == 1:
            parts.append(("slope", slopes[0], chunk))
        else:
            raise FormulaError(f"{chunk!r}: {len(slopes)} random slopes; " + _WHAT_WE_FIT)
    if len(groups) > 1:
        raise FormulaError(f"random effects by {sorted(groups)}: one grouping column only; " + _WHAT_WE_FIT)
    kinds = sorted(k for k, _, _ in parts)
    time = next((t for _, t, _ in parts if t), None)
    subject = groups.pop()
    if kinds == ["intercept"]:
        return "ri", subject, None
    if kinds == ["correlated"]:
        return "ris", subject, time
    if kinds == ["intercept", "slope"]:
        return "ris_diag", subject, time
    raise FormulaError(f"random effects {' + '.join(c for _, _, c in parts)} are not in the core's table; "
                       + _WHAT_WE_FIT)


def _covariance_term(name: str, inner: str, chunk: str) -> tuple[str, str, str]:
    """(structure, index column, subject) of ``name(index | subject)``."""
    lhs, subject, double = _bar(inner, chunk)
    if double:
        raise FormulaError(f"{chunk!r}: covariance terms take one '|'")
    if _has_top(subject, "/") or "/" in lhs:
        raise FormulaError(f"{chunk!r}: grouped covariance structures are not supported; " + _WHAT_WE_FIT)
    idx = [p.strip() for _, p in _split_top(lhs, ",")]
    if len(idx) != 1 or not re.fullmatch(_NAME, idx[0]):
        raise FormulaError(f"{chunk!r}: the index must be one column (got {lhs!r}); several coordinates are not supported")
    return name, _unquote(idx[0]), subject


def parse_model_formula(text: str) -> ModelFormula:
    """Split ``outcome ~ fixed + covariance/random terms`` (see the module docstring).

    Parameters
    ----------
    text : str
        A formula; the outcome may be omitted (``"~ arm + (1 | id)"``).

    Returns
    -------
    ModelFormula

    Raises
    ------
    FormulaError
        Syntax errors and terms the native core cannot fit (the message says what it can).

    Examples
    --------
    >>> parse_model_formula("y ~ arm * visit + sp_exp(day | id)").time
    'day'
    >>> parse_model_formula("y ~ x + (1 | id) + (0 + t | id)").covariance
    'ris_diag'
    >>> parse_model_formula("y ~ x + (1 | site/id)")
    Traceback (most recent call last):
    ...
    longmod.spec.formula.FormulaError: grouping 'site/id' in '(1 | site/id)' must be one column (nested or crossed groups are not supported); the native core fits the random effects (1 | g), (1 + t | g), (1 | g) + (0 + t | g) or (1 + t || g) with one numeric t and one grouping column g, or one covariance term us(visit | subject), cs(visit | subject), csh(visit | subject), ... (us, cs, csh, ar1, ar1h, toep, toeph, ad, adh, ind) or sp_exp(time | subject)
    """
    sides = _split_top(text, "~")
    if len(sides) > 2:
        raise FormulaError(f"formula {text!r} has more than one '~'")
    outcome = None
    if len(sides) == 2:
        lhs = sides[0][1].strip()
        if lhs:
            if not re.fullmatch(_NAME, lhs):
                raise FormulaError(f"outcome {lhs!r} must be one column; transform it in the data first")
            outcome = _unquote(lhs)
    rhs = sides[-1][1]
    fixed: list[tuple[str, str]] = []
    bars: list[tuple[str, str]] = []
    cov: list[tuple[str, str, str]] = []
    for sign, chunk in _split_top(rhs, "+-"):
        c = chunk.strip()
        if not c:
            if sign == "-" or not fixed:  # a leading '-' ("-1 + x") or nothing yet
                fixed.append((sign, c))
                continue
            raise FormulaError(f"cannot parse {text!r}: empty term")
        inner = _strip_parens(c)
        call = _CALL.match(c)
        special = None
        if inner is not None and _has_top(inner, "|"):
            special = "bar"
        elif call and _unquote(call.group(1)) in VISIT_STRUCTURES + TIME_STRUCTURES + RANDOM_STRUCTURES \
                and _has_top(call.group(2), "|"):
            special = "cov"
        elif "|" in c.replace("||", "|") and "|" in _strip_strings(c):
            raise FormulaError(
                f"term {c!r} of {text!r}: random-effect and covariance terms must be added with '+' at the top "
                "level, e.g. 'y ~ x + (1 | id)' or 'y ~ x + us(visit | id)'"
            )
        if special and sign == "-":
            raise FormulaError(f"term {c!r} of {text!r} cannot be removed with '-'")
        if special == "bar":
            bars.append((c, inner))
        elif special == "cov":
            name = _unquote(call.group(1))
            if name in RANDOM_STRUCTURES:
                raise FormulaError(f"{c!r}: write random effects with lme4 bars, e.g. (1 + t | id); " + _WHAT_WE_FIT)
            cov.append(_covariance_term(name, call.group(2), c))
        else:
            fixed.append((sign, c))
    if bars and cov:
        raise FormulaError(f"{text!r} has both random effects and a covariance term; " + _WHAT_WE_FIT)
    if len(cov) > 1:
        raise FormulaError(f"{text!r} has {len(cov)} covariance terms; give one")
    out = "".join((f" {s} " if i else (s + " " if s == "-" else "")) + c for i, (s, c) in enumerate(fixed)).strip()
    out = re.sub(r"^\s*-\s+", "-", out) or "1"
    if out.startswith("-") and not out[1:].strip():
        out = "1"
    structure = subject = visit = time = None
    if bars:
        structure, subject, time = _random_structure(bars)
    elif cov:
        structure, index, subject = cov[0]
        if structure in TIME_STRUCTURES:
            time = index
        else:
            visit = index
    _parse_terms(out)  # syntax of the fixed part, checked now
    return ModelFormula(text, outcome, out, structure, subject, visit, time)


def _strip_strings(text: str) -> str:
    return re.sub(r"\"[^\"]*\"|'[^']*'", "", text)
