"""The tipping-point figure: a 2-D slice of the sweep, its tipping contours and the protocol's choice.

:func:`tipping_plot_data` returns what is drawn (tidy tables);
:func:`tipping_plot` draws it (``ax=None`` makes a new figure; the figure is
returned). matplotlib is imported inside the function, on the Agg canvas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from longmod.estimands.tipping import _slice, tipping_contour, tipping_surface

#: Default tipping contours: (quantity, level, label).
CONTOURS: tuple[tuple[str, float, str], ...] = (("p_value", 0.05, "p = 0.05"), ("prob_benefit", 0.95, "P(benefit) = 0.95"))

_LABELS = {"death_value": "value imputed at death", "discharge_factor": "discharge factor",
           "active_delta": "delta added to the active arm's imputed values", "estimate": "estimated difference",
           "p_value": "p value", "prob_benefit": "P(benefit)"}


def tipping_plot_data(
    sweep: pd.DataFrame,
    *,
    fill: str = "estimate",
    x: str = "death_value",
    y: str = "discharge_factor",
    where: Mapping[str, Any] | None = None,
    contours: Sequence[tuple[str, float, str]] = CONTOURS,
) -> dict[str, pd.DataFrame]:
    """What :func:`tipping_plot` draws.

    Returns
    -------
    dict of pandas.DataFrame
        ``"surface"``: ``x``, ``y``, ``value`` (the ``fill`` quantity on the
        slice); ``"contours"``: rows of :func:`~longmod.estimands.tipping.tipping_contour`
        for every contour whose quantity is in the sweep, with ``label``;
        ``"protocol"``: the protocol's grid point (``x``, ``y``, ``estimate``,
        ``p_value``; empty if the slice does not hold it); ``"axes"``: the
        slice's axis names and fixed values.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"death_value": [0., 10., 0., 10.], "discharge_factor": [1., 1., 2., 2.],
    ...                   "estimate": [1., 2., 3., 4.], "p_value": [0.01, 0.09, 0.01, 0.09],
    ...                   "is_protocol": [False, True, False, False]})
    >>> d = tipping_plot_data(s)
    >>> d["protocol"][["x", "y"]].to_numpy().tolist(), sorted(d["contours"]["label"].unique())
    ([[10.0, 1.0]], ['p = 0.05'])
    """
    xs, ys, z = tipping_surface(sweep, fill, x=x, y=y, where=where)
    gx, gy = np.meshgrid(xs, ys)
    surface = pd.DataFrame({"x": gx.ravel(), "y": gy.ravel(), "value": z.ravel(), "quantity": fill})
    lines = []
    for q, lev, lab in contours:
        if q in sweep.columns and sweep[q].notna().any():
            c = tipping_contour(sweep, q, lev, x=x, y=y, where=where)
            if len(c):
                lines.append(c.assign(label=lab))
    cont = pd.concat(lines, ignore_index=True) if lines else pd.DataFrame(columns=["quantity", "level", "line", "x", "y",
                                                                                   "label"])
    d = _slice(sweep, x, y, where)
    p = d[d["is_protocol"].astype(bool)] if "is_protocol" in d else d.iloc[:0]
    protocol = pd.DataFrame({"x": p[x].astype(float), "y": p[y].astype(float),
                             "estimate": p.get("estimate", np.nan), "p_value": p.get("p_value", np.nan)})
    fixed = {a: d[a].iloc[0] for a in ("death_value", "discharge_rule", "discharge_factor", "active_delta")
             if a in d.columns and a not in (x, y) and len(d)}
    axes = pd.DataFrame([{"x_axis": x, "y_axis": y, "fill": fill, **{f"fixed_{k}": v for k, v in fixed.items()}}])
    return {"surface": surface, "contours": cont, "protocol": protocol.reset_index(drop=True), "axes": axes}


def tipping_plot(
    sweep: pd.DataFrame,
    *,
    fill: str = "estimate",
    x: str = "death_value",
    y: str = "discharge_factor",
    where: Mapping[str, Any] | None = None,
    contours: Sequence[tuple[str, float, str]] = CONTOURS,
    ax=None,
    title: str | None = None,
):
    """Filled map of ``fill`` over a 2-D slice, tipping contours drawn, the protocol's choice marked.

    Parameters
    ----------
    sweep : pandas.DataFrame
        From :func:`~longmod.estimands.tipping.tipping_point_sweep`.
    fill : str
        Quantity shown as colour (``"estimate"``, ``"p_value"``, ``"prob_benefit"``).
    x, y : str
        Axes of the slice; other axes at ``where`` (default: the protocol's values).
    contours : sequence of (quantity, level, label)
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"death_value": [0., 10., 0., 10.], "discharge_factor": [1., 1., 2., 2.],
    ...                   "estimate": [1., 2., 3., 4.], "p_value": [0.01, 0.09, 0.01, 0.09],
    ...                   "is_protocol": [False, True, False, False]})
    >>> fig = tipping_plot(s)
    >>> len(fig.axes)  # the map and its colour bar
    2
    """
    data = tipping_plot_data(sweep, fill=fill, x=x, y=y, where=where, contours=contours)
    if ax is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7.0, 4.6), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    fig = ax.figure
    s = data["surface"]
    xs, ys = np.sort(s["x"].unique()), np.sort(s["y"].unique())
    z = s.pivot(index="y", columns="x", values="value").reindex(index=ys, columns=xs).to_numpy()
    cmap = "RdBu" if fill == "estimate" else "viridis"
    kw = {}
    if fill == "estimate":
        m = np.nanmax(np.abs(z)) if np.isfinite(z).any() else 1.0
        kw = {"vmin": -m, "vmax": m}
    mesh = ax.pcolormesh(xs, ys, z, shading="nearest", cmap=cmap, **kw)
    fig.colorbar(mesh, ax=ax, label=_LABELS.get(fill, fill))
    styles = ("-", "--", ":", "-.")
    for k, (lab, g) in enumerate(data["contours"].groupby("label", sort=False)):
        for j, (_, seg) in enumerate(g.groupby("line")):
            ax.plot(seg["x"], seg["y"], color="black", ls=styles[k % len(styles)], lw=1.8,
                    label=lab if j == 0 else None)
    p = data["protocol"]
    if len(p):
        ax.plot(p["x"], p["y"], marker="*", ms=15, color="gold", mec="black", ls="none", label="protocol's choice")
    ax.set_xlabel(_LABELS.get(x, x))
    ax.set_ylabel(_LABELS.get(y, y))
    fixed = {k[6:]: v for k, v in data["axes"].iloc[0].items() if k.startswith("fixed_")}
    ax.set_title(title or ("tipping-point sweep" + (" (" + ", ".join(f"{k} = {v}" for k, v in fixed.items()) + ")"
                                                    if fixed else "")), fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8, framealpha=0.85)
    return fig
