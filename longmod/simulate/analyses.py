"""The analyses a simulation study compares: one registry, each applied to a batch of trials at once.

Every kind takes the trials of one scenario cell (same sizes) and returns one
row per trial: ``estimate``, ``std_error``, ``conf_low``, ``conf_high``,
``p_value``, ``reject`` and ``converged``, on the scale of the change from
baseline at the scenario's endpoint day. Each kind targets one estimand:
``composite`` (the scenario's ``[estimand]`` rules for death and ICU discharge)
or ``hypothetical`` (had nobody died or left the ICU); the study compares each
estimate with the true value of its own estimand.

* ``ancova``: OLS of the composite change on treatment and baseline, solved for
  the whole batch at once (stacked normal equations), t-based 95% CI;
* ``mmrm``: the native MMRM of the observed changes (values after death or ICU
  discharge missing, MAR), ``arm * visit + baseline``, one fit per trial;
* ``bayes_rule``: the ANCOVA's normal likelihood combined in closed form with
  a normal prior; "reject" means P(benefit) > ``threshold``;
* ``worst_rank``: Mann-Whitney comparison of a worst-rank composite (death
  ranked worst, earlier death worse; survivors ranked by the endpoint
  change, with the scenario's death and discharge rules for the last value):
  the estimate is the probabilistic index P(active better) + P(tie)/2 with a
  DeLong (Hanley-McNeil) standard error; "reject" is its two-sided test of 0.5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy import stats

from longmod.simulate.generate import SimulatedTrial, composite_endpoint

RESULT_COLUMNS = ("estimate", "std_error", "conf_low", "conf_high", "p_value", "reject", "converged")


@dataclass(frozen=True)
class SimulationKind:
    """One entry of :data:`SIMULATION_ANALYSES`."""

    options: tuple[str, ...]
    estimand: str  # "composite" | "hypothetical" | "probabilistic_index"
    run: Callable[..., pd.DataFrame]
    doc: str


def _direction(scenario) -> float:
    return 1.0 if scenario.outcome.better == "higher" else -1.0


def _t_rows(est, se, df, alpha) -> pd.DataFrame:
    q = stats.t.ppf(0.975, df)
    p = 2 * stats.t.sf(np.abs(est / se), df)
    return pd.DataFrame({"estimate": est, "std_error": se, "conf_low": est - q * se, "conf_high": est + q * se,
                         "p_value": p, "reject": p < alpha, "converged": np.isfinite(se)})


def batched_ancova(trials: Sequence[SimulatedTrial], scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Treatment estimate, SE and residual df of the composite-change ANCOVA of every trial.

    Rows whose composite value is missing (``exclude`` / ``hypothetical``
    strategies) get weight 0 and do not count in the df.

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> from longmod.simulate.scenario import load_scenario
    >>> from longmod.simulate.generate import simulate_trial
    >>> s = load_scenario(models_dir() / "scenarios" / "stroma_cov2_null.toml")
    >>> ts = [simulate_trial(s, 15, 0.0, np.random.default_rng(i)) for i in range(3)]
    >>> est, se, df = batched_ancova(ts, s)
    >>> est.shape, df.tolist()
    ((3,), [27.0, 27.0, 27.0])
    """
    y = np.stack([composite_endpoint(t, scenario.estimand) - t.baseline for t in trials])
    w = (~np.isnan(y)).astype(float)
    X = np.stack([np.column_stack([np.ones(len(t.active)), t.active, t.baseline]) for t in trials])
    Xw = X * w[:, :, None]
    yw = np.nan_to_num(y) * w
    XtX = np.matmul(Xw.transpose(0, 2, 1), Xw)
    beta = np.linalg.solve(XtX, np.matmul(Xw.transpose(0, 2, 1), yw[:, :, None]))[:, :, 0]
    resid = (yw - np.einsum("tnp,tp->tn", Xw, beta)) * w
    df = w.sum(axis=1) - X.shape[2]
    s2 = (resid**2).sum(axis=1) / df
    se = np.sqrt(s2 * np.linalg.inv(XtX)[:, 1, 1])
    return beta[:, 1], se, df


def run_ancova(trials, scenario, analysis) -> pd.DataFrame:
    """ANCOVA rows (see the module docstring)."""
    est, se, df = batched_ancova(trials, scenario)
    return _t_rows(est, se, df, scenario.alpha)


def run_bayes_rule(trials, scenario, analysis) -> pd.DataFrame:
    """Closed-form normal posterior from the ANCOVA; reject when P(benefit) > threshold."""
    from longmod.engines.bayes.summary_grid import normal_posterior

    o = analysis.options
    prior_mean, prior_sd = float(o.get("prior_mean", 0.0)), float(o["prior_sd"])
    threshold = float(o.get("threshold", 0.975))
    est, se, _ = batched_ancova(trials, scenario)
    post = np.array([normal_posterior(prior_mean, prior_sd, e, s) for e, s in zip(est, se)])
    m, sd = post[:, 0], post[:, 1]
    pben = stats.norm.cdf(_direction(scenario) * m / sd)
    z = stats.norm.ppf(0.975)
    return pd.DataFrame({"estimate": m, "std_error": sd, "conf_low": m - z * sd, "conf_high": m + z * sd,
                         "p_value": np.nan, "prob_benefit": pben, "reject": pben > threshold,
                         "converged": np.isfinite(sd)})


