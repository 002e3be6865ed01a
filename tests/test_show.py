"""show_source: the library's code as the book shows it, with the file's own line numbers."""

import inspect
import re
import textwrap
from pathlib import Path

import pytest

import seq2code
from seq2code import show
from seq2code.analysis import encoder_state_gradients
from seq2code.show import show_source, source_view
from seq2code.vocab import Vocab

VOCAB_FILE = Path(inspect.getsourcefile(Vocab))


def file_lines(first: int, last: int) -> list[str]:
    return VOCAB_FILE.read_text().splitlines()[first - 1:last]


def test_caption_names_the_package_file_and_its_lines():
    view = source_view(Vocab.encode)
    assert view.path == "seq2code/vocab.py"
    assert file_lines(view.first, view.first)[0].strip().startswith("def encode(")
    assert view.caption == f"seq2code/vocab.py, lines {view.first}-{view.last}"


def test_code_is_the_file_text_dedented():
    view = source_view(Vocab.encode)
    original = file_lines(view.first, view.last)
    assert original[0].startswith("    def encode(")  # a method, indented in its class
    assert view.code.splitlines() == [line[4:] for line in original]
    assert view.code.startswith("def encode(")


def test_a_class_and_a_module_can_be_shown():
    view = source_view(Vocab)
    assert view.code.startswith("class Vocab")
    assert view.qualname == "Vocab"
    module_view = source_view(show)
    assert module_view.first == 1
    assert module_view.path == "seq2code/show.py"
    assert module_view.last == len(Path(show.__file__).read_text().splitlines())


def test_lines_selects_part_of_the_object():
    whole = source_view(Vocab.encode)
    part = source_view(Vocab.encode, lines=(2, 3))
    assert part.code == textwrap.dedent("\n".join(file_lines(whole.first + 1, whole.first + 2)))
    assert (part.first, part.last) == (whole.first + 1, whole.first + 2)
    assert part.caption.endswith(f"lines {whole.first + 1}-{whole.first + 2}")
    one = source_view(Vocab.encode, lines=(1, 1))
    assert one.caption.endswith(f"line {whole.first}")


def caption_count(view) -> int:
    """How many lines the caption names: ``lines 20-22`` is 3, ``line 20`` is 1."""
    numbers = [int(n) for n in re.findall(r"\d+", view.caption.rpartition(", ")[2])]
    return numbers[-1] - numbers[0] + 1


def test_the_caption_counts_the_lines_shown_when_a_range_ends_on_a_blank_line():
    """``lines=(1, 3)`` of a function whose docstring's third line is blank showed two lines
    captioned ``lines 20-22``: the blank line was dropped but counted."""
    whole = source_view(encoder_state_gradients)
    blank = whole.code.splitlines().index("")  # the line after the docstring's first
    view = source_view(encoder_state_gradients, lines=(1, blank + 1))
    assert view.code.splitlines()[-1].strip()  # ends on a line of code
    assert caption_count(view) == len(view.code.splitlines()) == blank
    assert (view.first, view.last) == (whole.first, whole.first + blank - 1)
    starting_blank = source_view(encoder_state_gradients, lines=(blank + 1, blank + 2))
    assert starting_blank.first == whole.first + blank + 1
    assert caption_count(starting_blank) == len(starting_blank.code.splitlines()) == 1


@pytest.mark.parametrize("obj", [Vocab, Vocab.encode, encoder_state_gradients, show])
def test_the_caption_counts_exactly_the_lines_shown_for_every_range(obj):
    """For every ``(1, k)`` and ``(k, end)``: the caption's count is the shown lines' count,
    the lines are the file's own from ``first`` to ``last``, and the HTML's line numbers
    run from ``first`` to ``last``."""
    size = len(source_view(obj).code.splitlines())
    file_text = Path(inspect.getsourcefile(obj)).read_text().splitlines()
    ranges = [(1, k) for k in range(1, min(size, 25) + 1)] + [(size - k, size)
                                                            for k in range(min(size, 5))]
    for lines in ranges:
        view = source_view(obj, lines=lines)
        shown = view.code.splitlines()
        assert caption_count(view) == len(shown) == view.last - view.first + 1, (lines, view)
        original = file_text[view.first - 1:view.last]
        assert shown == textwrap.dedent("\n".join(original)).splitlines(), lines
        numbers = [int(n) for n in re.findall(r"padding-right: 5px;\">\s*(\d+)\s*</span>",
                                              view._repr_html_())]
        assert numbers == list(range(view.first, view.last + 1)), (lines, numbers)


@pytest.mark.parametrize("lines", [(0, 2), (3, 2), (1, 10_000)])
def test_lines_outside_the_object_are_refused(lines):
    with pytest.raises(ValueError, match="outside"):
        source_view(Vocab.encode, lines=lines)


def test_objects_without_a_file_are_refused():
    with pytest.raises(TypeError, match="no source file"):
        source_view(len)
    namespace = {}
    exec("def typed_in_a_cell():\n    return 1\n", namespace)
    with pytest.raises(TypeError, match="no source file"):
        source_view(namespace["typed_in_a_cell"])


def test_html_has_highlighting_file_line_numbers_and_escaped_code():
    view = source_view(Vocab.__contains__)
    page = view._repr_html_()
    assert "seq2code/vocab.py" in page
    assert "style=" in page and "<span" in page  # Pygments, inline styles (no stylesheet)
    assert f">{view.first}<" in page or f"{view.first} " in page
    assert "__contains__" in page
    assert "->" not in page  # ">" escaped as &gt;
    assert "-&gt;" in page


def test_markdown_is_a_python_code_block_that_survives_backticks():
    view = show.SourceView(code='s = "```"', path="m.py", first=3, last=3, qualname="s")
    text = view._repr_markdown_()
    assert "`m.py, line 3`" in text
    assert "\n````python\n" in text and text.rstrip().endswith("````")
    plain = source_view(Vocab.encode)._repr_markdown_()
    assert "```python\ndef encode(" in plain


def test_show_source_prints_outside_ipython(capsys):
    show_source(Vocab.decode)
    out = capsys.readouterr().out
    assert out.startswith("# seq2code/vocab.py, lines ")
    assert "def decode(" in out


def test_show_source_displays_rich_output_in_ipython(monkeypatch):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", shown.append)
    assert show_source(seq2code.vocab.Vocab.decode) is None
    assert len(shown) == 1 and isinstance(shown[0], show.SourceView)


def test_a_long_listing_is_folded_behind_its_caption():
    long = source_view(Vocab)  # the whole class: longer than FOLD_LINES
    assert long.last - long.first + 1 > show.FOLD_LINES and long.folded
    page = long._repr_html_()
    assert page.startswith('<details class="seq2code-source"')
    summary = page[page.index("<summary"):page.index("</summary>")]
    assert long.caption in summary and f"{long.last - long.first + 1} lines" in summary
    assert "<details" not in long._repr_markdown_()  # the text form is the code itself


def test_a_short_listing_shows_open_and_fold_decides_for_one_listing():
    short = source_view(Vocab.encode)
    assert not short.folded and "<details" not in short._repr_html_()
    assert source_view(Vocab.encode, fold=True).folded
    assert not source_view(Vocab, fold=False).folded
