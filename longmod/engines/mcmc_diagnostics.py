"""Vectorised MCMC convergence diagnostics: the numbers of ArviZ 0.23.4, all parameters at once.

Rank-normalised split R-hat, bulk and tail effective sample size (ESS) and the Monte Carlo
standard error (MCSE) of the mean and of the sd, following Vehtari, Gelman, Simpson, Carpenter
and Buerkner (2021), Bayesian Analysis 16:667, as ArviZ 0.23.4 computes them (``az.rhat``,
``az.ess(method="bulk" | "tail")``, ``az.mcse``, ``az.summary(kind="diagnostics")``), but for an
array of shape (chains, draws, n_params) with NumPy array operations instead of a Python loop
over parameters (ArviZ spends ~1.5 ms per parameter and statistic).

* :func:`diagnostics` - ``r_hat``, ``ess_bulk``, ``ess_tail``, ``mcse_mean`` per parameter;
* :func:`summary_table` - drop-in for ``az.summary(posterior, var_names, kind="diagnostics",
  round_to="none")``: same index labels (``b[0]``, ``z[3, 1]``) and columns.

Algorithm (per parameter): split every chain in halves (the middle draw of an odd chain is
dropped); z-scale = inverse normal of the Blom-offset average ranks over all split draws;
R-hat = max(R-hat of the z-scaled draws, R-hat of the z-scaled draws folded about their
median); ESS = split chains x draws / tau, tau from the FFT autocovariance truncated by
Geyer's initial positive and monotone sequences (both written here as array operations:
the truncation lag is the first non-positive pair sum, the monotone sequence a running
minimum); bulk ESS on the z-scaled draws, tail ESS = min of the ESS of the indicators
``draw <= q05`` and ``draw <= q95`` (type-7 quantiles); MCSE of the mean = sd / sqrt(ESS of
the split raw draws).

Edge cases, as ArviZ: fewer than 4 draws or any NaN draw -> every statistic NaN for that
parameter; one chain -> ``r_hat`` NaN (the ESS and MCSE are computed); a constant parameter ->
``r_hat`` NaN, ESS = chains x draws (of the split draws), ``mcse_mean`` 0; +-inf draws are
ranked (finite R-hat and ESS) and give NaN ``mcse_mean``, as ArviZ. One deliberate
difference: a parameter constant within every chain but different between chains has zero
within-chain variance, so ``r_hat`` is ``inf`` here, where ArviZ returns rounding noise (6.8e7
for 4 chains of 101 draws, 3e16 with numba disabled). NaN rows come without ArviZ's logged warning.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import fft, special

_MIN_DRAWS = 4
_BLOCK = 64  # parameters per block: bounds the work arrays (~20 MB at 4 x 1000 draws); fastest of 16..1024

# Internally draws are (P, chains, draws): parameter first, draws contiguous (sorts and FFTs along the last axis).


def _split(x: np.ndarray) -> np.ndarray:
    """(P, chains, draws) -> (P, 2 chains, draws // 2): first and last halves of every chain."""
    half = x.shape[2] // 2
    return np.concatenate([x[:, :, :half], x[:, :, x.shape[2] - half:]], axis=1)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Normal scores of the average ranks over all chains and draws, per parameter (Blom, c = 3/8)."""
    flat = x.reshape(x.shape[0], -1)
    n = flat.shape[1]
    order = np.argsort(flat, axis=1)
    s = np.take_along_axis(flat, order, axis=1)
    pos = np.arange(n)
    new = np.ones(s.shape, bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]  # first of a run of ties
    last = np.ones(s.shape, bool)
    last[:, :-1] = new[:, 1:]
    first_pos = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    last_pos = np.minimum.accumulate(np.where(last, pos, n)[:, ::-1], axis=1)[:, ::-1]
    # the average rank (first + last) / 2 + 1 takes 2n - 1 values: look their scores up
    scores = special.ndtri((np.arange(2 * n - 1) / 2 + 1 - 3 / 8) / (n - 2 * 3 / 8 + 1))
    z = np.empty(s.shape)
    np.put_along_axis(z, order, scores[first_pos + last_pos], axis=1)
    return z.reshape(x.shape)


def _rhat(z: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat; a chain without spread has within-chain variance exactly 0."""
    n = z.shape[2]
    between = n * z.mean(axis=2).var(axis=1, ddof=1)
    within = (z.var(axis=2, ddof=1) * (np.ptp(z, axis=2) > 0)).mean(axis=1)
    return np.sqrt((between / within + n - 1) / n)


def _ess(x: np.ndarray) -> np.ndarray:
    """ESS of already split draws: FFT autocorrelation, Geyer's initial positive and monotone sequences."""
    n_par, m, n = x.shape
    n_fft = fft.next_fast_len(2 * n, real=True)
    spec = np.fft.rfft(x - x.mean(axis=2, keepdims=True), n=n_fft, axis=2)
    power = (spec.real ** 2 + spec.imag ** 2).mean(axis=1)
    acov = np.fft.irfft(power, n=n_fft, axis=1)[:, :n] / n  # autocovariance averaged over chains, (P, lags)
    mean_var = acov[:, 0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if m > 1:
        var_plus = var_plus + x.mean(axis=2).var(axis=1, ddof=1)
    rho = 1.0 - (mean_var[:, None] - acov) / var_plus[:, None]  # (P, lags)
    rho[:, 0] = 1.0
    # Pair sums rho[2j] + rho[2j+1], j = 0..n_pairs. Geyer stops before the pair after the first
    # non-positive sum (and at lag n - 3), keeps the running minimum of the sums before it, and adds
    # the even term of the last pair computed if that pair's sum is >= 0 or the term is > 0.
    n_pairs = max((n - 3) // 2, 0)
    sums = rho[:, 0:2 * n_pairs + 2:2] + rho[:, 1:2 * n_pairs + 2:2]
    stop = np.logical_and.accumulate(sums[:, :n_pairs] > 0, axis=1).sum(axis=1)  # leading positive sums
    kept = np.arange(n_pairs + 1) < stop[:, None]
    head = np.where(kept, np.minimum.accumulate(sums, axis=1), 0.0).sum(axis=1)
    rows = np.arange(n_par)
    even, last_sum = rho[rows, 2 * stop], sums[rows, stop]
    tau = -1.0 + 2.0 * head + np.where((last_sum >= 0) | (even > 0), even, 0.0)
    size = m * n
    ess = size / np.maximum(tau, 1 / np.log10(size))
    ess[np.isnan(rho[:, 1])] = np.nan
    return np.where(x.max(axis=(1, 2)) - x.min(axis=(1, 2)) < np.finfo(float).resolution, size, ess)


def _tail_quantiles(flat: np.ndarray) -> np.ndarray:
    """(P, 2): type-7 5% and 95% quantiles of each row (R's default, scipy's ``mquantiles(alphap=1, betap=1)``)."""
    n, p = flat.shape[1], np.array([0.05, 0.95])
    aleph = n * p + (1.0 - p)
    k = np.floor(np.clip(aleph, 1, n - 1)).astype(int)
    gamma = np.clip(aleph - k, 0, 1)
    part = np.partition(flat, np.unique([k - 1, k]), axis=1)
    return (1.0 - gamma) * part[:, k - 1] + gamma * part[:, k]


def _block(x: np.ndarray, summary: bool) -> dict[str, np.ndarray]:
    """All statistics of (P, chains, draws) draws without NaN, >= 4 draws."""
    split, flat = _split(x), x.reshape(x.shape[0], -1)
    z = _z_scale(split)
    # az.rhat folds the split draws about their median, az.summary the draws before splitting
    if summary:
        folded = _split(np.abs(x - np.median(flat, axis=1)[:, None, None]))
    else:
        folded = np.abs(split - np.median(split.reshape(x.shape[0], -1), axis=1)[:, None, None])
    r_bulk, r_tail = _rhat(z), _rhat(_z_scale(folded))
    e_low, e_high = (_ess(_split((x <= q[:, None, None]).astype(float))) for q in _tail_quantiles(flat).T)
    out = {  # r_hat as ArviZ's max(bulk, tail): a NaN bulk R-hat stays NaN, a NaN tail one is ignored
        "r_hat": np.where(r_tail > r_bulk, r_tail, r_bulk) if x.shape[1] > 1 else np.full(x.shape[0], np.nan),
        "ess_bulk": _ess(z),
        "ess_tail": np.minimum(e_low, e_high),  # never NaN: indicators are finite
        "mcse_mean": flat.std(axis=1, ddof=1) / np.sqrt(_ess(split)),
    }
    if summary:
        sq = (x - flat.mean(axis=1)[:, None, None]) ** 2
        e_var = sq.mean(axis=(1, 2))
        out["mcse_sd"] = np.sqrt(((sq ** 2).mean(axis=(1, 2)) - e_var ** 2) / _ess(_split(sq)) / e_var / 4)
    return out


def _compute(draws, summary: bool) -> dict[str, np.ndarray]:
    """Statistic name -> values per parameter; NaN for parameters with a NaN draw or < 4 draws."""
    x = np.asarray(draws, dtype=float)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise ValueError(f"draws must have shape (chains, draws, n_params) or (chains, draws), got {x.shape}")
    x = np.moveaxis(x, 2, 0)
    names = ["r_hat", "ess_bulk", "ess_tail", "mcse_mean"] + (["mcse_sd"] if summary else [])
    out = {k: np.full(x.shape[0], np.nan) for k in names}
    ok = np.flatnonzero(~np.isnan(x).any(axis=(1, 2))) if x.shape[2] >= _MIN_DRAWS else np.arange(0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for start in range(0, ok.size, _BLOCK):
            rows = ok[start:start + _BLOCK]
            for k, v in _block(x[rows], summary).items():
                out[k][rows] = v
    return out


def diagnostics(draws: np.ndarray) -> pd.DataFrame:
    """Rank-normalised split R-hat, bulk and tail ESS and MCSE of the mean of every parameter.

    The same numbers as ArviZ 0.23.4's ``az.rhat(x)``, ``az.ess(x, method="bulk")``,
    ``az.ess(x, method="tail")`` and ``az.mcse(x)`` on each ``x = draws[:, :, k]`` (to ~1e-12),
    computed for all parameters at once; edge cases as listed in the module docstring.

    Parameters
    ----------
    draws : numpy.ndarray
        Shape (chains, draws, n_params), or (chains, draws) for one parameter.

    Returns
    -------
    pandas.DataFrame
        One row per parameter (index 0..n_params-1), float columns ``r_hat``, ``ess_bulk``,
        ``ess_tail``, ``mcse_mean``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 500, 3))
    >>> x[1, :, 2] += 3.0  # chain 1 of parameter 2 has not converged
    >>> diagnostics(x).round(2)
       r_hat  ess_bulk  ess_tail  mcse_mean
    0   1.00   1992.67   2012.14       0.02
    1   1.00   2032.78   1718.00       0.02
    2   1.46      7.86     38.42       0.64
    """
    return pd.DataFrame(_compute(draws, summary=False))


def summary_table(posterior, var_names: list[str] | None = None) -> pd.DataFrame:
    """Drop-in for ``az.summary(posterior, var_names=var_names, kind="diagnostics", round_to="none")``.

    Same index labels (``mu``, ``b[0]``, ``z[3, 1]``: the variable name and its coordinate
    values), same columns and values (to ~1e-12); ArviZ rounds unless given ``round_to="none"``.
    As in ``az.summary`` (unlike ``az.rhat``), the tail R-hat folds the draws about their median
    before splitting the chains, which differs from :func:`diagnostics` for an odd number of draws.

    Parameters
    ----------
    posterior : xarray.Dataset or arviz.InferenceData or dict
        Dataset with dimensions ``chain`` and ``draw`` (an InferenceData's ``posterior``
        group); anything else goes through ``arviz.convert_to_dataset``.
    var_names : list of str, optional
        Variables, in the order of the rows; all data variables by default.

    Returns
    -------
    pandas.DataFrame
        Columns ``mcse_mean``, ``mcse_sd``, ``ess_bulk``, ``ess_tail``, ``r_hat``.

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> rng = np.random.default_rng(1)
    >>> post = az.from_dict(posterior={"mu": rng.normal(size=(2, 100)), "z": rng.normal(size=(2, 100, 2, 2))})
    >>> summary_table(post.posterior).round(2)
             mcse_mean  mcse_sd  ess_bulk  ess_tail  r_hat
    mu            0.06     0.06    244.34    187.54   1.00
    z[0, 0]       0.07     0.06    215.17    194.00   1.00
    z[0, 1]       0.06     0.05    268.14    225.13   1.00
    z[1, 0]       0.08     0.05    173.19    227.03   1.00
    z[1, 1]       0.07     0.05    191.48    153.79   1.01
    >>> ref = az.summary(post, kind="diagnostics", round_to="none")
    >>> bool(np.allclose(summary_table(post.posterior), ref, rtol=1e-12, atol=0))
    True
    """
    import xarray as xr

    if not isinstance(posterior, xr.Dataset):
        import arviz as az

        posterior = az.convert_to_dataset(posterior)
    tables = []
    for name in list(posterior.data_vars) if var_names is None else var_names:
        da = posterior[name]
        dims = [d for d in da.dims if d not in ("chain", "draw")]
        values = da.transpose("chain", "draw", *dims).values
        coords = itertools.product(*(da[d].values for d in dims))
        labels = [f"{name}[{', '.join(f'{v}' for v in c)}]" if dims else name for c in coords]
        stats = _compute(values.reshape(values.shape[0], values.shape[1], -1), summary=True)
        tables.append(pd.DataFrame(stats, index=labels))
    return pd.concat(tables)[["mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]]
