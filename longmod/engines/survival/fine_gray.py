"""Fine-Gray subdistribution hazards model with inverse-probability-of-censoring weights.

The model of Fine and Gray (1999, JASA 94:496-509) for the cumulative
incidence of one cause when other causes compete. A patient with a competing
event at ``T_j`` stays in the risk set after ``T_j``, weighted by
``G(t-) / G(T_j-)``, where ``G`` is the Kaplan-Meier estimate of the
censoring distribution (censorings as events, every other patient censored);
patients still free of every event have weight 1, censored patients leave the
risk set. The weighted partial likelihood uses Breslow's handling of ties and
is maximised by Newton-Raphson. The variance is the paper's sandwich
``I^-1 (sum_i (eta_i + psi_i)(eta_i + psi_i)') I^-1``: ``eta_i`` is the
patient's score residual and ``psi_i`` the term for having estimated ``G``
(section 3 of the paper). ``cmprsk::crr`` computes the same estimator; it is
the reference in ``tests/reference/survival``.

With censoring only at the end of follow-up every weight is 1 and ``psi`` is
0 before the last time: the model is then a Cox model in which competing
events stay at risk to the end, with the robust variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from longmod.engines.survival.data import SurvivalData


@dataclass(frozen=True)
class FineGrayFit:
    """Estimates of :func:`fine_gray_fit`: coefficients, sandwich variance, log partial likelihood.

    Examples
    --------
    >>> import numpy as np
    >>> f = FineGrayFit(coef=np.array([0.4]), vcov=np.array([[0.09]]), loglik=-20.0, iterations=4, converged=True)
    >>> float(np.sqrt(f.vcov[0, 0]))
    0.3
    """

    coef: np.ndarray
    vcov: np.ndarray
    loglik: float
    iterations: int
    converged: bool


def _censoring_km_before(time: np.ndarray, censored: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Kaplan-Meier of the censoring times evaluated just before each time in ``at`` (``G(at-)``)."""
    cens_times = np.unique(time[censored])
    n_risk = (time[None, :] >= cens_times[:, None]).sum(axis=1)
    n_cens = (censored[None, :] & (time[None, :] == cens_times[:, None])).sum(axis=1)
    surv = np.cumprod(1.0 - n_cens / n_risk)
    idx = np.searchsorted(cens_times, at, side="left")  # censorings strictly before `at`
    return np.concatenate([[1.0], surv])[idx]


