"""Conditional logistic regression and the exact conditional test for matched sets.

For a 1:k matched design with a binary outcome (e.g. death by day 28), the
conditional likelihood given the number of events in each matched set removes
the set effects. Two analyses:

* :func:`clogit_fit` - conditional logistic regression with the exact
  conditional likelihood (R ``survival::clogit``'s default ``method =
  "exact"``), fitted by statsmodels' ``ConditionalLogit``; Wald CI and P, plus
  the likelihood-ratio and score tests;
* :func:`exact_conditional` - for a single 0/1 exposure (the arm) the exact
  conditional distribution of the number of exposed events (a product of
  non-central hypergeometric distributions): conditional MLE of the odds
  ratio, exact CI and two-sided exact P (R ``mantelhaen.test(exact = TRUE)``).

Zero events in one arm: the conditional MLE is infinite. It is detected
exactly and reported as ``inf``/``-inf`` with a NaN standard error; the Wald P
is replaced by the likelihood-ratio P (``p_value_method``), and the exact
analysis still gives a finite one-sided CI limit and an exact P.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats


@dataclass(frozen=True)
class MatchedBinary:
    """Validated matched-set binary data (one entry per patient)."""

    y: np.ndarray
    exposed: np.ndarray
    sets: np.ndarray
    arms: tuple[str, str]

    @property
    def contrast(self) -> str:
        return f"{self.arms[1]} - {self.arms[0]}"


def matched_binary(data: pd.DataFrame, *, outcome: str, arm: str, arms: tuple[str, str], matched_set: str) -> MatchedBinary:
    """Check a patient table with a 0/1 outcome, an arm and a matched-set id.

    Examples
    --------
    >>> d = pd.DataFrame({"dead": [0, 1, 0, 0], "arm": ["t", "c", "c", "c"], "set": [1, 1, 1, 1]})
    >>> matched_binary(d, outcome="dead", arm="arm", arms=("c", "t"), matched_set="set").exposed.tolist()
    [1.0, 0.0, 0.0, 0.0]
    """
    for c in (outcome, arm, matched_set):
        if c not in data.columns:
            raise ValueError(f"column {c!r} not found; columns are: {', '.join(map(str, data.columns))}")
    y = pd.to_numeric(data[outcome], errors="coerce").to_numpy(float)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"outcome column {outcome!r} row {data.index[i]!r} has {data[outcome].iloc[i]!r}; expected 0 or 1")
    a = data[arm].astype(str).to_numpy()
    unknown = ~np.isin(a, arms)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise ValueError(f"arm column {arm!r} row {data.index[i]!r} has {a[i]!r}, not one of {tuple(arms)!r}")
    if data[matched_set].isna().any():
        raise ValueError(f"matched-set column {matched_set!r} has missing ids")
    return MatchedBinary(y, (a == arms[1]).astype(float), data[matched_set].astype(str).to_numpy(), tuple(arms))


def _strata_polynomials(mb: MatchedBinary) -> tuple[np.ndarray, int]:
    """Coefficients ``c_t`` of the conditional distribution of exposed events, and the observed count."""
    coef = np.array([1.0])
    lo_total = 0
    observed = 0
    for s in np.unique(mb.sets):
        m = mb.sets == s
        n1, n0, cases = int(mb.exposed[m].sum()), int((1 - mb.exposed[m]).sum()), int(mb.y[m].sum())
        lo, hi = max(0, cases - n0), min(n1, cases)
        x = np.arange(lo, hi + 1)
        c = special.comb(n1, x) * special.comb(n0, cases - x)
        coef = np.convolve(coef, c)
        lo_total += lo
        observed += int((mb.y[m] * mb.exposed[m]).sum())
    return coef, observed - lo_total


def exact_conditional(mb: MatchedBinary, level: float = 0.95) -> dict:
    """Exact conditional inference on the common odds ratio across matched sets.

    Returns
    -------
    dict
        ``log_or`` (conditional MLE; +-inf at the boundary), ``conf_low``,
        ``conf_high`` (exact, log scale), ``p_value`` (two-sided: sum of the
        null probabilities not above the observed one, R's rule),
        ``observed``/``expected`` exposed events (expected under OR = 1),
        ``informative_sets``.

    Examples
    --------
    >>> d = pd.DataFrame({"y": [0, 1, 1, 0] * 3 + [0, 0, 1, 1], "arm": ["t", "c", "c", "c"] * 4, "set": np.repeat(range(4), 4)})
    >>> r = exact_conditional(matched_binary(d, outcome="y", arm="arm", arms=("c", "t"), matched_set="set"))
    >>> r["log_or"], round(r["p_value"], 4)
    (-inf, 0.125)
    """
    coef, t_obs = _strata_polynomials(mb)
    support = np.arange(coef.size)
    logc = np.log(coef)

    def probs(log_psi: float) -> np.ndarray:
        w = logc + support * log_psi
        w = np.exp(w - w.max())
        return w / w.sum()

    p0 = probs(0.0)
    p_value = float(p0[p0 <= p0[t_obs] * (1 + 1e-7)].sum())
    alpha = 1 - level
    top = support.size - 1

    def root(f) -> float:
        return float(optimize.brentq(f, -50.0, 50.0, xtol=1e-12))

    if top == 0:
        est = lo = hi = np.nan
    else:
        est = -np.inf if t_obs == 0 else (np.inf if t_obs == top else root(lambda b: probs(b) @ support - t_obs))
        lo = -np.inf if t_obs == 0 else root(lambda b: probs(b)[t_obs:].sum() - alpha / 2)
        hi = np.inf if t_obs == top else root(lambda b: probs(b)[: t_obs + 1].sum() - alpha / 2)
    informative = sum(1 for s in np.unique(mb.sets) if 0 < mb.y[mb.sets == s].sum() < (mb.sets == s).sum()
                      and 0 < mb.exposed[mb.sets == s].sum() < (mb.sets == s).sum())
    lo_total = int((mb.y * mb.exposed).sum()) - t_obs
    return {"log_or": est, "conf_low": lo, "conf_high": hi, "p_value": p_value,
            "observed": int((mb.y * mb.exposed).sum()), "expected": float(p0 @ support + lo_total),
            "informative_sets": informative}


@dataclass(frozen=True)
class ClogitResult:
    """Treatment log odds ratio of a conditional logistic regression."""

    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    p_value: float
    p_value_method: str
    p_lrt: float
    p_score: float
    loglik: float
    loglik_null: float
    infinite: str
    warnings: tuple[str, ...]


def clogit_fit(mb: MatchedBinary, level: float = 0.95) -> ClogitResult:
    """Conditional logistic regression of the outcome on the arm (exact likelihood).

    Examples
    --------
    >>> d = pd.DataFrame({"y": [1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1], "arm": ["t", "c", "c"] * 4, "set": np.repeat(range(4), 3)})
    >>> r = clogit_fit(matched_binary(d, outcome="y", arm="arm", arms=("c", "t"), matched_set="set"))
    >>> round(r.estimate, 4), r.infinite
    (-0.8341, '')
    """
    import warnings as _w

    from statsmodels.discrete.conditional_models import ConditionalLogit

    coef, t_obs = _strata_polynomials(mb)
    top = coef.size - 1
    with _w.catch_warnings():
        _w.simplefilter("ignore")  # statsmodels warns about uninformative sets it drops; they carry no information
        model = ConditionalLogit(mb.y, mb.exposed[:, None], groups=mb.sets)
    ll0 = float(model.loglike(np.zeros(1)))
    z = stats.norm.ppf(0.5 + level / 2)
    # score test at 0 from the exact conditional (hypergeometric) moments
    support = np.arange(coef.size)
    p0 = coef / coef.sum()
    mean0, var0 = p0 @ support, p0 @ (support - p0 @ support) ** 2
    p_score = float(stats.chi2.sf((t_obs - mean0) ** 2 / var0, 1)) if var0 > 0 else np.nan
    if top == 0:
        return ClogitResult(np.nan, np.nan, np.nan, np.nan, np.nan, "none", np.nan, np.nan, ll0, ll0, "not estimable",
                            ("no matched set has both an event and a non-event and both arms: not estimable",))
    if t_obs in (0, top):
        d = -1.0 if t_obs == 0 else 1.0
        sup = float(model.loglike(np.array([d * 40.0])))
        p_lrt = float(stats.chi2.sf(max(2 * (sup - ll0), 0.0), 1))
        target = sup - stats.chi2.ppf(level, 1) / 2
        lim = float(optimize.brentq(lambda b: float(model.loglike(np.array([b]))) - target, -40.0, 40.0, xtol=1e-10))
        sign = "+inf" if d > 0 else "-inf"
        msg = (f"no events in the {'reference' if d > 0 else 'active'} arm of any informative matched set: the "
               f"conditional maximum likelihood log odds ratio is {sign}; p_value is the likelihood-ratio test and the "
               "finite confidence limit the profile-likelihood limit")
        return ClogitResult(d * np.inf, np.nan, -np.inf if d < 0 else lim, lim if d < 0 else np.inf, p_lrt,
                            "likelihood ratio", p_lrt, p_score, sup, ll0, sign, (msg,))
    res = model.fit(method="newton", disp=0)  # Newton reaches R clogit's optimum to ~1e-12; BFGS stops ~1e-5 short
    b, se = float(res.params[0]), float(res.bse[0])
    ll = float(res.llf)
    return ClogitResult(b, se, b - z * se, b + z * se, float(2 * stats.norm.sf(abs(b / se))), "wald",
                        float(stats.chi2.sf(max(2 * (ll - ll0), 0.0), 1)), p_score, ll, ll0, "", ())


def clogit_rows(mb: MatchedBinary, *, analysis: str, outcome: str, estimand: str | None = None, day: float | None = None,
                level: float = 0.95) -> pd.DataFrame:
    """Conditional logistic regression and the exact conditional test as two rows.

    Returns
    -------
    pandas.DataFrame
        Rows with ``method`` = ``"conditional logistic (exact likelihood)"``
        (Wald or, when infinite, profile/LRT) and ``"exact conditional"``
        (conditional MLE, exact CI and P); ``estimate`` is the log odds ratio
        of the outcome, active vs reference; extra ``odds_ratio``, ``or_low``,
        ``or_high``, ``p_value_method``, ``p_lrt``, ``p_score``,
        ``infinite``, ``warnings``, ``n_events``, ``n_sets``.

    Examples
    --------
    >>> d = pd.DataFrame({"y": [0, 1, 1, 0] * 3 + [0, 0, 1, 1], "arm": ["t", "c", "c", "c"] * 4, "set": np.repeat(range(4), 4)})
    >>> mb = matched_binary(d, outcome="y", arm="arm", arms=("c", "t"), matched_set="set")
    >>> clogit_rows(mb, analysis="a", outcome="death")[["method", "estimate", "p_value_method"]].values.tolist()
    [['conditional logistic (exact likelihood)', -inf, 'likelihood ratio'], ['exact conditional', -inf, 'exact']]
    """
    import statsmodels

    import longmod
    from longmod.results.schema import effects_frame

    r = clogit_fit(mb, level)
    e = exact_conditional(mb, level)
    base = {"analysis": analysis, "estimand": estimand, "outcome": outcome, "day": day, "contrast": mb.contrast,
            "df": np.nan, "n_obs": int(mb.y.size), "n_patients": int(mb.y.size), "scale": "log odds ratio",
            "n_events": int(mb.y.sum()), "n_sets": int(np.unique(mb.sets).size)}
    rows = [
        {**base, "estimate": r.estimate, "std_error": r.std_error, "conf_low": r.conf_low, "conf_high": r.conf_high,
         "p_value": r.p_value, "engine": "statsmodels.ConditionalLogit", "engine_version": str(statsmodels.__version__),
         "method": "conditional logistic (exact likelihood)", "p_value_method": r.p_value_method, "p_lrt": r.p_lrt,
         "p_score": r.p_score, "infinite": r.infinite, "warnings": "; ".join(r.warnings)},
        {**base, "estimate": e["log_or"], "std_error": np.nan, "conf_low": e["conf_low"], "conf_high": e["conf_high"],
         "p_value": e["p_value"], "engine": "longmod.survival", "engine_version": longmod.__version__,
         "method": "exact conditional", "p_value_method": "exact", "p_lrt": np.nan, "p_score": np.nan,
         "infinite": "+inf" if e["log_or"] == np.inf else ("-inf" if e["log_or"] == -np.inf else ""),
         "warnings": "", "observed": e["observed"], "expected": e["expected"]},
    ]
    out = effects_frame(rows)
    with np.errstate(over="ignore"):
        out["odds_ratio"] = np.exp(out["estimate"])
        out["or_low"] = np.exp(out["conf_low"])
        out["or_high"] = np.exp(out["conf_high"])
    return out
