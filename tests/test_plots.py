"""seq2code.plots: figures drawn for the book's column, with their smallest font recorded."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from seq2code import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    with matplotlib.rc_context():
        yield
    plt.close("all")


def test_column_figure_is_the_column_wide_with_readable_fonts():
    fig, axes = plots.column_figure(2, row_height=2.5)
    assert len(axes) == 2
    assert tuple(fig.get_size_inches()) == pytest.approx((plots.COLUMN_INCHES, 5.0))
    assert fig.dpi == plots.FIGURE_DPI
    # 10 pt at 100 dpi is 14 px: the body text's size when the figure is shown unscaled
    assert plots.TICK_PT * plots.FIGURE_DPI / 72 >= 13.5
    assert plots.COLUMN_INCHES * plots.FIGURE_DPI <= 700


def test_whole_epochs_gives_integer_ticks():
    fig, ax = plots.column_figure()
    ax.plot([1, 2, 3], [0.5, 0.4, 0.3])
    plots.whole_epochs(ax)
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_thinned_keeps_whole_labels_evenly_spaced():
    labels = [f"token{i}" for i in range(50)]
    positions, shown = plots.thinned(labels, 12)
    assert len(shown) <= 12 and positions[0] == 0
    assert shown == [labels[i] for i in positions]  # whole, not cut
    assert len(set(np.diff(positions))) == 1
    assert plots.thinned(["a", "b"], 5) == ([0, 1], ["a", "b"])
    with pytest.raises(ValueError):
        plots.thinned(labels, 0)


def test_token_heatmap_labels_whole_tokens_and_checks_shape():
    fig, ax = plots.column_figure(row_height=plots.heatmap_height(3))
    columns = ["NotImplementedError", "raise", "x"]
    plots.token_heatmap(ax, np.full((3, 3), 1 / 3), columns, ["raise", "NotImplementedError",
                                                                "<eos>"])
    assert [t.get_text() for t in ax.get_xticklabels()] == columns
    with pytest.raises(ValueError, match="shape"):
        plots.token_heatmap(ax, np.zeros((2, 3)), columns, ["a", "b", "c"])


def test_png_records_the_smallest_font():
    fig, ax = plots.column_figure()
    ax.plot([1, 2], [1, 2])
    ax.set_xlabel("epoch")
    ax.text(1.5, 1.5, "small", fontsize=7)
    png = plots.figure_png(fig)
    image = Image.open(io.BytesIO(png))
    assert float(image.info[plots.FONT_METADATA_KEY]) == 7
    assert image.info["dpi"][0] == pytest.approx(plots.FIGURE_DPI, abs=1)
    assert plots.smallest_font_pt(fig) == 7


def test_style_fonts_are_at_least_the_minimum():
    fig, ax = plots.column_figure()
    ax.plot([1, 2], [1, 2], label="line")
    ax.set(title="t", xlabel="x", ylabel="y")
    ax.legend()
    assert plots.smallest_font_pt(fig) >= plots.TICK_PT >= plots.MIN_FONT_PT


def test_inline_figures_record_their_smallest_font(monkeypatch):
    """In IPython, the PNG formatter of figures is ours, also after pyplot's first figure
    (when the inline backend installs its own)."""
    import IPython

    class Formatter:
        def __init__(self):
            self.printers = {}

        def for_type(self, kind, printer):
            self.printers[kind] = printer

    class Shell:
        def __init__(self):
            self.display_formatter = type("D", (), {})()
            self.display_formatter.formatters = {"image/png": Formatter()}

    shell = Shell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    fig, ax = plots.column_figure()
    ax.plot([1, 2], [1, 2])
    printer = shell.display_formatter.formatters["image/png"].printers[plots.Figure]
    import base64

    image = Image.open(io.BytesIO(base64.b64decode(printer(fig))))
    assert float(image.info[plots.FONT_METADATA_KEY]) == plots.TICK_PT


def test_the_chapters_draw_their_figures_for_the_column():
    """Every chapter makes its figures with column_figure (never plt.subplots or plt.figure
    with a size of its own) and writes no text under MIN_FONT_PT."""
    import re
    from pathlib import Path

    chapters = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.py"))
    assert chapters
    for chapter in chapters:
        text = chapter.read_text()
        assert not re.search(r"plt\.(subplots|figure)\(", text), chapter.name
        sizes = [float(size) for size in re.findall(r"fontsize=(\d+(?:\.\d+)?)", text)]
        assert all(size >= plots.MIN_FONT_PT for size in sizes), (chapter.name, sizes)
