"""Checks of a long-format data table against a model spec, before ``longmod fit`` fits anything.

Each problem names the data file, the line (header = line 1) and the column,
and says what would be valid; repeats of one cause are counted ("and N more").
"""

from __future__ import annotations

import pandas as pd

from longmod.data.validate import PROBLEMS_PER_CAUSE, Problem, TrialDataError


def _lines(index, is_file: bool) -> list:
    return [int(i) + 2 if is_file else i for i in index]


def fit_data_problems(spec, data: pd.DataFrame, *, where: str = "data") -> list[Problem]:
    """Problems of ``data`` for ``spec``: missing columns, a non-numeric or constant outcome,
    treatment levels absent from the data, an arm (or the whole table) with fewer than two subjects.

    Parameters
    ----------
    spec : longmod.spec.ModelSpec
    data : pandas.DataFrame
        Not modified.
    where : str
        The file name used in messages (a ``.csv``/``.parquet`` name: rows are reported as lines).

    Returns
    -------
    list of Problem

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.spec.model import ModelSpec, Treatment
    >>> spec = ModelSpec(name="m", outcome="y", fixed="arm", subject="id",
    ...                  treatment=Treatment("arm", reference="b", active="a"), engine="ancova")
    >>> d = pd.DataFrame({"id": [1, 2, 3, 4], "arm": ["a", "a", "b", "b"], "y": [1.0, 1.0, 1.0, 1.0]})
    >>> [p.message for p in fit_data_problems(spec, d)]
    ['the outcome is constant (every value is 1); there is nothing to model']
    """
    is_file = where.endswith((".csv", ".parquet"))
    out: list[Problem] = []
    cols = [("outcome", spec.outcome), ("subject", spec.subject), ("visit", spec.visit), ("time", spec.time)]
    trt = spec.treatment if spec.treatment is not None and spec.treatment.is_declared else None
    if trt is not None:
        cols.append(("treatment variable", trt.variable))
    present = ", ".join(map(str, data.columns))
    for role, col in cols:
        if col is not None and col not in data.columns:
            out.append(Problem(where, None, col, f"the spec's {role} column is not in the data; columns present: "
                                                 f"{present}"))
    if out:
        return out
    if spec.outcome is None:
        return out
    y = pd.to_numeric(data[spec.outcome], errors="coerce")
    bad = data.index[data[spec.outcome].notna() & y.isna()]
    for line, i in list(zip(_lines(bad, is_file), bad))[:PROBLEMS_PER_CAUSE]:
        out.append(Problem(where, line, spec.outcome, f"outcome is not a number: {data.at[i, spec.outcome]!r}; "
                                                      "give a number, or leave the cell empty for a missing value"))
    if len(bad) > PROBLEMS_PER_CAUSE:
        out.append(Problem(where, None, spec.outcome, f"and {len(bad) - PROBLEMS_PER_CAUSE} more non-numeric "
                                                      "outcome value(s)"))
    if len(bad):
        return out
    observed = y.notna()
    if y[observed].nunique() <= 1:
        val = "no value" if not observed.any() else f"every value is {y[observed].iloc[0]:g}"
        out.append(Problem(where, None, spec.outcome, f"the outcome is constant ({val}); there is nothing to model"))
    ids = data[spec.subject] if spec.subject is not None else pd.Series(data.index, index=data.index)
    if trt is not None:
        arm = data[trt.variable].astype(str)
        levels = sorted(arm.unique())
        for lvl, key in ((trt.reference, "reference"), (trt.active, "active")):
            if str(lvl) not in levels:
                out.append(Problem(where, None, trt.variable, f"[model.treatment] {key} = {lvl!r} does not occur in "
                                                              f"the data; levels found: {', '.join(levels)}"))
        if not out:
            n = {str(lvl): ids[observed & (arm == str(lvl))].nunique() for lvl in (trt.reference, trt.active)}
            small = [k for k, v in n.items() if v < 2]
            if small:
                out.append(Problem(where, None, trt.variable,
                                   f"arm(s) with fewer than 2 subjects with an outcome: {', '.join(map(repr, small))} "
                                   f"({', '.join(f'{k} {v}' for k, v in n.items())}); an effect cannot be estimated"))
    elif ids[observed].nunique() < 2:
        out.append(Problem(where, None, spec.subject, f"{ids[observed].nunique()} subject(s) with an outcome; a model "
                                                      "needs at least 2"))
    return out


def check_fit_data(spec, data: pd.DataFrame, *, where: str = "data") -> None:
    """Raise :class:`~longmod.data.validate.TrialDataError` listing :func:`fit_data_problems`, if any.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.spec.model import ModelSpec
    >>> spec = ModelSpec(name="m", outcome="y", fixed="x", subject="id", engine="ancova")
    >>> check_fit_data(spec, pd.DataFrame({"id": [1, 2], "x": [0.0, 1.0], "y": [1.0, 2.0]}))
    """
    problems = fit_data_problems(spec, data, where=where)
    if problems:
        raise TrialDataError(problems)
