"""Summary-level Bayesian reanalysis of a published treatment effect.

A published estimate with its 95% confidence interval is turned into a normal
likelihood (normal approximation, ``SE = (hi - lo) / (2 * 1.959964)``) and
combined with a grid of normal priors in closed form (conjugate normal-normal
update). No sampling and no PyMC are needed; the closed form is checked
against MCMC in ``tests/bayes``.

The prior grid
--------------
All priors are normal, ``N(m, s^2)``, on the scale of the published effect
(e.g. mmHg of PaO2/FiO2). Let ``MCID`` be the minimal clinically important
difference (positive number, in the direction of benefit).

* **minimally informative**: ``m = 0``, ``s = flat_sd`` (default ``1e4``; for
  PaO2/FiO2 in mmHg this is > 300 x the published SE, so the posterior equals
  the likelihood to within ``(SE / s)^2`` relative precision).
* **sceptical**: ``m = 0``.
* **optimistic** (enthusiastic): ``m = +MCID`` (benefit of exactly the MCID).
* **pessimistic**: ``m = -MCID`` (harm of exactly the MCID).

The SD of every informative prior depends only on its strength, never on the
trial's own result:

``s = MCID / z(1 - p)``, with ``p = 0.30`` (weak), ``0.15`` (moderate),
``0.05`` (strong) and ``z`` the standard normal quantile.

Hence under the sceptical prior ``P(effect > MCID) = p`` (and, by symmetry,
``P(effect < -MCID) = p``); under the optimistic prior the probability of any
harm ``P(effect < 0)`` is ``p``; under the pessimistic prior the probability of
any benefit ``P(effect > 0)`` is ``p``. Numerically ``s = 1.907, 0.965,
0.608 x MCID``. This is the construction of Goligher et al. (JAMA 2018;
320:2251, EOLIA reanalysis: sceptical prior centred on no effect with a 5%
probability of an effect larger than the clinically important one; enthusiastic
prior centred on the hoped-for benefit with a 15% probability of harm) extended
to the weak/moderate/strong grid of Zampieri et al. (Am J Respir Crit Care Med
2021;203:543, ART reanalysis). The prior's share of the posterior precision is
reported as ``prior_weight`` so that a reader can see how much each prior
dominates the trial's information.

Benefit is ``effect > 0`` by default (higher outcome is better, as for
PaO2/FiO2); pass ``higher_is_better=False`` for outcomes where a negative
difference is benefit (the probability columns then refer to ``effect < 0`` and
``effect < -MCID``, and the optimistic prior is centred on ``-MCID``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from longmod.results.schema import effects_frame

#: z for a two-sided 95% interval, as used to back out SE from a published CI.
Z95: float = 1.959963984540054

#: Tail probability per prior strength: ``sd = MCID / z(1 - p)``.
STRENGTH_TAIL_PROB: Mapping[str, float] = {"weak": 0.30, "moderate": 0.15, "strong": 0.05}

#: Prior families and their mean in units of MCID (in the direction of benefit).
FAMILY_MEAN_IN_MCID: Mapping[str, float] = {"sceptical": 0.0, "optimistic": 1.0, "pessimistic": -1.0}

#: Default SD of the minimally informative prior (outcome units).
FLAT_SD: float = 1e4

ENGINE_NAME = "bayes-summary"


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _norm_ppf(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def se_from_ci(conf_low: float, conf_high: float, level: float = 0.95) -> float:
    """Standard error implied by a symmetric normal-approximation CI.

    Parameters
    ----------
    conf_low, conf_high : float
        Interval limits.
    level : float
        Confidence level of the interval.

    Returns
    -------
    float
        ``(conf_high - conf_low) / (2 * z)`` with ``z = Phi^-1(0.5 + level/2)``.

    Examples
    --------
    >>> round(se_from_ci(-44.7, 59.7), 4)
    26.6331
    """
    if not conf_high > conf_low:
        raise ValueError(f"conf_high ({conf_high}) must exceed conf_low ({conf_low})")
    z = Z95 if level == 0.95 else _norm_ppf(0.5 + level / 2)
    return (conf_high - conf_low) / (2.0 * z)


def normal_posterior(prior_mean: float, prior_sd: float, estimate: float, std_error: float) -> tuple[float, float]:
    """Conjugate normal-normal update.

    Parameters
    ----------
    prior_mean, prior_sd : float
        Prior ``N(prior_mean, prior_sd^2)`` for the effect.
    estimate, std_error : float
        Likelihood ``estimate ~ N(effect, std_error^2)``.

    Returns
    -------
    tuple of float
        ``(posterior_mean, posterior_sd)`` where the posterior precision is
        ``1/prior_sd^2 + 1/std_error^2`` and the mean is the
        precision-weighted average of ``prior_mean`` and ``estimate``.

    Examples
    --------
    Equal precisions give the midpoint and SD / sqrt(2):

    >>> m, s = normal_posterior(0.0, 10.0, 20.0, 10.0)
    >>> round(m, 6), round(s, 6)
    (10.0, 7.071068)
    """
    if prior_sd <= 0 or std_error <= 0:
        raise ValueError("prior_sd and std_error must be positive")
    w0, w1 = 1.0 / prior_sd**2, 1.0 / std_error**2
    prec = w0 + w1
    return (w0 * prior_mean + w1 * estimate) / prec, math.sqrt(1.0 / prec)


def prior_grid(
    mcid: float,
    *,
    strengths: Mapping[str, float] | None = None,
    families: Sequence[str] = ("sceptical", "optimistic", "pessimistic"),
    flat_sd: float = FLAT_SD,
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """The grid of normal priors used by :func:`prior_grid_reanalysis`.

    Parameters
    ----------
    mcid : float
        Minimal clinically important difference (> 0, outcome units).
    strengths : mapping of str to float, optional
        Tail probability ``p`` per strength (default
        :data:`STRENGTH_TAIL_PROB`: weak 0.30, moderate 0.15, strong 0.05);
        ``prior_sd = mcid / z(1 - p)``.
    families : sequence of str
        Subset of ``"sceptical"``, ``"optimistic"``, ``"pessimistic"``.
    flat_sd : float
        SD of the minimally informative prior ``N(0, flat_sd^2)``.
    higher_is_better : bool
        Direction of benefit; the optimistic prior is centred on
        ``+mcid`` if True and on ``-mcid`` otherwise.

    Returns
    -------
    pandas.DataFrame
        Columns ``prior`` (e.g. ``"sceptical-moderate"``), ``prior_family``,
        ``prior_strength`` (``""`` for the minimally informative prior),
        ``prior_tail_prob`` (``p``; NaN for the minimally informative prior),
        ``prior_mean``, ``prior_sd``. The first row is the minimally
        informative prior.

    Examples
    --------
    >>> g = prior_grid(20.0)
    >>> g.loc[g.prior == "sceptical-strong", "prior_sd"].round(3).item()
    12.159
    >>> len(g), list(g.prior[:2])
    (10, ['minimally-informative', 'sceptical-weak'])
    """
    if not (mcid > 0 and math.isfinite(mcid)):
        raise ValueError(f"mcid must be a positive finite number, got {mcid!r}")
    strengths = dict(STRENGTH_TAIL_PROB if strengths is None else strengths)
    unknown = [f for f in families if f not in FAMILY_MEAN_IN_MCID]
    if unknown:
        raise ValueError(f"unknown prior family {unknown}; choose from {', '.join(FAMILY_MEAN_IN_MCID)}")
    for name, p in strengths.items():
        if not 0 < p < 0.5:
            raise ValueError(f"strength {name!r}: tail probability must be in (0, 0.5), got {p}")
    sign = 1.0 if higher_is_better else -1.0
    rows = [
        {"prior": "minimally-informative", "prior_family": "minimally-informative", "prior_strength": "",
         "prior_tail_prob": float("nan"), "prior_mean": 0.0, "prior_sd": float(flat_sd)}
    ]
    for fam in families:
        for strength, p in strengths.items():
            rows.append({
                "prior": f"{fam}-{strength}",
                "prior_family": fam,
                "prior_strength": strength,
                "prior_tail_prob": float(p),
                "prior_mean": sign * FAMILY_MEAN_IN_MCID[fam] * mcid,
                "prior_sd": mcid / _norm_ppf(1.0 - p),
            })
    return pd.DataFrame(rows)


def prior_grid_reanalysis(
    estimate: float,
    conf_low: float,
    conf_high: float,
    mcid: float,
    *,
    level: float = 0.95,
    rope: float | tuple[float, float] | None = None,
    strengths: Mapping[str, float] | None = None,
    families: Sequence[str] = ("sceptical", "optimistic", "pessimistic"),
    flat_sd: float = FLAT_SD,
    higher_is_better: bool = True,
    analysis: str = "published",
    outcome: str | None = None,
    day: float | None = None,
    contrast: str | None = None,
    estimand: str | None = None,
    n_patients: float | None = None,
    data_label: str = "published summary",
) -> pd.DataFrame:
    """Closed-form Bayesian reanalysis of a published estimate over a prior grid.

    Parameters
    ----------
    estimate, conf_low, conf_high : float
        Published effect and its ``level`` confidence interval; the
        likelihood is ``N(estimate, SE^2)`` with ``SE`` from
        :func:`se_from_ci` (symmetric normal approximation).
    mcid : float
        Minimal clinically important difference (> 0), e.g. 20 mmHg for
        PaO2/FiO2.
    level : float
        Confidence level of the published interval (credible intervals are
        always 95%).
    rope : float or (float, float), optional
        Region of practical equivalence; a number ``r`` means ``(-r, r)``.
        Default ``(-mcid/2, mcid/2)``.
    strengths, families, flat_sd, higher_is_better
        Passed to :func:`prior_grid` (see the module docstring for the rule).
    analysis, outcome, day, contrast, estimand, n_patients, data_label
        Labels copied into every row.

    Returns
    -------
    pandas.DataFrame
        One row per prior, in the common schema (:func:`effects_frame`):
        ``estimate`` = posterior mean (= median), ``std_error`` = posterior
        SD, ``df`` NaN, ``conf_low``/``conf_high`` = equal-tailed 95%
        credible interval, ``p_value`` NaN, ``engine`` = ``"bayes-summary"``,
        ``engine_version`` = longmod version, ``n_obs`` NaN, ``n_patients``;
        then ``prob_benefit`` = P(effect > 0), ``prob_mcid`` =
        P(effect > MCID) (both in the direction of benefit), ``r_hat``,
        ``ess_bulk``, ``divergences`` (NaN: no sampling), and the extra
        columns ``posterior_median``, ``prob_harm`` (P of any harm),
        ``prob_rope`` (P(rope_low < effect < rope_high)), ``rope_low``,
        ``rope_high``, ``prior``, ``prior_family``, ``prior_strength``,
        ``prior_tail_prob``, ``prior_mean``, ``prior_sd``, ``prior_weight``
        (prior precision / posterior precision), ``likelihood_estimate``,
        ``likelihood_se``, ``mcid``, ``data_label``.

    Examples
    --------
    STROMA-CoV-2 primary ANCOVA (7.4 mmHg, 95% CI -44.7 to 59.7), MCID 20:

    >>> t = prior_grid_reanalysis(7.4, -44.7, 59.7, mcid=20.0, outcome="pf_ratio", day=7)
    >>> row = t.set_index("prior").loc["minimally-informative"]
    >>> round(float(row.estimate), 3), round(float(row.conf_low), 2), round(float(row.conf_high), 2)
    (7.4, -44.8, 59.6)

    (The published interval is centred on 7.5, not 7.4, because of rounding;
    the likelihood is centred on the published point estimate.)
    >>> round(float(t.set_index("prior").loc["sceptical-strong", "prob_mcid"]), 3)
    0.045
    """
    for name, v in (("estimate", estimate), ("conf_low", conf_low), ("conf_high", conf_high)):
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
    if not conf_low <= estimate <= conf_high:
        raise ValueError(f"estimate {estimate} lies outside its interval ({conf_low}, {conf_high})")
    se = se_from_ci(conf_low, conf_high, level)
    if rope is None:
        rope_lo, rope_hi = -mcid / 2.0, mcid / 2.0
    elif np.ndim(rope) == 0:
        rope_lo, rope_hi = -abs(float(rope)), abs(float(rope))
    else:
        rope_lo, rope_hi = (float(x) for x in rope)
    from longmod import __version__

    grid = prior_grid(mcid, strengths=strengths, families=families, flat_sd=flat_sd,
                      higher_is_better=higher_is_better)
    sign = 1.0 if higher_is_better else -1.0
    rows = []
    for g in grid.itertuples(index=False):
        m, s = normal_posterior(g.prior_mean, g.prior_sd, estimate, se)
        prob_benefit = _norm_cdf(sign * m / s)
        rows.append({
            "analysis": analysis,
            "estimand": estimand,
            "outcome": outcome,
            "day": day,
            "contrast": contrast,
            "estimate": m,
            "std_error": s,
            "df": float("nan"),
            "conf_low": m - Z95 * s,
            "conf_high": m + Z95 * s,
            "p_value": float("nan"),
            "engine": ENGINE_NAME,
            "engine_version": __version__,
            "n_obs": float("nan"),
            "n_patients": n_patients,
            "prob_benefit": prob_benefit,
            "prob_mcid": _norm_cdf((sign * m - mcid) / s),
            "r_hat": float("nan"),
            "ess_bulk": float("nan"),
            "divergences": float("nan"),
            "posterior_median": m,
            "prob_harm": 1.0 - prob_benefit,
            "prob_rope": _norm_cdf((rope_hi - m) / s) - _norm_cdf((rope_lo - m) / s),
            "rope_low": rope_lo,
            "rope_high": rope_hi,
            "prior": g.prior,
            "prior_family": g.prior_family,
            "prior_strength": g.prior_strength,
            "prior_tail_prob": g.prior_tail_prob,
            "prior_mean": g.prior_mean,
            "prior_sd": g.prior_sd,
            "prior_weight": (1.0 / g.prior_sd**2) / (1.0 / g.prior_sd**2 + 1.0 / se**2),
            "likelihood_estimate": float(estimate),
            "likelihood_se": se,
            "mcid": float(mcid),
            "data_label": data_label,
        })
    return effects_frame(rows)
