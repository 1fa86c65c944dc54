"""Time-to-event figures: Kaplan-Meier and cumulative-incidence curves with numbers at risk per arm.

Each figure has a data-only twin (:func:`km_plot_data`, :func:`cif_plot_data`)
that returns the plotted numbers as tidy DataFrames, so tests check what is
drawn without looking at pixels. The numbers at risk are drawn inside the axes,
below the curves (one row per arm, labelled on the left), so they survive any
figure size and are never cut; the figures are built on the Agg canvas
(:func:`longmod.report.canvas.new_figure`) and touch no global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from longmod.report.canvas import new_figure

#: Colours of the reference arm and the active arm(s), in that order.
ARM_COLOURS: tuple[str, ...] = ("#4d4d4d", "#d55e00", "#0072b2", "#009e73")


@dataclass(frozen=True)
class CurveData:
    """What a time-to-event figure draws.

    Attributes
    ----------
    curves : pandas.DataFrame
        Step curves: ``arm``, ``time``, ``estimate`` (survival or cumulative
        incidence just after ``time``), ``conf_low``, ``conf_high``,
        ``n_risk``, ``n_event`` (events at ``time``), ``n_censor``; for
        cumulative incidence also ``curve`` (``"event"`` / ``"competing"``).
        Each arm starts at time 0.
    at_risk : pandas.DataFrame
        ``arm``, ``time``, ``n_risk`` (patients still at risk), ``n_event_cum``,
        ``n_competing_cum``, ``n_censor_cum`` at each tick time.
    censored : pandas.DataFrame
        ``arm``, ``time``, ``estimate``: where censoring marks go.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [2, 4, 4, 6, 3, 5, 8, 9], "e": [1, 1, 0, 1, 1, 0, 1, 0], "g": list("aaaabbbb")})
    >>> cd = km_plot_data(survival_data(d, time="t", event="e", arm="g", arms=("a", "b")), at_risk_times=[0, 4])
    >>> type(cd).__name__, cd.censored[["arm", "time"]].values.tolist()
    ('CurveData', [['a', 4.0], ['b', 5.0], ['b', 9.0]])
    >>> cd.at_risk[["arm", "time", "n_risk"]].values.tolist()
    [['a', 0.0, 4], ['a', 4.0, 3], ['b', 0.0, 4], ['b', 4.0, 3]]
    """

    curves: pd.DataFrame
    at_risk: pd.DataFrame
    censored: pd.DataFrame


def default_ticks(max_time: float, n: int = 6) -> list[float]:
    """Round tick times from 0 to at least ``max_time`` (steps of 1, 2, 7 (a week), 10, 14, 20, 28, ... days).

    Examples
    --------
    >>> default_ticks(28), default_ticks(60), default_ticks(9)
    ([0.0, 7.0, 14.0, 21.0, 28.0], [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0], [0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    """
    for step in (1, 2, 7, 10, 14, 20, 28, 30, 50, 60, 90, 100, 180, 365):
        if max_time / step <= n:
            break
    top = step * np.ceil(max_time / step) if max_time > 0 else step
    return [float(x) for x in np.arange(0.0, top + step / 2, step)]


def _at_risk(sd, times: Sequence[float]) -> pd.DataFrame:
    from longmod.engines.survival.km import numbers_at_risk

    return numbers_at_risk(sd, list(times))


def km_plot_data(sd, *, at_risk_times: Sequence[float] | None = None, level: float = 0.95) -> CurveData:
    """The numbers a Kaplan-Meier figure draws (see :func:`km_plot`).

    Parameters
    ----------
    sd : longmod.engines.survival.data.SurvivalData
        Event codes 0/1 only (recode competing events explicitly, or use
        :func:`cif_plot_data`).
    at_risk_times : sequence of float, optional
        Times of the numbers-at-risk table (default :func:`default_ticks`).
    level : float
        Level of the pointwise log interval (R ``survfit`` default).

    Returns
    -------
    CurveData

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [2, 4, 4, 6, 3, 5, 8, 9], "e": [1, 1, 0, 1, 1, 0, 1, 0], "g": list("aaaabbbb")})
    >>> cd = km_plot_data(survival_data(d, time="t", event="e", arm="g", arms=("a", "b")), at_risk_times=[0, 4, 8])
    >>> cd.curves[cd.curves.arm == "a"][["time", "estimate"]].round(3).values.tolist()
    [[0.0, 1.0], [2.0, 0.75], [4.0, 0.5], [6.0, 0.0]]
    >>> cd.at_risk.pivot(index="arm", columns="time", values="n_risk").values.tolist()
    [[4, 3, 0], [4, 3, 2]]
    """
    from longmod.engines.survival.km import km_table

    if (sd.event >= 2).any():
        raise ValueError("km_plot_data: event codes >= 2 (competing events) found; draw them with cif_plot_data, or "
                         "recode them explicitly as censored if that is the intended estimand")
    parts, cens = [], []
    for a in sd.arms:
        m = sd.arm == a
        tab = km_table(sd.time[m], sd.event[m], level)
        start = pd.DataFrame({"time": [0.0], "n_risk": [float(m.sum())], "n_event": [0.0], "n_censor": [0.0],
                              "surv": [1.0], "conf_low": [1.0], "conf_high": [1.0]})
        tab = pd.concat([start, tab[tab["time"] > 0] if (tab["time"] > 0).all() or len(tab) else tab], ignore_index=True)
        if (tab["time"] == 0).sum() > 1:  # events at time 0: keep the estimate after them
            tab = tab.drop(index=0).reset_index(drop=True)
        parts.append(tab.rename(columns={"surv": "estimate"}).assign(arm=a))
        c = tab[tab["n_censor"] > 0]
        cens.append(pd.DataFrame({"arm": a, "time": c["time"].to_numpy(float), "estimate": c["surv"].to_numpy(float)}))
    curves = pd.concat(parts, ignore_index=True)[["arm", "time", "estimate", "conf_low", "conf_high", "n_risk",
                                                   "n_event", "n_censor"]]
    times = list(at_risk_times) if at_risk_times is not None else default_ticks(float(sd.time.max()))
    return CurveData(curves, _at_risk(sd, times), pd.concat(cens, ignore_index=True))


def cif_plot_data(sd, *, cause: int = 1, at_risk_times: Sequence[float] | None = None,
                  level: float = 0.95) -> CurveData:
    """The numbers a cumulative-incidence figure draws (see :func:`cif_plot`).

    Aalen-Johansen cumulative incidence of ``cause`` and of every other
    (competing) cause pooled, per arm, with Gray's variance and the cloglog
    interval of :func:`longmod.engines.survival.competing.cif_at`.

    Returns
    -------
    CurveData
        ``curves`` has ``curve`` = ``"event"`` (``cause``) or ``"competing"``;
        the interval is given for the event curve only.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 2, 3, 6], "e": [1, 2, 1, 0, 1, 1, 1, 2], "g": list("aaaaabbb")})
    >>> sd = survival_data(d, time="t", event="e", arm="g", arms=("a", "b"), max_event_code=2)
    >>> cd = cif_plot_data(sd, at_risk_times=[0, 3])
    >>> cd.curves.query("arm == 'a' and curve == 'event'")[["time", "estimate"]].round(2).values.tolist()
    [[0.0, 0.0], [1.0, 0.2], [2.0, 0.2], [3.0, 0.4], [4.0, 0.4], [5.0, 0.8]]
    >>> float(cd.curves.query("arm == 'a' and curve == 'competing'")["estimate"].max())
    0.2
    """
    from longmod.engines.survival.competing import cif_at, cumulative_incidence

    parts, cens = [], []
    for a in sd.arms:
        m = sd.arm == a
        t, e = sd.time[m], sd.event[m]
        tab = cumulative_incidence(t, e, cause=cause)
        with np.errstate(divide="ignore", over="ignore"):  # cloglog limits at a CIF near 0 or 1
            ci = cif_at(tab, tab["time"].to_numpy(float), level)
        other = np.where((e != cause) & (e > 0), 1, np.where(e == cause, 2, 0))
        comp = cumulative_incidence(t, other, cause=1)
        base = {"arm": a, "time": tab["time"].to_numpy(float), "n_risk": tab["n_risk"].to_numpy(float),
                "n_censor": tab["n_censor"].to_numpy(float)}
        ev = pd.DataFrame({**base, "curve": "event", "estimate": tab["cif"].to_numpy(float),
                           "conf_low": ci["conf_low"].to_numpy(float), "conf_high": ci["conf_high"].to_numpy(float),
                           "n_event": tab["n_cause"].to_numpy(float)})
        co = pd.DataFrame({**base, "curve": "competing", "estimate": comp["cif"].to_numpy(float), "conf_low": np.nan,
                           "conf_high": np.nan, "n_event": comp["n_cause"].to_numpy(float)})
        for frame in (ev, co):
            if not (frame["time"] == 0).any():
                first = frame.iloc[[0]].assign(time=0.0, estimate=0.0, conf_low=np.nan, conf_high=np.nan,
                                               n_risk=float(m.sum()), n_event=0.0, n_censor=0.0)
                frame = pd.concat([first, frame], ignore_index=True)
            parts.append(frame)
        c = tab[tab["n_censor"] > 0]
        cens.append(pd.DataFrame({"arm": a, "time": c["time"].to_numpy(float), "estimate": c["cif"].to_numpy(float)}))
    curves = pd.concat(parts, ignore_index=True)[["arm", "curve", "time", "estimate", "conf_low", "conf_high",
                                                   "n_risk", "n_event", "n_censor"]]
    times = list(at_risk_times) if at_risk_times is not None else default_ticks(float(sd.time.max()))
    return CurveData(curves, _at_risk(sd, times), pd.concat(cens, ignore_index=True))


def _steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-continuous step coordinates through (x_i, y_i)."""
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys


def _draw_at_risk(ax, at_risk: pd.DataFrame, arms: Sequence[str], colours: Sequence[str], *, top: float,
                  row_height: float) -> None:
    """Numbers at risk inside the axes, below the curves: one row per arm, the arm named on the left."""
    ax.axhline(top + row_height * 0.35, color="#999999", lw=0.6)
    ax.text(0.0, top + row_height * 0.05, "Number at risk", transform=ax.get_yaxis_transform(), ha="left",
            va="top", fontsize=7, color="#333333", style="italic")
    for i, a in enumerate(arms):
        y = top - row_height * (i + 0.6)
        ax.text(-0.01, y, str(a), transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=7,
                color=colours[i], fontweight="bold")
        for r in at_risk[at_risk["arm"] == a].itertuples():
            ax.text(r.time, y, f"{int(r.n_risk)}", ha="center", va="center", fontsize=7, color=colours[i])


def _curve_axes(ax, n_arms: int, figsize):
    if ax is None:
        fig, axes = new_figure(figsize)
        return fig, axes[0, 0]
    return ax.figure, ax


def km_plot(sd, *, at_risk_times: Sequence[float] | None = None, title: str = "", xlabel: str = "Days",
            ylabel: str = "Event-free probability", event_label: str = "", ci: bool = True, ax=None):
    """Kaplan-Meier curves per arm with pointwise 95% bands, censoring marks and numbers at risk.

    Parameters
    ----------
    sd : longmod.engines.survival.data.SurvivalData
    at_risk_times : sequence of float, optional
        Times of the numbers-at-risk rows (also the x ticks).
    title, xlabel, ylabel, event_label : str
        Labels (``event_label`` names the event in the legend title).
    ci : bool
        Draw the pointwise confidence bands.
    ax : matplotlib.axes.Axes, optional
        Draw here; by default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [2, 4, 4, 6, 3, 5, 8, 9], "e": [1, 1, 0, 1, 1, 0, 1, 0], "g": list("aaaabbbb")})
    >>> fig = km_plot(survival_data(d, time="t", event="e", arm="g", arms=("a", "b")), title="toy")
    >>> fig.axes[0].get_title()
    'toy'
    """
    cd = km_plot_data(sd, at_risk_times=at_risk_times)
    return _draw_curves(cd, sd.arms, ax=ax, title=title, xlabel=xlabel, ylabel=ylabel, legend_title=event_label,
                        ci=ci, ylim_top=1.0)


