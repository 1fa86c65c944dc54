"""Validated input of the ordinal engines: response codes, design matrix, patients.

The response is an ordered scale declared by the caller (e.g. a WHO clinical
progression scale with ``levels = [0, 1, ..., 10]`` and ``better = "lower"``).
Declared levels that nobody has in the data carry no information about their
thresholds; they are left out of the fit and listed in ``warnings`` (the
model is then the same proportional-odds model on the observed categories).
Rows with a missing response or covariate are dropped and counted in
``warnings``, never silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


class OrdinalInputError(ValueError):
    """The ordinal data do not have the declared form."""


@dataclass(frozen=True)
class OrdinalData:
    """Arrays for a cumulative-logit fit.

    Attributes
    ----------
    y : numpy.ndarray
        Category index 0..K-1 among the observed levels (int).
    X : numpy.ndarray
        Fixed-effects design without intercept (the thresholds take its place).
    columns : tuple of str
        R ``model.matrix`` names of ``X``'s columns.
    levels : tuple
        Observed levels in scale order (``K`` of them).
    group : numpy.ndarray or None
        Patient index 0..n-1 per row (random intercept), or None.
    n_patients : int
    treatment_column : str
        The column of ``X`` holding the active-arm indicator.
    higher_is_better : bool
    arms : tuple of str
        ``(reference, active)``.
    warnings : tuple of str
    """

    y: np.ndarray
    X: np.ndarray
    columns: tuple[str, ...]
    levels: tuple
    group: np.ndarray | None
    n_patients: int
    treatment_column: str
    higher_is_better: bool
    arms: tuple[str, str] = ("", "")
    warnings: tuple[str, ...] = ()

    @property
    def n_levels(self) -> int:
        return len(self.levels)


def ordinal_data(
    data: pd.DataFrame,
    *,
    outcome: str,
    levels: Sequence,
    better: str,
    fixed: str,
    treatment: str,
    arms: Sequence[str],
    subject: str | None = None,
    factor_levels: Mapping[str, Sequence] | None = None,
) -> OrdinalData:
    """Check long (or one-day) ordinal data and build the fit's arrays.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient (and day, for the longitudinal model); not modified.
    outcome : str
        Column of the ordinal response.
    levels : sequence
        All levels of the scale in order (e.g. ``range(11)``).
    better : {"lower", "higher"}
        Direction of benefit on the scale.
    fixed : str
        R-style right-hand side without intercept term handling (the
        intercept is dropped: thresholds replace it), e.g. ``"arm + day"``;
        ``day`` as a string/categorical column gives a factor.
    treatment : str
        Arm column; ``arms = (reference, active)``.
    subject : str, optional
        Patient id column (random intercept).
    factor_levels : mapping, optional
        Level order of other categorical columns.

    Returns
    -------
    OrdinalData

    Examples
    --------
    >>> d = pd.DataFrame({"who": [3, 4, 5, 3, 6, 4], "arm": ["a", "b"] * 3})
    >>> od = ordinal_data(d, outcome="who", levels=range(11), better="lower", fixed="arm", treatment="arm",
    ...                   arms=("a", "b"))
    >>> od.levels, od.columns, od.y.tolist()
    ((3, 4, 5, 6), ('armb',), [0, 1, 2, 0, 3, 1])
    """
    from longmod.spec.formula import FormulaError, design_matrix

    if better not in ("lower", "higher"):
        raise OrdinalInputError(f"better must be 'lower' or 'higher', got {better!r}")
    arms = tuple(str(a) for a in arms)
    for c in (outcome, treatment) + ((subject,) if subject else ()):
        if c not in data.columns:
            raise OrdinalInputError(f"column {c!r} not found; columns are: {', '.join(map(str, data.columns))}")
    levels = tuple(levels)
    warnings: list[str] = []
    frame = data.copy()
    frame[treatment] = frame[treatment].astype(str)
    unknown = ~frame[treatment].isin(arms)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise OrdinalInputError(f"arm column {treatment!r} row {data.index[i]!r} has {frame[treatment].iloc[i]!r}, "
                                f"not one of {arms!r}")
    code = {v: k for k, v in enumerate(levels)}
    present = frame[outcome].notna()
    bad = present & ~frame[outcome].map(lambda v: v in code)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        v = data[outcome].iloc[i]
        v = v.item() if hasattr(v, "item") else v
        raise OrdinalInputError(f"outcome column {outcome!r} row {data.index[i]!r} has {v!r}, "
                                f"not a declared level ({', '.join(map(str, levels))})")
    try:
        from longmod.spec.formula import Formula

        f = Formula.from_data(fixed, frame, {treatment: list(arms), **dict(factor_levels or {})})
    except FormulaError as exc:
        raise OrdinalInputError(str(exc)) from exc
    used = [outcome, *f.variables] + ([subject] if subject else [])
    complete = frame[used].notna().all(axis=1)
    if not complete.all():
        warnings.append(f"{int((~complete).sum())} row(s) with a missing {'/'.join(used)} value dropped")
        frame = frame[complete]
    observed = [lv for lv in levels if (frame[outcome] == lv).any()]
    missing = [lv for lv in levels if lv not in observed]
    if missing:
        warnings.append("declared level(s) not observed, left out of the fit: " + ", ".join(map(str, missing)))
    if len(observed) < 2:
        raise OrdinalInputError(f"outcome {outcome!r} has fewer than 2 observed levels")
    ocode = {v: k for k, v in enumerate(observed)}
    X, cols = design_matrix(fixed, frame, {treatment: list(arms), **dict(factor_levels or {})})
    if "(Intercept)" in cols:
        j = cols.index("(Intercept)")
        X, cols = np.delete(X, j, axis=1), cols[:j] + cols[j + 1:]
    tcol = f"{treatment}{arms[1]}"
    if tcol not in cols:
        raise OrdinalInputError(f"the formula {fixed!r} has no treatment column {tcol!r} (columns: {', '.join(cols)})")
    if any(c != tcol and c.startswith(tcol + ":") or (":" + tcol) in c for c in cols):
        warnings.append(f"the treatment interacts with other terms: the {tcol!r} coefficient is the effect at their "
                        "reference levels, not an average effect")
    group, n_pat = None, int(len(frame))
    if subject:
        ids, group = np.unique(frame[subject].astype(str).to_numpy(), return_inverse=True)
        n_pat = int(ids.size)
    return OrdinalData(frame[outcome].map(ocode).to_numpy(int), X, tuple(cols), tuple(observed), group, n_pat, tcol,
                       better == "higher", arms, tuple(warnings))
