"""Random-effects meta-analysis of study-level estimates (as R ``metafor::rma``).

Model: ``y_i ~ N(theta_i, v_i)``, ``theta_i ~ N(mu, tau^2)`` with known
within-study variances ``v_i = se_i^2``.

* ``tau^2`` by REML (metafor's default; the root of the restricted-likelihood
  score equation, 0 when the score at 0 is negative) or DerSimonian-Laird;
* the mean ``mu`` by inverse-variance weighting with ``w_i = 1 / (v_i +
  tau^2)``; Wald z test and CI, or Knapp-Hartung (``test = "knha"``: the
  variance multiplied by ``sum w_i (y_i - mu)^2 / (k - 1)``, untruncated as
  metafor, and t with ``k - 1`` df);
* heterogeneity ``Q``, ``I^2`` and ``H^2`` as metafor (``I^2 = tau^2 / (tau^2 +
  s^2)`` with the "typical" within-study variance ``s^2``);
* the prediction interval for a new study's true effect as metafor's
  ``predict``: ``mu -/+ crit sqrt(se(mu)^2 + tau^2)`` with ``crit`` from the
  test's distribution; the Higgins-Thompson-Spiegelhalter (2009) version with
  t on ``k - 2`` df is given too (``pi_hts_*``), since with 3 studies the normal
  one understates the uncertainty.

statsmodels' ``combine_effects`` offers DerSimonian-Laird and Paule-Mandel but
not REML or prediction intervals, hence this short module (validated against
metafor in ``tests/reference/metafor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

METHODS = ("REML", "DL")
TESTS = ("z", "knha")


@dataclass(frozen=True)
class MetaResult:
    """Random-effects meta-analysis result."""

    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    p_value: float
    df: float
    tau2: float
    i2: float
    h2: float
    q: float
    q_p: float
    pi_low: float
    pi_high: float
    pi_hts_low: float
    pi_hts_high: float
    k: int
    method: str
    test: str
    weights: np.ndarray

    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))


def _check(y: Sequence[float], se: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y, se = np.asarray(y, dtype=float), np.asarray(se, dtype=float)
    if y.shape != se.shape or y.ndim != 1:
        raise ValueError(f"estimates and standard errors must be 1-d of equal length, got {y.shape} and {se.shape}")
    bad = ~np.isfinite(y) | ~np.isfinite(se) | (se <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"study {i}: estimate {y[i]} / standard error {se[i]} is not usable (finite, SE > 0); "
                         "drop non-estimable studies explicitly and report them")
    if y.size < 2:
        raise ValueError(f"a meta-analysis needs at least 2 studies, got {y.size}")
    return y, se


def tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    """DerSimonian-Laird estimate of ``tau^2`` (truncated at 0).

    Examples
    --------
    >>> round(tau2_dl(np.array([0.1, 0.5, 0.9]), np.array([0.01, 0.02, 0.04])), 4)
    0.1286
    """
    w = 1 / v
    mu = np.sum(w * y) / w.sum()
    q = np.sum(w * (y - mu) ** 2)
    return float(max(0.0, (q - (y.size - 1)) / (w.sum() - np.sum(w**2) / w.sum())))


def tau2_reml(y: np.ndarray, v: np.ndarray) -> float:
    """REML estimate of ``tau^2`` (truncated at 0), solved to machine precision.

    Examples
    --------
    >>> round(tau2_reml(np.array([0.1, 0.5, 0.9]), np.array([0.01, 0.02, 0.04])), 4)
    0.1343
    """

    def score(t2: float) -> float:
        w = 1 / (v + t2)
        mu = np.sum(w * y) / w.sum()
        return float(np.sum(w**2 * (y - mu) ** 2) - (w.sum() - np.sum(w**2) / w.sum()))

    if score(0.0) <= 0:
        return 0.0
    hi = max(float(np.var(y, ddof=1)), float(v.max()), 1e-8)
    while score(hi) > 0:
        hi *= 4
    return float(optimize.brentq(score, 0.0, hi, xtol=1e-14 * hi, rtol=1e-15, maxiter=500))


def random_effects(y: Sequence[float], se: Sequence[float], *, method: str = "REML", test: str = "z",
                   level: float = 0.95) -> MetaResult:
    """Random-effects meta-analysis (metafor ``rma(yi, sei = se, method, test)``).

    Parameters
    ----------
    y, se : sequence of float
        Study estimates and standard errors (analysis scale, e.g. log OR).
    method : {"REML", "DL"}
    test : {"z", "knha"}
    level : float

    Returns
    -------
    MetaResult

    Examples
    --------
    >>> r = random_effects([0.1, 0.3, 0.35, 0.65, 0.45], [0.1, 0.15, 0.2, 0.2, 0.25], method="DL")
    >>> round(r.estimate, 4), round(r.tau2, 4), r.k
    (0.3201, 0.0219, 5)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    y, se = _check(y, se)
    v, k = se**2, y.size
    t2 = tau2_reml(y, v) if method == "REML" else tau2_dl(y, v)
    w = 1 / (v + t2)
    mu = float(np.sum(w * y) / w.sum())
    var_mu = 1 / w.sum()
    w0 = 1 / v
    mu0 = np.sum(w0 * y) / w0.sum()
    q = float(np.sum(w0 * (y - mu0) ** 2))
    s2 = (k - 1) * w0.sum() / (w0.sum() ** 2 - np.sum(w0**2))
    if test == "knha":
        var_mu *= float(np.sum(w * (y - mu) ** 2) / (k - 1))
        df = float(k - 1)
        crit = stats.t.ppf(0.5 + level / 2, df)
        p = float(2 * stats.t.sf(abs(mu) / np.sqrt(var_mu), df))
    else:
        df = np.inf
        crit = stats.norm.ppf(0.5 + level / 2)
        p = float(2 * stats.norm.sf(abs(mu) / np.sqrt(var_mu)))
    se_mu = float(np.sqrt(var_mu))
    half_pi = crit * np.sqrt(var_mu + t2)
    hts = stats.t.ppf(0.5 + level / 2, k - 2) * np.sqrt(var_mu + t2) if k > 2 else np.nan
    return MetaResult(mu, se_mu, mu - crit * se_mu, mu + crit * se_mu, p, df, t2, float(100 * t2 / (t2 + s2)),
                      float((t2 + s2) / s2), q, float(stats.chi2.sf(q, k - 1)), mu - half_pi, mu + half_pi,
                      mu - hts, mu + hts, k, method, test, 100 * w / w.sum())


