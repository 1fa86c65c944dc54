"""ANCOVA and rank tests for a single endpoint (one row per patient).

* :func:`fit_ancova` - OLS of the outcome on treatment + covariates, t-based CI
  (the STROMA-CoV-2 primary analysis: change D0->D7 ~ arm + D0 + age > 70 +
  SOFA > 11).
* :func:`rank_sum_test` - Wilcoxon rank-sum (Mann-Whitney) test between arms
  with the Hodges-Lehmann shift and its CI, following R's ``wilcox.test``
  (exact when both arms have < 50 patients and there are no ties).
* :func:`signed_rank_test` - Wilcoxon signed-rank test of paired values
  (exact without ties or zeros, as R).

All computations are plain NumPy/SciPy so that they are fast enough to sit in
the reconstruction loop; they are validated against R (``lm``,
``wilcox.test``) in ``tests/reference/r_ancova``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, stats

from longmod.spec.model import Treatment


@dataclass(frozen=True)
class AncovaFit:
    """Treatment effect of an ANCOVA and the fit behind it."""

    estimate: float
    std_error: float
    df: float
    conf_low: float
    conf_high: float
    p_value: float
    residual_sd: float
    n_obs: int
    coefficients: pd.DataFrame

    def as_row(self) -> dict:
        """The effect as a dict of common-schema values."""
        return {k: getattr(self, k) for k in ("estimate", "std_error", "df", "conf_low", "conf_high", "p_value", "n_obs")}


def fit_ancova(
    data: pd.DataFrame,
    *,
    treatment: Treatment,
    outcome: str = "change",
    covariates: Sequence[str] = ("baseline", "age_gt70", "sofa_gt11"),
    level: float = 0.95,
) -> AncovaFit:
    """Ordinary least squares ANCOVA of ``outcome`` on treatment and covariates.

    Rows with a missing outcome or covariate are dropped. A covariate that is
    constant in the data (e.g. a stratum nobody belongs to) is dropped, as R's
    ``lm`` would report it aliased (NA).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient; not modified.
    treatment : Treatment
        ``variable`` column, ``active`` and ``reference`` levels; other levels
        are an error.
    outcome : str
    covariates : sequence of str
        Numeric columns entered linearly.
    level : float
        Confidence level of the t interval.

    Returns
    -------
    AncovaFit
        ``estimate`` (active - reference), ``std_error``, ``df`` (n - p),
        ``conf_low``, ``conf_high``, ``p_value``, ``residual_sd``, ``n_obs`` and
        the full ``coefficients`` table (``term``, ``estimate``, ``std_error``).

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.spec import Treatment
    >>> d = pd.DataFrame({"arm": ["a", "a", "a", "b", "b", "b"], "change": [3., 5., 4., 1., 2., 0.],
    ...                   "baseline": [1., 2., 3., 1., 2., 3.]})
    >>> fit = fit_ancova(d, treatment=Treatment("arm", "b", "a"), covariates=["baseline"])
    >>> round(fit.estimate, 6), fit.df
    (3.0, 3.0)
    """
    t = treatment
    cols = [outcome, t.variable, *covariates]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"ANCOVA: column(s) {', '.join(missing)} not in the data; columns: {', '.join(data.columns)}")
    d = data[cols].dropna()
    bad = sorted(set(d[t.variable].astype(str)) - {t.active, t.reference})
    if bad:
        raise ValueError(f"ANCOVA: {t.variable} has level(s) {', '.join(bad)}; only {t.active!r} and {t.reference!r} are compared")
    trt = (d[t.variable].astype(str) == t.active).to_numpy(float)
    if trt.sum() == 0 or trt.sum() == len(trt):
        raise ValueError(f"ANCOVA: both arms {t.active!r} and {t.reference!r} need at least one patient")
    keep = [c for c in covariates if d[c].astype(float).nunique() > 1]
    X = np.column_stack([np.ones(len(d)), trt, *(d[c].to_numpy(float) for c in keep)])
    y = d[outcome].to_numpy(float)
    beta, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    n, p = X.shape
    if rank < p:
        raise ValueError("ANCOVA: the design matrix is rank deficient (collinear covariates)")
    resid = y - X @ beta
    dfree = n - p
    s2 = resid @ resid / dfree
    cov = s2 * np.linalg.inv(X.T @ X)
    se = np.sqrt(np.diag(cov))
    q = stats.t.ppf(0.5 + level / 2, dfree)
    est, sei = float(beta[1]), float(se[1])
    pval = float(2 * stats.t.sf(abs(est / sei), dfree))
    terms = ["(Intercept)", f"{t.variable}{t.active}", *keep]
    coef = pd.DataFrame({"term": terms, "estimate": beta, "std_error": se})
    return AncovaFit(est, sei, float(dfree), est - q * sei, est + q * sei, pval, float(np.sqrt(s2)), n, coef)


@lru_cache(maxsize=256)
def _mann_whitney_counts(m: int, n: int) -> np.ndarray:
    """Number of arrangements giving each U = 0..m*n (the exact null distribution)."""
    # f[i][j] polynomial recursion: counts(m, n) = shift(counts(m-1, n), n) + counts(m, n-1)
    table = {}

    def rec(a: int, b: int) -> np.ndarray:
        if a == 0 or b == 0:
            return np.ones(1)
        if (a, b) in table:
            return table[(a, b)]
        left = rec(a - 1, b)
        right = rec(a, b - 1)
        out = np.zeros(a * b + 1)
        out[b : b + len(left)] += left
        out[: len(right)] += right
        table[(a, b)] = out
        return out

    return rec(m, n)


def _qwilcox(p: float, m: int, n: int) -> int:
    """R's ``qwilcox``: smallest q with P(U <= q) >= p."""
    c = _mann_whitney_counts(m, n)
    cdf = np.cumsum(c) / c.sum()
    return int(np.searchsorted(cdf, p * (1 - 64 * np.finfo(float).eps)))


