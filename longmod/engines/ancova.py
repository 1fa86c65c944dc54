"""ANCOVA and rank tests for a single endpoint (one row per patient).

* :func:`fit_ancova` - OLS of the outcome on treatment + covariates, t-based CI
  (the usual primary analysis of a small trial: change from baseline ~ arm +
  baseline + stratification factors), any number of arms;
* :func:`fit_spec` - the same OLS for a :class:`~longmod.spec.ModelSpec`
  (``engine = "ancova"``; any formula without visits), a :class:`FitResult`;
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
    """Treatment effect of an ANCOVA and the fit behind it.

    ``n_dropped`` counts the rows left out for a missing outcome or covariate.
    """

    estimate: float
    std_error: float
    df: float
    conf_low: float
    conf_high: float
    p_value: float
    residual_sd: float
    n_obs: int
    coefficients: pd.DataFrame
    n_dropped: int = 0

    def as_row(self) -> dict:
        """The effect as a dict of common-schema values (plus ``n_dropped``)."""
        keys = ("estimate", "std_error", "df", "conf_low", "conf_high", "p_value", "n_obs", "n_dropped")
        return {k: getattr(self, k) for k in keys}


def _is_categorical(col: pd.Series) -> bool:
    return isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col)


def _covariate_columns(d: pd.DataFrame, name: str) -> list[tuple[str, np.ndarray]]:
    """(term, column) pairs of one covariate: itself when numeric, else one indicator per non-reference level."""
    col = d[name]
    if not _is_categorical(col):
        return [(name, col.to_numpy(float))]
    levels = list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype) else sorted(col.astype(str).unique())
    text = col.astype(str).to_numpy()
    return [(f"{name}{lv}", (text == str(lv)).astype(float)) for lv in levels[1:]]


def fit_ancova(
    data: pd.DataFrame,
    *,
    treatment: Treatment,
    outcome: str = "change",
    covariates: Sequence[str] = ("baseline",),
    level: float = 0.95,
    arms: Sequence[str] | None = None,
) -> AncovaFit:
    """Ordinary least squares ANCOVA of ``outcome`` on treatment and covariates.

    Rows with a missing outcome or covariate are dropped and counted
    (``n_dropped``). A covariate column that is constant in the data (e.g. a
    stratum nobody belongs to) is dropped, as R's ``lm`` would report it
    aliased (NA). Categorical covariates (pandas Categorical or text) enter
    as indicators of each level but the first (R's treatment contrasts).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient; not modified.
    treatment : Treatment
        ``variable`` column, ``active`` and ``reference`` levels.
    outcome : str
    covariates : sequence of str
        Columns entered linearly (numeric) or as indicators (categorical).
    level : float
        Confidence level of the t interval.
    arms : sequence of str, optional
        Every arm the model includes (default: the two of ``treatment``); with
        more arms, one model holds one indicator per non-reference arm and
        the effect of ``treatment.active`` is returned. Rows of other arms are
        an error.

    Returns
    -------
    AncovaFit
        ``estimate`` (active - reference), ``std_error``, ``df`` (n - p),
        ``conf_low``, ``conf_high``, ``p_value``, ``residual_sd``, ``n_obs``,
        ``n_dropped`` and the full ``coefficients`` table (``term``,
        ``estimate``, ``std_error``).

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
    if not t.is_declared:
        raise ValueError("ANCOVA: the treatment comparison needs a reference and an active arm")
    arms = tuple(arms) if arms is not None else (t.reference, t.active)
    for a in (t.reference, t.active):
        if a not in arms:
            raise ValueError(f"ANCOVA: arm {a!r} is not among the arms of the model {list(arms)}")
    cols = list(dict.fromkeys([outcome, t.variable, *covariates]))
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"ANCOVA: column(s) {', '.join(missing)} not in the data; columns: {', '.join(map(str, data.columns))}")
    d = data[cols].dropna()
    n_dropped = len(data) - len(d)
    bad = sorted(set(d[t.variable].astype(str)) - set(arms))
    if bad:
        raise ValueError(f"ANCOVA: {t.variable} has level(s) {', '.join(bad)} outside the arms of the model "
                         f"({', '.join(arms)})")
    arm = d[t.variable].astype(str).to_numpy()
    for a in (t.reference, t.active):
        if not (arm == a).any():
            raise ValueError(f"ANCOVA: arm {a!r} has no patient with an analysable value")
    terms, columns = ["(Intercept)"], [np.ones(len(d))]
    for a in arms:
        if a != t.reference:
            terms.append(f"{t.variable}{a}")
            columns.append((arm == a).astype(float))
    for c in covariates:
        if c == t.variable:
            continue
        for term, x in _covariate_columns(d, c):
            if np.unique(x).size > 1:
                terms.append(term)
                columns.append(x)
    X = np.column_stack(columns)
    y = d[outcome].to_numpy(float)
    beta, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    n, p = X.shape
    if rank < p:
        raise ValueError(f"ANCOVA: the design matrix is rank deficient (collinear covariates among {', '.join(terms[1:])})")
    if n <= p:
        raise ValueError(f"ANCOVA: {n} patients for {p} coefficients; no residual degrees of freedom")
    resid = y - X @ beta
    dfree = n - p
    s2 = resid @ resid / dfree
    cov = s2 * np.linalg.inv(X.T @ X)
    se = np.sqrt(np.diag(cov))
    q = stats.t.ppf(0.5 + level / 2, dfree)
    j = terms.index(f"{t.variable}{t.active}")
    est, sei = float(beta[j]), float(se[j])
    pval = float(2 * stats.t.sf(abs(est / sei), dfree))
    coef = pd.DataFrame({"term": terms, "estimate": beta, "std_error": se})
    return AncovaFit(est, sei, float(dfree), est - q * sei, est + q * sei, pval, float(np.sqrt(s2)), n, coef,
                     int(n_dropped))


