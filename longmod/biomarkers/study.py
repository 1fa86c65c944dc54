"""Simulation study: LOQ/2 substitution vs censored likelihood; BH vs partial pooling.

Run (writes the Markdown tables printed in docs/biomarkers_simulation.md)::

    .venv/bin/python -m longmod.biomarkers.study --reps 100 --fdr-reps 30 --pooled-reps 3

Part A (:func:`bias_coverage`): one marker, 20 + 21 patients, days 0/2/4/7/14,
15% dropout, true treatment effect -0.35 log10 at day 14; LLOQ set to censor
10%, 30% or 60% of day-0 samples. Each replicate is fitted by the same
random-intercept model twice: on LOQ/2-substituted values (Gaussian) and
with the censored likelihood (:func:`~longmod.biomarkers.tobit.fit_censored_mixed`).

Part B (:func:`false_discoveries`): 48 markers (0-60% censored), 6 of them
decreasing at days 7 and 14; discoveries among the 4 x 48 post-baseline
between-arm comparisons by BH (q < 0.05) on Wilcoxon P values (the paper), BH
on the censored-model P values, and partial pooling (local false sign rate <
0.05, and the s-value rule of :func:`svalue_select`: mean lfsr of the
selected set <= 0.05) - with a normal population distribution
(:func:`pool_estimates`) and a sparse regularised horseshoe
(:func:`pool_estimates_horseshoe`), both as two-stage approximations in every
replicate, and as the full PyMC pooled model (both priors) in ``pooled_reps``
replicates.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from longmod.biomarkers.simulate import ACTIVE, REFERENCE, default_effects, simulate_biomarkers

TRUE_EFFECT = -0.35
SD_BETWEEN, SD_WITHIN = 0.3, 0.25


def pool_estimates(estimate, std_error, *, tau_scale: float = 0.2, n_grid: int = 400) -> pd.DataFrame:
    """Normal-normal partial pooling of per-marker estimates (one day).

    Model: ``estimate_m ~ N(delta_m, se_m^2)``, ``delta_m ~ N(mu, tau^2)``,
    flat prior on ``mu`` (integrated analytically), ``tau ~ HalfNormal(tau_scale)``
    (integrated on a grid). Exact up to the grid; no sampling.

    Returns
    -------
    pandas.DataFrame
        ``posterior_mean``, ``posterior_sd``, ``prob_decrease`` (P(delta < 0)),
        ``lfsr`` (local false sign rate), one row per input.

    Examples
    --------
    >>> r = pool_estimates([0.0, 0.05, -0.02, -0.5], [0.1, 0.1, 0.1, 0.1])
    >>> bool(r.lfsr[3] < 0.05), bool(abs(r.posterior_mean[3]) < 0.5)
    (True, True)
    """
    est = np.asarray(estimate, float)
    se = np.asarray(std_error, float)
    tau = np.linspace(0.0, 5 * tau_scale, n_grid)[:, None]
    v = se[None, :] ** 2 + tau**2  # grid x M
    wsum = (1 / v).sum(axis=1, keepdims=True)
    mu_hat = (est[None, :] / v).sum(axis=1, keepdims=True) / wsum
    v_mu = 1 / wsum
    logp = (stats.halfnorm.logpdf(tau[:, 0], scale=tau_scale) + 0.5 * np.log(v_mu[:, 0])
            - 0.5 * np.log(v).sum(axis=1) - 0.5 * ((est[None, :] - mu_hat) ** 2 / v).sum(axis=1))
    wt = np.exp(logp - logp.max())
    wt[[0, -1]] *= 0.5  # trapezoid rule over the tau grid
    wt /= wt.sum()
    shrink = tau**2 / v  # weight of the marker's own estimate
    mean = shrink * est[None, :] + (1 - shrink) * mu_hat
    var = shrink * se[None, :] ** 2 + (1 - shrink) ** 2 * v_mu
    pm = (wt[:, None] * mean).sum(axis=0)
    second = (wt[:, None] * (var + mean**2)).sum(axis=0)
    p_dec = (wt[:, None] * stats.norm.cdf(-mean / np.sqrt(np.maximum(var, 1e-300)))).sum(axis=0)
    return pd.DataFrame({"posterior_mean": pm, "posterior_sd": np.sqrt(np.maximum(second - pm**2, 0)),
                         "prob_decrease": p_dec, "lfsr": np.minimum(p_dec, 1 - p_dec)})


def pool_estimates_horseshoe(estimate, std_error, *, tau0: float | None = None, slab_scale: float = 0.5,
                             expected_nonnull: float = 5, n_tau: int = 100, n_lambda: int = 200) -> pd.DataFrame:
    """Regularised-horseshoe partial pooling of per-marker estimates (one day).

    Model: ``estimate_m ~ N(delta_m, se_m^2)``, ``delta_m ~ N(0, tau^2 lt_m^2)``
    with ``lt^2 = c^2 lambda^2 / (c^2 + tau^2 lambda^2)``, ``lambda_m ~
    HalfCauchy(1)``, ``tau ~ HalfCauchy(tau0)`` and the slab scale ``c`` fixed
    at ``slab_scale`` (the PyMC model of :func:`longmod.biomarkers.bayes.fit_pooled`
    gives ``c`` an inverse-gamma prior instead). ``tau`` and every
    ``lambda_m`` are integrated on equal-prior-probability grids (midpoint
    quantiles); ``delta_m`` analytically. Exact up to the grids; no sampling.

    Parameters
    ----------
    estimate, std_error : array-like
        Per-marker estimates and standard errors.
    tau0 : float, optional
        Global scale; default :func:`longmod.biomarkers.bayes.horseshoe_tau0`
        with ``se_ref`` = median standard error.
    slab_scale, expected_nonnull : float
        Slab scale ``c`` (log10) and the ``p0`` of the default ``tau0``.
    n_tau, n_lambda : int
        Grid sizes.

    Returns
    -------
    pandas.DataFrame
        ``posterior_mean``, ``posterior_sd``, ``prob_decrease`` (P(delta < 0)),
        ``lfsr``, one row per input.

    Examples
    --------
    >>> r = pool_estimates_horseshoe([0.02, 0.05, -0.03, 0.01, -0.6], [0.1] * 5)
    >>> bool(r.lfsr[4] < 0.05), bool(abs(r.posterior_mean[0]) < 0.02)
    (True, True)
    """
    from scipy.special import logsumexp

    from longmod.biomarkers.bayes import horseshoe_tau0

    est = np.asarray(estimate, float)
    se = np.asarray(std_error, float)
    if tau0 is None:
        tau0 = horseshoe_tau0(est.size, float(np.median(se)), expected_nonnull)
    tau = tau0 * np.tan(np.pi / 2 * (np.arange(n_tau) + 0.5) / n_tau)  # HalfCauchy(tau0) quantiles
    lam = np.tan(np.pi / 2 * (np.arange(n_lambda) + 0.5) / n_lambda)  # HalfCauchy(1) quantiles
    c2 = slab_scale**2
    tl2 = (tau[:, None] * lam[None, :]) ** 2  # tau x lambda
    v = c2 * tl2 / (c2 + tl2)  # prior variance of delta
    V = v[:, :, None] + se[None, None, :] ** 2  # tau x lambda x M
    loglik = -0.5 * (np.log(2 * np.pi * V) + est[None, None, :] ** 2 / V)
    lm = logsumexp(loglik, axis=1) - np.log(n_lambda)  # tau x M: lambda integrated out
    wt = np.exp(lm.sum(axis=1) - logsumexp(lm.sum(axis=1)))  # posterior of tau on its grid
    wl = np.exp(loglik - lm[:, None, :] - np.log(n_lambda))  # P(lambda | tau, data), per marker
    shrink = v[:, :, None] / V
    mean = shrink * est[None, None, :]
    var = shrink * se[None, None, :] ** 2
    w = wt[:, None, None] * wl
    pm_ = (w * mean).sum(axis=(0, 1))
    second = (w * (var + mean**2)).sum(axis=(0, 1))
    z = np.sqrt(shrink) * est[None, None, :] / se[None, None, :]
    p_dec = (w * stats.norm.cdf(-z)).sum(axis=(0, 1))
    return pd.DataFrame({"posterior_mean": pm_, "posterior_sd": np.sqrt(np.maximum(second - pm_**2, 0)),
                         "prob_decrease": p_dec, "lfsr": np.minimum(p_dec, 1 - p_dec)})


def svalue_select(lfsr, level: float = 0.05) -> np.ndarray:
    """Largest set of smallest-lfsr decisions whose mean lfsr is <= ``level``.

    The mean lfsr of the selected set estimates its false sign rate (the
    Bayesian analogue of BH's FDR; Stephens 2017, s-values).

    Examples
    --------
    >>> svalue_select([0.001, 0.2, 0.04, 0.09]).tolist()
    [True, False, True, True]
    """
    x = np.asarray(lfsr, float)
    order = np.argsort(x, kind="stable")
    cm = np.cumsum(x[order]) / np.arange(1, x.size + 1)
    k = int(np.max(np.nonzero(cm <= level)[0]) + 1) if np.any(cm <= level) else 0
    out = np.zeros(x.size, bool)
    out[order[:k]] = True
    return out


def bias_coverage(fractions=(0.1, 0.3, 0.6), reps: int = 200, seed: int = 2024) -> pd.DataFrame:
    """Part A: bias, SD and 95% coverage of LOQ/2 vs censored likelihood.

    Returns
    -------
    pandas.DataFrame
        ``censored_target``, ``censored_observed`` (mean fraction), ``method``
        (``"loq/2"``/``"censored"``), ``quantity`` (``effect day 14``,
        ``reference mean day 0``, ``residual SD``), ``truth``, ``bias``,
        ``emp_sd``, ``mean_se``, ``coverage`` (95% Wald interval; NaN for
        the SD), ``n_reps``, ``n_failed`` (fits not converged, excluded).

    Examples
    --------
    >>> t = bias_coverage((0.3,), reps=2, seed=1)
    >>> sorted(t.method.unique()), len(t)
    (['censored', 'loq/2'], 6)
    """
    from longmod.biomarkers.tobit import fit_censored_mixed

    eff = default_effects(1, n_affected=1, size=TRUE_EFFECT)
    rows = []
    rng = np.random.default_rng(seed)
    for frac in fractions:
        rec = {m: [] for m in ("loq/2", "censored")}
        obs_frac, excluded = [], 0
        for _ in range(reps):
            d = simulate_biomarkers(1, censor_fractions=[frac], effects=eff, sd_between=SD_BETWEEN,
                                    sd_within=SD_WITHIN, seed=int(rng.integers(2**31)))
            obs_frac.append(d["censored"].mean())
            mu0 = np.log10(d["lloq"].iloc[0]) - stats.norm.ppf(frac) * np.hypot(SD_BETWEEN, SD_WITHIN)
            fits = {m: fit_censored_mixed(d, method=m) for m in rec}
            if not all(f.convergence.converged and f.effects["estimable"].iloc[-1] for f in fits.values()):
                excluded += 1  # same replicates for both methods
                continue
            for m, f in fits.items():
                e = f.effects.iloc[-1]
                j = f.terms.index(f"mean[{REFERENCE}, day 0]")
                rec[m].append((e.estimate, e.std_error, f.coef[j], np.sqrt(f.cov[j, j]), mu0, f.sigma))
        for m, vals in rec.items():
            a = np.array(vals)
            for q, est, se, truth in (("effect day 14", a[:, 0], a[:, 1], np.full(len(a), TRUE_EFFECT)),
                                      ("reference mean day 0", a[:, 2], a[:, 3], a[:, 4]),
                                      ("residual SD", a[:, 5], None, np.full(len(a), SD_WITHIN))):
                cover = np.nan if se is None else float(np.mean(np.abs(est - truth) <= 1.959964 * se))
                rows.append({"censored_target": frac, "censored_observed": float(np.mean(obs_frac)), "method": m,
                             "quantity": q, "truth": float(truth[0]) if q != "reference mean day 0" else np.nan,
                             "bias": float(np.mean(est - truth)), "emp_sd": float(np.std(est - truth, ddof=1)),
                             "mean_se": np.nan if se is None else float(np.mean(se)), "coverage": cover,
                             "n_reps": len(a), "n_excluded": excluded})
    return pd.DataFrame(rows)


def _decisions(d: pd.DataFrame, truth: pd.DataFrame, pooled_reps_left: int, sampler) -> list[dict]:
    from longmod.biomarkers.paper import paper_tests
    from longmod.biomarkers.tobit import fit_all_markers

    tests = paper_tests(d)
    tests = tests[(tests.contrast == f"{ACTIVE} - {REFERENCE}") & (tests.day > 0)]
    mixed = fit_all_markers(d)
    mixed = mixed[mixed.day > 0].copy()
    pooled2, sparse2 = [], []
    for day, g in mixed.groupby("day"):
        ok = g["std_error"].notna() & np.isfinite(g["std_error"])
        g = g[ok]
        for fn, acc in ((pool_estimates, pooled2), (pool_estimates_horseshoe, sparse2)):
            r = fn(g["estimate"], g["std_error"])
            acc.append(pd.DataFrame({"outcome": g["outcome"].to_numpy(), "day": day, "lfsr": r["lfsr"].to_numpy(),
                                     "sign": np.sign(r["posterior_mean"].to_numpy())}))
    pooled2, sparse2 = pd.concat(pooled2), pd.concat(sparse2)
    tr = truth.rename(columns={"marker": "outcome"}).assign(day=lambda x: x.day.astype(float))
    out = []
    def sv(t):
        return t.groupby("day", group_keys=False)["lfsr"].transform(lambda x: pd.Series(svalue_select(x), x.index))

    calls = {
        "BH on Wilcoxon P (paper)": tests.assign(call=tests.p_value_bh < 0.05, sign=np.sign(tests.estimate)),
        "BH on censored-model P": mixed.assign(call=mixed.p_value_bh < 0.05, sign=np.sign(mixed.estimate)),
        "two-stage pooling, lfsr < 0.05": pooled2.assign(call=pooled2.lfsr < 0.05),
        "two-stage pooling, s-value < 0.05": pooled2.assign(call=sv(pooled2).astype(bool)),
        "two-stage horseshoe, lfsr < 0.05": sparse2.assign(call=sparse2.lfsr < 0.05),
        "two-stage horseshoe, s-value < 0.05": sparse2.assign(call=sv(sparse2).astype(bool)),
    }
    diags = []
    if pooled_reps_left > 0:
        from longmod.biomarkers.bayes import fit_pooled

        for prior in ("normal", "horseshoe"):
            fit = fit_pooled(d, sampler=sampler, prior=prior)
            diags.append(fit["diagnostics"].assign(method=f"PyMC pooled {prior}"))
            pe = fit["effects"]
            pe = pe[pe.day > 0]
            calls[f"PyMC pooled {prior}, lfsr < 0.05"] = pe.assign(call=pe.lfsr < 0.05, sign=np.sign(pe.estimate))
            calls[f"PyMC pooled {prior}, s-value < 0.05"] = pe.assign(call=sv(pe).astype(bool),
                                                                     sign=np.sign(pe.estimate))
    for name, c in calls.items():
        m = c[["outcome", "day", "call", "sign"]].merge(tr, on=["outcome", "day"], how="right", validate="1:1")
        m["call"] = m["call"].eq(True)  # marker-days without an estimate (right-join NaN) are not calls
        nonnull = m.effect != 0
        true_call = m.call & nonnull & (m.sign == np.sign(m.effect))
        dv = [int(x.divergences.iloc[0]) for x in diags if name.startswith(x.method.iloc[0] + ",")]
        out.append({"method": name, "discoveries": int(m.call.sum()), "false": int((m.call & ~true_call).sum()),
                    "true": int(true_call.sum()), "non_null": int(nonnull.sum()),
                    "divergences": dv[0] if dv else np.nan})
    return out


def false_discoveries(reps: int = 20, pooled_reps: int = 2, seed: int = 7,
                      sampler=None) -> pd.DataFrame:
    """Part B: false discoveries and power of BH vs partial pooling.

    Returns
    -------
    pandas.DataFrame
        ``method``, ``n_reps``, ``fdr`` (mean over replicates of false /
        max(discoveries, 1); a discovery with the wrong sign counts as
        false), ``any_false`` (share of replicates with >= 1 false
        discovery), ``power`` (mean true / non-null), ``mean_discoveries``,
        ``divergences`` (total over replicates of the PyMC fits; NaN for
        methods without sampling).

    Examples
    --------
    >>> t = false_discoveries(reps=1, pooled_reps=0, seed=1)
    >>> sorted(t.method)[0], int(t.n_reps.iloc[0])
    ('BH on Wilcoxon P (paper)', 1)
    """
    rng = np.random.default_rng(seed)
    truth = default_effects(48, n_affected=6, size=TRUE_EFFECT)
    rows = []
    for r in range(reps):
        d = simulate_biomarkers(48, effects=truth, seed=int(rng.integers(2**31)))
        for row in _decisions(d, truth, pooled_reps - r, sampler):
            rows.append({**row, "rep": r})
    t = pd.DataFrame(rows)
    t["fdp"] = t["false"] / t["discoveries"].clip(lower=1)
    t["tpr"] = t["true"] / t["non_null"]
    g = t.groupby("method", sort=False)
    return pd.DataFrame({"n_reps": g.size(), "fdr": g.fdp.mean(), "any_false": g["false"].apply(lambda x: (x > 0).mean()),
                         "power": g.tpr.mean(), "mean_discoveries": g.discoveries.mean(),
                         "divergences": g.divergences.sum(min_count=1)}).reset_index()


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table (no optional dependency).

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"a": [1.23456], "b": ["x"]})))
    | a | b |
    |---|---|
    | 1.235 | x |
    """
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def main(argv=None) -> None:
    """Command line: run both parts and print Markdown tables.

    Examples
    --------
    With no part selected only the timing line is printed (the study itself
    takes minutes: ``python -m longmod.biomarkers.study --reps 100``):

    >>> main(["--parts", ""])
    <BLANKLINE>
    part A 0 s, part B 0 s
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--fdr-reps", type=int, default=30)
    ap.add_argument("--pooled-reps", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--draws", type=int, default=None, help="posterior draws per chain of the PyMC fits")
    ap.add_argument("--parts", default="AB", help="A (bias/coverage), B (false discoveries) or AB")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    if "A" in a.parts:
        print(markdown_table(bias_coverage(reps=a.reps, seed=a.seed)))
        print()
    t1 = time.perf_counter()
    if "B" in a.parts:
        sampler = None if a.draws is None else {"draws": a.draws}
        print(markdown_table(false_discoveries(reps=a.fdr_reps, pooled_reps=a.pooled_reps, seed=a.seed + 1,
                                               sampler=sampler)))
    t2 = time.perf_counter()
    print(f"\npart A {t1 - t0:.0f} s, part B {t2 - t1:.0f} s")


if __name__ == "__main__":
    main()
