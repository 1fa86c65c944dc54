"""The published test-by-test biomarker analysis, reproduced.

STROMA-CoV-2 (Monsel et al. 2022): biomarkers log10-transformed, values below
the LLOQ replaced by half the marker's LLOQ, Wilcoxon rank-sum tests between
arms on each day, Wilcoxon signed-rank tests within each arm against day 0,
Benjamini-Hochberg adjustment across the markers within each comparison
family (one family = one comparison on one day, e.g. "active - control at
day 7", or "active: day 7 - day 0"). Wilcoxon tests are
:func:`longmod.engines.ancova.rank_sum_test` / ``signed_rank_test`` (R's
``wilcox.test`` rules: exact without ties and n < 50, else the normal
approximation with continuity correction; LOQ/2 substitution creates ties).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from longmod.biomarkers.frame import log10_frame
from longmod.biomarkers.simulate import ACTIVE, REFERENCE
from longmod.engines.ancova import rank_sum_test, signed_rank_test
from longmod.results.schema import effects_frame

ENGINE = "wilcoxon"
ANALYSIS = "biomarkers: test-by-test (LOQ/2, Wilcoxon, BH)"
LOG2_10 = float(np.log2(10.0))


def bh_adjust(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted P values, as R's ``p.adjust(p, "BH")``.

    NaN entries stay NaN and do not count towards the number of tests (R's
    ``n = length(p[!is.na(p)])``).

    Examples
    --------
    >>> bh_adjust([0.01, 0.04, 0.03, float("nan"), 0.5]).round(4).tolist()
    [0.04, 0.0533, 0.0533, nan, 0.5]
    """
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    n = q.size
    if n == 0:
        return out
    order = np.argsort(q)[::-1]  # decreasing, like R
    ranks = np.arange(n, 0, -1)
    adj = np.minimum.accumulate(n / ranks * q[order])
    res = np.empty(n)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def _version() -> str:
    from longmod import __version__

    return f"longmod {__version__}"


