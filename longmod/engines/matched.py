"""Tests for 1:k matched sets (one treated patient and k controls per set), binary and continuous.

* :func:`set_pairs` - the (treated, control) pairs of the matched sets: every
  control with its set's treated patient, or the treated patient against the
  set's control mean or median;
* :func:`mcnemar_rows` - McNemar's test of a 0/1 outcome on those pairs
  (no continuity correction, with it, and the exact binomial test of the
  discordant pairs; R ``mcnemar.test`` / ``binom.test``);
* :func:`matched_rank_rows` - for a continuous outcome: the Wilcoxon
  signed-rank test on the pairs (R ``wilcox.test(paired = TRUE)``'s rule:
  exact without ties or zeros, else the normal approximation with continuity
  correction), the exact sign test, and van Elteren's stratified rank-sum test
  (normal approximation).

Validated against R on the Grégoire 2022 fixture (``fixtures/gregoire_2022/
candidates.R`` -> ``candidates.json``). Rows are common-schema test rows:
``p_value`` set, ``estimate`` the median of the paired differences (signed-rank
and sign test), ``test`` names the test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

PAIRINGS = ("each_control", "set_mean", "set_median")


def set_pairs(values: np.ndarray, exposed: np.ndarray, sets: np.ndarray, pairing: str = "each_control") -> tuple[np.ndarray, np.ndarray]:
    """(treated, control) values per pair of a 1:k matched design.

    Parameters
    ----------
    values : array_like
        One value per patient.
    exposed : array_like
        1 for the treated (active-arm) patient, 0 for controls.
    sets : array_like
        Matched-set id per patient; every set needs exactly one treated
        patient and at least one control.
    pairing : {"each_control", "set_mean", "set_median"}

    Examples
    --------
    >>> set_pairs([1.0, 5, 6, 2, 7, 9], [1, 0, 0, 1, 0, 0], ["a", "a", "a", "b", "b", "b"])
    (array([1., 1., 2., 2.]), array([5., 6., 7., 9.]))
    >>> set_pairs([1.0, 5, 6, 2, 7, 9], [1, 0, 0, 1, 0, 0], ["a", "a", "a", "b", "b", "b"], "set_mean")
    (array([1., 2.]), array([5.5, 8. ]))
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
    v = np.asarray(values, float)
    x = np.asarray(exposed, float)
    s = np.asarray(sets).astype(str)
    tre, con = [], []
    for k in np.unique(s):
        a = v[(s == k) & (x == 1)]
        c = v[(s == k) & (x == 0)]
        if len(a) != 1 or len(c) == 0:
            raise ValueError(f"matched set {k!r} has {len(a)} treated patient(s) and {len(c)} control(s); "
                             "a 1:k matched design needs exactly one treated patient and at least one control per set")
        if pairing == "each_control":
            tre += [a[0]] * len(c)
            con += list(c)
        else:
            tre.append(a[0])
            con.append(float(np.mean(c) if pairing == "set_mean" else np.median(c)))
    return np.array(tre, float), np.array(con, float)


def _row(test: str, p: float, **extra) -> dict:
    import longmod

    return {"test": test, "p_value": float(p), "engine": "longmod.matched", "engine_version": longmod.__version__,
            **extra}


def mcnemar_rows(y: np.ndarray, exposed: np.ndarray, sets: np.ndarray) -> pd.DataFrame:
    """McNemar's test of a 0/1 outcome on the treated-control pairs (three versions).

    Returns
    -------
    pandas.DataFrame
        Rows ``test`` = ``"mcnemar"`` (no continuity correction),
        ``"mcnemar_corrected"`` and ``"mcnemar_exact"`` with ``p_value``,
        ``statistic`` (chi-square; the discordant count for the exact test),
        ``n_pairs``, ``discordant_treated`` (treated with the event, control
        without) and ``discordant_control``.

    Examples
    --------
    >>> y = [0, 1, 1, 0, 0, 1, 1, 1]; x = [1, 0, 0, 0, 1, 0, 0, 0]; s = [1] * 4 + [2] * 4
    >>> mcnemar_rows(y, x, s)[["test", "p_value"]].round(4).values.tolist()
    [['mcnemar', 0.0253], ['mcnemar_corrected', 0.0736], ['mcnemar_exact', 0.0625]]
    """
    tre, con = set_pairs(y, exposed, sets)
    b = int(((tre == 1) & (con == 0)).sum())
    c = int(((tre == 0) & (con == 1)).sum())
    extra = {"n_pairs": int(tre.size), "discordant_treated": b, "discordant_control": c, "n_obs": int(tre.size)}
    if b + c == 0:
        rows = [_row(t, 1.0, statistic=0.0, **extra) for t in ("mcnemar", "mcnemar_corrected", "mcnemar_exact")]
    else:
        x2 = (b - c) ** 2 / (b + c)
        x2c = (abs(b - c) - 1) ** 2 / (b + c)
        rows = [_row("mcnemar", stats.chi2.sf(x2, 1), statistic=x2, **extra),
                _row("mcnemar_corrected", stats.chi2.sf(x2c, 1), statistic=x2c, **extra),
                _row("mcnemar_exact", stats.binomtest(b, b + c, 0.5).pvalue, statistic=float(b), **extra)]
    return pd.DataFrame(rows)


