"""The ANCOVA treatment effect for many outcome vectors sharing one design (imputations, grid points).

:func:`ancova_batch` runs :func:`longmod.engines.ancova.fit_ancova` on the first
outcome column (input checks, covariates kept, the full fit) and solves the
other columns with the same design matrix (one QR decomposition): M
multiply-imputed datasets or the points of a tipping-point grid cost one fit.
The tests check every column against ``fit_ancova``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class AncovaBatch:
    """Treatment effects of M outcome columns.

    Attributes
    ----------
    first : AncovaFit
        ``fit_ancova`` of column 0.
    estimate, std_error, conf_low, conf_high, p_value : numpy.ndarray
        (M,) each; column 0 is ``first``'s numbers exactly.
    df : float
        Residual df (n - p), common to all columns.
    n_obs : int
    """

    first: Any
    estimate: np.ndarray
    std_error: np.ndarray
    conf_low: np.ndarray
    conf_high: np.ndarray
    p_value: np.ndarray
    df: float
    n_obs: int


def ancova_batch(
    data: pd.DataFrame, outcomes: np.ndarray, *, treatment: Any, covariates: Sequence[str], level: float = 0.95
) -> AncovaBatch:
    """ANCOVA of each column of ``outcomes`` on the arm and ``covariates`` of ``data``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient: the treatment column and ``covariates`` (no
        missing values); not modified.
    outcomes : numpy.ndarray
        ``(n, M)`` outcome values (no missing values), rows as ``data``.
    treatment : Treatment
    covariates : sequence of str
    level : float

    Returns
    -------
    AncovaBatch

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from longmod.spec import Treatment
    >>> d = pd.DataFrame({"arm": ["a", "a", "a", "b", "b", "b"], "x": [1., 2., 3., 1., 2., 3.]})
    >>> y = np.array([[3., 5., 4., 1., 2., 0.], [4., 6., 5., 1., 2., 0.]]).T
    >>> ancova_batch(d, y, treatment=Treatment("arm", "b", "a"), covariates=["x"]).estimate.round(6).tolist()
    [3.0, 4.0]
    """
    from scipy import stats

    from longmod.engines.ancova import fit_ancova

    tr = treatment
    y = np.asarray(outcomes, dtype=float)
    if y.ndim != 2 or y.shape[0] != len(data):
        raise ValueError(f"ANCOVA batch: outcomes must be (n_patients, M) with n_patients = {len(data)}, got {y.shape}")
    if np.isnan(y).any() or data[[tr.variable, *covariates]].isna().any().any():
        raise ValueError("ANCOVA batch: missing outcome or covariate values; impute or drop those patients first")
    d = data[[tr.variable, *covariates]].copy()
    d["__outcome"] = y[:, 0]
    first = fit_ancova(d, treatment=tr, outcome="__outcome", covariates=list(covariates), level=level)
    keep = list(first.coefficients["term"])[2:]
    X = np.column_stack([np.ones(len(d)), (d[tr.variable].astype(str) == tr.active).to_numpy(float),
                         *(d[c].to_numpy(float) for c in keep)])
    q, r = np.linalg.qr(X)
    beta = np.linalg.solve(r, q.T @ y)
    resid = y - X @ beta
    dfree = X.shape[0] - X.shape[1]
    rinv = np.linalg.inv(r)
    se = np.sqrt((resid**2).sum(axis=0) / dfree * float((rinv[1] ** 2).sum()))
    est = beta[1].copy()
    est[0], se[0] = first.estimate, first.std_error
    crit = stats.t.ppf(0.5 + level / 2, dfree)
    p = 2 * stats.t.sf(np.abs(est / se), dfree)
    lo, hi = est - crit * se, est + crit * se
    p[0], lo[0], hi[0] = first.p_value, first.conf_low, first.conf_high
    return AncovaBatch(first, est, se, lo, hi, p, float(dfree), int(first.n_obs))
