"""Conditional multivariate normal distribution of missing visits given observed ones.

For a patient with outcome vector ``y ~ N(mu, Sigma)``, observed visits ``o``
and missing visits ``u``:

``y_u | y_o ~ N(mu_u + S_uo S_oo^-1 (y_o - mu_o), S_uu - S_uo S_oo^-1 S_ou)``.

Patients are grouped by their pattern of missing visits so that each
pattern needs one linear solve per parameter draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PatternMoments:
    """Conditional moments of the missing visits of one missingness pattern.

    Attributes
    ----------
    rows : numpy.ndarray
        Patients (row indices) with this pattern.
    missing : numpy.ndarray
        Indices of the missing visits.
    mean : numpy.ndarray
        ``(len(rows), len(missing))`` conditional means.
    cov : numpy.ndarray
        ``(len(missing), len(missing))`` conditional covariance (the same for
        every patient of the pattern).
    """

    rows: np.ndarray
    missing: np.ndarray
    mean: np.ndarray
    cov: np.ndarray


def missing_patterns(y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(rows, missing visits, observed visits)`` for each distinct pattern with a missing visit.

    Examples
    --------
    >>> import numpy as np
    >>> [(r.tolist(), u.tolist(), o.tolist())
    ...  for r, u, o in missing_patterns(np.array([[1, np.nan], [2, 3], [4, np.nan]]))]
    [([0, 2], [1], [0])]
    """
    miss = np.isnan(np.asarray(y, dtype=float))
    out: dict[tuple[int, ...], list[int]] = {}
    for i, row in enumerate(miss):
        if row.any():
            out.setdefault(tuple(np.flatnonzero(row).tolist()), []).append(i)
    allv = np.arange(miss.shape[1])
    return [(np.asarray(r), np.asarray(u), np.setdiff1d(allv, u)) for u, r in sorted(out.items())]


def conditional_moments(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, patterns: list | None = None
) -> list[PatternMoments]:
    """Conditional means and covariances of every patient's missing visits.

    Parameters
    ----------
    y : numpy.ndarray
        ``(n, K)`` outcomes, NaN where missing.
    mu : numpy.ndarray
        ``(n, K)`` marginal means (one vector per patient).
    sigma : numpy.ndarray
        ``(K, K)`` covariance (positive definite).
    patterns : list, optional
        ``missing_patterns(y)``, when already computed.

    Returns
    -------
    list of PatternMoments

    Examples
    --------
    Two visits, correlation 0.5, unit variances: ``E[y2 | y1 = 2] = 0.5 * 2``.

    >>> import numpy as np
    >>> m = conditional_moments(np.array([[2.0, np.nan]]), np.zeros((1, 2)), np.array([[1, .5], [.5, 1]]))
    >>> m[0].mean.tolist(), m[0].cov.tolist()
    ([[1.0]], [[0.75]])
    """
    y = np.asarray(y, dtype=float)
    out = []
    for rows, u, o in (missing_patterns(y) if patterns is None else patterns):
        s_uu = sigma[np.ix_(u, u)]
        if len(o) == 0:
            out.append(PatternMoments(rows, u, mu[np.ix_(rows, u)].copy(), s_uu.copy()))
            continue
        s_oo = sigma[np.ix_(o, o)]
        s_ou = sigma[np.ix_(o, u)]
        a = np.linalg.solve(s_oo, s_ou)  # (|o|, |u|): A' with A = S_uo S_oo^-1
        resid = y[np.ix_(rows, o)] - mu[np.ix_(rows, o)]
        mean = mu[np.ix_(rows, u)] + resid @ a
        cov = s_uu - s_ou.T @ a
        out.append(PatternMoments(rows, u, mean, 0.5 * (cov + cov.T)))
    return out


def fill_conditional(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """``y`` with every missing visit replaced by its conditional mean, or a draw when ``rng`` is given.

    Parameters
    ----------
    y, mu, sigma
        As in :func:`conditional_moments`.
    rng : numpy.random.Generator, optional
        None: conditional means (deterministic); else one draw from the
        conditional normal distribution per patient.

    Returns
    -------
    numpy.ndarray
        Completed ``(n, K)`` copy (observed values unchanged).

    Examples
    --------
    >>> import numpy as np
    >>> fill_conditional(np.array([[2.0, np.nan]]), np.zeros((1, 2)), np.array([[1, .5], [.5, 1]])).tolist()
    [[2.0, 1.0]]
    """
    out = np.array(y, dtype=float, copy=True)
    for pm in conditional_moments(out, mu, sigma):
        val = pm.mean
        if rng is not None:
            chol = np.linalg.cholesky(pm.cov)
            val = val + rng.standard_normal(val.shape) @ chol.T
        out[np.ix_(pm.rows, pm.missing)] = val
    return out