def cif_plot(sd, *, cause: int = 1, at_risk_times: Sequence[float] | None = None, title: str = "",
             xlabel: str = "Days", event_label: str = "event", competing_label: str = "competing event",
             ci: bool = True, ax=None):
    """Cumulative incidence of the event (solid) and of the competing events (dashed) per arm, with numbers at risk.

    Parameters
    ----------
    sd : longmod.engines.survival.data.SurvivalData
        Event codes 0 (censored), ``cause`` and other codes (competing).
    cause : int
    at_risk_times : sequence of float, optional
    title, xlabel, event_label, competing_label : str
    ci : bool
        Draw the pointwise band of the event curve.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.survival.data import survival_data
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 2, 3, 6], "e": [1, 2, 1, 0, 1, 1, 1, 2], "g": list("aaaaabbb")})
    >>> sd = survival_data(d, time="t", event="e", arm="g", arms=("a", "b"), max_event_code=2)
    >>> fig = cif_plot(sd, event_label="oxygen stopped", competing_label="death")
    >>> sorted(t.get_text() for t in fig.axes[0].get_legend().get_texts())[:2]
    ['a: death', 'a: oxygen stopped']
    """
    cd = cif_plot_data(sd, cause=cause, at_risk_times=at_risk_times)
    return _draw_curves(cd, sd.arms, ax=ax, title=title, xlabel=xlabel, ylabel="Cumulative incidence",
                        legend_title="", ci=ci, ylim_top=1.0, labels={"event": event_label,
                                                                      "competing": competing_label})