def _signed_rank_p(d: np.ndarray) -> tuple[float, bool]:
    """R's wilcox.test(paired) rule: exact when n < 50 without ties or zeros, else normal + continuity correction."""
    exact = len(d) < 50 and not np.any(d == 0) and len(np.unique(np.abs(d))) == len(d)
    if exact:
        return float(stats.wilcoxon(d, method="exact").pvalue), True
    return float(stats.wilcoxon(d, method="approx", correction=True).pvalue), False


def van_elteren_p(values: np.ndarray, exposed: np.ndarray, sets: np.ndarray) -> float:
    """Van Elteren's stratified Wilcoxon rank-sum test (weights 1/(n_s + 1), normal approximation, tie-corrected).

    Examples
    --------
    >>> v = np.tile([1.0, 2, 3, 4], 4); x = np.tile([1, 0, 0, 0], 4); s = np.repeat(np.arange(4), 4)
    >>> round(van_elteren_p(v, x, s), 4)
    0.0073
    """
    v = np.asarray(values, float)
    act = np.asarray(exposed, float) == 1
    s = np.asarray(sets).astype(str)
    num, var = 0.0, 0.0
    for k in np.unique(s):
        sel = s == k
        n, m = int(sel.sum()), int((sel & act).sum())
        r = stats.rankdata(v[sel])
        w = 1.0 / (n + 1)
        num += w * (r[act[sel]].sum() - m * (n + 1) / 2)
        _, tc = np.unique(v[sel], return_counts=True)
        var += w * w * m * (n - m) / 12 * ((n + 1) - (tc**3 - tc).sum() / (n * (n - 1)))
    return float(2 * stats.norm.sf(abs(num) / np.sqrt(var))) if var > 0 else 1.0


def matched_rank_rows(values: np.ndarray, exposed: np.ndarray, sets: np.ndarray) -> pd.DataFrame:
    """Rank tests of a continuous outcome that respect the matched sets.

    Returns
    -------
    pandas.DataFrame
        Rows ``test`` = ``"signed_rank_each_control"`` (every control paired with
        its set's treated patient), ``"signed_rank_set_mean"``,
        ``"signed_rank_set_median"`` (treated vs the set's control mean /
        median), ``"sign_test_set_median"`` (exact; = Friedman with two groups
        per set) and ``"van_elteren"``; ``estimate`` = median paired
        difference (treated - control), ``exact``, ``n_pairs``.

    Examples
    --------
    >>> v = [1.0, 5, 6, 2, 7, 9, 3, 8, 4.5]; x = [1, 0, 0] * 3; s = np.repeat([1, 2, 3], 3)
    >>> r = matched_rank_rows(v, x, s)
    >>> round(float(r.set_index("test").loc["signed_rank_each_control", "p_value"]), 4)  # R wilcox.test: 0.034
    0.034
    """
    v = np.asarray(values, float)
    rows = []
    for pairing in PAIRINGS:
        tre, con = set_pairs(v, exposed, sets, pairing)
        d = tre - con
        p, exact = _signed_rank_p(d)
        rows.append(_row(f"signed_rank_{pairing}", p, estimate=float(np.median(d)), exact=exact, n_pairs=int(d.size),
                         n_obs=int(d.size)))
    tre, con = set_pairs(v, exposed, sets, "set_median")
    d = tre - con
    nz = d[d != 0]
    rows.append(_row("sign_test_set_median", stats.binomtest(int((nz > 0).sum()), len(nz), 0.5).pvalue,
                     estimate=float(np.median(d)), exact=True, n_pairs=int(d.size), n_obs=int(d.size)))
    rows.append(_row("van_elteren", van_elteren_p(v, exposed, sets), exact=False, n_pairs=np.nan,
                     n_obs=int(np.asarray(v).size)))
    return pd.DataFrame(rows)
