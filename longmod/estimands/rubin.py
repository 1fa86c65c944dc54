"""Rubin's rules for multiply imputed analyses, with the Barnard-Rubin (1999) df.

For ``m`` completed-data estimates ``Q_l`` with variances ``U_l`` (squared
standard errors) and a complete-data residual df ``nu_com``:

* ``Qbar = mean(Q_l)``, ``Ubar = mean(U_l)``, ``B = var(Q_l)`` (``ddof = 1``),
  ``T = Ubar + (1 + 1/m) B`` (Rubin 1987);
* ``lambda = (1 + 1/m) B / T``, ``riv = (1 + 1/m) B / Ubar``;
* ``nu_old = (m - 1) / lambda^2``,
  ``nu_obs = (nu_com + 1) / (nu_com + 3) nu_com (1 - lambda)``,
  ``df = nu_old nu_obs / (nu_old + nu_obs)`` (Barnard and Rubin 1999;
  ``df = nu_old`` when ``nu_com`` is infinite);
* ``fmi = (riv + 2 / (df + 3)) / (riv + 1)``.

As R's ``mice::pool`` (mice 3.x), ``lambda`` is floored at ``1e-4`` inside the
df formula (so that ``B = 0`` gives a finite df). The test
``tests/estimands/test_rubin_vs_mice.py`` checks every quantity against
``mice::pool`` on identical completed datasets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Floor of lambda in the Barnard-Rubin df, as mice::barnard.rubin.
LAMBDA_FLOOR = 1e-4


@dataclass(frozen=True)
class PooledEstimate:
    """Rubin's-rules summary of one scalar quantity.

    Attributes
    ----------
    estimate : float
        ``Qbar``, the mean of the completed-data estimates.
    std_error : float
        ``sqrt(T)``.
    df : float
        Barnard-Rubin degrees of freedom.
    conf_low, conf_high, p_value : float
        t interval and two-sided P value (H0: quantity = 0) on ``df``.
    ubar, b, t : float
        Within-, between- and total variance.
    riv, lambda_, fmi : float
        Relative increase in variance, proportion of variance due to
        missingness, fraction of missing information (mice's definitions).
    m : int
        Number of imputations.
    df_complete : float
        Complete-data df used (``inf`` for a z-based analysis).
    """

    estimate: float
    std_error: float
    df: float
    conf_low: float
    conf_high: float
    p_value: float
    ubar: float
    b: float
    t: float
    riv: float
    lambda_: float
    fmi: float
    m: int
    df_complete: float

    def as_row(self) -> dict:
        """Common-schema values plus the pooling diagnostics (``ubar``, ``b``, ``riv``, ``fmi``, ...)."""
        return {
            "estimate": self.estimate, "std_error": self.std_error, "df": self.df, "conf_low": self.conf_low,
            "conf_high": self.conf_high, "p_value": self.p_value, "df_method": "barnard-rubin",
            "n_imputations": self.m, "ubar": self.ubar, "between_var": self.b, "total_var": self.t,
            "riv": self.riv, "lambda": self.lambda_, "fmi": self.fmi, "df_complete": self.df_complete,
        }


def barnard_rubin_df(m: int, b: float, t: float, df_complete: float) -> float:
    """Barnard-Rubin (1999) small-sample degrees of freedom.

    Parameters
    ----------
    m : int
        Number of imputations (>= 2).
    b, t : float
        Between-imputation and total variance.
    df_complete : float
        Complete-data degrees of freedom (``inf`` gives Rubin's large-sample df).

    Examples
    --------
    >>> round(barnard_rubin_df(5, 1.0, 3.0, 50.0), 4)
    13.3975
    """
    lam = max((1.0 + 1.0 / m) * b / t, LAMBDA_FLOOR)
    df_old = (m - 1) / lam**2
    if not np.isfinite(df_complete):
        return float(df_old)
    df_obs = (df_complete + 1.0) / (df_complete + 3.0) * df_complete * (1.0 - lam)
    return float(df_old * df_obs / (df_old + df_obs))


def pool_scalar(
    estimates: Sequence[float],
    std_errors: Sequence[float],
    df_complete: float = np.inf,
    level: float = 0.95,
) -> PooledEstimate:
    """Pool ``m`` completed-data estimates of one quantity with Rubin's rules.

    Parameters
    ----------
    estimates, std_errors : sequence of float
        One estimate and standard error per completed dataset (``m >= 2``).
    df_complete : float
        Residual df of the complete-data analysis (e.g. ``n - p`` of an
        ANCOVA); ``inf`` for a z-based analysis.
    level : float
        Confidence level of the t interval.

    Returns
    -------
    PooledEstimate

    Raises
    ------
    ValueError
        Fewer than two imputations, lengths that differ, non-finite values or a
        non-positive standard error.

    Examples
    --------
    >>> r = pool_scalar([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], df_complete=20)
    >>> r.estimate, round(r.t, 4), round(r.df, 3)
    (2.0, 2.3333, 3.436)
    """
    from scipy import stats

    q = np.asarray(estimates, dtype=float)
    se = np.asarray(std_errors, dtype=float)
    if q.ndim != 1 or se.shape != q.shape:
        raise ValueError(f"Rubin's rules: {q.size} estimates but {se.size} standard errors; give one of each per imputation")
    m = len(q)
    if m < 2:
        raise ValueError(f"Rubin's rules need at least 2 imputations, got {m}")
    if not (np.isfinite(q).all() and np.isfinite(se).all()) or (se <= 0).any():
        raise ValueError("Rubin's rules: every estimate must be finite and every standard error finite and > 0")
    if not df_complete > 0:
        raise ValueError(f"Rubin's rules: df_complete must be > 0 (or inf), got {df_complete}")
    qbar = float(q.mean())
    ubar = float(np.mean(se**2))
    b = float(q.var(ddof=1))
    t = ubar + (1.0 + 1.0 / m) * b
    df = barnard_rubin_df(m, b, t, float(df_complete))
    riv = (1.0 + 1.0 / m) * b / ubar
    lam = (1.0 + 1.0 / m) * b / t
    fmi = (riv + 2.0 / (df + 3.0)) / (riv + 1.0)
    s = float(np.sqrt(t))
    crit = stats.t.ppf(0.5 + level / 2, df)
    p = float(2 * stats.t.sf(abs(qbar / s), df))
    return PooledEstimate(qbar, s, df, qbar - crit * s, qbar + crit * s, p, ubar, b, t, riv, lam, fmi, m,
                          float(df_complete))