def _draw_curves(cd: CurveData, arms: Sequence[str], *, ax, title: str, xlabel: str, ylabel: str, legend_title: str,
                 ci: bool, ylim_top: float, labels: dict[str, str] | None = None):
    n = len(arms)
    row_h = 0.09
    fig, ax = _curve_axes(ax, n, (7.5, 4.6 + 0.25 * n))
    colours = ARM_COLOURS[: max(n, 1)] if n <= len(ARM_COLOURS) else [f"C{i}" for i in range(n)]
    t_max = max(float(cd.curves["time"].max()), float(cd.at_risk["time"].max()) if len(cd.at_risk) else 0.0)
    kinds = [None] if "curve" not in cd.curves else ["event", "competing"]
    for i, a in enumerate(arms):
        for k in kinds:
            c = cd.curves[cd.curves["arm"] == a]
            if k is not None:
                c = c[c["curve"] == k]
            x = np.append(c["time"].to_numpy(float), t_max) if len(c) else np.array([0.0])
            y = np.append(c["estimate"].to_numpy(float), c["estimate"].iloc[-1]) if len(c) else np.array([np.nan])
            xs, ys = _steps(x, y)
            lab = f"{a}" if k is None else f"{a}: {labels.get(k, k)}"
            ax.plot(xs, ys, color=colours[i], lw=1.8, ls="-" if k in (None, "event") else "--", label=lab)
            if ci and k in (None, "event") and c["conf_low"].notna().any():
                lo = np.append(c["conf_low"].to_numpy(float), c["conf_low"].iloc[-1])
                hi = np.append(c["conf_high"].to_numpy(float), c["conf_high"].iloc[-1])
                _, los = _steps(x, lo)
                _, his = _steps(x, hi)
                ax.fill_between(xs, los, his, color=colours[i], alpha=0.12, lw=0, step=None)
        cz = cd.censored[cd.censored["arm"] == a]
        if len(cz):
            ax.plot(cz["time"], cz["estimate"], ls="none", marker="|", ms=8, mew=1.2, color=colours[i])
    bottom = -row_h * (n + 0.9)
    _draw_at_risk(ax, cd.at_risk, arms, colours, top=-0.02, row_height=row_h)
    ax.set_ylim(bottom, ylim_top + 0.04)
    ax.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlim(-0.03 * t_max if t_max else -0.5, t_max * 1.03 if t_max else 1.0)
    if len(cd.at_risk):
        ax.set_xticks(sorted(cd.at_risk["time"].unique()))
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines["left"].set_bounds(0.0, 1.0)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    if title:
        import textwrap

        ax.set_title("\n".join(textwrap.wrap(title, 80)) or title, fontsize=10)  # wrapped, never cut
    ax.grid(axis="y", color="#eeeeee", lw=0.6)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, title=legend_title or None,
              title_fontsize=8)
    return fig
