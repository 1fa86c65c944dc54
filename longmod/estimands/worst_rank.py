"""Worst-rank composite: death ranked worst (earlier worse), survivors by the outcome; win ratio, Mann-Whitney odds.

Every active-arm patient ``i`` is compared with every reference-arm patient
``j`` (Pocock et al. 2012, Eur Heart J 33:176-82): a patient who died by
the horizon loses to a survivor; of two who died, the later death wins; of
two survivors, the better outcome wins (``higher_is_better``); equal
ranks tie. With ``p_w``, ``p_l``, ``p_t`` the proportions of won, lost and
tied pairs:

* win ratio ``WR = p_w / p_l``;
* probabilistic index ``theta = p_w + p_t / 2`` (P(active better) + half the
  ties) and Mann-Whitney odds ``theta / (1 - theta)`` (Dong et al. 2020's win
  odds);
* net benefit ``p_w - p_l`` (Buyse).

Variances: ``p_w`` and ``p_l`` are two-sample U-statistics; their joint
covariance is estimated from the structural components (per-patient win and
loss proportions; Sen 1960, DeLong et al. 1988), which is the large-sample
variance of Bebu and Lachin (2016, Biostatistics 17:178-87). Intervals:
delta method on ``log WR`` and ``logit theta``. P value: the
Finkelstein-Schoenfeld (1999) permutation-variance test of the pairwise
scores, which for a ranking like this one equals the tie-corrected
Wilcoxon-Mann-Whitney test without continuity correction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from longmod.estimands.descriptions import estimand_description
from longmod.results.schema import effects_frame

ENGINE = "worst-rank"


@dataclass(frozen=True)
class WinStatistics:
    """Pairwise comparison of two arms on a composite ranking.

    Attributes
    ----------
    wins, losses, ties : int
        Pairs (active, reference) won, lost, tied by the active patient.
    n_active, n_reference : int
    win_ratio, log_win_ratio_se : float
    theta, theta_se : float
        Probabilistic index and its standard error.
    mw_odds, logit_theta_se : float
        Mann-Whitney odds ``theta / (1 - theta)`` and the SE of its log.
    net_benefit, net_benefit_se : float
    fs_z, fs_p_value : float
        Finkelstein-Schoenfeld statistic and two-sided P value.
    """

    wins: int
    losses: int
    ties: int
    n_active: int
    n_reference: int
    win_ratio: float
    log_win_ratio_se: float
    theta: float
    theta_se: float
    mw_odds: float
    logit_theta_se: float
    net_benefit: float
    net_benefit_se: float
    fs_z: float
    fs_p_value: float


def composite_keys(death_day: np.ndarray, outcome: np.ndarray, horizon: float, higher_is_better: bool = True
                   ) -> np.ndarray:
    """``(n, 2)`` lexicographic keys, larger = better: ``(0, death day)`` if died by ``horizon``, else ``(1, +/-outcome)``.

    Examples
    --------
    >>> composite_keys([3.0, None, 10.0], [None, 120.0, 80.0], horizon=7).tolist()
    [[0.0, 3.0], [1.0, 120.0], [1.0, 80.0]]
    """
    dd = pd.to_numeric(pd.Series(death_day, dtype=object), errors="coerce").to_numpy(float)
    y = pd.to_numeric(pd.Series(outcome, dtype=object), errors="coerce").to_numpy(float)
    died = np.isfinite(dd) & (dd <= horizon)
    return np.column_stack([np.where(died, 0.0, 1.0), np.where(died, dd, y if higher_is_better else -y)])


def pairwise_scores(keys_a: np.ndarray, keys_r: np.ndarray) -> np.ndarray:
    """``(n_a, n_r)`` matrix: +1 active wins, -1 loses, 0 ties (lexicographic on the keys)."""
    t = np.sign(keys_a[:, None, 0] - keys_r[None, :, 0])
    v = np.sign(keys_a[:, None, 1] - keys_r[None, :, 1])
    return np.where(t != 0, t, v).astype(int)


def win_statistics(keys_a: np.ndarray, keys_r: np.ndarray) -> WinStatistics:
    """Win ratio, probabilistic index, Mann-Whitney odds, net benefit, their SEs and the FS test.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1, 5.0], [1, 3.0], [0, 4.0]]); r = np.array([[1, 2.0], [0, 6.0]])
    >>> s = win_statistics(a, r)
    >>> s.wins, s.losses, s.ties, s.win_ratio
    (4, 2, 0, 2.0)
    """
    from scipy import stats

    ka, kr = np.asarray(keys_a, float), np.asarray(keys_r, float)
    m, n = len(ka), len(kr)
    if m < 2 or n < 2:
        raise ValueError(f"win statistics need at least 2 patients per arm, got {m} and {n}")
    s = pairwise_scores(ka, kr)
    w, loss = (s == 1), (s == -1)
    W, L = int(w.sum()), int(loss.sum())
    T = m * n - W - L
    pw, pl = W / (m * n), L / (m * n)
    # structural components: per-patient proportions of won / lost comparisons
    aw, al = w.mean(axis=1), loss.mean(axis=1)
    rw, rl = w.mean(axis=0), loss.mean(axis=0)
    var_w = np.var(aw, ddof=1) / m + np.var(rw, ddof=1) / n
    var_l = np.var(al, ddof=1) / m + np.var(rl, ddof=1) / n
    cov_wl = np.cov(aw, al)[0, 1] / m + np.cov(rw, rl)[0, 1] / n
    wr = pw / pl if pl > 0 else np.inf
    se_log_wr = float(np.sqrt(var_w / pw**2 + var_l / pl**2 - 2 * cov_wl / (pw * pl))) if pw > 0 and pl > 0 else np.nan
    theta = pw + (T / (m * n)) / 2
    var_theta = (var_w + var_l - 2 * cov_wl) / 4  # theta = (1 + p_w - p_l) / 2
    theta_se = float(np.sqrt(var_theta))
    odds = theta / (1 - theta) if theta < 1 else np.inf
    logit_se = theta_se / (theta * (1 - theta)) if 0 < theta < 1 else np.nan
    # Finkelstein-Schoenfeld: pooled pairwise scores U_i, permutation variance
    keys = np.vstack([ka, kr])
    u = pairwise_scores(keys, keys).sum(axis=1)
    N = m + n
    stat = float(u[:m].sum())
    var_fs = m * n / (N * (N - 1)) * float((u.astype(float) ** 2).sum())
    z = stat / np.sqrt(var_fs) if var_fs > 0 else np.nan
    p = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan
    return WinStatistics(W, L, T, m, n, float(wr), se_log_wr, float(theta), theta_se, float(odds), float(logit_se),
                         float(pw - pl), float(2 * theta_se), float(z), p)


def worst_rank(
    patients: pd.DataFrame,
    *,
    treatment: Any,
    death_day: str,
    outcome: str,
    horizon: float,
    higher_is_better: bool = True,
    level: float = 0.95,
    analysis: str = "worst_rank",
    estimand: str | None = None,
    outcome_label: str | None = None,
) -> pd.DataFrame:
    """Worst-rank composite of death and the outcome: win ratio, Mann-Whitney odds, probabilistic index.

    Parameters
    ----------
    patients : pandas.DataFrame
        One row per patient: the treatment column, ``death_day`` (NaN =
        alive at the horizon) and ``outcome`` (needed for survivors only).
        Not modified.
    treatment : Treatment
    death_day, outcome : str
        Column names.
    horizon : float
        Deaths on or before this day rank worst.
    higher_is_better : bool
        Direction of the outcome among survivors.
    level : float
    analysis, estimand, outcome_label : str, optional

    Returns
    -------
    pandas.DataFrame
        Three rows, ``summary_measure`` = ``win_ratio``, ``mann_whitney_odds``,
        ``probabilistic_index``: common schema (``estimate`` on its natural
        scale; ``std_error`` of the log (ratio, odds) or natural (index)
        estimate, column ``se_scale``; ``conf_*`` back-transformed;
        ``p_value`` = Finkelstein-Schoenfeld; ``df`` = inf), plus ``wins``,
        ``losses``, ``ties``, ``net_benefit``, ``n_deaths_active``,
        ``n_deaths_reference``, ``n_excluded`` (survivors without an
        outcome), ``horizon``, ``p_value_wald`` (of the row's own interval),
        ``assumes``, ``warnings``.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.spec import Treatment
    >>> d = pd.DataFrame({"arm": ["t", "t", "t", "c", "c", "c"], "death": [None, None, 2, 2, None, 5],
    ...                   "y": [120., 90., None, None, 100., None]})
    >>> r = worst_rank(d, treatment=Treatment("arm", "c", "t"), death_day="death", outcome="y", horizon=7)
    >>> [int(v) for v in r.set_index("summary_measure").loc["win_ratio", ["wins", "losses", "ties"]]]
    [5, 3, 1]
    """
    from scipy import stats

    import longmod

    tr = treatment
    for c in (tr.variable, death_day, outcome):
        if c not in patients.columns:
            raise ValueError(f"worst-rank composite: column {c!r} not in the patients table; "
                             f"columns: {', '.join(map(str, patients.columns))}")
    arm = patients[tr.variable].astype(str)
    bad = sorted(set(arm) - {tr.active, tr.reference})
    if bad:
        raise ValueError(f"worst-rank composite: arm(s) {', '.join(bad)}; only {tr.active!r} and {tr.reference!r}")
    keys = composite_keys(patients[death_day].to_numpy(), patients[outcome].to_numpy(), horizon, higher_is_better)
    usable = np.isfinite(keys).all(axis=1)
    died = keys[:, 0] == 0
    a, r = (arm == tr.active).to_numpy(), (arm == tr.reference).to_numpy()
    st = win_statistics(keys[a & usable], keys[r & usable])
    z = stats.norm.ppf(0.5 + level / 2)
    info = estimand_description(analysis)
    n_excl = int((~usable).sum())
    base = {
        "analysis": analysis, "estimand": estimand or (info.label if info else None),
        "outcome": outcome_label or f"death_then_{outcome}", "day": float(horizon), "contrast": tr.label,
        "df": np.inf, "p_value": st.fs_p_value, "engine": ENGINE, "engine_version": f"longmod {longmod.__version__}",
        "n_obs": st.n_active + st.n_reference, "n_patients": st.n_active + st.n_reference, "wins": st.wins,
        "losses": st.losses, "ties": st.ties, "net_benefit": st.net_benefit, "net_benefit_se": st.net_benefit_se,
        "n_deaths_active": int((died & a).sum()), "n_deaths_reference": int((died & r).sum()),
        "n_excluded": n_excl, "horizon": float(horizon), "fs_z": st.fs_z, "assumes": info.assumes if info else "",
        "warnings": f"{n_excl} survivor(s) without an outcome value left out" if n_excl else "",
    }
    lw, lo_ = np.log(st.win_ratio), np.log(st.mw_odds)
    rows = [
        {**base, "summary_measure": "win_ratio", "estimate": st.win_ratio, "std_error": st.log_win_ratio_se,
         "se_scale": "log", "conf_low": np.exp(lw - z * st.log_win_ratio_se),
         "conf_high": np.exp(lw + z * st.log_win_ratio_se),
         "p_value_wald": float(2 * stats.norm.sf(abs(lw / st.log_win_ratio_se)))},
        {**base, "summary_measure": "mann_whitney_odds", "estimate": st.mw_odds, "std_error": st.logit_theta_se,
         "se_scale": "log", "conf_low": np.exp(lo_ - z * st.logit_theta_se),
         "conf_high": np.exp(lo_ + z * st.logit_theta_se),
         "p_value_wald": float(2 * stats.norm.sf(abs(lo_ / st.logit_theta_se)))},
    ]
    lo_o, hi_o = rows[1]["conf_low"], rows[1]["conf_high"]
    rows.append({**base, "summary_measure": "probabilistic_index", "estimate": st.theta, "std_error": st.theta_se,
                 "se_scale": "natural", "conf_low": lo_o / (1 + lo_o), "conf_high": hi_o / (1 + hi_o),
                 "p_value_wald": rows[1]["p_value_wald"]})
    return effects_frame(rows)
