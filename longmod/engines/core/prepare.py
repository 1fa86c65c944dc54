"""The design front end shared by every engine: rows, visit order, design, contrasts.

Every engine (native, statsmodels, lme4; the Bayesian engine may use it too) goes
through :func:`prepare`, so the rows used, the visit order, the design columns, the
per-visit treatment contrast and the provenance hash are identical across engines.

Rules (documented in the user guide, checked here):

* **Rows**: rows with a missing outcome, subject, visit, time or formula variable are
  dropped; the count (per column) is kept in :attr:`Prepared.n_dropped` /
  :attr:`Prepared.warnings` and reaches every result table.
* **Visit order** (when ``spec.visit`` is set): ``spec.levels[visit]`` if given (and
  it must agree with ``time``), else the order of ``time`` (each visit's median
  time; ``D14`` after ``D2``), else the categories of a pandas Categorical, else numeric
  order for a numeric visit column. Text labels with none of these give no order:
  an order-dependent covariance (``ar1``, ``ar1h``, ``toep``, ``toeph``, ``ad``, ``adh``)
  is then an error that says how to give one; order-free structures (``us``, ``cs``,
  ``csh``, ``ind``) and random effects use a natural sort of the labels (``D2`` before
  ``D14``), recorded in :attr:`Prepared.visit_order`.
* **Number-coded factors**: the treatment variable and the visit variable must be
  categorical wherever they appear in the fixed effects (text, bool, Categorical,
  ``C(x)`` or ``levels``); a numeric treatment or visit would be fitted as a slope, so it
  is an error that says how to declare it (``C(visit)`` or ``levels=``). A text visit
  column enters the formula with its levels in time order (first = reference). Other
  numeric columns are covariates (slopes).
* **Per-visit contrast** (:func:`effect_grid`): emmeans-style estimated marginal means
  of active and reference at each visit, with equal weights over the levels of every
  other factor and numeric covariates at their mean over the fitted rows (a numeric
  ``time`` in the formula takes the visit's mean time); the contrast is active minus
  reference.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import longmod
from longmod.engines.core.lsmeans import lsmeans_matrix
from longmod.results.schema import effects_frame, t_interval
from longmod.spec.formula import Formula, FormulaError, formula_variables, level_label
from longmod.spec.model import ModelSpec, SpecError


@dataclass(frozen=True)
class Prepared:
    """Model-ready data (a private copy; the caller's frame is never modified).

    Attributes
    ----------
    frame : pandas.DataFrame
        Rows used, sorted by subject then visit/time, with ``__pos`` (visit index, or time).
    formula : Formula
    X : numpy.ndarray
        Design matrix, non-aliased columns only.
    columns, all_columns : tuple of str
        Kept columns; every column (aliased ones get NaN parameters).
    y : numpy.ndarray
    subject : numpy.ndarray
        Integer subject codes.
    n_dropped : int
        Rows dropped for missing values.
    data_sha256 : str
    visit_levels : tuple of str or None
        Visit labels in time order.
    visit_order : str or None
        How the visit order was known (``"levels"``, ``"time"``, ``"categorical"``,
        ``"numeric"``, ``"natural sort of labels (order-free covariance)"``).
    visit_n_obs : mapping
        Observations per visit label.
    dropped_by_column : mapping
        Missing values per column among the dropped rows.
    warnings : tuple of str
        Messages every result must carry (dropped rows).

    Examples
    --------
    >>> from longmod.spec import ModelSpec
    >>> d = pd.DataFrame({"id": [1, 1, 2, 2], "v": ["D2", "D7"] * 2, "arm": ["a", "a", "b", "b"], "y": [1.0, 2, 2, 4]})
    >>> prepare(ModelSpec(name="m", outcome="y", fixed="arm * v", subject="id", visit="v"), d).columns  # kept
    ('(Intercept)', 'armb', 'vD7', 'armb:vD7')
    """

    frame: pd.DataFrame
    formula: Formula
    X: np.ndarray
    columns: tuple[str, ...]
    all_columns: tuple[str, ...]
    y: np.ndarray
    subject: np.ndarray
    n_dropped: int
    data_sha256: str
    visit_levels: tuple[str, ...] | None
    visit_order: str | None = None
    visit_n_obs: Mapping[str, int] = field(default_factory=dict)
    dropped_by_column: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def data_sha256(frame: pd.DataFrame) -> str:
    """sha256 of a data frame's values, index and column names (provenance).

    Examples
    --------
    Row order is part of the data's identity; a copy is not a change:

    >>> d = pd.DataFrame({"id": [1, 2], "y": [1.0, 2.0]})
    >>> data_sha256(d) == data_sha256(d.copy()), data_sha256(d) == data_sha256(d.iloc[::-1])
    (True, False)
    """
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()


def day_of_level(label: str, position: int) -> float:
    """Visit label -> day: the last number in the label, else the 1-based position.

    Examples
    --------
    >>> day_of_level("VIS2", 0), day_of_level("D14", 3), day_of_level("baseline", 0)
    (2.0, 14.0, 1.0)
    """
    m = re.search(r"(-?\d+(?:\.\d+)?)\s*$", str(label))
    return float(m.group(1)) if m else float(position + 1)


def natural_key(label: str) -> tuple:
    """Sort key comparing the numbers inside labels as numbers (``D2`` before ``D14``).

    Examples
    --------
    >>> sorted(["D14", "D2", "D1", "baseline"], key=natural_key)
    ['D1', 'D2', 'D14', 'baseline']
    """
    parts = re.split(r"(-?\d+(?:\.\d+)?)", str(label))
    return tuple((0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts) if p != "")


def _independent_columns(X: np.ndarray, tol: float = 1e-9) -> list[int]:
    """Greedy left-to-right rank detection (R's lm keeps the first of aliased columns)."""
    keep: list[int] = []
    Q = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        x = X[:, j]
        nx = np.linalg.norm(x)
        if nx == 0:
            continue
        r = x - Q @ (Q.T @ x)
        if np.linalg.norm(r) > tol * nx * np.sqrt(X.shape[0]):
            keep.append(j)
            Q = np.column_stack([Q, r / np.linalg.norm(r)])
    return keep


def _structure_is_ordered(name: str) -> bool:
    from longmod.engines.core.covariance import COVARIANCE_TABLE

    s = COVARIANCE_TABLE.get(name)
    return bool(s is not None and s.ordered)


def visit_order(spec: ModelSpec, frame: pd.DataFrame) -> tuple[list[str], str]:
    """Visit labels in time order and how that order was known (see the module rules).

    Raises
    ------
    SpecError
        Levels that contradict ``time``, visits tied in time, a non-numeric ``time``, or
        text labels with no order for an order-dependent covariance.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.spec import ModelSpec
    >>> d = pd.DataFrame({"v": ["D1", "D14", "D2"], "day": [1, 14, 2]})
    >>> spec = ModelSpec(name="m", outcome="y", fixed="1", subject="id", visit="v", time="day", covariance="ar1")
    >>> visit_order(spec, d)
    (['D1', 'D2', 'D14'], 'time')
    >>> visit_order(spec.replace(time=None), d)
    Traceback (most recent call last):
    ...
    longmod.spec.model.SpecError: model 'm': visit column 'v' holds text labels (D1, D2, D14) and no order is known, but covariance 'ar1' depends on the visit order. Give the order: levels={'v': [...]} in time order, or a numeric time column (time='day'), or make 'v' an ordered pandas Categorical
    """
    where = f"model {spec.name!r}"
    v = spec.visit
    s = frame[v]
    labels = s.map(level_label)
    observed = list(dict.fromkeys(labels))
    med = None
    if spec.time:
        if not pd.api.types.is_numeric_dtype(frame[spec.time].dtype):
            raise SpecError(f"{where}: time column {spec.time!r} must be numeric (got dtype {frame[spec.time].dtype})")
        med = frame.groupby(labels.to_numpy())[spec.time].median()
    given = spec.levels.get(v)
    if given:
        lv = [level_label(x) for x in given]
        extra = sorted(set(observed) - set(lv))
        if extra:
            raise SpecError(f"{where}: visit value(s) {extra} not among the visit levels {lv}")
        if med is not None:
            t = [float(med[x]) for x in lv if x in med.index]
            bad = [(lv[i], t[i], lv[i + 1], t[i + 1]) for i in range(len(t) - 1) if t[i + 1] < t[i]]
            if bad:
                a, ta, b, tb = bad[0]
                raise SpecError(
                    f"{where}: the visit levels {lv} contradict time {spec.time!r}: {a} (median {ta:g}) comes "
                    f"before {b} (median {tb:g}); fix levels[{v!r}] or drop it to order the visits by time"
                )
        return lv, "levels"
    if med is not None:
        order = sorted(med.index, key=lambda x: (float(med[x]), natural_key(x)))
        ties = [(a, b) for a, b in zip(order, order[1:]) if float(med[a]) == float(med[b])]
        if ties:
            a, b = ties[0]
            raise SpecError(
                f"{where}: visits {a!r} and {b!r} have the same median {spec.time!r} ({float(med[a]):g}), so time "
                f"cannot order them; give levels={{{v!r}: [...]}}"
            )
        return [str(x) for x in order], "time"
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = [level_label(x) for x in s.cat.categories]
        return [c for c in cats if c in set(observed)], "categorical"
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return [level_label(x) for x in sorted(pd.unique(s))], "numeric"
    if _structure_is_ordered(spec.covariance):
        nat = sorted(observed, key=natural_key)
        shown = ", ".join(nat[:6]) + (", ..." if len(nat) > 6 else "")
        raise SpecError(
            f"{where}: visit column {v!r} holds text labels ({shown}) and no order is known, but covariance "
            f"{spec.covariance!r} depends on the visit order. Give the order: levels={{{v!r}: [...]}} in time order, "
            f"or a numeric time column (time='day'), or make {v!r} an ordered pandas Categorical"
        )
    return sorted(observed, key=natural_key), "natural sort of labels (order-free covariance)"


def _check_categorical(spec: ModelSpec, f: Formula, variable: str | None, role: str) -> None:
    if not variable or variable not in f.variables or variable in f.factor_levels:
        return
    raise SpecError(
        f"model {spec.name!r}: the {role} variable {variable!r} is numeric in the fixed effects {spec.fixed!r}, which "
        f"would fit it as a slope; the {role} must be categorical: write C({variable}) in the formula or declare its "
        f"levels (levels={{{variable!r}: [...]}})"
    )


def prepare(spec: ModelSpec, data: pd.DataFrame) -> Prepared:
    """Select, clean (drop rows with missing values, counted), order and encode the data.

    Parameters
    ----------
    spec : ModelSpec
    data : pandas.DataFrame
        Long data; never modified.

    Returns
    -------
    Prepared

    Raises
    ------
    SpecError
        Missing columns (listing the available ones), formula errors, visit-order
        problems (see the module rules), a numeric treatment or visit in the formula.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.spec import ModelSpec, Treatment
    >>> d = pd.DataFrame({"id": [1, 1, 2, 2], "v": ["D14", "D2", "D2", "D14"], "day": [14, 2, 2, 14],
    ...                   "arm": ["a", "a", "b", "b"], "y": [1.0, None, 2.0, 3.0]})
    >>> p = prepare(ModelSpec(name="m", outcome="y", fixed="arm * v", subject="id", visit="v", time="day",
    ...                       treatment=Treatment("arm", "a", "b")), d)
    >>> p.visit_levels, p.visit_order, p.n_dropped, dict(p.visit_n_obs)
    (('D2', 'D14'), 'time', 1, {'D2': 1, 'D14': 2})
    >>> p.warnings
    ('1 row(s) with missing values dropped (y: 1); the model uses 3 of 4 rows',)
    """
    where = f"model {spec.name!r}"
    needed = [spec.outcome, spec.subject]
    for c in (spec.visit, spec.time):
        if c and c not in needed:
            needed.append(c)
    try:
        fvars = formula_variables(spec.fixed, list(data.columns))
    except FormulaError as exc:
        raise SpecError(f"{where}: {exc}") from None
    needed += [v for v in fvars if v not in needed]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise SpecError(
            f"{where}: column(s) {', '.join(missing)} not in the data; "
            f"available columns: {', '.join(map(str, data.columns))}"
        )
    frame = data.loc[:, needed].copy()
    n0 = len(frame)
    na = frame.isna()
    drop = na.any(axis=1).to_numpy()
    dropped_by = {c: int(na.loc[drop, c].sum()) for c in needed if na.loc[drop, c].any()}
    frame = frame.loc[~drop]
    warnings: list[str] = []
    if drop.any():
        warnings.append(
            f"{int(drop.sum())} row(s) with missing values dropped ("
            + ", ".join(f"{c}: {k}" for c, k in dropped_by.items())
            + f"); the model uses {len(frame)} of {n0} rows"
        )
    if len(frame) == 0:
        raise SpecError(f"{where}: no complete rows left after dropping missing values ({dropped_by})")
    levels = {k: list(v) for k, v in spec.levels.items()}
    visit_levels, order_how, counts = None, None, {}
    if spec.visit:
        lv, order_how = visit_order(spec, frame)
        numeric_visit = pd.api.types.is_numeric_dtype(frame[spec.visit].dtype) and spec.visit not in spec.levels
        if not numeric_visit:  # the visit factor of the formula in time order (first = reference)
            levels[spec.visit] = lv
        lab = frame[spec.visit].map(level_label)
        frame["__pos"] = lab.map({x: i for i, x in enumerate(lv)}).to_numpy()
        visit_levels = tuple(lv)
        vc = lab.value_counts()
        counts = {x: int(vc.get(x, 0)) for x in lv}
    else:
        if spec.time and not pd.api.types.is_numeric_dtype(frame[spec.time].dtype):
            raise SpecError(f"{where}: time column {spec.time!r} must be numeric (got dtype {frame[spec.time].dtype})")
        frame["__pos"] = frame[spec.time].astype(float) if spec.time else 0
    frame = frame.sort_values([spec.subject, "__pos"], kind="stable")
    try:
        formula = Formula.from_data(spec.fixed, frame, levels)
    except FormulaError as exc:
        raise SpecError(f"{where}: {exc}") from None
    if spec.treatment is not None:
        _check_categorical(spec, formula, spec.treatment.variable, "treatment")
    _check_categorical(spec, formula, spec.visit, "visit")
    try:
        Xall = formula.matrix(frame)
    except FormulaError as exc:
        raise SpecError(f"{where}: {exc}") from None
    keep = _independent_columns(Xall)
    subject = pd.factorize(frame[spec.subject])[0]
    return Prepared(
        frame=frame.reset_index(drop=True),  # keeps "__pos": visit index (or time)
        formula=formula,
        X=Xall[:, keep],
        columns=tuple(formula.columns[j] for j in keep),
        all_columns=formula.columns,
        y=frame[spec.outcome].to_numpy(float),
        subject=subject,
        n_dropped=int(drop.sum()),
        data_sha256=data_sha256(data.loc[:, needed]),
        visit_levels=visit_levels,
        visit_order=order_how,
        visit_n_obs=counts,
        dropped_by_column=dropped_by,
        warnings=tuple(warnings),
    )


def effect_grid(spec: ModelSpec, prep: Prepared) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """LS-means grid for treatment x visit and the active - reference contrast rows.

    The one definition of the per-visit treatment contrast (see the module rules).

    Returns
    -------
    grid : DataFrame with ``visit``, ``day`` (the visit's median ``time`` when the spec
        has one, else the number in the visit label, else its position), treatment
        column (two rows per visit: reference, active)
    L : LS-means matrix (kept columns)
    C : contrast matrix, one row per visit (active - reference)

    All three are empty when there is no treatment or the treatment variable is not in
    the formula (e.g. an intercept-only model): such a fit has no treatment effects.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.spec import ModelSpec, Treatment
    >>> d = pd.DataFrame({"id": [1, 1, 2, 2], "v": ["D2", "D7"] * 2, "arm": ["a", "a", "b", "b"], "y": [1.0, 2, 2, 4]})
    >>> spec = ModelSpec(name="m", outcome="y", fixed="arm * v", subject="id", visit="v", treatment=Treatment("arm", "a", "b"))
    >>> grid, L, C = effect_grid(spec, prepare(spec, d))
    >>> grid.to_dict("list"), C.tolist()  # per visit: b - a on (Intercept), armb, vD7, armb:vD7
    ({'visit': ['D2', 'D2', 'D7', 'D7'], 'day': [2.0, 2.0, 7.0, 7.0], 'arm': ['a', 'b', 'a', 'b']}, [[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    """
    empty = (pd.DataFrame(columns=["visit", "day"]), np.zeros((0, len(prep.columns))), np.zeros((0, len(prep.columns))))
    if spec.treatment is None:
        return empty
    trt = spec.treatment.variable
    f = prep.formula
    if trt not in f.factor_levels:
        if trt in f.variables:  # pragma: no cover - prepare() refuses a numeric treatment
            raise SpecError(f"model {spec.name!r}: treatment variable {trt!r} must be categorical in {spec.fixed!r}")
        return empty
    for a in (spec.treatment.reference, spec.treatment.active):
        if a not in f.factor_levels[trt]:
            raise SpecError(f"model {spec.name!r}: treatment level {a!r} not among {list(f.factor_levels[trt])}")
    keep = [f.columns.index(c) for c in prep.columns]
    by, values, visits = [trt], {trt: [spec.treatment.reference, spec.treatment.active]}, [None]
    if spec.visit and prep.visit_levels is not None:
        visits = list(prep.visit_levels)
        if spec.visit in f.factor_levels:
            by, values = [spec.visit, trt], {spec.visit: visits, **values}
    day_of = {}
    if spec.visit and spec.time and prep.visit_levels is not None:  # the visit's median time, else its label
        day_of = prep.frame.groupby(prep.frame[spec.visit].map(level_label))[spec.time].median().to_dict()
    rows = []
    per_visit_time = visits != [None] and bool(spec.time) and spec.time in f.numeric
    one_grid = len(by) == 2 and not per_visit_time  # visit-major cells: (v, reference), (v, active), ...
    Ls = [lsmeans_matrix(f, prep.frame, by, values)[1][:, keep]] if one_grid else []
    for i, v in enumerate(visits):
        vals, b = dict(values), list(by)
        if v is not None and spec.visit in f.factor_levels and len(by) == 2:
            vals[spec.visit] = [v]
        if per_visit_time:
            sel = prep.frame[spec.visit].map(level_label) == v
            vals[spec.time] = [float(prep.frame.loc[sel, spec.time].mean()) if sel.any() else float(i + 1)]
            b = [*b, spec.time]
        if not one_grid:
            Ls.append(lsmeans_matrix(f, prep.frame, b, vals)[1][:, keep])
        for arm in vals[trt]:
            day = float(day_of[v]) if v in day_of else (day_of_level(v, i) if v is not None else np.nan)
            rows.append({"visit": v, "day": day, trt: arm})
    L = np.vstack(Ls)
    C = np.array([L[2 * i + 1] - L[2 * i] for i in range(len(visits))])
    return pd.DataFrame(rows), L, C


def build_effects(spec, prep, contrasts, estimates, ses, dfs, engine, engine_version, level=0.95, *,
                  df_method: str | None = None, df_fallback=None, warnings=()) -> pd.DataFrame:
    """Common-schema effects (one row per visit contrast) plus honest labels.

    Extra columns: ``visit``; ``df_method`` (what was computed: ``asymptotic`` for z
    tests); ``df_fallback`` (True where the requested df could not be computed and a
    z test was used); ``n_dropped`` (rows dropped for missing values); ``warnings``
    (the fit's warnings plus the row's own). ``n_obs`` is the number of observations at
    the row's visit (the model total when there is no visit).

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.spec import ModelSpec, Treatment
    >>> d = pd.DataFrame({"id": [1, 1, 2, 2], "v": ["D2", "D7"] * 2, "arm": ["a", "a", "b", "b"], "y": [1.0, 2, 2, 4]})
    >>> spec = ModelSpec(name="m", outcome="y", fixed="arm * v", subject="id", visit="v", treatment=Treatment("arm", "a", "b"))
    >>> prep = prepare(spec, d)
    >>> e = build_effects(spec, prep, effect_grid(spec, prep), [1.0, 2.0], [0.5, 0.5], [10.0, 10.0], "demo", "0")
    >>> e[["visit", "day", "contrast", "estimate", "conf_low", "n_obs", "df_method"]]
      visit  day contrast  estimate  conf_low  n_obs df_method
    0    D2  2.0    b - a       1.0 -0.114069    2.0  kenward-roger
    1    D7  7.0    b - a       2.0  0.885931    2.0  kenward-roger
    """
    grid, _, _ = contrasts
    visits = grid["visit"].tolist()[::2]
    days = grid["day"].tolist()[::2]
    fallback = list(df_fallback) if df_fallback is not None else [False] * len(visits)
    rows = []
    for v, d, e, s, df, fb in zip(visits, days, estimates, ses, dfs, fallback):
        lo, hi, p = t_interval(float(e), float(s), float(df), level)
        row_w = list(warnings)
        if fb:
            row_w.append(f"{spec.df} df not computable for this contrast: z test (df = inf) used")
        rows.append({
            "analysis": spec.name, "outcome": spec.outcome, "day": d,  # estimand: set by the caller
            "contrast": spec.treatment.label, "estimate": e, "std_error": s, "df": df,
            "conf_low": lo, "conf_high": hi, "p_value": p, "engine": engine,
            "engine_version": engine_version,
            "n_obs": int(prep.visit_n_obs.get(v, 0)) if v is not None and prep.visit_n_obs else len(prep.y),
            "n_patients": int(len(np.unique(prep.subject))), "visit": v,
            "df_method": df_method or spec.df, "df_fallback": bool(fb), "n_dropped": int(prep.n_dropped),
            "warnings": "; ".join(dict.fromkeys(row_w)),
        })
    return effects_frame(rows)


def provenance(spec: ModelSpec, prep: Prepared, engine_version: str) -> dict:
    """longmod/engine versions, spec hash, data sha256, rows dropped, visit order.

    Examples
    --------
    >>> from longmod.spec import ModelSpec
    >>> spec, d = ModelSpec(name="m", outcome="y", fixed="v", subject="id", visit="v"), pd.DataFrame(
    ...     {"id": [1, 1, 2, 2], "v": ["D2", "D7"] * 2, "y": [1.0, 2, 2, 4]})
    >>> p = provenance(spec, prepare(spec, d), "0")
    >>> p["visit_levels"], p["rows_dropped_missing"], p["visit_order"]
    (['D2', 'D7'], 0, 'natural sort of labels (order-free covariance)')
    """
    return {
        "longmod_version": longmod.__version__,
        "engine_version": engine_version,
        "spec_hash": spec.spec_hash(),
        "data_sha256": prep.data_sha256,
        "rows_dropped_missing": int(prep.n_dropped),
        "visit_order": prep.visit_order,
        "visit_levels": list(prep.visit_levels) if prep.visit_levels is not None else None,
        "seed": None,
    }
