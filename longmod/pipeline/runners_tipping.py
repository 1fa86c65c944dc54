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
    """Problems of a ``tipping_point`` analysis found before anything is fitted."""
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


def _prob_benefit(ctx, analysis, outcome: str):
    """(callable or None, description) of P(benefit) per grid point."""
    from longmod.estimands.tipping import normal_prob_benefit

    if analysis.options.get("prob_benefit", "normal") == "none":
        return None, ""
    v = ctx.variable(outcome)
    scale = float(analysis.options.get("prior_scale", PRIOR_SCALE))
    if v.mcid is not None and scale > 0:
        sd = scale * float(v.mcid)
        text = f"normal prior N(0, {sd:g}^2) ({scale:g} x MCID) x the ANCOVA's normal likelihood (closed form)"
    else:
        sd = np.inf
        text = "flat prior x the ANCOVA's normal likelihood (closed form; no MCID declared)"
    return normal_prob_benefit(0.0, sd, higher_is_better=v.higher_is_better, mcid=v.mcid), text


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
    prob, prob_text = _prob_benefit(ctx, analysis, e.outcome)
    frames = []
    for t in ctx.treatments:
        keep = [t.active, t.reference]
        if len(ctx.trial.meta.arms) > 2:
            def apply(trial, est, keep=keep):
                from dataclasses import replace

                from longmod.estimands import apply_estimand

                ad = apply_estimand(trial, est)
                return replace(ad, frame=ad.frame[ad.frame["arm"].astype(str).isin(keep)].reset_index(drop=True))
        else:
            apply = None
        sweep = tipping_point_sweep(
            ctx.trial, e, treatment=t, covariates=cov, death_values=_opt(analysis, "death_values", DEATH_VALUES),
            discharge_factors=factors, active_deltas=_opt(analysis, "active_deltas", DELTAS),
            prob_benefit=prob, apply=apply)
        sweep = label_rows(ctx, analysis, sweep, "tipping_point")
        sweep["prob_benefit_method"] = prob_text
        sweep["covariates"] = " + ".join(cov)
        sweep["status"] = "ok"
        # the protocol's point first: a report that shows one row per analysis shows the primary result
        order = np.argsort(~sweep["is_protocol"].to_numpy(bool), kind="stable")
        frames.append(sweep.iloc[order])
    return effects_frame(pd.concat(frames, ignore_index=True).to_dict("records"))
