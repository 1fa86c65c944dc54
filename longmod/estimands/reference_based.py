"""Reference-based imputation means: MAR, jump to reference, copy reference, copy increments.

Carpenter, Roger and Kenward (2013, J Biopharm Stat 23:1352-71) build, for a
patient whose intercurrent event (ICE) first affects visit ``k``, a marginal
mean vector from the per-arm means of the imputation model and impute the
missing visits from the multivariate normal distribution with that mean,
conditional on the patient's observed visits. With ``mu_own`` the patient's
mean under its own arm and ``mu_ref`` under the reference arm (same
covariates; both ``X beta`` of the imputation model):

* ``mar``: ``mu_own`` at every visit (missing at random, own arm);
* ``j2r`` (jump to reference): ``mu_own`` before ``k``, ``mu_ref`` from ``k``:
  the benefit of the active arm disappears at once after the ICE;
* ``cr`` (copy reference): ``mu_ref`` at every visit, the patient is treated
  as if always in the reference arm (the observed pre-ICE values still
  condition the imputation through the covariance);
* ``cir`` (copy increments in reference): ``mu_own`` before ``k``; from
  ``k`` on, ``mu_own[k-1] + (mu_ref[j] - mu_ref[k-1])``: the benefit reached
  at the last pre-ICE visit is kept and the trajectory then changes as the
  reference arm's does. With no pre-ICE visit (``k = 0``) it is ``mu_ref``
  (as in rbmi).

The covariance is the model's common ``Sigma`` (rbmi's ``same_cov = TRUE``).
Reference-arm patients are imputed under MAR whatever the strategy (their
own arm is the reference). Values observed on or after visit ``k`` of a
patient whose ICE is handled by a non-MAR method are set to missing first
(:func:`apply_strategy`), as rbmi does; the count is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from longmod.estimands.wide import WideData

#: Imputation methods (analysis names ``mi_<method>``).
METHODS: tuple[str, ...] = ("mar", "j2r", "cr", "cir")


def patient_methods(wide: WideData, strategy: str | Mapping[str, str]) -> np.ndarray:
    """Method applied to each patient's post-ICE visits.

    Parameters
    ----------
    wide : WideData
    strategy : str or mapping
        One method for every ICE, or event kind -> method (e.g.
        ``{"death": "j2r", "discharge": "mar"}``). Patients without an ICE
        get ``"mar"`` (their missing visits are missing at random).

    Raises
    ------
    ValueError
        Unknown method, or an event kind in the data that the mapping does
        not name.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> w = SimpleNamespace(ice_event=np.array(["death", "", "discharge"], dtype=object))
    >>> patient_methods(w, {"death": "j2r", "discharge": "mar"}).tolist()
    ['j2r', 'mar', 'mar']
    """
    kinds = np.asarray(wide.ice_event, dtype=object)
    if isinstance(strategy, str):
        mapping = {k: strategy for k in set(kinds) if k}
    else:
        mapping = dict(strategy)
        missing = sorted({k for k in kinds if k} - set(mapping))
        if missing:
            raise ValueError(f"imputation strategy names no method for event kind(s) {', '.join(missing)}; "
                             f"give one of {', '.join(METHODS)} for each (named: {', '.join(sorted(mapping))})")
    bad = sorted(set(mapping.values()) - set(METHODS))
    if bad:
        raise ValueError(f"imputation method(s) {', '.join(bad)} not supported; choose from {', '.join(METHODS)}")
    return np.array([mapping[k] if k else "mar" for k in kinds], dtype=object)


def apply_strategy(wide: WideData, strategy: str | Mapping[str, str]) -> tuple[WideData, np.ndarray]:
    """Set values after non-MAR ICEs to missing; return the data and each patient's method.

    Returns
    -------
    tuple
        ``(WideData with removed values and ``removed`` count, methods)``.
    """
    methods = patient_methods(wide, strategy)
    y = wide.y.copy()
    removed = 0
    for i in range(wide.n):
        k = wide.ice_index[i]
        if methods[i] != "mar" and k < wide.n_visits:
            removed += int((~np.isnan(y[i, k:])).sum())
            y[i, k:] = np.nan
    return replace(wide, y=y, removed=wide.removed + removed), methods


def reference_means(
    mu_own: np.ndarray, mu_ref: np.ndarray, ice_index: np.ndarray, methods: np.ndarray, active: np.ndarray
) -> np.ndarray:
    """Marginal mean vector of each patient under its method.

    Parameters
    ----------
    mu_own, mu_ref : numpy.ndarray
        ``(n, K)`` means under the patient's own arm and the reference arm.
    ice_index : numpy.ndarray
        First visit affected by the ICE (``K`` = none).
    methods : numpy.ndarray
        Method per patient (:data:`METHODS`).
    active : numpy.ndarray
        True for active-arm patients (reference-arm patients stay MAR).

    Returns
    -------
    numpy.ndarray
        ``(n, K)`` means.

    Examples
    --------
    One active patient, ICE at visit 2 of 3; own means 10, 20, 30; reference 5, 8, 12:

    >>> import numpy as np
    >>> own, ref = np.array([[10., 20., 30.]]), np.array([[5., 8., 12.]])
    >>> [reference_means(own, ref, np.array([2]), np.array([m]), np.array([True]))[0].tolist()
    ...  for m in ("mar", "j2r", "cr", "cir")]
    [[10.0, 20.0, 30.0], [10.0, 20.0, 12.0], [5.0, 8.0, 12.0], [10.0, 20.0, 24.0]]
    """
    mu = np.array(mu_own, dtype=float, copy=True)
    K = mu.shape[1]
    for i in range(mu.shape[0]):
        k, m = int(ice_index[i]), methods[i]
        if not active[i] or m == "mar" or k >= K:
            continue
        if m == "cr" or (m == "cir" and k == 0):
            mu[i] = mu_ref[i]
        elif m == "j2r":
            mu[i, k:] = mu_ref[i, k:]
        elif m == "cir":
            mu[i, k:] = mu_own[i, k - 1] + (mu_ref[i, k:] - mu_ref[i, k - 1])
        else:  # pragma: no cover - patient_methods validates
            raise ValueError(f"unknown imputation method {m!r}")
    return mu
