"""Priors for the between-study heterogeneity ``tau`` of a Bayesian meta-analysis.

Two families, each a frozen :class:`HeterogeneityPrior` that records where it
came from (``source``), so a result row can print the prior it used:

* **half-normal on tau** (:func:`half_normal`): weakly informative; for log
  odds ratios a scale of 0.5 is a common "fairly conservative" choice (Röver
  et al. 2021, Res Synth Methods 12:448-474); for a mean difference the scale
  is in the outcome's units and must be declared;
* **log-normal on tau^2** (:func:`turner2015`): the empirical predictive
  distributions of Turner et al. (2015, Stat Med 34:984-998), **Table IV**,
  derived from 14,886 meta-analyses of binary outcomes in the Cochrane
  Database: ``log(tau^2) ~ N(mu, sigma^2)`` on the log odds ratio scale, by
  outcome type and type of comparison. Values below are Table IV's, as
  tabulated in R package ``bayesmeta`` (``TurnerEtAlPrior``), for the
  comparison "pharmacological vs. placebo / control" (which includes a
  biological therapy vs placebo or usual care, the comparison of the MSC
  trials); the marginal prior ("any") is LN(-2.56, 1.74^2) (p. 993).

For a **mean difference** (continuous outcome, e.g. the PaO2/FiO2 change) no
Turner prior exists; :func:`turner2015_mean_difference` transfers one to the
mean-difference scale through the logistic relation between a log odds ratio
and a standardised mean difference (SMD = log OR x sqrt(3) / pi, Chinn 2000,
Stat Med 19:3127) and an outcome SD: ``tau_MD = tau_logOR x sqrt(3)/pi x SD``,
i.e. ``mu`` shifted by ``2 log(sqrt(3)/pi x SD)``. That is an assumption (the
SD and the transfer), recorded in ``source``; Rhodes et al. (2015, J Clin
Epidemiol 68:52-60) give log-t priors fitted to continuous outcomes (SMDs),
not implemented here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Turner et al. (2015) Table IV, log(tau^2) ~ N(mu, sigma^2), comparison
#: "pharmacological vs. placebo / control" (log odds ratio scale).
TURNER_2015_PHARMA_VS_CONTROL: dict[str, tuple[float, float]] = {
    "all-cause mortality": (-3.95, 1.34),
    "obstetric outcomes": (-3.52, 1.74),
    "cause-specific mortality / major morbidity event / composite (mortality or morbidity)": (-3.71, 1.74),
    "resource use / hospital stay / process": (-2.34, 1.74),
    "surgical / device related success / failure": (-2.14, 1.74),
    "withdrawals / drop-outs": (-2.99, 1.74),
    "internal / structure-related outcomes": (-2.71, 1.74),
    "general physical health indicators": (-2.29, 1.53),
    "adverse events": (-1.87, 1.52),
    "infection / onset of new disease": (-2.49, 1.52),
    "signs / symptoms reflecting continuation / end of condition": (-2.06, 1.51),
    "pain": (-1.83, 1.52),
    "quality of life / functioning (dichotomized)": (-2.54, 1.54),
    "mental health indicators": (-2.12, 1.53),
    "biological markers (dichotomized)": (-1.77, 1.52),
    "subjective outcomes (various)": (-2.70, 1.52),
    "any": (-2.56, 1.74),
}

KINDS = ("half_normal", "lognormal_tau2")


@dataclass(frozen=True)
class HeterogeneityPrior:
    """A prior on ``tau``: ``half_normal`` (``scale``) or ``lognormal_tau2`` (``mu``, ``sigma`` of log tau^2)."""

    kind: str
    scale: float = np.nan
    mu: float = np.nan
    sigma: float = np.nan
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"prior kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "half_normal" and not self.scale > 0:
            raise ValueError(f"half-normal scale must be > 0, got {self.scale}")
        if self.kind == "lognormal_tau2" and not (np.isfinite(self.mu) and self.sigma > 0):
            raise ValueError(f"log-normal prior needs finite mu and sigma > 0, got {self.mu}, {self.sigma}")

    @property
    def label(self) -> str:
        """Short text for result tables, e.g. ``"tau ~ half-normal(0.5)"``."""
        if self.kind == "half_normal":
            return f"tau ~ half-normal({self.scale:g})"
        return f"log(tau^2) ~ N({self.mu:.3g}, {self.sigma:.3g}^2)"

    def tau_quantiles(self, probs: tuple[float, ...] = (0.025, 0.5, 0.975)) -> np.ndarray:
        """Prior quantiles of ``tau`` (to report what the prior says).

        Examples
        --------
        >>> np.round(turner2015("all-cause mortality").tau_quantiles(), 3).tolist()
        [0.037, 0.139, 0.516]
        """
        from scipy import stats

        p = np.asarray(probs, dtype=float)
        if self.kind == "half_normal":
            return stats.halfnorm.ppf(p, scale=self.scale)
        return np.exp((self.mu + self.sigma * stats.norm.ppf(p)) / 2)


def half_normal(scale: float, source: str = "declared") -> HeterogeneityPrior:
    """Half-normal prior on ``tau`` with the given scale (outcome units).

    Examples
    --------
    >>> half_normal(0.5).label
    'tau ~ half-normal(0.5)'
    """
    return HeterogeneityPrior("half_normal", scale=float(scale), source=source)


def turner2015(outcome: str = "all-cause mortality") -> HeterogeneityPrior:
    """Turner et al. (2015) Table IV prior, pharmacological vs placebo/control (log OR scale).

    Examples
    --------
    >>> p = turner2015("all-cause mortality")
    >>> p.mu, p.sigma
    (-3.95, 1.34)
    """
    if outcome not in TURNER_2015_PHARMA_VS_CONTROL:
        raise ValueError(f"unknown Turner et al. (2015) outcome type {outcome!r}; choose one of: "
                         + "; ".join(TURNER_2015_PHARMA_VS_CONTROL))
    mu, sigma = TURNER_2015_PHARMA_VS_CONTROL[outcome]
    return HeterogeneityPrior("lognormal_tau2", mu=mu, sigma=sigma,
                              source=f"Turner et al. 2015 Stat Med 34:984, Table IV: {outcome}, pharmacological vs "
                                     "placebo / control (log odds ratio scale)")


def turner2015_mean_difference(outcome: str, sd: float) -> HeterogeneityPrior:
    """A Turner (2015) prior moved to a mean-difference scale with outcome SD ``sd``.

    ``log(tau_MD^2) = log(tau_logOR^2) + 2 log(sqrt(3)/pi x sd)`` (Chinn 2000).

    Examples
    --------
    >>> p = turner2015_mean_difference("general physical health indicators", sd=86.0)
    >>> round(p.mu, 3), p.sigma, round(float(p.tau_quantiles((0.5,))[0]), 1)
    (5.428, 1.53, 15.1)
    """
    if not sd > 0:
        raise ValueError(f"sd must be > 0, got {sd}")
    base = turner2015(outcome)
    shift = 2 * np.log(np.sqrt(3) / np.pi * sd)
    return HeterogeneityPrior("lognormal_tau2", mu=float(base.mu + shift), sigma=base.sigma,
                              source=base.source + f"; moved to the mean-difference scale with SMD = log OR x sqrt(3)/pi "
                                     f"(Chinn 2000) and outcome SD {sd:g}")
