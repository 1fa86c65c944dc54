"""Generic statistics over analysis sets, as used by targets files.

Each statistic takes the columns of an analysis set (a mapping of column name
to NumPy array, already restricted to the target's arm and ``where`` filter,
except the between-arm statistics which see both arms) and returns one number.
The between-arm ANCOVA and the rank tests are longmod's own engine functions
(:func:`longmod.engines.ancova.fit_ancova`, :func:`~longmod.engines.ancova.signed_rank_test`,
:func:`~longmod.engines.ancova.rank_sum_test`), so a fixture meets its targets
with the package's rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from longmod.engines.ancova import fit_ancova, rank_sum_test, signed_rank_test
from longmod.reconstruct.between import MASK_KINDS, OPTION_COLUMNS, TESTS
from longmod.spec.model import Treatment

Columns = Mapping[str, np.ndarray]


def quantile_type7(x: Sequence[float], q: float) -> float:
    """Sample quantile as R's default ``quantile(x, q, type = 7)``.

    Parameters
    ----------
    x : array-like
        Values; NaN are dropped.
    q : float
        Probability in [0, 1].

    Returns
    -------
    float

    Examples
    --------
    >>> quantile_type7([1, 2, 3, 4], 0.25)
    1.75
    """
    a = np.sort(np.asarray(x, float))
    a = a[~np.isnan(a)]
    if a.size == 0:
        return float("nan")
    h = (a.size - 1) * q
    lo = int(np.floor(h))
    hi = min(lo + 1, a.size - 1)
    return float(a[lo] + (h - lo) * (a[hi] - a[lo]))


def _col(cols: Columns, variable: str) -> np.ndarray:
    return np.asarray(cols[variable], float)


def _pair(cols: Columns, variable: str) -> tuple[np.ndarray, np.ndarray]:
    names = [v.strip() for v in variable.split(",")]
    if len(names) != 2:
        raise ValueError(f"a paired statistic needs variable = 'first,second', got {variable!r}")
    a, b = (np.asarray(cols[n], float) for n in names)
    if a.ndim == 1:
        ok = ~(np.isnan(a) | np.isnan(b))
        return a[ok], b[ok]
    return a, b


def _ancova_batch(y: np.ndarray, trt: np.ndarray, covs: list[np.ndarray]):
    """OLS treatment effect for a batch of outcome/covariate rows (last axis = patients)."""
    from scipy import stats

    batch = y.shape[:-1]
    n = y.shape[-1]
    parts = [np.ones(n), trt, *covs]
    X = np.stack([np.broadcast_to(c, (*batch, n)) for c in parts], axis=-1)  # (..., n, p)
    p = X.shape[-1]
    XtX = np.einsum("...ij,...ik->...jk", X, X)
    Xty = np.einsum("...ij,...i->...j", X, y)
    beta = np.linalg.solve(XtX, Xty[..., None])[..., 0]
    resid = y - np.einsum("...ij,...j->...i", X, beta)
    dfree = n - p
    s2 = np.einsum("...i,...i->...", resid, resid) / dfree
    se = np.sqrt(s2 * np.linalg.inv(XtX)[..., 1, 1])
    q = stats.t.ppf(0.975, dfree)
    est = beta[..., 1]
    return est, se, est - q * se, est + q * se, 2 * stats.t.sf(np.abs(est / se), dfree)


def ancova_fit(cols: Columns, variable: str, treatment: Treatment, covariates: Sequence[str], fast: bool = False):
    """ANCOVA of ``variable`` on treatment + covariates.

    With ``fast=False`` (the default, used to verify and report) this is
    :func:`longmod.engines.ancova.fit_ancova`; ``fast=True`` is the same least
    squares in plain NumPy, vectorised over a leading batch axis, for the
    calibration loop (the build checks both agree).

    Returns
    -------
    tuple
        ``(estimate, std_error, conf_low, conf_high, p_value)``.

    Examples
    --------
    >>> import numpy as np
    >>> cols = {"arm": np.array(["a", "a", "a", "b", "b", "b"]), "change": np.array([3., 5, 4, 1, 2, 0]),
    ...         "baseline": np.array([1., 2, 3, 1, 2, 3])}
    >>> est = ancova_fit(cols, "change", Treatment("arm", "b", "a"), ["baseline"])[0]
    >>> round(est, 6)
    3.0
    """
    if not fast:
        frame = pd.DataFrame({k: cols[k] for k in (treatment.variable, variable, *covariates)})
        f = fit_ancova(frame, treatment=treatment, outcome=variable, covariates=tuple(covariates))
        return f.estimate, f.std_error, f.conf_low, f.conf_high, f.p_value
    y = np.asarray(cols[variable], float)
    trt = (np.asarray(cols[treatment.variable]).astype(str) == treatment.active).astype(float)
    covs = []
    for c in covariates:
        v = np.asarray(cols[c], float)
        varies = np.ptp(v, axis=-1) > 0
        if np.all(varies):
            covs.append(v)
        elif np.any(varies):
            raise ValueError(f"covariate {c!r} is constant in part of the batch")
    return _ancova_batch(y, trt, covs)


_ANCOVA_INDEX = {"ancova_estimate": 0, "ancova_std_error": 1, "ancova_conf_low": 2, "ancova_conf_high": 3, "ancova_p": 4}


def _stat_count(cols, t, ctx):
    return float(len(next(iter(cols.values())))) if cols else 0.0


def _stat_proportion(cols, t, ctx):
    return float(np.mean(ctx["where_mask"])) if len(ctx["where_mask"]) else float("nan")


def _stat_mean(cols, t, ctx):
    return np.nanmean(_col(cols, t.variable), axis=-1)


def _stat_sd(cols, t, ctx):
    return np.nanstd(_col(cols, t.variable), axis=-1, ddof=1)


def _quantile7(x: np.ndarray, q: float):
    if x.ndim == 1:
        return quantile_type7(x, q)
    if np.isnan(x).any():
        return np.nanquantile(x, q, axis=-1, method="linear")  # numpy "linear" = R type 7
    a = np.sort(x, axis=-1)
    h = (a.shape[-1] - 1) * q
    lo = int(np.floor(h))
    hi = min(lo + 1, a.shape[-1] - 1)
    return a[..., lo] + (h - lo) * (a[..., hi] - a[..., lo])


def _stat_median(cols, t, ctx):
    return _quantile7(_col(cols, t.variable), 0.5)


def _stat_quantile(cols, t, ctx):
    return _quantile7(_col(cols, t.variable), float(t.q))


def _stat_correlation(cols, t, ctx):
    a, b = _pair(cols, t.variable)
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    return (a * b).sum(axis=-1) / np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))


def _stat_signed_rank_p(cols, t, ctx):
    a, b = _pair(cols, t.variable)
    return signed_rank_test(a, b).p_value


def _stat_rank_sum_p(cols, t, ctx):
    tr: Treatment = ctx["treatment"]
    arm = np.asarray(cols[tr.variable]).astype(str)
    x = np.asarray(cols[t.variable], float)
    return rank_sum_test(x[arm == tr.active], x[arm == tr.reference]).p_value


def _make_ancova(kind: str):
    def stat(cols, t, ctx):
        key = ("ancova", t.variable, tuple(ctx["covariates"]))
        cache = ctx.setdefault("cache", {})
        if key not in cache:
            cache[key] = ancova_fit(cols, t.variable, ctx["treatment"], ctx["covariates"], fast=ctx.get("fast", False))
        return cache[key][_ANCOVA_INDEX[kind]]

    return stat


#: Statistic kinds usable in targets files. Between-arm kinds (ANCOVA, rank
#: sum) need ``arm = "all"``; paired kinds take ``variable = "first,second"``.
STATISTICS: dict[str, Callable] = {
    "count": _stat_count,
    "proportion": _stat_proportion,
    "mean": _stat_mean,
    "sd": _stat_sd,
    "median": _stat_median,
    "quantile": _stat_quantile,
    "correlation": _stat_correlation,
    "signed_rank_p": _stat_signed_rank_p,
    "rank_sum_p": _stat_rank_sum_p,
    **{k: _make_ancova(k) for k in _ANCOVA_INDEX},
    **TESTS,
}
#: Kinds that compare the arms (evaluated on the whole set).
BETWEEN_ARM = frozenset({"rank_sum_p", *_ANCOVA_INDEX, *TESTS})
#: Kinds whose value only depends on counts (never optimised).
STRUCTURAL = frozenset({"count", "proportion"})
#: Kinds that read the target's ``where`` as an indicator over the whole set instead of a filter.
INDICATOR_KINDS = frozenset({"proportion", *MASK_KINDS})
#: Kinds verified on the data but never optimised (step functions of ranks or counts).
VERIFY_ONLY = frozenset({"signed_rank_p", "rank_sum_p", *TESTS})
__all__ = ["BETWEEN_ARM", "INDICATOR_KINDS", "OPTION_COLUMNS", "STATISTICS", "STRUCTURAL", "VERIFY_ONLY",
           "ancova_fit", "quantile_type7"]
