"""Tipping-point sweeps over a composite estimand's constants.

A composite strategy fixes constants: the value imputed at death, the
discharge rule's factor (last value x factor, or last value + factor x
baseline: the additive reading). :func:`tipping_point_sweep` re-derives the
analysis data at every point of a grid of these constants (plus a shift
``delta`` added to the active arm's imputed values), runs the primary ANCOVA
on each and, optionally, a Bayesian P(benefit) through a callable. The grid
point equal to the estimand's own constants reproduces the primary analysis
exactly (same data, same ANCOVA call).

:func:`tipping_contour` gives the contour of a quantity at a level (p = 0.05,
P(benefit) = 0.95) as line data; :func:`tipping_points` the crossing along
one axis for each value of another. Figures: :mod:`longmod.estimands.tipping_plot`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from longmod.estimands.ancova_batch import ancova_batch
from longmod.estimands.descriptions import estimand_description
from longmod.results.schema import effects_frame

#: Grid axes (columns of the sweep).
AXES: tuple[str, ...] = ("death_value", "discharge_rule", "discharge_factor", "active_delta")
DISCHARGE_RULES: tuple[str, ...] = ("locf_multiplier", "locf_plus_baseline_fraction")
#: ``(analysis frame, AncovaFit) -> {"prob_benefit": ..., ...}``
ProbBenefit = Callable[[pd.DataFrame, Any], Mapping[str, float]]


@dataclass(frozen=True)
class _Fit:
    """What a P(benefit) callable reads of the ANCOVA at one grid point."""

    estimate: float
    std_error: float
    df: float


def _grid(values: Sequence[float], name: str) -> list[float]:
    vals = sorted({float(np.round(float(v), 10)) for v in values})
    if not vals or not all(np.isfinite(vals)):
        raise ValueError(f"tipping-point grid: {name} needs at least one finite value, got {list(values)}")
    return vals


def normal_prob_benefit(
    prior_mean: float = 0.0, prior_sd: float = np.inf, *, higher_is_better: bool = True, mcid: float | None = None
) -> ProbBenefit:
    """P(benefit) from a normal prior and the ANCOVA's normal likelihood (closed form).

    The likelihood of the effect is approximated by ``N(estimate,
    std_error^2)`` (:func:`longmod.engines.bayes.normal_posterior`); with
    ``prior_sd = inf`` the posterior is that likelihood, and P(benefit) is
    the one-sided confidence level.

    Returns
    -------
    callable
        ``(frame, fit) -> {"prob_benefit", "posterior_mean", "posterior_sd"
        [, "prob_mcid"]}``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> f = normal_prob_benefit(0.0, 10.0)
    >>> round(f(None, SimpleNamespace(estimate=20.0, std_error=10.0))["prob_benefit"], 4)
    0.9214
    """
    from scipy import stats

    def prob(frame: pd.DataFrame, fit: Any) -> dict[str, float]:
        if np.isfinite(prior_sd):
            from longmod.engines.bayes.summary_grid import normal_posterior

            m, s = normal_posterior(prior_mean, prior_sd, fit.estimate, fit.std_error)
        else:
            m, s = fit.estimate, fit.std_error
        sign = 1.0 if higher_is_better else -1.0
        out = {"prob_benefit": float(stats.norm.sf(0.0, loc=sign * m, scale=s)), "posterior_mean": m,
               "posterior_sd": s}
        if mcid is not None:
            out["prob_mcid"] = float(stats.norm.sf(abs(mcid), loc=sign * m, scale=s))
        return out

    return prob


def bayes_ancova_prob_benefit(spec, *, sampler: Mapping[str, Any] | None = None, higher_is_better: bool = True
                              ) -> ProbBenefit:
    """P(benefit) from the Bayesian ANCOVA (:func:`longmod.engines.bayes.fit_bayes`) at each grid point.

    ``spec`` is the Bayesian ANCOVA's ModelSpec (outcome, formula, priors);
    ``sampler`` overrides (small draws keep a sweep affordable: the model is
    compiled once and re-sampled with each grid point's data).

    Returns
    -------
    callable
        ``(frame, fit) -> {"prob_benefit", "prob_mcid", "posterior_mean",
        "posterior_sd", "r_hat", "ess_bulk", "divergences"}``.
    """

    def prob(frame: pd.DataFrame, fit: Any) -> dict[str, float]:
        from longmod.engines.bayes import fit_bayes

        e = fit_bayes(spec, frame, sampler=sampler, higher_is_better=higher_is_better).effects.iloc[0]
        return {"prob_benefit": float(e["prob_benefit"]), "prob_mcid": float(e["prob_mcid"]),
                "posterior_mean": float(e["estimate"]), "posterior_sd": float(e["std_error"]),
                "r_hat": float(e["r_hat"]), "ess_bulk": float(e["ess_bulk"]), "divergences": float(e["divergences"])}

    return prob


def tipping_point_sweep(
    trial: Any,
    estimand: Any,
    *,
    treatment: Any,
    covariates: Sequence[str],
    death_values: Sequence[float],
    discharge_factors: Mapping[str, Sequence[float]] | Sequence[float],
    active_deltas: Sequence[float] = (0.0,),
    delta_events: Sequence[str] = ("death", "discharge"),
    outcome: str = "change",
    prob_benefit: ProbBenefit | None = None,
    level: float = 0.95,
    analysis: str = "tipping_point",
    apply: Callable[[Any, Any], Any] | None = None,
) -> pd.DataFrame:
    """ANCOVA (and optionally P(benefit)) over a grid of the composite strategy's constants.

    Parameters
    ----------
    trial : TrialData
    estimand : Estimand
        The protocol's estimand; each grid point is ``estimand.replace(death=
        composite value, discharge=rule factor)``.
    treatment : Treatment
        Compared arms (``variable`` is the arm column of the analysis data).
    covariates : sequence of str
        ANCOVA covariates (columns of the analysis data).
    death_values : sequence of float
        Values imputed at death (e.g. 0 to 150).
    discharge_factors : mapping or sequence of float
        Rule -> factors (``"locf_multiplier"``: e.g. 0.8 to 1.4;
        ``"locf_plus_baseline_fraction"``: the additive reading); a plain
        sequence means the estimand's own rule.
    active_deltas : sequence of float
        Shifts added to the active arm's imputed values (and changes).
    delta_events : sequence of str
        Events whose imputed values are shifted (``event`` column of the
        analysis data).
    outcome : {"change", "value"}
        ANCOVA outcome column of the analysis data.
    prob_benefit : callable, optional
        ``(frame, fit) -> mapping`` with at least ``prob_benefit``; e.g.
        :func:`normal_prob_benefit` or :func:`bayes_ancova_prob_benefit`.
    level : float
    analysis : str
    apply : callable, optional
        ``(trial, estimand) -> AnalysisData`` (default
        :func:`longmod.estimands.apply_estimand`).

    Returns
    -------
    pandas.DataFrame
        One row per grid point: common schema (``estimate`` etc. of the
        ANCOVA, ``engine = "ancova-ols"``) plus ``death_value``,
        ``discharge_rule``, ``discharge_factor``, ``active_delta``,
        ``is_protocol`` (the estimand's own constants, delta 0),
        ``n_imputed_death``, ``n_imputed_discharge``, ``n_shifted``,
        ``assumes``, and the keys returned by ``prob_benefit``. The
        estimand's own constants are added to the grid when missing.

    Raises
    ------
    ValueError
        An unknown discharge rule or an empty grid.

    Examples
    --------
    See ``docs/estimands_tipping.md`` (executed at docs build time).
    """
    from longmod.spec.estimand import Strategy

    if apply is None:
        from longmod.estimands import apply_estimand as apply
    e = estimand
    if outcome not in ("change", "value"):
        raise ValueError(f"tipping-point sweep: outcome must be 'change' or 'value', got {outcome!r}")
    if not isinstance(discharge_factors, Mapping):
        rule = e.discharge.name if e.discharge.name in DISCHARGE_RULES else "locf_multiplier"
        discharge_factors = {rule: discharge_factors}
    bad = sorted(set(discharge_factors) - set(DISCHARGE_RULES))
    if bad:
        raise ValueError(f"tipping-point grid: discharge rule(s) {', '.join(bad)} not supported; "
                         f"choose from {', '.join(DISCHARGE_RULES)}")
    proto_death = float(e.death.value) if e.death.name == "composite" else None
    deaths = _grid([*death_values, *([proto_death] if proto_death is not None else [])], "death_values")
    deltas = _grid([*active_deltas, 0.0], "active_deltas")
    info = estimand_description(analysis)
    import longmod

    rows = []
    for rule, factors in discharge_factors.items():
        proto_f = float(e.discharge.factor) if e.discharge.name == rule else None
        for f in _grid([*factors, *([proto_f] if proto_f is not None else [])], f"discharge_factors[{rule}]"):
            # one application of the estimand per discharge factor (at the protocol's death value when
            # it is in the grid); the other death values replace the composite value of the rows
            # imputed at death, which is what the composite strategy does (checked in the tests)
            d0 = proto_death if proto_death is not None else deaths[0]
            base0 = apply(trial, e.replace(death=Strategy("composite", value=d0), discharge=Strategy(rule, factor=f))
                          ).complete
            was_imputed = (base0["source"] == "imputed").to_numpy()
            at_death = was_imputed & (base0["event"] == "death").to_numpy()
            shifted = (was_imputed & base0["event"].isin(list(delta_events)).to_numpy()
                       & (base0[treatment.variable].astype(str) == treatment.active).to_numpy())
            imputed = base0[was_imputed]
            # every (death value, delta) is one outcome column of the same design: one ANCOVA batch,
            # the estimand's own constants first (column 0 is fit_ancova itself)
            points = [(dv, delta) for dv in ([d0] + [v for v in deaths if v != d0])
                      for delta in ([0.0] + [x for x in deltas if x != 0.0])]
            y0 = base0[outcome].to_numpy(float)
            offset = base0["baseline"].to_numpy(float) if outcome == "change" else np.zeros(len(base0))
            cols = []
            for dv, delta in points:
                col = y0.copy()
                col[at_death] = dv - offset[at_death]
                col[shifted] += delta
                cols.append(col)
            fits = ancova_batch(base0, np.column_stack(cols), treatment=treatment, covariates=covariates, level=level)
            for j, (dv, delta) in enumerate(points):
                row = {
                    "analysis": analysis, "estimand": info.label if info else e.name,
                    "outcome": f"{e.outcome}_{outcome}" if outcome == "change" else e.outcome, "day": e.day,
                    "contrast": treatment.label, "estimate": fits.estimate[j], "std_error": fits.std_error[j],
                    "df": fits.df, "conf_low": fits.conf_low[j], "conf_high": fits.conf_high[j],
                    "p_value": fits.p_value[j], "engine": "ancova-ols", "engine_version": f"longmod {longmod.__version__}",
                    "n_obs": fits.n_obs, "n_patients": fits.n_obs,
                    "death_value": dv, "discharge_rule": rule, "discharge_factor": f, "active_delta": delta,
                    "is_protocol": bool(dv == proto_death and f == proto_f and delta == 0.0),
                    "n_imputed_death": int((imputed["event"] == "death").sum()),
                    "n_imputed_discharge": int((imputed["event"] == "discharge").sum()),
                    "n_shifted": int(shifted.sum()) if delta else 0,
                    "assumes": info.assumes if info else "",
                }
                if prob_benefit is not None:
                    frame = base0.copy()
                    frame["value"] = cols[j] + offset
                    frame["change"] = frame["value"] - frame["baseline"]
                    row.update(prob_benefit(frame, _Fit(fits.estimate[j], fits.std_error[j], fits.df)))
                rows.append(row)
    return effects_frame(rows).sort_values(["discharge_rule", "discharge_factor", "death_value", "active_delta"],
                                           ignore_index=True)


def _slice(sweep: pd.DataFrame, x: str, y: str, where: Mapping[str, Any] | None) -> pd.DataFrame:
    """Rows of one 2-D slice: axes other than x, y fixed by ``where`` or at the protocol's values."""
    for a in (x, y):
        if a not in sweep.columns:
            raise ValueError(f"tipping-point slice: {a!r} is not a column of the sweep")
    where = dict(where or {})
    proto = sweep[sweep["is_protocol"]] if "is_protocol" in sweep else sweep.iloc[:0]
    d = sweep
    for a in AXES:
        if a in (x, y) or a not in sweep.columns:
            continue
        if a not in where:
            where[a] = proto[a].iloc[0] if len(proto) else sweep[a].iloc[0]
        d = d[d[a] == where[a]]
    if d.empty:
        raise ValueError(f"tipping-point slice: no grid point has {where}; values per axis: "
                         + "; ".join(f"{a}: {sorted(sweep[a].unique().tolist())}" for a in AXES if a in sweep))
    if d.duplicated([x, y]).any():
        raise ValueError(f"tipping-point slice: several rows per ({x}, {y}); fix the other axes with where=")
    return d


def tipping_surface(sweep: pd.DataFrame, quantity: str, *, x: str = "death_value", y: str = "discharge_factor",
                    where: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x values, y values, Z)`` of ``quantity`` on one 2-D slice (``Z[j, i]`` at ``y[j]``, ``x[i]``)."""
    d = _slice(sweep, x, y, where)
    if quantity not in d.columns:
        raise ValueError(f"tipping-point surface: the sweep has no {quantity!r} column")
    z = d.pivot(index=y, columns=x, values=quantity).sort_index().sort_index(axis=1)
    return z.columns.to_numpy(float), z.index.to_numpy(float), z.to_numpy(float)


def tipping_contour(sweep: pd.DataFrame, quantity: str = "p_value", level: float = 0.05, *,
                    x: str = "death_value", y: str = "discharge_factor",
                    where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The contour ``quantity = level`` on a 2-D slice of the sweep, as line data.

    Parameters
    ----------
    sweep : pandas.DataFrame
        From :func:`tipping_point_sweep`.
    quantity, level : str, float
        E.g. ``("p_value", 0.05)`` or ``("prob_benefit", 0.95)``.
    x, y : str
        Grid axes of the slice (:data:`AXES`, numeric ones).
    where : mapping, optional
        Values of the other axes (default: the protocol's).

    Returns
    -------
    pandas.DataFrame
        ``quantity``, ``level``, ``line`` (0, 1, ... per connected piece),
        ``x``, ``y`` (points along the line, linear interpolation on the
        grid; contourpy), plus the ``x_axis``/``y_axis`` names. Empty when
        the level is not crossed on the grid.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"death_value": [0., 10., 0., 10.], "discharge_factor": [1., 1., 2., 2.],
    ...                   "p_value": [0.01, 0.09, 0.01, 0.09]})
    >>> sorted(tipping_contour(s)[["x", "y"]].round(6).drop_duplicates().to_numpy().tolist())
    [[5.0, 1.0], [5.0, 2.0]]
    """
    import contourpy

    xs, ys, z = tipping_surface(sweep, quantity, x=x, y=y, where=where)
    cols = ["quantity", "level", "line", "x", "y", "x_axis", "y_axis"]
    if len(xs) < 2 or len(ys) < 2 or np.isnan(z).all():
        return pd.DataFrame(columns=cols)
    gen = contourpy.contour_generator(xs, ys, np.ma.masked_invalid(z), line_type=contourpy.LineType.Separate)
    rows = [(quantity, level, i, px, py, x, y) for i, seg in enumerate(gen.lines(level)) for px, py in seg]
    return pd.DataFrame(rows, columns=cols)


def tipping_points(sweep: pd.DataFrame, quantity: str = "p_value", level: float = 0.05, *,
                   along: str = "death_value", across: str = "discharge_factor",
                   where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """For each value of ``across``, where ``quantity`` first crosses ``level`` along ``along``.

    Returns
    -------
    pandas.DataFrame
        ``across`` value, ``tipping_value`` (linear interpolation between
        the two grid points around the first crossing; NaN when not crossed),
        ``quantity``, ``level``.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"death_value": [0., 10., 20.], "discharge_factor": 1.0, "p_value": [0.01, 0.03, 0.07]})
    >>> tipping_points(s)["tipping_value"].tolist()
    [15.0]
    """
    xs, ys, z = tipping_surface(sweep, quantity, x=along, y=across, where=where)
    out = []
    for j, yv in enumerate(ys):
        zj, t = z[j] - level, np.nan
        for i in range(len(xs) - 1):
            a, b = zj[i], zj[i + 1]
            if np.isfinite(a) and np.isfinite(b) and (a == 0 or a * b < 0):
                t = xs[i] if a == 0 else xs[i] + (xs[i + 1] - xs[i]) * a / (a - b)
                break
        out.append({across: yv, "tipping_value": t, "along": along, "quantity": quantity, "level": level})
    return pd.DataFrame(out)
