"""Compare Bayesian MMRMs that differ only in their residual covariance structure (PSIS-LOO).

:func:`compare_covariances` fits one spec with each named structure of the
covariance table (same data, priors, sampler and seed) and ranks the fits with
``arviz.compare`` on their pointwise log-likelihood. The log-likelihood of a
Bayesian MMRM is per *patient* (the joint density of all of a patient's
visits, :mod:`longmod.engines.bayes.idata`), so leave-one-out means
leave-one-patient-out, the unit of exchangeability of a trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd


def compare_covariances(spec: Any, data: pd.DataFrame, structures: Sequence[str] = ("us", "ar1"),
                        **kwargs: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fit ``spec`` with each covariance structure and rank the fits by PSIS-LOO.

    Parameters
    ----------
    spec : ModelSpec
        A Bayesian MMRM spec (``engine = "pymc"``, ``visit`` set); its
        ``covariance`` is replaced by each of ``structures``.
    data : pandas.DataFrame
        Long data (not modified).
    structures : sequence of str
        At least two names from
        :func:`longmod.engines.bayes.covstruct.bayes_structures`.
    **kwargs
        Passed to :func:`longmod.engines.bayes.fit_bayes_longitudinal`
        (``estimand``, ``sampler``, ...).

    Returns
    -------
    table : pandas.DataFrame
        ``arviz.compare`` (``ic = "loo"``, log scale) with the index
        ``covariance`` and, added, ``n_parameters`` (covariance parameters),
        ``pareto_k_max`` (the largest Pareto k of the fit's PSIS-LOO; above
        about 0.7 its ``elpd_loo`` is unreliable; ArviZ warns above 0.67 at
        small draw counts), ``max_r_hat``, ``min_ess_bulk``
        and ``divergences`` of each fit.
    fits : dict of str to FitResult

    Raises
    ------
    ValueError
        Fewer than two distinct structures, or a structure the Bayesian MMRM
        does not support (the message lists those it does).

    Examples
    --------
    >>> table, fits = compare_covariances(spec, long, ["us", "ar1"],
    ...                                   estimand="hypothetical")  # doctest: +SKIP
    >>> table[["rank", "elpd_loo", "elpd_diff", "dse", "weight"]]  # doctest: +SKIP
    """
    import arviz as az

    from longmod.engines.bayes.covstruct import check_structure
    from longmod.engines.bayes.longitudinal import fit_bayes_longitudinal

    names = list(dict.fromkeys(str(s) for s in structures))
    if len(names) < 2:
        raise ValueError(f"model {spec.name!r}: compare at least two covariance structures, got {names}")
    for s in names:
        check_structure(s, spec.name)
    fits = {s: fit_bayes_longitudinal(spec.replace(covariance=s), data, **kwargs) for s in names}
    idatas = {s: f.extras["inference_data"] for s, f in fits.items()}
    table = az.compare(idatas, ic="loo", scale="log")
    table.index.name = "covariance"
    extra = {}
    for s, f in fits.items():
        loo = az.loo(idatas[s], pointwise=True)
        idata = idatas[s]
        eff = f.effects
        extra[s] = {"n_parameters": int(idata.posterior["cov_params"].shape[-1]),
                    "pareto_k_max": float(loo.pareto_k.max()), "max_r_hat": float(eff["r_hat"].max()),
                    "min_ess_bulk": float(eff["ess_bulk"].min()), "divergences": int(eff["divergences"].max())}
    return table.join(pd.DataFrame.from_dict(extra, orient="index")), fits
