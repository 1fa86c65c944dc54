"""Published summaries -> effect estimate and standard error, for meta-analysis.

Every helper returns a :class:`Effect` whose ``method`` says how it was
obtained, so a meta-analysis table can show where each number came from.

* :func:`mean_difference` - difference of two means from means, SDs and ns
  (SE = sqrt(sd1^2/n1 + sd2^2/n2), metafor ``escalc(measure = "MD")``);
* :func:`from_ci` - an estimate with a confidence interval (e.g. an adjusted
  mean difference, or a log odds/hazard ratio with ``log_scale=True``): SE =
  CI width / (2 z), or t with ``df`` when the CI came from a t distribution;
* :func:`log_odds_ratio` - log odds ratio from 2x2 counts; when a cell is 0,
  0.5 is added to all four cells of that study (metafor's default ``add =
  1/2, to = "only0"``); with no event (or only events) in both arms the log
  odds ratio is not estimable and is returned as NaN with a note, never as a
  number;
* :func:`mean_sd_from_median_iqr` - mean and SD from median and quartiles:
  SD by Wan et al. (2014, BMC Med Res Methodol 14:135, scenario C3),
  ``(q3 - q1) / (2 Phi^-1((0.75 n - 0.125) / (n + 0.25)))``; mean by Wan et
  al. (C3) ``(q1 + m + q3) / 3`` or, with ``mean_method="luo"``, by Luo
  et al. (2018, Stat Methods Med Res 27:1785, scenario S3) ``w (q1 + q3)/2 +
  (1 - w) m`` with ``w = 0.7 + 0.39 / n``;
* :func:`mean_sd_from_median_range` - Wan et al. (2014) scenario C1 (median,
  minimum and maximum): mean ``(a + 2 m + b) / 4``, SD ``(b - a) / (2
  Phi^-1((n - 0.375) / (n + 0.25)))``;
* :func:`change_sd` - SD of a change score from the baseline and follow-up
  SDs and an assumed correlation (Cochrane Handbook 6.5.2.8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Effect:
    """One study's effect estimate on the analysis scale."""

    estimate: float
    std_error: float
    method: str
    note: str = ""


def mean_difference(m1: float, sd1: float, n1: int, m2: float, sd2: float, n2: int) -> Effect:
    """Mean difference ``m1 - m2`` (group 1 = active) with its SE.

    Examples
    --------
    >>> e = mean_difference(83.3, 90.0, 10, 57.6, 90.0, 10)
    >>> round(e.estimate, 1), round(e.std_error, 2)
    (25.7, 40.25)
    """
    for name, v in (("sd1", sd1), ("sd2", sd2)):
        if not v > 0:
            raise ValueError(f"{name} must be > 0, got {v}")
    if n1 < 2 or n2 < 2:
        raise ValueError(f"each arm needs n >= 2, got {n1} and {n2}")
    return Effect(float(m1 - m2), float(np.sqrt(sd1**2 / n1 + sd2**2 / n2)), "means, SDs and ns (escalc MD)")


def from_ci(estimate: float, low: float, high: float, *, level: float = 0.95, df: float | None = None,
            log_scale: bool = False) -> Effect:
    """Effect and SE from an estimate with its confidence interval.

    Parameters
    ----------
    estimate, low, high : float
        As printed (ratios on their natural scale when ``log_scale``).
    level : float
    df : float, optional
        Degrees of freedom when the CI is a t interval (e.g. an ANCOVA).
    log_scale : bool
        Ratios (OR, HR, RR): analyse on the log scale.

    Examples
    --------
    >>> e = from_ci(7.4, -44.7, 59.7, df=40)
    >>> round(e.std_error, 2)
    25.83
    >>> round(from_ci(0.5, 0.25, 1.0, log_scale=True).std_error, 4)
    0.3537
    """
    if log_scale:
        if min(estimate, low, high) <= 0:
            raise ValueError("ratios must be > 0 to be analysed on the log scale")
        estimate, low, high = np.log(estimate), np.log(low), np.log(high)
    if not low < high:
        raise ValueError(f"the CI must have low < high, got ({low}, {high})")
    q = stats.norm.ppf(0.5 + level / 2) if df is None else stats.t.ppf(0.5 + level / 2, df)
    se = (high - low) / (2 * q)
    mid = (low + high) / 2
    note = ""
    if abs(mid - estimate) > 0.05 * (high - low):
        note = f"the CI is not symmetric about the estimate (midpoint {mid:.4g}); SE from its width"
    return Effect(float(estimate), float(se), f"estimate and {level:.0%} CI" + (f" (t, df={df:g})" if df else " (z)")
                  + (", log scale" if log_scale else ""), note)