def _long_frame(t: SimulatedTrial, scenario, visits: np.ndarray) -> pd.DataFrame:
    keep = np.isin(t.days, visits)
    vals = t.values[:, keep] - t.baseline[:, None]
    n, k = vals.shape
    d = pd.DataFrame({"id": np.repeat(np.arange(n), k), "day": np.tile(t.days[keep], n),
                      "arm": np.repeat(np.where(t.active == 1, scenario.active_arm, scenario.reference_arm), k),
                      "baseline": np.repeat(t.baseline, k), "change": vals.ravel()})
    d["visit"] = "D" + d["day"].astype(int).astype(str)
    return d[d["change"].notna()]


def run_mmrm(trials, scenario, analysis) -> pd.DataFrame:
    """One native MMRM per trial; the contrast at the endpoint visit."""
    from longmod.engines.registry import fit_model
    from longmod.spec.model import ModelSpec, Treatment

    o = analysis.options
    visits = np.asarray(o.get("visits", [d for d in scenario.post_days if d <= scenario.endpoint_day]), float)
    if scenario.endpoint_day not in visits:
        raise ValueError(f"simulation analysis {analysis.name!r}: visits {visits.tolist()} must include the endpoint day {scenario.endpoint_day}")
    levels = {"visit": [f"D{int(v)}" for v in visits]}
    spec = ModelSpec(name=analysis.name, outcome="change", fixed="arm * visit + baseline", subject="id", visit="visit",
                     time="day", covariance=o.get("covariance", "us"), df=o.get("df", "kenward-roger"),
                     treatment=Treatment("arm", scenario.reference_arm, scenario.active_arm),
                     levels={**levels, "arm": [scenario.reference_arm, scenario.active_arm]})
    rows = []
    for t in trials:
        try:
            fit = fit_model(spec, _long_frame(t, scenario, visits))
            r = fit.effects[fit.effects["day"] == scenario.endpoint_day].iloc[0]
            ok = bool(fit.convergence.converged)
            rows.append({k: float(r[k]) for k in ("estimate", "std_error", "conf_low", "conf_high", "p_value")}
                        | {"converged": ok})
        except (ValueError, np.linalg.LinAlgError) as exc:  # a degenerate simulated trial: counted as a failed fit
            rows.append({"estimate": np.nan, "std_error": np.nan, "conf_low": np.nan, "conf_high": np.nan,
                         "p_value": np.nan, "converged": False, "error": str(exc)[:200]})
    out = pd.DataFrame(rows)
    out["reject"] = out["p_value"] < scenario.alpha
    return out


def worst_rank_scores(t: SimulatedTrial, scenario) -> np.ndarray:
    """Worst-rank score per patient: ``-(T + 1 - death day) * BIG`` for deaths by the endpoint, else the signed change."""
    day = scenario.estimand.day
    est = scenario.estimand.replace(death="hypothetical")
    change = (composite_endpoint(t, est) - t.baseline) * _direction(scenario)
    died = t.death_day <= day
    big = 1e9
    return np.where(died, -big * (day + 1 - np.nan_to_num(t.death_day)), change)


def run_worst_rank(trials, scenario, analysis) -> pd.DataFrame:
    """Probabilistic index of the worst-rank composite with a DeLong SE (see the module docstring)."""
    rows = []
    z = stats.norm.ppf(0.975)
    for t in trials:
        s = worst_rank_scores(t, scenario)
        a, b = s[t.active == 1], s[t.active == 0]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        psi = (a[:, None] > b[None, :]) + 0.5 * (a[:, None] == b[None, :])
        pi = float(psi.mean())
        v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
        se = float(np.sqrt(v10.var(ddof=1) / len(a) + v01.var(ddof=1) / len(b)))
        p = float(2 * stats.norm.sf(abs(pi - 0.5) / se)) if se > 0 else np.nan
        rows.append({"estimate": pi, "std_error": se, "conf_low": pi - z * se, "conf_high": pi + z * se,
                     "p_value": p, "reject": p < scenario.alpha, "converged": se > 0})
    return pd.DataFrame(rows)


#: Simulation analysis kind -> options, estimand and batch runner.
SIMULATION_ANALYSES = MappingProxyType({
    "ancova": SimulationKind((), "composite", run_ancova, "ANCOVA of the composite change, adjusted for baseline"),
    "mmrm": SimulationKind(("visits", "covariance", "df"), "hypothetical", run_mmrm,
                           "MMRM of the observed changes (MAR after death or ICU discharge)"),
    "bayes_rule": SimulationKind(("prior_mean", "prior_sd", "threshold"), "composite", run_bayes_rule,
                                 "Bayesian decision rule on the ANCOVA (normal prior, closed form)"),
    "worst_rank": SimulationKind((), "probabilistic_index", run_worst_rank,
                                 "Mann-Whitney probabilistic index of a worst-rank composite (death worst)"),
})
