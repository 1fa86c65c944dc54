"""Posterior summaries and convergence diagnostics mapped to the common schema.

Thresholds (flagged in every row, never hidden): R-hat > :data:`RHAT_MAX`,
bulk or tail ESS < :data:`ESS_MIN`, any divergent transition.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

RHAT_MAX: float = 1.01
ESS_MIN: float = 400.0


def count_divergences(idata: Any) -> int:
    """Number of divergent post-warmup transitions (``sample_stats.diverging``).

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> idata = az.from_dict(posterior={"mu": np.zeros((2, 50))}, sample_stats={"diverging": np.eye(2, 50, dtype=bool)})
    >>> count_divergences(idata)
    2
    >>> count_divergences(az.from_dict(posterior={"mu": np.zeros((2, 50))}))  # no sampler statistics
    0
    """
    ss = getattr(idata, "sample_stats", None)
    if ss is None or "diverging" not in ss:
        return 0
    return int(np.asarray(ss["diverging"]).sum())


def diagnostic_flags(r_hat: float, ess_bulk: float, ess_tail: float, divergences: int) -> list[str]:
    """Human-readable flags for diagnostics beyond the thresholds.

    Examples
    --------
    >>> diagnostic_flags(1.02, 350.0, 800.0, 0)
    ['r_hat 1.020 > 1.01', 'ess_bulk 350 < 400']
    >>> diagnostic_flags(1.0, 1000.0, 1000.0, 0)
    []
    """
    flags = []
    if not np.isfinite(r_hat) or r_hat > RHAT_MAX:
        flags.append(f"r_hat {r_hat:.3f} > {RHAT_MAX:g}")
    if not np.isfinite(ess_bulk) or ess_bulk < ESS_MIN:
        flags.append(f"ess_bulk {ess_bulk:.0f} < {ESS_MIN:.0f}")
    if not np.isfinite(ess_tail) or ess_tail < ESS_MIN:
        flags.append(f"ess_tail {ess_tail:.0f} < {ESS_MIN:.0f}")
    if divergences > 0:
        flags.append(f"{divergences} divergent transition(s)")
    return flags


def summarise_draws(
    draws: np.ndarray,
    *,
    mcid: float,
    divergences: int = 0,
    rope: tuple[float, float] | None = None,
    higher_is_better: bool = True,
) -> dict[str, Any]:
    """Summarise posterior draws of one effect (shape ``(chains, draws)``).

    Parameters
    ----------
    draws : numpy.ndarray
        Posterior draws, chains first.
    mcid : float
        Minimal clinically important difference (> 0).
    divergences : int
        Divergent transitions of the run (reported in every row of the run).
    rope : (float, float), optional
        Region of practical equivalence; default ``(-mcid/2, mcid/2)``.
    higher_is_better : bool
        Direction of benefit.

    Returns
    -------
    dict
        ``estimate`` (posterior mean), ``posterior_median``, ``std_error``
        (posterior SD), ``conf_low``/``conf_high`` (equal-tailed 95% CrI),
        ``prob_benefit``, ``prob_mcid``, ``prob_harm``, ``prob_rope``,
        ``rope_low``, ``rope_high``, ``mcid``, ``r_hat``, ``ess_bulk``,
        ``ess_tail``, ``mcse_mean``, ``divergences``, ``diagnostics_ok``,
        ``diagnostic_flags`` (``"; "``-joined, empty when all fine).

    Examples
    --------
    >>> import numpy as np
    >>> d = np.random.default_rng(1).normal(10.0, 5.0, size=(4, 1000))
    >>> s = summarise_draws(d, mcid=20.0)
    >>> round(s["estimate"]), s["diagnostics_ok"], round(s["prob_benefit"], 2)
    (10, True, 0.98)
    """
    from longmod.engines.mcmc_diagnostics import diagnostics

    x = np.asarray(draws, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"draws must have shape (chains, draws), got {x.shape}")
    flat = x.ravel()
    sign = 1.0 if higher_is_better else -1.0
    lo, hi = rope if rope is not None else (-mcid / 2.0, mcid / 2.0)
    d = diagnostics(x).iloc[0]  # ArviZ's rank-normalised split R-hat, bulk/tail ESS and MCSE (NaN R-hat: 1 chain)
    r_hat, ess_bulk, ess_tail = float(d["r_hat"]), float(d["ess_bulk"]), float(d["ess_tail"])
    flags = diagnostic_flags(r_hat, ess_bulk, ess_tail, int(divergences))
    if x.shape[0] < 2:
        flags.append("single chain: r_hat not computable")
    q = np.quantile(flat, [0.025, 0.5, 0.975])
    return {
        "estimate": float(flat.mean()),
        "std_error": float(flat.std(ddof=1)),
        "conf_low": float(q[0]),
        "conf_high": float(q[2]),
        "prob_benefit": float(np.mean(sign * flat > 0)),
        "prob_mcid": float(np.mean(sign * flat > mcid)),
        "r_hat": r_hat,
        "ess_bulk": ess_bulk,
        "divergences": float(divergences),
        "posterior_median": float(q[1]),
        "ess_tail": ess_tail,
        "mcse_mean": float(d["mcse_mean"]),
        "prob_harm": float(np.mean(sign * flat < 0)),
        "prob_rope": float(np.mean((flat > lo) & (flat < hi))),
        "rope_low": float(lo),
        "rope_high": float(hi),
        "mcid": float(mcid),
        "diagnostics_ok": not flags,
        "diagnostic_flags": "; ".join(flags),
    }


def parameter_flags(idata: Any, names: list[str]) -> list[str]:
    """Diagnostic flags for (co)variance parameters, e.g. random-effect SDs.

    Every element of each named posterior variable is checked against the
    same thresholds as the effect rows (R-hat, bulk and tail ESS); the
    divergence count is reported once with the effects.

    Returns
    -------
    list of str
        E.g. ``["re_sd: min ess_bulk 192 < 400"]``; empty when all pass.

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> good = rng.normal(size=(2, 1000))
    >>> stuck = good + np.array([[0.0], [3.0]])  # the two chains disagree
    >>> idata = az.from_dict(posterior={"re_sd": good, "sigma": stuck})
    >>> parameter_flags(idata, ["re_sd"])
    []
    >>> parameter_flags(idata, ["sigma", "not_in_model"])
    ['sigma: max r_hat 1.745 > 1.01', 'sigma: min ess_bulk 3 < 400', 'sigma: min ess_tail 61 < 400']
    """
    from longmod.engines.mcmc_diagnostics import diagnostics

    out = []
    for name in names:
        if name not in idata.posterior:
            continue
        v = np.asarray(idata.posterior[name].values, dtype=float)
        v = v.reshape(v.shape[0], v.shape[1], -1)
        keep = np.ptp(v, axis=(0, 1)) > 0  # skip constants (e.g. the correlation matrix's diagonal)
        if not keep.any():
            continue
        d = diagnostics(v[:, :, keep])
        flags = diagnostic_flags(float(d["r_hat"].max()), float(d["ess_bulk"].min()), float(d["ess_tail"].min()), 0)
        out.extend(f"{name}: {f.replace('r_hat', 'max r_hat').replace('ess_', 'min ess_')}" for f in flags)
    return out


def save_inference_data(idata: Any, path: str | Path, provenance: Mapping[str, Any]) -> Path:
    """Write InferenceData to netCDF with provenance attributes (input not changed).

    Parameters
    ----------
    idata : arviz.InferenceData
    path : str or Path
        Target ``.nc`` file (parent folders are created).
    provenance : mapping
        E.g. ``spec_hash``, ``seed``, ``data_sha256``, versions. Values are
        stored as attributes of every group, prefixed ``longmod_``; non-scalar
        values are stored as their ``str``.

    Returns
    -------
    pathlib.Path
        The written file; read it back with ``arviz.from_netcdf``.

    Examples
    --------
    >>> import tempfile, arviz as az, numpy as np
    >>> from pathlib import Path
    >>> idata = az.from_dict(posterior={"mu": np.zeros((2, 10))})
    >>> path = save_inference_data(idata, Path(tempfile.mkdtemp()) / "fit.nc", {"analysis": "toy", "seed": 1})
    >>> back = az.from_netcdf(path)
    >>> back.posterior.attrs["longmod_analysis"], "longmod_analysis" in idata.posterior.attrs  # input unchanged
    ('toy', False)
    """
    out = idata.copy()  # never mutate the caller's object
    attrs = {}
    for k, v in dict(provenance).items():
        if isinstance(v, (bool, np.bool_)):
            v = int(v)
        attrs[f"longmod_{k}"] = v if isinstance(v, (int, float, str, np.integer, np.floating)) else str(v)
    for group in out.groups():
        getattr(out, group).attrs.update(attrs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    out.to_netcdf(str(tmp))
    tmp.replace(path)
    return path