def log_odds_ratio(e1: int, n1: int, e2: int, n2: int, *, add: float = 0.5) -> Effect:
    """Log odds ratio of an event, arm 1 (active) vs arm 2, from counts.

    ``add`` is added to every cell of a study with a zero cell (metafor
    ``escalc(measure = "OR")`` default); with 0 events in both arms, or
    events in every patient of both arms, the estimate is NaN.

    Examples
    --------
    >>> e = log_odds_ratio(0, 8, 7, 24)
    >>> round(e.estimate, 3), round(e.std_error, 3), e.method
    (-1.986, 1.519, '2x2 counts, 0.5 added to each cell (zero cell)')
    >>> import math; math.isnan(log_odds_ratio(0, 10, 0, 10).estimate)
    True
    """
    for name, e, n in (("arm 1", e1, n1), ("arm 2", e2, n2)):
        if not (0 <= e <= n and n > 0):
            raise ValueError(f"{name}: events must be between 0 and n (> 0), got {e}/{n}")
    if (e1 == 0 and e2 == 0) or (e1 == n1 and e2 == n2):
        return Effect(np.nan, np.nan, "2x2 counts", "no events (or only events) in both arms: log odds ratio not estimable")
    cells = np.array([e1, n1 - e1, e2, n2 - e2], dtype=float)
    method = "2x2 counts"
    if (cells == 0).any():
        cells = cells + add
        method = f"2x2 counts, {add:g} added to each cell (zero cell)"
    a, b, c, d = cells
    return Effect(float(np.log(a * d / (b * c))), float(np.sqrt((1 / cells).sum())), method)


def mean_sd_from_median_iqr(q1: float, median: float, q3: float, n: int, *, mean_method: str = "wan") -> tuple[float, float, str]:
    """Mean and SD from median and quartiles (Wan 2014 SD; Wan or Luo mean).

    Returns
    -------
    tuple
        ``(mean, sd, method)``.

    Examples
    --------
    >>> m, s, _ = mean_sd_from_median_iqr(362, 821, 1305, 8)
    >>> round(m, 1), round(s, 1)
    (829.3, 842.6)
    """
    if not q1 <= median <= q3:
        raise ValueError(f"need q1 <= median <= q3, got {q1}, {median}, {q3}")
    sd = (q3 - q1) / (2 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25)))
    if mean_method == "wan":
        mean, how = (q1 + median + q3) / 3, "Wan et al. 2014, scenario C3 (mean and SD)"
    elif mean_method == "luo":
        w = 0.7 + 0.39 / n
        mean, how = w * (q1 + q3) / 2 + (1 - w) * median, "Luo et al. 2018 mean, Wan et al. 2014 SD (scenario C3)"
    else:
        raise ValueError(f"mean_method must be 'wan' or 'luo', got {mean_method!r}")
    return float(mean), float(sd), how


def mean_sd_from_median_range(minimum: float, median: float, maximum: float, n: int) -> tuple[float, float, str]:
    """Mean and SD from median, minimum and maximum (Wan et al. 2014, scenario C1).

    Examples
    --------
    >>> m, s, _ = mean_sd_from_median_range(2, 14, 40, 10)
    >>> round(m, 1), round(s, 2)
    (17.5, 12.28)
    """
    if not minimum <= median <= maximum:
        raise ValueError(f"need min <= median <= max, got {minimum}, {median}, {maximum}")
    sd = (maximum - minimum) / (2 * stats.norm.ppf((n - 0.375) / (n + 0.25)))
    return float((minimum + 2 * median + maximum) / 4), float(sd), "Wan et al. 2014, scenario C1 (mean and SD)"


def change_sd(sd_baseline: float, sd_follow_up: float, correlation: float) -> float:
    """SD of follow-up minus baseline for an assumed correlation.

    Examples
    --------
    >>> round(change_sd(68.2, 74.2, 0.7), 1)
    55.4
    """
    if not -1 <= correlation <= 1:
        raise ValueError(f"correlation must be in [-1, 1], got {correlation}")
    return float(np.sqrt(sd_baseline**2 + sd_follow_up**2 - 2 * correlation * sd_baseline * sd_follow_up))