@dataclass(frozen=True)
class RankTest:
    """Result of a Wilcoxon test: statistic, P value, location shift and CI."""

    statistic: float
    p_value: float
    estimate: float
    conf_low: float
    conf_high: float
    exact: bool
    n: int


def rank_sum_test(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> RankTest:
    """Two-sided Wilcoxon rank-sum test of ``x`` vs ``y`` as R's ``wilcox.test``.

    The statistic is R's W (Mann-Whitney U of ``x``). Exact P value, Hodges-Lehmann
    estimate (median of all ``x - y`` differences) and exact CI when both
    samples have fewer than 50 values and there are no ties; otherwise the
    normal approximation with continuity correction, the estimate and CI then
    found, as in R, by inverting the standardised statistic in the shift.

    Examples
    --------
    >>> r = rank_sum_test([1.1, 2.2, 3.3, 4.4], [0.5, 0.6, 0.7])
    >>> r.statistic, round(r.p_value, 4), r.exact
    (12.0, 0.0571, True)
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    m, n = len(x), len(y)
    allv = np.concatenate([x, y])
    ranks = stats.rankdata(allv)
    w = float(ranks[:m].sum() - m * (m + 1) / 2)
    ties = len(np.unique(allv)) < len(allv)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    hl = float(np.median(diffs))
    if m < 50 and n < 50 and not ties:
        c = _mann_whitney_counts(m, n)
        cdf = np.cumsum(c) / c.sum()
        lower = cdf[int(w)]
        upper = 1 - (cdf[int(w) - 1] if w >= 1 else 0.0)
        p = min(1.0, 2 * min(lower, upper))
        alpha = 1 - level
        qu = _qwilcox(alpha / 2, m, n)
        qu = max(qu, 1)
        ql = m * n - qu
        return RankTest(w, float(p), hl, float(diffs[qu - 1]), float(diffs[ql]), True, m + n)
    # normal approximation with tie and continuity correction; estimate and CI invert the
    # standardised statistic in the shift, as R's wilcox.test (uniroot) does
    z = _rank_sum_z(x, y, 0.0)
    lo, hi = float(x.min() - y.max()), float(x.max() - y.min())

    def root(zq: float) -> float:
        f_lo, f_hi = _rank_sum_z(x, y, lo) - zq, _rank_sum_z(x, y, hi) - zq
        if f_lo <= 0:
            return lo
        if f_hi >= 0:
            return hi
        return float(optimize.brentq(lambda d: _rank_sum_z(x, y, d) - zq, lo, hi, xtol=1e-10))

    q = stats.norm.ppf(0.5 + level / 2)
    return RankTest(w, float(2 * stats.norm.sf(abs(z))), root(0.0), root(q), root(-q), False, m + n)


def _rank_sum_z(x: np.ndarray, y: np.ndarray, shift: float) -> float:
    """Continuity-corrected, tie-corrected standardised rank-sum statistic of ``x - shift`` vs ``y``."""
    m, n = len(x), len(y)
    allv = np.concatenate([x - shift, y])
    dz = stats.rankdata(allv)[:m].sum() - m * (m + 1) / 2 - m * n / 2
    _, counts = np.unique(allv, return_counts=True)
    sigma = np.sqrt(m * n / 12 * ((m + n + 1) - (counts**3 - counts).sum() / ((m + n) * (m + n - 1))))
    return float((dz - np.sign(dz) * 0.5) / sigma)


def signed_rank_test(before: np.ndarray, after: np.ndarray) -> RankTest:
    """Two-sided Wilcoxon signed-rank test of ``after - before`` as R's paired ``wilcox.test``.

    Exact when there are fewer than 50 pairs and no ties or zero differences
    (R's rule); otherwise the normal approximation with continuity correction.
    The statistic is R's V (sum of positive ranks); the estimate is the median
    difference (CI not computed).

    Examples
    --------
    >>> r = signed_rank_test([1, 2, 3, 4, 5], [2.5, 3.1, 4.7, 4.2, 7.9])
    >>> r.statistic, r.p_value
    (15.0, 0.0625)
    """
    b = np.asarray(before, float)
    a = np.asarray(after, float)
    ok = ~(np.isnan(a) | np.isnan(b))
    d = a[ok] - b[ok]
    n = len(d)
    nz = d[d != 0]  # R drops zero differences from V
    v = float(stats.rankdata(np.abs(nz))[nz > 0].sum())
    exact = n < 50 and len(np.unique(np.abs(d))) == n and not np.any(d == 0)
    if exact:
        res = stats.wilcoxon(d, method="exact")
        p = float(res.pvalue)
    else:
        d = d[d != 0]
        n2 = len(d)
        r = stats.rankdata(np.abs(d))
        v2 = r[d > 0].sum()
        _, counts = np.unique(np.abs(d), return_counts=True)
        sigma = np.sqrt(n2 * (n2 + 1) * (2 * n2 + 1) / 24 - (counts**3 - counts).sum() / 48)
        z = v2 - n2 * (n2 + 1) / 4
        z = (z - np.sign(z) * 0.5) / sigma
        p = float(2 * stats.norm.sf(abs(z)))
    return RankTest(v, p, float(np.median(a[ok] - b[ok])), np.nan, np.nan, bool(exact), n)
