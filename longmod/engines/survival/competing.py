"""Competing risks: cumulative incidence (Aalen-Johansen) per arm.

Event codes: 0 censored, 1 the event of interest (e.g. oxygen discontinued,
discharged alive), 2+ competing events (e.g. death). The cumulative incidence
of cause ``k`` is ``F_k(t) = sum_{t_j <= t} S(t_j-) d_kj / n_j`` with ``S`` the
all-cause Kaplan-Meier curve (R ``survfit`` with a multi-state factor and
``cmprsk::cuminc`` give the same estimate); its variance is Gray's
delta-method estimate used by ``cmprsk::cuminc``, a step function that
changes at the event times of cause ``k`` (validated against ``cuminc`` in
``tests/reference/survival``). The pointwise CI uses the complementary
log-log transform, ``F^exp(+-z se / (F log F))``, which stays in (0, 1).

Which regression model goes with it: the primary one is the **cause-specific
Cox model** (:func:`longmod.engines.survival.cox.cox_rows` with ``cause=k``).
:func:`longmod.engines.survival.fine_gray.fine_gray_rows` adds the Fine-Gray
subdistribution hazard ratio (inverse-probability-of-censoring weights, as
``cmprsk::crr``). The cause-specific hazard ratio is a rate ratio among patients
still free of every event, estimable with the standard partial likelihood
(no censoring-distribution weights), and with few competing events (small
ICU trials) it is the more stable and interpretable effect; the absolute
picture - what the subdistribution model targets - is given directly by the
cumulative incidence curves and their difference at the estimand's day.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from longmod.engines.survival.data import SurvivalData


def cumulative_incidence(time: np.ndarray, event: np.ndarray, cause: int = 1) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of ``cause`` with Gray's variance.

    Parameters
    ----------
    time, event : array_like
        Follow-up times and event codes (0 censored, 1.. causes).
    cause : int

    Returns
    -------
    pandas.DataFrame
        One row per distinct time: ``time, n_risk, n_cause, n_other,
        n_censor, surv`` (all-cause KM just after ``time``), ``cif``,
        ``variance``.

    Examples
    --------
    >>> t = cumulative_incidence([1, 2, 3, 4, 5], [1, 2, 1, 0, 1])
    >>> t[["time", "cif"]].round(3).values.tolist()
    [[1.0, 0.2], [2.0, 0.2], [3.0, 0.4], [4.0, 0.4], [5.0, 0.8]]
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event).astype(int)
    rows = []
    s_prev, cif = 1.0, 0.0
    v1 = v2 = v3 = 0.0
    var = 0.0
    for u in np.unique(t):
        rs = float((t >= u).sum())
        at = t == u
        d1 = float((at & (e == cause)).sum())
        d2 = float((at & (e != cause) & (e > 0)).sum())
        nd = d1 + d2
        s_new = s_prev * (rs - nd) / rs if nd else s_prev
        if d1:
            cif += s_prev * d1 / rs
        # Gray's delta-method terms (as cmprsk::cuminc): other causes first, then the cause of interest
        if d2 > 0 and s_new > 0:
            t6 = s_prev**2 * (1 - (d2 - 1) / (rs - 1) if d2 > 1 else 1.0) * d2 / rs**2
            t3, t4 = 1 / s_new, cif / s_new
            v1, v2, v3 = v1 + t4 * t4 * t6, v2 + t3 * t4 * t6, v3 + t3 * t3 * t6
        if d1 > 0:
            t6 = s_prev**2 * (1 - (d1 - 1) / (rs - 1) if d1 > 1 else 1.0) * d1 / rs**2
            t3 = 1 / s_new if s_new > 0 else 0.0
            t4 = 1 + t3 * cif
            v1, v2, v3 = v1 + t4 * t4 * t6, v2 + t3 * t4 * t6, v3 + t3 * t3 * t6
            var = v1 + cif * cif * v3 - 2 * cif * v2
        rows.append({"time": u, "n_risk": rs, "n_cause": d1, "n_other": d2, "n_censor": float((at & (e == 0)).sum()),
                     "surv": s_new, "cif": cif, "variance": var})
        s_prev = s_new
    return pd.DataFrame(rows)


def cif_at(table: pd.DataFrame, times: Sequence[float], level: float = 0.95) -> pd.DataFrame:
    """Cumulative incidence, SE and cloglog CI at given times (step function).

    Times after the last follow-up time of ``table`` give NaN (the curve is
    not estimated there; ``cmprsk::timepoints`` does the same).

    Examples
    --------
    >>> cif_at(cumulative_incidence([1, 2, 3, 4, 5], [1, 2, 1, 0, 1]), [0, 3.5])[["time", "cif"]].round(3).values.tolist()
    [[0.0, 0.0], [3.5, 0.4]]
    """
    z = stats.norm.ppf(0.5 + level / 2)
    out = []
    for u in times:
        k = np.searchsorted(table["time"].to_numpy(float), u, side="right") - 1
        if u > float(table["time"].iloc[-1]):
            out.append({"time": float(u), "cif": np.nan, "std_error": np.nan, "conf_low": np.nan, "conf_high": np.nan})
            continue
        f, v = (0.0, 0.0) if k < 0 else (float(table["cif"].iloc[k]), float(table["variance"].iloc[k]))
        se = float(np.sqrt(max(v, 0.0)))
        if 0 < f < 1 and se > 0:
            w = np.exp(z * se / (f * np.log(f)))
            lo, hi = f ** (1 / w), f ** w
        else:
            lo = hi = np.nan
        out.append({"time": float(u), "cif": f, "std_error": se, "conf_low": lo, "conf_high": hi})
    return pd.DataFrame(out)


def cif_rows(
    sd: SurvivalData,
    *,
    day: float,
    analysis: str,
    outcome: str,
    estimand: str | None = None,
    cause: int = 1,
    level: float = 0.95,
) -> pd.DataFrame:
    """Cumulative incidence of ``cause`` by ``day`` per arm and its difference.

    Returns
    -------
    pandas.DataFrame
        Rows ``statistic = "cumulative_incidence"`` per arm (``contrast`` =
        the arm) and ``"cif_difference"`` (active - reference, normal CI from
        the two independent variances), ``cause``, ``n_events`` (of the cause),
        ``n_competing``.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [3, 5, 9, 12, 4, 8, 10, 15], "e": [1, 1, 2, 1, 2, 1, 0, 1], "g": ["a"] * 4 + ["b"] * 4})
    >>> sd = survival_data(d, time="t", event="e", arm="g", arms=("b", "a"), max_event_code=2)
    >>> cif_rows(sd, day=10, analysis="cif", outcome="o2_off")[["contrast", "estimate"]].round(3).values.tolist()
    [['b', 0.25], ['a', 0.5], ['a - b', 0.25]]
    """
    import longmod
    from longmod.results.schema import effects_frame

    z = stats.norm.ppf(0.5 + level / 2)
    base = {"analysis": analysis, "estimand": estimand, "outcome": outcome, "day": float(day), "df": np.nan,
            "engine": "longmod.survival", "engine_version": longmod.__version__, "cause": cause,
            "scale": "cumulative incidence", "ci_transform": "cloglog"}
    rows, est = [], {}
    for a in sd.arms:
        m = sd.arm == a
        tab = cumulative_incidence(sd.time[m], sd.event[m], cause)
        r = cif_at(tab, [day], level).iloc[0]
        est[a] = (r["cif"], r["std_error"])
        rows.append({**base, "contrast": a, "statistic": "cumulative_incidence", "estimate": r["cif"],
                     "std_error": r["std_error"], "conf_low": r["conf_low"], "conf_high": r["conf_high"],
                     "p_value": np.nan, "n_obs": int(m.sum()), "n_patients": int(m.sum()),
                     "n_events": int(((sd.event[m] == cause) & (sd.time[m] <= day)).sum()),
                     "n_competing": int(((sd.event[m] >= 1) & (sd.event[m] != cause) & (sd.time[m] <= day)).sum())})
    diff = est[sd.arms[1]][0] - est[sd.arms[0]][0]
    se = float(np.hypot(est[sd.arms[1]][1], est[sd.arms[0]][1]))
    rows.append({**base, "contrast": sd.contrast, "statistic": "cif_difference", "estimate": diff, "std_error": se,
                 "conf_low": diff - z * se, "conf_high": diff + z * se, "ci_transform": "none",
                 "p_value": float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else np.nan, "n_obs": sd.n,
                 "n_patients": sd.n, "n_events": int(((sd.event == cause) & (sd.time <= day)).sum()),
                 "n_competing": int(((sd.event >= 1) & (sd.event != cause) & (sd.time <= day)).sum())})
    return effects_frame(rows)
