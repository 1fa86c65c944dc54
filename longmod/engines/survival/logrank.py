"""Log-rank and weighted log-rank tests between two arms (optionally stratified).

The test statistics come from statsmodels' ``survdiff``; this module adds the
choice of weights under the names used in trial reports, the observed events
per arm, and common-schema rows. Weights at each event time:

==================  =========================================  ===================================
``weights``         weight                                      also known as
==================  =========================================  ===================================
``"logrank"``       1                                           Mantel-Cox; R ``survdiff(rho = 0)``
``"gehan"``         number at risk                              Gehan-Breslow generalised Wilcoxon;
                                                                SPSS "Breslow"
``"tarone-ware"``   square root of the number at risk           SPSS "Tarone-Ware"
``"peto"``          pooled KM ``S(t-)``                         Peto-Peto(-Prentice) Wilcoxon;
                                                                R ``survdiff(rho = 1)``
==================  =========================================  ===================================

Stratified tests (e.g. by matched set) sum the per-stratum observed-minus-
expected and variances (R ``survdiff(... + strata(s))``); strata where only
one arm is present contribute nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from longmod.engines.survival.data import SurvivalData

WEIGHTS: dict[str, tuple[str | None, dict]] = {
    "logrank": (None, {}),
    "gehan": ("gb", {}),
    "tarone-ware": ("tw", {}),
    "peto": ("fh", {"fh_p": 1.0}),
}


def logrank_test(sd: SurvivalData, *, weights: str = "logrank", stratified: bool = False) -> dict:
    """Two-arm (weighted) log-rank test.

    Parameters
    ----------
    sd : SurvivalData
        Event code 1 = event; codes >= 2 are rejected (a competing event is not
        censoring unless the caller recodes it so).
    weights : {"logrank", "gehan", "tarone-ware", "peto"}
    stratified : bool
        Stratify by ``sd.strata`` (which must be set).

    Returns
    -------
    dict
        ``statistic`` (chi-square, 1 df), ``p_value``, ``weights``,
        ``stratified``, ``observed_<arm>`` events per arm.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [6, 7, 10, 15, 19, 25, 2, 3, 4, 5, 8, 9], "e": [1, 0, 1, 1, 0, 1] + [1] * 6,
    ...                   "g": ["a"] * 6 + ["b"] * 6})
    >>> r = logrank_test(survival_data(d, time="t", event="e", arm="g", arms=("a", "b")))
    >>> round(r["statistic"], 3), round(r["p_value"], 4)
    (8.139, 0.0043)
    """
    from statsmodels.duration.survfunc import survdiff

    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; choose one of {', '.join(WEIGHTS)}")
    if (sd.event >= 2).any():
        raise ValueError("logrank_test: event codes >= 2 found; recode competing events explicitly (censor them for "
                         "a cause-specific test) before testing")
    if stratified and sd.strata is None:
        raise ValueError("stratified=True needs strata (survival_data(..., strata=column))")
    wt, kw = WEIGHTS[weights]
    strata = sd.strata if stratified else None
    if strata is not None:  # strata with one arm only carry no information (and make survdiff's variance singular)
        keep = np.zeros(sd.n, dtype=bool)
        for s in np.unique(strata):
            m = strata == s
            if np.unique(sd.active[m]).size == 2:
                keep |= m
        sd = sd.subset(keep)
        strata = sd.strata
    if (sd.event == 1).sum() == 0:
        stat, p = np.nan, np.nan
    else:
        with np.errstate(divide="ignore"):  # survdiff takes log(S) = log(0) after the last event (unused)
            stat, p = survdiff(sd.time, sd.event.astype(float), sd.active, weight_type=wt, strata=strata, **kw)
    out = {"statistic": float(stat), "p_value": float(p), "weights": weights, "stratified": bool(stratified)}
    for a in sd.arms:
        out[f"observed_{a}"] = int(((sd.arm == a) & (sd.event == 1)).sum())
    return out


def logrank_rows(
    sd: SurvivalData,
    *,
    analysis: str,
    outcome: str,
    estimand: str | None = None,
    weights: tuple[str, ...] = ("logrank",),
    stratified: bool = False,
) -> pd.DataFrame:
    """One common-schema row per weighting (test rows: only ``p_value`` is set).

    Returns
    -------
    pandas.DataFrame
        ``estimate``/``std_error``/``conf_*`` NaN (a test, not an effect),
        ``p_value``, extra ``statistic``, ``test`` (e.g. ``"logrank"``,
        ``"stratified gehan"``), ``n_events``.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [6, 7, 10, 15, 19, 25, 2, 3, 4, 5, 8, 9], "e": [1, 0, 1, 1, 0, 1] + [1] * 6,
    ...                   "g": ["a"] * 6 + ["b"] * 6})
    >>> sd = survival_data(d, time="t", event="e", arm="g", arms=("a", "b"))
    >>> logrank_rows(sd, analysis="lr", outcome="death", weights=("logrank", "gehan"))["test"].tolist()
    ['logrank', 'gehan']
    """
    import longmod
    from longmod.results.schema import effects_frame

    rows = []
    for w in weights:
        r = logrank_test(sd, weights=w, stratified=stratified)
        rows.append({"analysis": analysis, "estimand": estimand, "outcome": outcome, "contrast": sd.contrast,
                     "estimate": np.nan, "std_error": np.nan, "df": 1.0, "conf_low": np.nan, "conf_high": np.nan,
                     "p_value": r["p_value"], "engine": "statsmodels.survdiff",
                     "engine_version": _sm_version(), "n_obs": sd.n, "n_patients": sd.n,
                     "statistic": r["statistic"], "test": ("stratified " if stratified else "") + w,
                     "n_events": int((sd.event == 1).sum()), "longmod_version": longmod.__version__})
    return effects_frame(rows)


def _sm_version() -> str:
    import statsmodels

    return str(statsmodels.__version__)
