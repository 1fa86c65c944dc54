"""Between-arm tests as target statistics: the P values a paper prints without naming the test.

Each function takes the columns of an analysis set (both arms; a mapping of
column name to 1-D NumPy array), the target (``variable``, ``options``) and a
context (``treatment``, and for the binary tests ``where_mask``: the event
indicator given by the target's ``where``). They return a two-sided P value.
They are verification statistics: evaluated on the data, never optimised
(step functions of ranks or counts). Validated against R (``survival``,
``stats``) by ``fixtures/*/candidates.R``.

Options (the target's ``options`` table):

- ``horizon``: follow-up end for time-to-event columns (an empty or later
  day is censored there; default: no censoring before the last day);
- ``weights``: ``logrank`` (default), ``gehan`` (Gehan-Breslow), ``tarone``
  (Tarone-Ware) or ``peto`` (Peto-Peto, R's ``survdiff(rho = 1)``);
- ``sets``: the matched-set column (paired and stratified tests);
- ``method``: ``r`` (R's default rule: exact without ties and n < 50),
  ``exact`` or ``asymptotic``; ``correct``: continuity correction;
- ``log``: analyse log values; ``welch``: Welch's unequal-variance t test;
- ``test``: ``lr``, ``score`` or ``wald`` (Cox, conditional logistic);
- ``pairs``: ``each_control`` (every control with its set's treated patient)
  or ``set_mean`` / ``set_median`` (treated vs the set's control summary).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

#: Option names whose value is a column the statistic reads.
OPTION_COLUMNS = frozenset({"sets", "strata"})


def _arms(cols, ctx) -> tuple[np.ndarray, np.ndarray]:
    tr = ctx["treatment"]
    arm = np.asarray(cols[tr.variable]).astype(str)
    return arm == tr.active, arm == tr.reference


def _time_event(cols, t) -> tuple[np.ndarray, np.ndarray]:
    day = np.asarray(cols[t.variable], float)
    horizon = float(t.options.get("horizon", np.inf))
    event = ~np.isnan(day) & (day <= horizon)
    if not np.isfinite(horizon) and np.isnan(day).any():
        raise ValueError(f"{t.variable}: empty event days need options.horizon (the end of follow-up)")
    return np.where(event, day, horizon), event.astype(int)


def fisher_p(cols, t, ctx) -> float:
    """Two-sided Fisher exact test of the ``where`` indicator between arms (R's ``fisher.test``).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(["a"] * 10 + ["b"] * 10)}
    >>> mask = np.array([1] * 5 + [0] * 15, bool)
    >>> round(fisher_p(cols, NS(options={}), {"treatment": Treatment("arm", "b", "a"), "where_mask": mask}), 4)
    0.0325
    """
    act, ref = _arms(cols, ctx)
    e = np.asarray(ctx["where_mask"], bool)
    table = [[int((e & act).sum()), int((~e & act).sum())], [int((e & ref).sum()), int((~e & ref).sum())]]
    return float(stats.fisher_exact(table).pvalue)


def chisq_p(cols, t, ctx) -> float:
    """Pearson chi-square test of the ``where`` indicator between arms (R's ``chisq.test``; ``correct``: Yates).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(["a"] * 10 + ["b"] * 10)}
    >>> mask = np.array([1] * 5 + [0] * 15, bool)
    >>> ctx = {"treatment": Treatment("arm", "b", "a"), "where_mask": mask}
    >>> round(chisq_p(cols, NS(options={"correct": False}), ctx), 4), round(chisq_p(cols, NS(options={}), ctx), 4)
    (0.0098, 0.0389)
    """
    act, ref = _arms(cols, ctx)
    e = np.asarray(ctx["where_mask"], bool)
    table = np.array([[(e & act).sum(), (~e & act).sum()], [(e & ref).sum(), (~e & ref).sum()]])
    return float(stats.chi2_contingency(table, correction=bool(t.options.get("correct", True)))[1])


def logrank_p(cols, t, ctx) -> float:
    """Weighted log-rank test of a time-to-event column (R's ``survdiff``; ``strata`` option).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(list("aaabbb")), "t": np.array([2., 3, 5, 8, 9, 10])}
    >>> round(logrank_p(cols, NS(variable="t", options={}), {"treatment": Treatment("arm", "b", "a")}), 4)
    0.0246
    """
    import warnings

    from statsmodels.duration.survfunc import survdiff

    act, _ = _arms(cols, ctx)
    time, event = _time_event(cols, t)
    w = str(t.options.get("weights", "logrank"))
    kw = {"logrank": {}, "gehan": {"weight_type": "gb"}, "tarone": {"weight_type": "tw"},
          "peto": {"weight_type": "fh", "fh_p": 1.0}}[w]
    strata = t.options.get("strata")
    if strata:
        kw["strata"] = np.asarray(cols[strata])
    with warnings.catch_warnings():  # log(0) of the last survival estimate in Peto weights (weight 0, harmless)
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(survdiff(time, event, act.astype(int), **kw)[1])


def cox_p(cols, t, ctx) -> float:
    """Cox model P value for the arm (``test``: ``wald``, ``lr`` or ``score``; Breslow ties; ``strata``).

    With no event in one arm the estimate diverges: the Wald P is then
    meaningless (reported NaN); the likelihood-ratio and score tests stay valid.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(list("aaaabbbb")), "t": np.array([2., 3, 5, 7, 4, 8, 9, 10])}
    >>> 0 < cox_p(cols, NS(variable="t", options={"test": "lr"}), {"treatment": Treatment("arm", "b", "a")}) < 1
    True
    """
    import warnings

    from statsmodels.duration.hazard_regression import PHReg

    act, _ = _arms(cols, ctx)
    time, event = _time_event(cols, t)
    strata = t.options.get("strata")
    kw = {"strata": np.asarray(cols[strata])} if strata else {}
    x = act.astype(float)[:, None]
    model = PHReg(time, x, status=event, ties="breslow", **kw)
    test = str(t.options.get("test", "wald"))
    if test == "score":
        _, grad, info = model.loglike(np.zeros(1)), model.score(np.zeros(1)), -model.hessian(np.zeros(1))
        return float(stats.chi2.sf(grad[0] ** 2 / info[0, 0], 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(maxiter=200)
    b = float(fit.params[0])
    if test == "lr":
        chi = 2 * (model.loglike(np.array([b])) - model.loglike(np.zeros(1)))
        if event[act].sum() == 0 or event[~act].sum() == 0:  # diverging estimate: its limit
            chi = 2 * (_limit_loglike(model) - model.loglike(np.zeros(1)))
        return float(stats.chi2.sf(max(chi, 0.0), 1))
    if not np.isfinite(fit.bse[0]) or abs(b) > 15:
        return float("nan")
    return float(2 * stats.norm.sf(abs(b / fit.bse[0])))


def _limit_loglike(model) -> float:
    """Partial log-likelihood as the coefficient tends to the side with no events."""
    vals = [model.loglike(np.array([b])) for b in (-40.0, 40.0)]
    return float(max(vals))


def _pairs(cols, t, ctx, values: np.ndarray):
    """(treated, control) value pairs by matched set (``pairs`` option)."""
    act, ref = _arms(cols, ctx)
    sets = np.asarray(cols[t.options["sets"]])
    mode = str(t.options.get("pairs", "each_control"))
    tre, con = [], []
    for s in np.unique(sets):
        a = values[(sets == s) & act]
        c = values[(sets == s) & ref]
        if len(a) != 1 or len(c) == 0:
            raise ValueError(f"matched set {s!r} needs exactly one treated patient and at least one control")
        if mode == "each_control":
            tre += [a[0]] * len(c)
            con += list(c)
        else:
            tre.append(a[0])
            con.append(float(np.mean(c) if mode == "set_mean" else np.median(c)))
    return np.array(tre, float), np.array(con, float)


def mcnemar_p(cols, t, ctx) -> float:
    """McNemar test on matched pairs (``pairs``) of the ``where`` indicator (R's ``mcnemar.test``).

    ``correct`` (default true, as R) applies the continuity correction;
    ``method = "exact"`` gives the exact binomial test of the discordant pairs.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(["a", "b", "b", "b"] * 2), "s": np.repeat([1, 2], 4)}
    >>> mask = np.array([0, 1, 1, 0, 0, 1, 1, 1], bool)
    >>> t = NS(options={"sets": "s", "correct": False})
    >>> round(mcnemar_p(cols, t, {"treatment": Treatment("arm", "b", "a"), "where_mask": mask}), 4)
    0.0253
    """
    tre, con = _pairs(cols, t, ctx, np.asarray(ctx["where_mask"], float))
    b = int(((tre == 1) & (con == 0)).sum())
    c = int(((tre == 0) & (con == 1)).sum())
    if b + c == 0:
        return 1.0
    if t.options.get("method") == "exact":
        return float(stats.binomtest(b, b + c, 0.5).pvalue)
    cc = 1.0 if t.options.get("correct", True) else 0.0
    return float(stats.chi2.sf((abs(b - c) - cc) ** 2 / (b + c), 1))


def _set_tables(cols, ctx, t):
    """Per matched set: (treated with event, treated, events, set size)."""
    act, _ = _arms(cols, ctx)
    e = np.asarray(ctx["where_mask"], bool)
    sets = np.asarray(cols[t.options["sets"]])
    return [(int((e & act & (sets == s)).sum()), int((act & (sets == s)).sum()), int((e & (sets == s)).sum()),
             int((sets == s).sum())) for s in np.unique(sets)]


def clogit_p(cols, t, ctx) -> float:
    """Conditional logistic regression of the ``where`` indicator on the arm, by matched set.

    ``test = "lr"`` (likelihood ratio; when the estimate diverges, as with no
    event in one arm, against its limit) or ``"score"`` (the Mantel-Haenszel
    chi-square without continuity correction).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(["a", "b", "b", "b"] * 2), "s": np.repeat([1, 2], 4)}
    >>> mask = np.array([0, 1, 0, 0, 0, 1, 0, 0], bool)
    >>> ctx = {"treatment": Treatment("arm", "b", "a"), "where_mask": mask}
    >>> round(clogit_p(cols, NS(options={"sets": "s", "test": "lr"}), ctx), 4)  # R clogit: 0.2834
    0.2834
    """
    from scipy.special import comb

    tabs = [(a, n1, d, n) for a, n1, d, n in _set_tables(cols, ctx, t) if 0 < d < n]

    def loglik(b: float) -> float:
        ks = [np.arange(max(0, d - (n - n1)), min(n1, d) + 1) for _, n1, d, n in tabs]
        return float(sum(a * b - np.log(np.sum(comb(n1, k) * comb(n - n1, d - k) * np.exp(b * k)))
                         for (a, n1, d, n), k in zip(tabs, ks)))

    if t.options.get("test", "lr") == "score":
        u = sum(a - n1 * d / n for a, n1, d, n in tabs)
        v = sum(n1 * (n - n1) * d * (n - d) / (n * n * (n - 1)) for a, n1, d, n in tabs)
        return float(stats.chi2.sf(u * u / v, 1)) if v > 0 else 1.0
    from scipy.optimize import minimize_scalar

    best = minimize_scalar(lambda b: -loglik(b), bounds=(-40, 40), method="bounded").fun
    return float(stats.chi2.sf(max(2 * (-best - loglik(0.0)), 0.0), 1))


def exact_conditional_p(cols, t, ctx) -> float:
    """Exact conditional test of the ``where`` indicator by matched set (R's ``mantelhaen.test(exact = TRUE)``).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(["a", "b", "b", "b"] * 2), "s": np.repeat([1, 2], 4)}
    >>> mask = np.array([0, 1, 1, 1, 0, 1, 1, 1], bool)
    >>> ctx = {"treatment": Treatment("arm", "b", "a"), "where_mask": mask}
    >>> round(exact_conditional_p(cols, NS(options={"sets": "s"}), ctx), 4)
    0.0625
    """
    dist = np.array([1.0])
    lo = 0
    total = 0
    for a, n1, d, n in _set_tables(cols, ctx, t):
        k = np.arange(max(0, d - (n - n1)), min(n1, d) + 1)
        pmf = stats.hypergeom.pmf(k, n, d, n1)
        dist = np.convolve(dist, pmf)
        lo += int(k[0])
        total += a
    obs = dist[total - lo]
    return float(min(1.0, dist[dist <= obs * (1 + 1e-7)].sum()))


def _rank_p(x, y, t, paired: bool) -> float:
    """Two-sided Wilcoxon P: ``method = "r"`` follows R's ``wilcox.test`` rule (exact when n < 50 and
    there are no ties or zero differences, else the normal approximation with continuity correction)."""
    method = str(t.options.get("method", "r"))
    correct = bool(t.options.get("correct", True))
    if paired:
        d = x - y
        if method == "r":
            exact = len(d) < 50 and not np.any(d == 0) and len(np.unique(np.abs(d))) == len(d)
            method, correct = ("exact", False) if exact else ("asymptotic", True)
        return float(stats.wilcoxon(d, method="approx" if method == "asymptotic" else "exact",
                                    correction=correct and method == "asymptotic").pvalue)
    if method == "r":
        exact = len(x) < 50 and len(y) < 50 and len(np.unique(np.concatenate([x, y]))) == len(x) + len(y)
        method, correct = ("exact", False) if exact else ("asymptotic", True)
    return float(stats.mannwhitneyu(x, y, method=method, use_continuity=correct).pvalue)


def rank_sum_p(cols, t, ctx) -> float:
    """Wilcoxon rank-sum (Mann-Whitney) test between arms (``method``, ``correct``, ``log`` options).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(list("aaabbb")), "v": np.array([1., 2, 3, 4, 5, 6])}
    >>> rank_sum_p(cols, NS(variable="v", options={}), {"treatment": Treatment("arm", "b", "a")})
    0.1
    """
    act, ref = _arms(cols, ctx)
    v = np.asarray(cols[t.variable], float)
    ok = ~np.isnan(v)
    return _rank_p(v[act & ok], v[ref & ok], t, paired=False)


def matched_signed_rank_p(cols, t, ctx) -> float:
    """Wilcoxon signed-rank test on matched pairs (``pairs``: each control, or the set's mean/median).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(["a", "b", "b"] * 3), "s": np.repeat([1, 2, 3], 3),
    ...         "v": np.array([1., 5, 6, 2, 7, 9, 3, 8, 4.5])}
    >>> t = NS(variable="v", options={"sets": "s"})  # ties: R's normal approximation, as wilcox.test
    >>> round(matched_signed_rank_p(cols, t, {"treatment": Treatment("arm", "b", "a")}), 4)
    0.034
    """
    tre, con = _pairs(cols, t, ctx, np.asarray(cols[t.variable], float))
    return _rank_p(tre, con, t, paired=True)


def sign_test_p(cols, t, ctx) -> float:
    """Exact sign test on matched pairs (with two groups per set this is also Friedman's test).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(["a", "b"] * 5), "s": np.repeat(np.arange(5), 2), "v": np.arange(10.0)}
    >>> sign_test_p(cols, NS(variable="v", options={"sets": "s", "pairs": "set_median"}),
    ...             {"treatment": Treatment("arm", "b", "a")})
    0.0625
    """
    tre, con = _pairs(cols, t, ctx, np.asarray(cols[t.variable], float))
    d = tre - con
    d = d[d != 0]
    return float(stats.binomtest(int((d > 0).sum()), len(d), 0.5).pvalue)


def van_elteren_p(cols, t, ctx) -> float:
    """Van Elteren's stratified Wilcoxon test by matched set (normal approximation, no correction).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(["a", "b", "b", "b"] * 4), "s": np.repeat(np.arange(4), 4),
    ...         "v": np.tile([1.0, 2, 3, 4], 4)}
    >>> round(van_elteren_p(cols, NS(variable="v", options={"sets": "s"}), {"treatment": Treatment("arm", "b", "a")}), 4)
    0.0073
    """
    act, _ = _arms(cols, ctx)
    v = np.asarray(cols[t.variable], float)
    sets = np.asarray(cols[t.options["sets"]])
    num, var = 0.0, 0.0
    for s in np.unique(sets):
        sel = sets == s
        n, m = int(sel.sum()), int((sel & act).sum())
        r = stats.rankdata(v[sel])
        w = 1.0 / (n + 1)
        num += w * (r[act[sel]].sum() - m * (n + 1) / 2)
        _, tc = np.unique(v[sel], return_counts=True)
        var += w * w * m * (n - m) / 12 * ((n + 1) - (tc**3 - tc).sum() / (n * (n - 1)))
    return float(2 * stats.norm.sf(abs(num) / np.sqrt(var)))


def ttest_p(cols, t, ctx) -> float:
    """Two-sample t test between arms (``welch``, ``log`` options).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> from longmod.spec.model import Treatment
    >>> cols = {"arm": np.array(list("aaabbb")), "v": np.array([1., 2, 3, 4, 5, 6])}
    >>> round(ttest_p(cols, NS(variable="v", options={}), {"treatment": Treatment("arm", "b", "a")}), 4)
    0.0213
    """
    act, ref = _arms(cols, ctx)
    v = np.asarray(cols[t.variable], float)
    if t.options.get("log"):
        v = np.log(v)
    ok = ~np.isnan(v)
    return float(stats.ttest_ind(v[act & ok], v[ref & ok], equal_var=not t.options.get("welch", False)).pvalue)


#: Test statistics (between-arm P values); ``MASK_KINDS`` read the ``where`` filter as the event indicator.
TESTS: dict[str, Callable] = {
    "fisher_p": fisher_p, "chisq_p": chisq_p, "logrank_p": logrank_p, "cox_p": cox_p, "mcnemar_p": mcnemar_p, "clogit_p": clogit_p,
    "exact_conditional_p": exact_conditional_p, "mann_whitney_p": rank_sum_p,
    "matched_signed_rank_p": matched_signed_rank_p, "sign_test_p": sign_test_p, "van_elteren_p": van_elteren_p,
    "ttest_p": ttest_p,
}
MASK_KINDS = frozenset({"fisher_p", "chisq_p", "mcnemar_p", "clogit_p", "exact_conditional_p"})