def fine_gray_fit(time, event, covariates, *, cause: int = 1, tol: float = 1e-9, max_iter: int = 50) -> FineGrayFit:
    """Fit a Fine-Gray model of cause ``cause`` (event codes: 0 censored, others competing).

    Parameters
    ----------
    time, event : array-like
        Follow-up time and event code per patient.
    covariates : array-like, shape (n,) or (n, p)
        Fixed covariates.
    cause : int
        The event of interest.
    tol : float
        Newton stops when the largest absolute step is below ``tol``.
    max_iter : int
        Newton iteration limit (``converged`` False if reached).

    Returns
    -------
    FineGrayFit

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([2, 3, 3, 5, 6, 8, 9, 12, 14, 20.])
    >>> e = np.array([1, 2, 1, 0, 1, 2, 0, 1, 0, 1])
    >>> x = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0.])
    >>> fit = fine_gray_fit(t, e, x)
    >>> fit.converged, fit.coef.shape, bool(fit.vcov[0, 0] > 0)
    (True, (1,), True)
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=int)
    z = np.asarray(covariates, dtype=float).reshape(t.size, -1)
    n, p = z.shape
    fail_times, d = np.unique(t[e == cause], return_counts=True)
    competing = (e != 0) & (e != cause)
    # risk weights w[k, j] at each distinct failure time k
    g_t = _censoring_km_before(t, e == 0, fail_times)
    g_own = _censoring_km_before(t, e == 0, t)
    at_risk = t[None, :] >= fail_times[:, None]
    carried = competing[None, :] & ~at_risk
    w = at_risk + carried * (g_t[:, None] / np.where(g_own > 0, g_own, np.inf)[None, :])
    fail_z = np.array([z[(e == cause) & (t == u)].sum(axis=0) for u in fail_times]).reshape(-1, p)

    def pieces(beta):
        r = w * np.exp(z @ beta)[None, :]
        s0 = r.sum(axis=1)
        zbar = (r @ z) / s0[:, None]
        return r, s0, zbar

    beta = np.zeros(p)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        r, s0, zbar = pieces(beta)
        score = (fail_z - d[:, None] * zbar).sum(axis=0)
        s2 = np.einsum("kj,ja,jb->kab", r, z, z) / s0[:, None, None]
        info = (d[:, None, None] * (s2 - zbar[:, :, None] * zbar[:, None, :])).sum(axis=0)
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:  # no information left (e.g. a covariate level without events)
            break
        if not np.all(np.isfinite(step)):
            break
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    r, s0, zbar = pieces(beta)
    loglik = float((fail_z @ beta).sum() - (d * np.log(s0)).sum())
    s2 = np.einsum("kj,ja,jb->kab", r, z, z) / s0[:, None, None]
    info = (d[:, None, None] * (s2 - zbar[:, :, None] * zbar[:, None, :])).sum(axis=0)
    # eta_i: score residual of patient i
    k_own = np.searchsorted(fail_times, t)
    fails = e == cause
    eta = np.zeros((n, p))
    eta[fails] = z[fails] - zbar[k_own[fails]]
    dev = z[None, :, :] - zbar[:, None, :]  # (k, j, p)
    eta -= np.einsum("k,kj,kjp->jp", d / s0, r, dev)
    # psi_i: the censoring distribution's estimation (Fine and Gray 1999, section 3)
    cens_times, dc = np.unique(t[e == 0], return_counts=True)
    psi = np.zeros((n, p))
    if cens_times.size:
        pi_u = (t[None, :] >= cens_times[:, None]).sum(axis=1)
        # q(u) = sum over failure times t >= u of d(t)/S0(t) sum over competing j with T_j < u of r_j(t) (Z_j - Zbar(t))
        contrib = (d / s0)[:, None, None] * r[:, :, None] * dev * competing[None, :, None]  # (k, j, p)
        q = np.array([contrib[fail_times >= u][:, t < u].sum(axis=(0, 1)) for u in cens_times]).reshape(-1, p)
        jump = q * (dc / pi_u**2)[:, None]
        cum = np.cumsum(jump, axis=0)
        last = np.searchsorted(cens_times, t, side="right") - 1  # censoring times u <= T_i
        psi -= np.where(last[:, None] >= 0, cum[np.maximum(last, 0)], 0.0)
        own = np.searchsorted(cens_times, t)
        cz = e == 0
        psi[cz] += q[own[cz]] / pi_u[own[cz]][:, None]
    u = eta + psi
    inv = np.linalg.inv(info)
    return FineGrayFit(coef=beta, vcov=inv @ (u.T @ u) @ inv, loglik=loglik, iterations=it, converged=converged)


def fine_gray_rows(
    sd: SurvivalData,
    *,
    analysis: str,
    outcome: str,
    estimand: str | None = None,
    cause: int = 1,
    level: float = 0.95,
) -> pd.DataFrame:
    """The Fine-Gray subdistribution hazard ratio of the active arm, one effects row.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [3, 5, 9, 12, 20, 4, 8, 10, 15, 28], "e": [1, 1, 2, 1, 0, 2, 1, 1, 1, 0],
    ...                   "g": ["a"] * 5 + ["b"] * 5})
    >>> r = fine_gray_rows(survival_data(d, time="t", event="e", arm="g", arms=("b", "a"), max_event_code=2),
    ...                    analysis="fg", outcome="o2_off")
    >>> r["model"].iloc[0], bool(abs(r["estimate"].iloc[0]) < 2)
    ('fine-gray (IPCW, Fine and Gray 1999)', True)
    """
    import longmod
    from longmod.results.schema import effects_frame

    z = stats.norm.ppf(0.5 + level / 2)
    events = [int(((sd.event == cause) & (sd.active == a)).sum()) for a in (1.0, 0.0)]
    if 0 in events:  # the maximum is at +-infinity: no finite estimate, interval or Wald P
        b, se = (-np.inf if events[0] == 0 else np.inf), np.nan
        fit = FineGrayFit(np.array([b]), np.full((1, 1), np.nan), np.nan, 0, True)
        empty = f"no event of cause {cause} in the {sd.arms[1] if events[0] == 0 else sd.arms[0]} arm"
    else:
        fit = fine_gray_fit(sd.time, sd.event, sd.active, cause=cause)
        b, se, empty = float(fit.coef[0]), float(np.sqrt(fit.vcov[0, 0])), ""
    censored_early = int(((sd.event == 0) & (sd.time < sd.time.max())).sum())
    row = {"analysis": analysis, "estimand": estimand, "outcome": outcome, "contrast": sd.contrast, "estimate": b,
           "std_error": se, "df": np.nan, "conf_low": b - z * se, "conf_high": b + z * se,
           "p_value": float(2 * stats.norm.sf(abs(b / se))), "engine": "longmod.survival",
           "engine_version": longmod.__version__, "n_obs": sd.n, "n_patients": sd.n,
           "scale": "log subdistribution hazard ratio", "hazard_ratio": float(np.exp(b)),
           "hr_low": float(np.exp(b - z * se)), "hr_high": float(np.exp(b + z * se)),
           "model": "fine-gray (IPCW, Fine and Gray 1999)", "ties": "breslow",
           "variance": "sandwich with the censoring-weight term (as cmprsk::crr)", "cause": cause,
           "n_events": int((sd.event == cause).sum()),
           "warnings": (f"{empty}: the subdistribution hazard ratio is infinite (no interval or P; the cumulative "
                        "incidence rows give the absolute difference)") if empty else
                       ("" if fit.converged else "Newton did not converge"),
           "converged": fit.converged,
           "note": f"{censored_early} patient(s) censored before the end of follow-up: weighted by the censoring "
                   "Kaplan-Meier (assumes censoring independent of the event)" if censored_early else ""}
    return effects_frame([row])
