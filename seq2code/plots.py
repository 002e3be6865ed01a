"""The course's figures, drawn for the book's text column.

The book shows a notebook's figure at most as wide as its text column (about 690 px at a
laptop's width): a figure drawn 1,400 px wide is shrunk to half, and its 10 pt labels to
6 px. So every figure of the course is drawn at the column's width, one panel per row when
it has several, with labels of at least the body text's size once shown::

    from seq2code.plots import column_figure, whole_epochs
    fig, (ax_loss, ax_exact) = column_figure(2, row_height=2.6)   # two panels, one per row
    ...
    whole_epochs(ax_loss)

``use_book_style()`` (which ``column_figure`` calls) sets matplotlib's sizes for the column
and, in IPython, writes each figure's smallest font size (points) into its PNG as the text
chunk ``seq2code:min-font-pt``: the book's browser tests read it back, with the PNG's own
resolution and the size the page shows it at, to check the labels' rendered size in pixels.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

COLUMN_INCHES = 6.8  # the book's text column: about 690 px at a laptop's width, at FIGURE_DPI
FIGURE_DPI = 100
FONT_PT = 11  # titles' and axis labels' base size; 11 pt at 100 dpi is 15 px
TICK_PT = 10  # tick labels and legends: 10 pt at 100 dpi is 14 px, the body text's size
MIN_FONT_PT = 9  # the smallest text a course figure draws (annotations inside cells)
FONT_METADATA_KEY = "seq2code:min-font-pt"  # PNG text chunk: the figure's smallest font (pt)

STYLE = {
    "figure.dpi": FIGURE_DPI,
    "savefig.dpi": "figure",
    "figure.figsize": (COLUMN_INCHES, 3.4),
    "font.size": FONT_PT,
    "axes.titlesize": FONT_PT,
    "axes.labelsize": FONT_PT,
    "figure.titlesize": FONT_PT + 1,
    "xtick.labelsize": TICK_PT,
    "ytick.labelsize": TICK_PT,
    "legend.fontsize": TICK_PT,
    "legend.title_fontsize": TICK_PT,
}


def smallest_font_pt(fig: Figure) -> float | None:
    """The smallest font size (points) of the visible, non-empty texts of ``fig`` once drawn
    (tick labels exist only after a draw); None when it draws no text."""
    fig.canvas.draw()
    sizes = [text.get_fontsize() for text in fig.findobj(Text)
             if text.get_visible() and text.get_text().strip()]
    return min(sizes) if sizes else None


def figure_png(fig: Figure, dpi: float | None = None) -> bytes:
    """``fig`` as PNG bytes (cropped to what it draws, like Jupyter's inline figures), with its
    smallest font size in the text chunk ``FONT_METADATA_KEY``."""
    smallest = smallest_font_pt(fig)
    metadata = {} if smallest is None else {FONT_METADATA_KEY: f"{smallest:g}"}
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or fig.dpi, bbox_inches="tight",
                facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor(), metadata=metadata)
    return buffer.getvalue()


def _png_base64(fig: Figure) -> str | None:
    """The inline backend's PNG formatter, with the font-size chunk (IPython >= 7.29 wants
    base64 text; an empty figure shows nothing)."""
    import base64

    if not fig.axes and not fig.lines:
        return None
    return base64.b64encode(figure_png(fig)).decode("ascii")


def _record_font_sizes() -> None:
    """In IPython, write inline figures with their smallest font size. The inline backend
    registers its own PNG writer when pyplot first makes a figure, so this runs again
    after each figure that ``column_figure`` makes."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is always there in a notebook
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "display_formatter"):
        shell.display_formatter.formatters["image/png"].for_type(Figure, _png_base64)


def use_book_style() -> None:
    """Matplotlib's sizes for the book's column (``STYLE``); in IPython, inline figures are
    also written with their smallest font size (``FONT_METADATA_KEY``)."""
    matplotlib.rcParams.update(STYLE)
    _record_font_sizes()


def column_figure(nrows: int = 1, ncols: int = 1, *, row_height: float = 3.0,
                  width: float = COLUMN_INCHES, **subplots):
    """``plt.subplots`` at the column's width (``row_height`` inches per row of panels), with
    the book's style and a constrained layout (no ``tight_layout`` needed).

    Keep ``ncols`` at 1 or 2: at three panels side by side the column leaves each one too
    narrow for its labels; put them one per row instead."""
    use_book_style()
    subplots.setdefault("layout", "constrained")
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, row_height * nrows), **subplots)
    _record_font_sizes()  # after pyplot's first figure, which installs the inline backend
    return fig, axes


def whole_epochs(*axes, axis: str = "x") -> None:
    """Ticks at whole numbers only on ``axis`` of each of ``axes`` (epochs, beam sizes)."""
    for ax in axes:
        getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def thinned(labels: Sequence[str], most: int) -> tuple[list[int], list[str]]:
    """At most ``most`` of ``labels`` at evenly spaced positions (every k-th, the first kept),
    whole: ``(positions, labels)`` for ``ax.set_xticks``. A long token axis is thinned
    rather than its tokens cut."""
    if most < 1:
        raise ValueError(f"most={most}: at least one label must be shown")
    step = max(1, math.ceil(len(labels) / most))
    positions = list(range(0, len(labels), step))
    return positions, [str(labels[i]) for i in positions]


def heatmap_height(rows: int, *, per_row: float = 0.24, extra: float = 1.9,
                   most: float = 9.0) -> float:
    """Inches for a heatmap of ``rows`` labelled rows: room for each row's tick label at
    ``TICK_PT`` and for the rotated labels and title around it (at most ``most`` inches: a
    longer axis is thinned by :func:`token_heatmap`)."""
    return min(most, max(2.6, per_row * rows + extra))


def token_heatmap(ax, weights, columns: Sequence[str], rows: Sequence[str], *,
                  most_columns: int = 28, most_rows: int = 32, cmap: str = "Reds",
                  vmin: float = 0.0, vmax: float = 1.0, rotation: int = 60):
    """Draw ``weights`` ``[len(rows), len(columns)]`` (e.g. attention: one row per generated
    token, one column per source token) with whole token labels, thinned on a long axis.

    Returns the image (for a colour bar)."""
    values = weights.numpy() if hasattr(weights, "numpy") else weights
    if tuple(values.shape) != (len(rows), len(columns)):
        raise ValueError(f"weights of shape {tuple(values.shape)} for {len(rows)} rows and "
                         f"{len(columns)} columns")
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
                      interpolation="nearest")
    ax.set_xticks(*thinned(columns, most_columns), rotation=rotation, ha="right",
                  rotation_mode="anchor")
    ax.set_yticks(*thinned(rows, most_rows))
    return image