def paper_tests(frame: pd.DataFrame, *, active: str = ACTIVE, reference: str = REFERENCE,
                estimand: str = "observed samples (no ICE handling)") -> pd.DataFrame:
    """Wilcoxon tests per marker and day, with BH adjustment per family.

    Parameters
    ----------
    frame : pandas.DataFrame
        Biomarker frame (:mod:`longmod.biomarkers.frame`); not modified.
    active, reference : str
        Arm labels.
    estimand : str
        Label written to the ``estimand`` column.

    Returns
    -------
    pandas.DataFrame
        Common schema (:data:`~longmod.results.schema.EFFECT_COLUMNS`), one
        row per test: ``outcome`` = marker, ``day``, ``contrast`` either
        ``"<active> - <reference>"`` (rank-sum; ``estimate`` = Hodges-Lehmann shift
        of log10 values, ``conf_*`` its exact CI or NaN with ties) or
        ``"<arm>: day k - day 0"`` (signed-rank on patients with both samples;
        ``estimate`` = median log10 change, no CI). ``std_error`` and ``df``
        are NaN. Extra columns: ``family`` (the BH family), ``statistic`` (W of
        the rank-sum test, as R; V of the signed-rank test as returned by
        :func:`~longmod.engines.ancova.signed_rank_test`, which ranks zero
        differences too, so it differs from R's V when a patient has equal
        day-0 and day-k values, e.g. censored on both days; the P values agree
        with R in every case), ``exact`` (bool), ``p_value_bh`` (BH-adjusted within the
        family), ``log2_fold_change`` (difference of mean log10 values x
        log2(10), i.e. log2 of the ratio of geometric means), ``n_censored``.

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> t = paper_tests(simulate_biomarkers(3, censor_fractions=[0, .2, .5], seed=4))
    >>> sorted(t.contrast.unique())[:2], int(t.groupby("family").size().max())
    (['active - control', 'active: day 14 - day 0'], 3)
    """
    d = log10_frame(frame, "loq/2")
    rows = []
    days = sorted(d["day"].unique())
    base_day = days[0]
    ver = _version()
    for (marker, day), g in d.groupby(["marker", "day"], sort=True):
        xa = g.loc[g.arm == active, "y"].to_numpy()
        xr = g.loc[g.arm == reference, "y"].to_numpy()
        if len(xa) and len(xr):
            r = rank_sum_test(xa, xr)
            contrast = f"{active} - {reference}"
            rows.append({
                "analysis": ANALYSIS, "estimand": estimand, "outcome": marker, "day": day, "contrast": contrast,
                "estimate": r.estimate, "conf_low": r.conf_low, "conf_high": r.conf_high, "p_value": r.p_value,
                "engine": ENGINE, "engine_version": ver, "n_obs": len(xa) + len(xr),
                "n_patients": g.patient_id.nunique(), "family": f"{contrast} @ day {day}", "statistic": r.statistic,
                "exact": r.exact, "log2_fold_change": (xa.mean() - xr.mean()) * LOG2_10,
                "n_censored": int(g.censored.sum()),
            })
        if day == base_day:
            continue
        base = d[(d.marker == marker) & (d.day == base_day)]
        for arm in (active, reference):
            pair = base[base.arm == arm][["patient_id", "y", "censored"]].merge(
                g[g.arm == arm][["patient_id", "y", "censored"]], on="patient_id", suffixes=("_0", "_k"))
            if len(pair) == 0:
                continue
            r = signed_rank_test(pair["y_0"].to_numpy(), pair["y_k"].to_numpy())
            contrast = f"{arm}: day {day} - day {base_day}"
            rows.append({
                "analysis": ANALYSIS, "estimand": estimand, "outcome": marker, "day": day, "contrast": contrast,
                "estimate": r.estimate, "p_value": r.p_value, "engine": ENGINE, "engine_version": ver,
                "n_obs": 2 * len(pair), "n_patients": len(pair), "family": f"{arm}: day {day} vs day {base_day}",
                "statistic": r.statistic, "exact": r.exact,
                "log2_fold_change": (pair["y_k"] - pair["y_0"]).mean() * LOG2_10,
                "n_censored": int(pair["censored_0"].sum() + pair["censored_k"].sum()),
            })
    out = effects_frame(rows)
    out["p_value_bh"] = np.nan
    for _, idx in out.groupby("family").groups.items():
        out.loc[idx, "p_value_bh"] = bh_adjust(out.loc[idx, "p_value"].to_numpy())
    return out


def volcano_data(tests: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Volcano plot data (log2 fold change vs -log10 P) from :func:`paper_tests`.

    Parameters
    ----------
    tests : pandas.DataFrame
        Output of :func:`paper_tests` (any subset of its rows).
    alpha : float
        Threshold on the BH-adjusted P value for ``significant``.

    Returns
    -------
    pandas.DataFrame
        ``outcome``, ``day``, ``contrast``, ``family``, ``log2_fold_change``,
        ``neg_log10_p``, ``neg_log10_p_bh``, ``p_value``, ``p_value_bh``,
        ``significant`` (bool: ``p_value_bh < alpha``).

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> v = volcano_data(paper_tests(simulate_biomarkers(2, censor_fractions=[0, .4], seed=5)))
    >>> bool((v.neg_log10_p >= 0).all()), v.columns[4]
    (True, 'log2_fold_change')
    """
    v = tests[["outcome", "day", "contrast", "family", "log2_fold_change", "p_value", "p_value_bh"]].copy()
    v["neg_log10_p"] = -np.log10(v["p_value"])
    v["neg_log10_p_bh"] = -np.log10(v["p_value_bh"])
    v["significant"] = v["p_value_bh"] < alpha
    cols = ["outcome", "day", "contrast", "family", "log2_fold_change", "neg_log10_p", "neg_log10_p_bh",
            "p_value", "p_value_bh", "significant"]
    return v[cols].reset_index(drop=True)
