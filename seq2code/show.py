"""Show the library's own source code in a notebook, so the book and the library never disagree.

A chapter that introduces a piece of the library does not copy its code into a cell; it shows
it from the installed package::

    from seq2code.show import show_source
    from seq2code.vocab import Vocab
    show_source(Vocab.encode)

The output names the file and its line numbers (``seq2code/vocab.py, lines 61-75``) and shows
the code with syntax highlighting: as HTML (Pygments, inline styles, the file's own line
numbers) in Jupyter, Colab and the book, and as a Markdown code block for front ends that
prefer Markdown. A listing longer than ``FOLD_LINES`` lines is folded: its caption shows,
and a click opens the code (``fold=True`` / ``False`` decides for one listing).
"""

from __future__ import annotations

import html
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

FOLD_LINES = 40  # a longer listing is folded (HTML <details>) unless fold=False


@dataclass(frozen=True)
class SourceView:
    """A slice of a source file, ready to display.

    Attributes:
        code: the source, dedented (a method shows without its class's indentation).
        path: the file relative to its package's parent, e.g. ``seq2code/models/rnn.py``.
        first: the line number in the file of the first line of ``code`` (from 1).
        last: the line number in the file of the last line of ``code``.
        qualname: the shown object's qualified name (``Vocab.encode``).
        folded: the HTML shows the caption and folds the code away until clicked (a long
            listing is reference material, not the lesson).
    """

    code: str
    path: str
    first: int
    last: int
    qualname: str
    folded: bool = False

    @property
    def caption(self) -> str:
        """``seq2code/vocab.py, lines 61-75`` (or ``line 61`` for one line)."""
        where = f"line {self.first}" if self.first == self.last else (
            f"lines {self.first}-{self.last}")
        return f"{self.path}, {where}"

    def _repr_markdown_(self) -> str:
        longest_tick_run = max((len(run) for run in re.findall(r"`+", self.code)), default=0)
        fence = "`" * max(3, longest_tick_run + 1)
        return f"**{self.qualname}** — `{self.caption}`\n\n{fence}python\n{self.code}\n{fence}\n"

    def _repr_html_(self) -> str:
        formatter = HtmlFormatter(noclasses=True, linenos="inline", linenostart=self.first,
                                  style="default", nobackground=False)
        body = highlight(self.code, PythonLexer(), formatter)
        caption = (f"<strong>{html.escape(self.qualname)}</strong> — "
                   f"<code>{html.escape(self.caption)}</code>")
        # Dark colour for untokenised text too, so the block reads in a dark-mode page.
        if self.folded:
            count = self.last - self.first + 1
            return (f'<details class="seq2code-source" style="color:#1f2328">'
                    f'<summary style="cursor:pointer;margin-bottom:0.3em">{caption} '
                    f'({count} lines: click to show)</summary>{body}</details>')
        return (f'<div class="seq2code-source" style="color:#1f2328">'
                f'<div style="margin-bottom:0.3em">{caption}</div>{body}</div>')

    def __str__(self) -> str:
        return f"# {self.caption}\n{self.code}"


def _package_relative_path(obj, source_file: str) -> str:
    """``source_file`` relative to the folder holding the top-level package of ``obj``."""
    module = inspect.getmodule(obj)
    if module is None or module.__name__ == "__main__":
        return Path(source_file).name
    top = sys.modules.get(module.__name__.partition(".")[0])
    top_file = getattr(top, "__file__", None)
    if top_file is None:
        return Path(source_file).name
    base = Path(top_file).resolve().parent
    if Path(top_file).name == "__init__.py":
        base = base.parent
    try:
        return Path(source_file).resolve().relative_to(base).as_posix()
    except ValueError:
        return Path(source_file).name


def source_view(obj, *, lines: tuple[int, int] | None = None,
                fold: bool | None = None) -> SourceView:
    """The source of a module, class, function or method, as a :class:`SourceView`.

    Args:
        obj: what to show; it must be defined in a file (not in a notebook cell).
        lines: ``(first, last)``, counted from 1 within the object's own source and inclusive,
            to show only part of it (``(1, 12)``: its first twelve lines).
        fold: fold the code away behind its caption (HTML); by default, when it is longer
            than ``FOLD_LINES`` lines.

    Raises:
        TypeError: when ``obj`` has no source file (a builtin, or code typed in a notebook).
        ValueError: when ``lines`` is not a range inside the object's source.
    """
    obj = inspect.unwrap(obj)
    if isinstance(obj, property):
        obj = obj.fget
    try:
        source_file = inspect.getsourcefile(obj)
        source_lines, start = inspect.getsourcelines(obj)
    except (TypeError, OSError) as error:
        raise TypeError(f"no source file for {obj!r}: show_source shows code that lives "
                        "in a module's file") from error
    if source_file is None:
        raise TypeError(f"no source file for {obj!r}")
    start = max(start, 1)  # a module's source starts at line 0 for inspect
    if lines is not None:
        first, last = lines
        if not 1 <= first <= last <= len(source_lines):
            raise ValueError(f"lines={lines!r} is outside 1..{len(source_lines)}, the lines of "
                             f"{getattr(obj, '__qualname__', obj)!r}")
        source_lines = source_lines[first - 1:last]
        start += first - 1
    # Blank lines at either end are not shown (Pygments drops them too, which would shift
    # the line numbers), so they are not counted: the caption names exactly the lines shown.
    while len(source_lines) > 1 and not source_lines[0].strip():
        source_lines = source_lines[1:]
        start += 1
    while len(source_lines) > 1 and not source_lines[-1].strip():
        source_lines = source_lines[:-1]
    code = textwrap.dedent("".join(source_lines)).rstrip("\n")
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))
    if fold is None:
        fold = len(source_lines) > FOLD_LINES
    return SourceView(code=code, path=_package_relative_path(obj, source_file), first=start,
                      last=start + len(source_lines) - 1, qualname=qualname, folded=fold)


def show_source(obj, *, lines: tuple[int, int] | None = None,
                fold: bool | None = None) -> None:
    """Display the source of ``obj`` in the notebook, captioned with its file and lines.

    Args:
        obj: a module, class, function or method defined in a file (e.g. ``Vocab.encode``).
        lines: ``(first, last)`` within the object's source, to show only part of it.
        fold: fold the code behind its caption; by default when longer than ``FOLD_LINES``.

    Outside IPython the source is printed instead.
    """
    view = source_view(obj, lines=lines, fold=fold)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is always there in a notebook
        print(view)
        return
    if get_ipython() is None:
        print(view)
    else:
        display(view)
