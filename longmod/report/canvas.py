"""Figures on the Agg canvas, and their bytes: PNG and SVG that are the same on every run.

matplotlib is imported lazily; new figures never touch pyplot or the global
backend, so importing the report changes no global state and opens no window.
PNG and SVG files carry no date and SVG element ids come from a fixed salt,
so the same figure gives the same bytes run after run.
"""

from __future__ import annotations

import io

#: Salt of the SVG element ids (matplotlib's ``svg.hashsalt``): fixed, so ids repeat run after run.
SVG_HASH_SALT = "longmod"


def new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, **kw):
    """A Figure on the Agg canvas (no pyplot, no global backend switch) and its axes array.

    Examples
    --------
    >>> fig, axes = new_figure((3, 2))
    >>> axes.shape
    (1, 1)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def figure_to_png(fig, dpi: int = 100) -> bytes:
    """PNG bytes of a figure (no timestamp: the same figure gives the same bytes).

    Examples
    --------
    >>> fig, _ = new_figure((2, 2))
    >>> figure_to_png(fig)[:4] == b"\\x89PNG" and figure_to_png(fig) == figure_to_png(fig)
    True
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def figure_to_svg(fig) -> str:
    """SVG text of a figure, without a date and with element ids from :data:`SVG_HASH_SALT`.

    Examples
    --------
    >>> fig, _ = new_figure((2, 2))
    >>> text = figure_to_svg(fig)
    >>> "<svg" in text and text == figure_to_svg(fig)
    True
    """
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()