def check_spec(spec) -> None:
    """Fail before fitting when the OLS engine cannot honour ``spec`` (it needs one row per patient).

    Examples
    --------
    >>> from longmod.spec import ModelSpec
    >>> check_spec(ModelSpec(name="m", outcome="y", fixed="arm", subject="id", visit="v", engine="ancova"))
    Traceback (most recent call last):
    ...
    longmod.spec.model.SpecError: model 'm': the ancova engine fits one row per patient (no visit); use engine 'native' for repeated measures
    """
    from longmod.spec.model import SpecError

    if spec.visit or spec.time:
        raise SpecError(f"model {spec.name!r}: the ancova engine fits one row per patient (no visit); use engine "
                        "'native' for repeated measures")
    if spec.vcov != "model":
        raise SpecError(f"model {spec.name!r}: the ancova engine supports vcov 'model' only (got {spec.vcov!r})")


def fit_spec(spec, data: pd.DataFrame, level: float = 0.95):
    """OLS fit of a one-row-per-patient ``spec`` (``outcome ~ fixed``); df = n - p, t intervals.

    The treatment effect is the emmeans-style contrast of the shared design
    front end (:func:`longmod.engines.core.prepare.effect_grid`), so the same
    spec gives the same quantity as the other engines; ``df_method`` is
    ``residual`` whatever ``spec.df`` says (for OLS every small-sample method
    reduces to n - p).

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.spec import ModelSpec, Treatment
    >>> d = pd.DataFrame({"arm": ["a", "a", "a", "b", "b", "b"], "y": [3., 5., 4., 1., 2., 0.],
    ...                   "x": [1., 2., 3., 1., 2., 3.], "id": range(6)})
    >>> spec = ModelSpec(name="m", outcome="y", fixed="arm + x", subject="id", engine="ancova",
    ...                  treatment=Treatment("arm", "b", "a"))
    >>> fit = fit_spec(spec, d)
    >>> round(float(fit.effects["estimate"].iloc[0]), 6), float(fit.effects["df"].iloc[0])
    (3.0, 3.0)
    """
    from longmod.engines.core.prepare import build_effects, effect_grid, prepare, provenance
    from longmod.results.fit import Convergence, FitResult

    check_spec(spec)
    prep = prepare(spec, data)
    X, y = prep.X, prep.y
    n, p = X.shape
    if n <= p:
        raise ValueError(f"model {spec.name!r}: {n} rows for {p} coefficients; no residual degrees of freedom")
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dfree = n - p
    s2 = float(resid @ resid / dfree)
    vcov = s2 * np.linalg.inv(X.T @ X)
    grid = effect_grid(spec, prep)
    C = grid[2]
    est = C @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", C, vcov, C))
    version = f"numpy {np.__version__}"
    effects = build_effects(spec, prep, grid, est, se, np.full(len(est), float(dfree)), "ancova-ols", version, level)
    effects["df_method"] = "residual"
    effects["n_dropped"] = int(prep.n_dropped)
    sev = np.sqrt(np.diag(vcov))
    tval = beta / sev
    q = stats.t.ppf(0.5 + level / 2, dfree)
    params = pd.DataFrame({"term": list(prep.columns), "estimate": beta, "std_error": sev, "df": float(dfree),
                           "statistic": tval, "p_value": 2 * stats.t.sf(np.abs(tval), dfree),
                           "conf_low": beta - q * sev, "conf_high": beta + q * sev})
    covariance = pd.DataFrame({"parameter": ["residual"], "estimate": [s2]})
    ll = -0.5 * n * (np.log(2 * np.pi * float(resid @ resid) / n) + 1)
    fit_stats = {"method": "ols", "log_likelihood": ll, "neg2_log_likelihood": -2 * ll, "n_obs": n,
                 "n_patients": int(len(np.unique(prep.subject))), "residual_sd": float(np.sqrt(s2))}
    warns = (f"{prep.n_dropped} row(s) dropped for missing values",) if prep.n_dropped else ()
    return FitResult("ancova-ols", version, effects, params, covariance, fit_stats,
                     Convergence(True, "closed form (least squares)", None, None, warns),
                     provenance(spec, prep, version))


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
