"""Cox proportional-hazards model for the treatment effect (statsmodels ``PHReg``).

Efron's method for tied times (R ``coxph``'s default), optional strata (e.g.
matched sets: a separate baseline hazard per set) and optional adjusting
covariates. A *cause-specific* Cox model for a competing-risks outcome is the
same fit with the other causes treated as censoring at their event time
(``cause=k``); its hazard ratio is the effect on the rate of cause ``k`` among
patients still free of every event.

**Infinite estimates.** When every event happens in one arm (within every
risk set), the partial likelihood increases without bound: the maximum
likelihood estimate of the log hazard ratio is +inf or -inf. This module
detects that exactly (before fitting) and reports it as such: ``estimate`` is
``inf``/``-inf``, ``std_error`` NaN, the finite confidence limit is the
profile-likelihood limit (treatment-only models), and ``p_value`` is the
likelihood-ratio test (the Wald test is meaningless there); a Newton
iteration's large finite number is never reported as the estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from longmod.engines.survival.data import SurvivalData

#: log hazard ratio used to evaluate the supremum of a monotone likelihood
_FAR = 40.0


@dataclass(frozen=True)
class CoxResult:
    """Treatment log hazard ratio of a Cox model and its tests."""

    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    p_value: float
    p_value_method: str
    p_wald: float
    p_lrt: float
    p_score: float
    loglik: float
    loglik_null: float
    n_events: int
    n_patients: int
    infinite: str = ""
    coefficients: pd.DataFrame | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


def monotone_direction(time: np.ndarray, event: np.ndarray, x: np.ndarray, strata: np.ndarray | None = None) -> float:
    """Whether the Cox partial likelihood in a 0/1 covariate ``x`` is monotone.

    Returns
    -------
    float
        ``+1.0`` if every event happens in a patient whose ``x`` is the largest
        in its risk set (the estimate is +inf), ``-1.0`` for the smallest (the
        estimate is -inf), ``0.0`` when the estimate is finite, NaN when every
        risk set at an event time has a single value of ``x`` (no information).

    Examples
    --------
    >>> monotone_direction([1, 2, 3, 4], [1, 1, 0, 0], [0, 0, 1, 1])
    -1.0
    >>> monotone_direction([1, 2, 3, 4], [1, 1, 0, 1], [0, 1, 1, 0])
    0.0
    """
    time, event, x = (np.asarray(a, dtype=float) for a in (time, event, x))
    s = np.zeros(time.size) if strata is None else np.asarray(strata)
    at_max = at_min = True
    informative = False
    for i in np.flatnonzero(event == 1):
        risk = (time >= time[i]) & (s == s[i])
        lo, hi = x[risk].min(), x[risk].max()
        if lo == hi:
            continue
        informative = True
        at_max &= x[i] == hi
        at_min &= x[i] == lo
    if not informative:
        return np.nan
    return 1.0 if at_max else (-1.0 if at_min else 0.0)


def cox_fit(
    sd: SurvivalData,
    *,
    covariates: pd.DataFrame | None = None,
    stratified: bool = False,
    cause: int = 1,
    level: float = 0.95,
) -> CoxResult:
    """Fit a Cox model ``hazard ~ treatment (+ covariates)`` with Efron ties.

    Parameters
    ----------
    sd : SurvivalData
        From :func:`~longmod.engines.survival.data.survival_data` (with
        ``max_event_code >= 2`` for competing events).
    covariates : pandas.DataFrame, optional
        Numeric adjusting covariates, one row per patient in ``sd``'s order.
    stratified : bool
        Separate baseline hazards per ``sd.strata`` (R ``strata(s)``).
    cause : int
        Event code analysed; other non-zero codes are censored at their time
        (cause-specific hazard). With codes 0/1 only, the ordinary Cox model.
    level : float

    Returns
    -------
    CoxResult

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [6, 7, 10, 15, 19, 25, 2, 3, 4, 5, 8, 9], "e": [1, 0, 1, 1, 0, 1] + [1] * 6,
    ...                   "g": ["a"] * 6 + ["b"] * 6})
    >>> r = cox_fit(survival_data(d, time="t", event="e", arm="g", arms=("a", "b")))
    >>> round(r.estimate, 3) > 0, r.infinite
    (True, '')
    """
    from statsmodels.duration.hazard_regression import PHReg

    if stratified and sd.strata is None:
        raise ValueError("stratified=True needs strata (survival_data(..., strata=column))")
    status = (sd.event == cause).astype(float)
    names = ["treatment"]
    X = sd.active[:, None]
    if covariates is not None:
        cov = covariates.apply(pd.to_numeric, errors="raise").to_numpy(float)
        if cov.shape[0] != sd.n or not np.isfinite(cov).all():
            raise ValueError("covariates must have one finite numeric row per patient, in the data's order")
        X = np.column_stack([X, cov])
        names += [str(c) for c in covariates.columns]
    strata = sd.strata if stratified else None
    n_events = int(status.sum())
    model = PHReg(sd.time, X, status=status, strata=strata, ties="efron")
    k = X.shape[1]
    ll0 = float(model.loglike(np.zeros(k)))
    score0 = np.asarray(model.score(np.zeros(k)), dtype=float)
    info0 = -np.asarray(model.hessian(np.zeros(k)), dtype=float)
    try:
        p_score = float(stats.chi2.sf(score0 @ np.linalg.solve(info0, score0), k))
    except np.linalg.LinAlgError:
        p_score = np.nan
    z = stats.norm.ppf(0.5 + level / 2)
    direction = monotone_direction(sd.time, status, sd.active, strata) if n_events else np.nan
    warnings: list[str] = []
    if not np.isfinite(direction) or direction != 0:
        return _degenerate(model, direction, k, ll0, p_score, n_events, sd.n, z, level, names)
    res = model.fit(disp=0)
    beta, se = np.asarray(res.params, float), np.asarray(res.bse, float)
    ll = float(res.llf)
    p_wald = float(2 * stats.norm.sf(abs(beta[0] / se[0])))
    p_lrt = float(stats.chi2.sf(max(2 * (ll - ll0), 0.0), k))
    coef = pd.DataFrame({"term": names, "estimate": beta, "std_error": se, "conf_low": beta - z * se,
                         "conf_high": beta + z * se, "p_value": 2 * stats.norm.sf(np.abs(beta / se))})
    return CoxResult(float(beta[0]), float(se[0]), float(beta[0] - z * se[0]), float(beta[0] + z * se[0]), p_wald,
                     "wald", p_wald, p_lrt, p_score, ll, ll0, n_events, sd.n, "", coef, tuple(warnings))


def _degenerate(model, direction: float, k: int, ll0: float, p_score: float, n_events: int, n: int, z: float,
                level: float, names: Sequence[str]) -> CoxResult:
    """Result when the treatment estimate is infinite (or not estimable)."""
    if not np.isfinite(direction):
        msg = "no event time has both arms at risk: the treatment effect is not estimable"
        return CoxResult(np.nan, np.nan, np.nan, np.nan, np.nan, "none", np.nan, np.nan, p_score, ll0, ll0, n_events,
                         n, "not estimable", None, (msg,))
    sign = "+inf" if direction > 0 else "-inf"
    msg = (f"every event in the risk sets happened in the {'active' if direction > 0 else 'reference'} arm: the "
           f"maximum likelihood log hazard ratio is {sign} (monotone likelihood); p_value is the likelihood-ratio test")
    if k == 1:
        def ll(b: float) -> float:
            return float(model.loglike(np.array([b])))

        sup = ll(direction * _FAR)
        q = stats.chi2.ppf(level, 1)
        target = sup - q / 2
        # the profile limit on the finite side: ll(b) = sup - q/2, between -FAR and FAR
        lim = optimize.brentq(lambda b: ll(b) - target, -_FAR, _FAR, xtol=1e-10)
        p_lrt = float(stats.chi2.sf(max(2 * (sup - ll0), 0.0), 1))
        low, high = (lim, np.inf) if direction > 0 else (-np.inf, lim)
        ci_note = "; the finite confidence limit is the profile-likelihood limit"
    else:
        sup, p_lrt, low, high = np.nan, np.nan, (-np.inf if direction < 0 else np.nan), (np.inf if direction > 0 else np.nan)
        ci_note = "; with adjusting covariates no profile limit is computed"
    return CoxResult(direction * np.inf, np.nan, low, high, p_lrt, "likelihood ratio", np.nan, p_lrt, p_score, sup,
                     ll0, n_events, n, sign, None, (msg + ci_note,))


def cox_rows(
    sd: SurvivalData,
    *,
    analysis: str,
    outcome: str,
    estimand: str | None = None,
    covariates: pd.DataFrame | None = None,
    stratified: bool = False,
    cause: int = 1,
    level: float = 0.95,
) -> pd.DataFrame:
    """The treatment log hazard ratio as one common-schema row.

    Returns
    -------
    pandas.DataFrame
        ``estimate`` = log hazard ratio (active vs reference; < 0 = lower
        hazard in the active arm), ``std_error``, ``conf_*`` (Wald, or the
        profile limit when infinite), ``p_value`` (``p_value_method`` says
        which test), extra ``hazard_ratio``, ``hr_low``, ``hr_high``,
        ``p_lrt``, ``p_score``, ``model`` ("cox", "stratified cox",
        "cause-specific cox"), ``cause``, ``n_events``, ``infinite``,
        ``warnings``.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [5, 9, 12, 20, 3, 4, 8, 10], "e": [0, 0, 0, 0, 1, 1, 1, 0], "g": ["x"] * 4 + ["y"] * 4})
    >>> r = cox_rows(survival_data(d, time="t", event="e", arm="g", arms=("y", "x")), analysis="cox", outcome="death")
    >>> r[["estimate", "std_error", "infinite", "p_value_method"]].values.tolist()
    [[-inf, nan, '-inf', 'likelihood ratio']]
    """
    import statsmodels

    from longmod.results.schema import effects_frame

    r = cox_fit(sd, covariates=covariates, stratified=stratified, cause=cause, level=level)
    kind = "cause-specific cox" if (sd.event >= 2).any() else ("stratified cox" if stratified else "cox")
    if stratified and kind == "cause-specific cox":
        kind = "stratified cause-specific cox"
    row = {"analysis": analysis, "estimand": estimand, "outcome": outcome, "contrast": sd.contrast,
           "estimate": r.estimate, "std_error": r.std_error, "df": np.nan, "conf_low": r.conf_low,
           "conf_high": r.conf_high, "p_value": r.p_value, "engine": "statsmodels.PHReg",
           "engine_version": str(statsmodels.__version__), "n_obs": sd.n, "n_patients": r.n_patients,
           "scale": "log hazard ratio", "hazard_ratio": float(np.exp(r.estimate)), "hr_low": float(np.exp(r.conf_low)),
           "hr_high": float(np.exp(r.conf_high)), "p_value_method": r.p_value_method, "p_lrt": r.p_lrt,
           "p_score": r.p_score, "model": kind, "ties": "efron", "cause": cause, "n_events": r.n_events,
           "infinite": r.infinite, "warnings": "; ".join(r.warnings)}
    return effects_frame([row])
