"""Runner of the ``tipping_point`` kind: the primary ANCOVA over a grid of the composite strategy's constants.

The grid (value imputed at death x discharge factor, for the multiplicative
and the additive reading of the discharge rule, x a delta added to the active
arm's imputed values) comes from the analysis's options; the protocol's own
constants are always in it, and that grid point (``is_protocol``) is the
primary ANCOVA itself. P(benefit) per grid point is the closed-form posterior
of a normal prior on the effect and the ANCOVA's normal likelihood
(:func:`longmod.estimands.tipping.normal_prob_benefit`); the prior is
``N(0, (prior_scale x MCID)^2)`` when the outcome declares an MCID (the scale
of the plan's weakly informative Bayesian ANCOVA), else flat. Rows: one per
grid point and active arm, the protocol's point first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from longmod.pipeline.runners_estimands import _covariate_problems, _covariates, _event_problems, label_rows
from longmod.results.schema import effects_frame

#: Default grid: 11 values imputed at death x 7 multipliers (plus the protocol's), additive fractions, deltas.
DEATH_VALUES: tuple[float, ...] = tuple(float(v) for v in range(0, 151, 15))
MULTIPLIERS: tuple[float, ...] = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4)
FRACTIONS: tuple[float, ...] = (-0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4)
DELTAS: tuple[float, ...] = (0.0,)
#: Prior SD on the effect, in MCIDs, for P(benefit) (the plan's Bayesian ANCOVA uses 5 x MCID).
PRIOR_SCALE = 5.0


def _opt(analysis, name: str, default):
    return [float(v) for v in analysis.options.get(name, default)]


def check_tipping_point(ctx, analysis) -> list[str]:
    """Problems of a ``tipping_point`` analysis found before anything is fitted.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["tipping_point"]
    >>> check_tipping_point(ctx, a)
    []
    >>> print(*check_tipping_point(ctx, replace(a, options={**a.options, "prob_benefit": "bayes"})))
    analysis 'tipping_point': prob_benefit = 'bayes'; valid: "normal" (closed form), "none"
    """
    where = f"analysis {analysis.name!r}"
    out = _covariate_problems(ctx, analysis) + _event_problems(ctx, analysis, ("death", "discharge"))
    for name, default in (("death_values", DEATH_VALUES), ("discharge_multipliers", MULTIPLIERS),
                          ("discharge_fractions", FRACTIONS), ("active_deltas", DELTAS)):
        vals = analysis.options.get(name, default)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in vals):
            out.append(f"{where}: {name} must be a list of numbers, got {list(vals)!r}")
    if not analysis.options.get("discharge_multipliers", MULTIPLIERS) and \
            not analysis.options.get("discharge_fractions", FRACTIONS):
        out.append(f"{where}: give discharge_multipliers or discharge_fractions (both are empty)")
    if not analysis.options.get("death_values", DEATH_VALUES):
        out.append(f"{where}: death_values is empty")
    pb = analysis.options.get("prob_benefit", "normal")
    if pb not in ("normal", "none"):
        out.append(f"{where}: prob_benefit = {pb!r}; valid: \"normal\" (closed form), \"none\"")
    return out


def _prior(ctx, analysis, outcome: str) -> tuple[float, str] | None:
    """(prior SD of the effect, description) of P(benefit) per grid point; None: not computed."""
    if analysis.options.get("prob_benefit", "normal") == "none":
        return None
    v = ctx.variable(outcome)
    scale = float(analysis.options.get("prior_scale", PRIOR_SCALE))
    if v.mcid is not None and scale > 0:
        sd = scale * float(v.mcid)
        return sd, f"normal prior N(0, {sd:g}^2) ({scale:g} x MCID) x the ANCOVA's normal likelihood (closed form)"
    return np.inf, "flat prior x the ANCOVA's normal likelihood (closed form; no MCID declared)"


def prob_benefit_columns(estimate, std_error, *, prior_sd: float, higher_is_better: bool,
                         mcid: float | None) -> dict[str, np.ndarray]:
    """P(benefit) (and P(> MCID)) of every grid point at once: what
    :func:`longmod.estimands.tipping.normal_prob_benefit` gives one point at a time.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from longmod.estimands.tipping import normal_prob_benefit
    >>> one = normal_prob_benefit(0.0, 10.0, mcid=5.0)(None, SimpleNamespace(estimate=20.0, std_error=10.0))
    >>> all_ = prob_benefit_columns([20.0], [10.0], prior_sd=10.0, higher_is_better=True, mcid=5.0)
    >>> bool(all_["prob_benefit"][0] == one["prob_benefit"] and all_["prob_mcid"][0] == one["prob_mcid"])
    True
    """
    from scipy import stats

    from longmod.engines.bayes.summary_grid import normal_posterior

    est, se = np.asarray(estimate, float), np.asarray(std_error, float)
    if np.isfinite(prior_sd):
        post = np.array([normal_posterior(0.0, prior_sd, float(m), float(s)) for m, s in zip(est, se)]).reshape(-1, 2)
        m, s = post[:, 0], post[:, 1]
    else:
        m, s = est, se
    sign = 1.0 if higher_is_better else -1.0
    out = {"prob_benefit": stats.norm.sf(0.0, loc=sign * m, scale=s), "posterior_mean": m, "posterior_sd": s}
    if mcid is not None:
        out["prob_mcid"] = stats.norm.sf(abs(mcid), loc=sign * m, scale=s)
    return out


class _FastApply:
    """``apply_estimand`` for the sweep: the estimand's own rule and factor exactly as the primary analysis; the
    other discharge factors from one LOCF application (``last x factor`` or ``last + factor x baseline``, the same
    arithmetic as :func:`longmod.estimands.apply_estimand`), instead of one full application per factor."""

    def __init__(self, own, keep: list[str] | None):
        self.own, self.keep, self.locf = own, keep, {}

    def _subset(self, ad):
        if self.keep is None:
            return ad
        from dataclasses import replace

        return replace(ad, frame=ad.frame[ad.frame["arm"].astype(str).isin(self.keep)].reset_index(drop=True))

    def __call__(self, trial, est):
        from dataclasses import replace

        from longmod.estimands import apply_estimand
        from longmod.spec.estimand import Strategy

        s = est.discharge
        if (est.death, s) == (self.own.death, self.own.discharge) or \
                s.name not in ("locf_multiplier", "locf_plus_baseline_fraction"):
            return self._subset(apply_estimand(trial, est))
        if est.death not in self.locf:
            self.locf[est.death] = self._subset(apply_estimand(trial, est.replace(discharge=Strategy("locf"))))
        locf = self.locf[est.death]
        f = locf.frame.copy()
        at = (f["rule"] == "discharge: LOCF").to_numpy()
        last = f.loc[at, "value"].to_numpy(float)
        if s.name == "locf_multiplier":
            value, rule = last * s.factor, f"discharge: LOCF x {s.factor:.2f}"
        else:
            value, rule = last + s.factor * f.loc[at, "baseline"].to_numpy(float), \
                f"discharge: LOCF + {s.factor:.0%} of baseline"
        f.loc[at, "value"] = value
        f.loc[at, "change"] = value - f.loc[at, "baseline"].to_numpy(float)
        f.loc[at, "rule"] = rule
        return replace(locf, estimand=est, frame=f)


def run_tipping_point(ctx, analysis) -> pd.DataFrame:
    """Tipping-point sweep of the composite estimand's constants, the primary ANCOVA at every grid point.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("stroma-cov2", only=["tipping_point"]).effects
    >>> t = r[r["analysis"] == "tipping_point"]
    >>> len(t) >= 60, int(t["is_protocol"].sum()), bool(t["is_protocol"].iloc[0])
    (True, 1, True)
    """
    from longmod.estimands.tipping import tipping_point_sweep

    e = ctx.estimand(analysis)
    cov = _covariates(ctx, analysis)
    factors = {}
    if mult := _opt(analysis, "discharge_multipliers", MULTIPLIERS):
        factors["locf_multiplier"] = mult
    if frac := _opt(analysis, "discharge_fractions", FRACTIONS):
        factors["locf_plus_baseline_fraction"] = frac
    prior = _prior(ctx, analysis, e.outcome)
    v = ctx.variable(e.outcome)
    frames = []
    for t in ctx.treatments:
        sweep = tipping_point_sweep(
            ctx.trial, e, treatment=t, covariates=cov, death_values=_opt(analysis, "death_values", DEATH_VALUES),
            discharge_factors=factors, active_deltas=_opt(analysis, "active_deltas", DELTAS),
            apply=_FastApply(e, [t.active, t.reference] if len(ctx.trial.meta.arms) > 2 else None))
        sweep = label_rows(ctx, analysis, sweep, "tipping_point")
        if prior is not None:
            for col, vals in prob_benefit_columns(sweep["estimate"], sweep["std_error"], prior_sd=prior[0],
                                                  higher_is_better=v.higher_is_better, mcid=v.mcid).items():
                sweep[col] = vals
            sweep["prob_benefit_method"] = prior[1]
        sweep["covariates"] = " + ".join(cov)
        sweep["status"] = "ok"
        # the protocol's point first: a report that shows one row per analysis shows the primary result
        order = np.argsort(~sweep["is_protocol"].to_numpy(bool), kind="stable")
        frames.append(sweep.iloc[order])
    return effects_frame(pd.concat(frames, ignore_index=True).to_dict("records"))