def meta_rows(
    studies: pd.DataFrame,
    *,
    analysis: str,
    outcome: str,
    contrast: str,
    estimand: str | None = None,
    day: float | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    estimate: str = "estimate",
    std_error: str = "std_error",
    study: str = "study",
    n_patients: str | None = None,
) -> pd.DataFrame:
    """Pooled effect and per-study rows (for the forest plot) in the common schema.

    Parameters
    ----------
    studies : pandas.DataFrame
        One row per study with ``study``, ``estimate`` and ``std_error``
        columns (names configurable); not modified.
    analysis, outcome, contrast, estimand, day : labels of the rows.
    method, test, level : see :func:`random_effects`.
    n_patients : str, optional
        Column of patients per study (summed in the pooled row).

    Returns
    -------
    pandas.DataFrame
        First the pooled row (``statistic = "pooled"``, ``study = ""``) with
        ``df`` (inf for z), extra ``method``, ``test``, ``tau2``, ``tau``,
        ``i2``, ``h2``, ``q``, ``q_p``, ``pi_low``, ``pi_high``,
        ``pi_hts_low``, ``pi_hts_high``, ``k``; then one row per study
        (``statistic = "study"``, Wald CI, ``weight`` in %).

    Examples
    --------
    >>> s = pd.DataFrame({"study": ["a", "b", "c"], "estimate": [-1.9, -0.3, 0.2], "std_error": [1.5, 0.6, 0.5]})
    >>> r = meta_rows(s, analysis="meta", outcome="death", contrast="msc - control")
    >>> r["statistic"].tolist(), round(float(r["weight"].iloc[1:].sum()), 6)
    (['pooled', 'study', 'study', 'study'], 100.0)
    """
    import longmod
    from longmod.results.schema import effects_frame

    for c in (study, estimate, std_error) + ((n_patients,) if n_patients else ()):
        if c not in studies.columns:
            raise ValueError(f"column {c!r} not found in the study table; columns are: {', '.join(map(str, studies.columns))}")
    r = random_effects(studies[estimate].to_numpy(float), studies[std_error].to_numpy(float), method=method, test=test,
                       level=level)
    z = stats.norm.ppf(0.5 + level / 2)
    base = {"analysis": analysis, "estimand": estimand, "outcome": outcome, "day": day, "contrast": contrast,
            "engine": "longmod.meta", "engine_version": longmod.__version__}
    npat = float(studies[n_patients].sum()) if n_patients else np.nan
    rows = [{**base, "statistic": "pooled", "study": "", "estimate": r.estimate, "std_error": r.std_error, "df": r.df,
             "conf_low": r.conf_low, "conf_high": r.conf_high, "p_value": r.p_value, "n_obs": r.k, "n_patients": npat,
             "method": r.method, "test": r.test, "tau2": r.tau2, "tau": r.tau, "i2": r.i2, "h2": r.h2, "q": r.q,
             "q_p": r.q_p, "pi_low": r.pi_low, "pi_high": r.pi_high, "pi_hts_low": r.pi_hts_low,
             "pi_hts_high": r.pi_hts_high, "k": r.k, "weight": 100.0}]
    for i, (_, s) in enumerate(studies.iterrows()):
        y, se = float(s[estimate]), float(s[std_error])
        rows.append({**base, "statistic": "study", "study": str(s[study]), "estimate": y, "std_error": se, "df": np.inf,
                     "conf_low": y - z * se, "conf_high": y + z * se, "p_value": float(2 * stats.norm.sf(abs(y / se))),
                     "n_obs": 1, "n_patients": float(s[n_patients]) if n_patients else np.nan, "method": r.method,
                     "test": "z", "weight": float(r.weights[i])})
    return effects_frame(rows)
