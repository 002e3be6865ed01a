"""Small tables for notebooks: HTML for Jupyter, Colab and the book, Markdown as a text form.

    from seq2code.tables import Table
    Table(["split", "examples"], [["train", 16000], ["dev", 1000]])   # the last line of a cell

Numbers are formatted with ``formats`` (one format spec per column, e.g. ``",d"`` or
``".1%"``, or ``"code"`` for inline code), so a table shows computed values, never retyped
ones. Text cells have Markdown's special characters escaped (``__init__`` stays ``__init__``).
"""

from __future__ import annotations

import html
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _inline_code(text: str) -> str:
    """``text`` as Markdown inline code, fenced by more backticks than it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def _cell(value, spec: str | None) -> str:
    """One cell: ``spec`` ``"code"`` gives inline code; other text has Markdown escaped."""
    if spec == "code":
        return _inline_code(str(value).replace("\n", " "))
    text = format(value, spec) if spec else str(value)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def _is_number(value) -> bool:
    """Numbers, numpy's included, but not booleans."""
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


@dataclass
class Table:
    """A table with a header row, displayed as Markdown.

    Attributes:
        headers: the column names.
        rows: the rows, each as long as ``headers``.
        formats: per column, a format spec for :func:`format` (``None`` or ``""``: ``str``),
            or ``"code"`` for inline code.
        align: per column, ``"l"`` or ``"r"``; by default numbers right, text left.
    """

    headers: Sequence[str]
    rows: Sequence[Sequence]
    formats: Sequence[str | None] | None = None
    align: str | None = None

    def __post_init__(self):
        width = len(self.headers)
        for row in self.rows:
            if len(row) != width:
                raise ValueError(f"a row of {len(row)} cells in a table of {width} columns")
        for name, value in (("formats", self.formats), ("align", self.align)):
            if value is not None and len(value) != width:
                raise ValueError(f"{name} has {len(value)} entries for {width} columns")

    def _alignments(self) -> str:
        if self.align is not None:
            return self.align
        numeric = [bool(self.rows) and all(_is_number(row[i]) for row in self.rows)
                   for i in range(len(self.headers))]
        return "".join("r" if n else "l" for n in numeric)

    def to_markdown(self) -> str:
        formats = self.formats or [None] * len(self.headers)
        rule = ["---:" if a == "r" else ":---" for a in self._alignments()]
        lines = ["| " + " | ".join(_cell(h, None) for h in self.headers) + " |",
                 "| " + " | ".join(rule) + " |"]
        lines += ["| " + " | ".join(_cell(v, f) for v, f in zip(row, formats, strict=True))
                  + " |" for row in self.rows]
        return "\n".join(lines)

    def to_html(self) -> str:
        """The table as HTML (what Jupyter, Colab and the book display)."""
        formats = self.formats or [None] * len(self.headers)
        aligns = ["right" if a == "r" else "left" for a in self._alignments()]

        def cell(tag, value, spec, align):
            if spec == "code":
                text = f"<code>{html.escape(str(value))}</code>"
            else:
                text = html.escape(format(value, spec) if spec else str(value))
            return f'<{tag} style="text-align:{align}">{text}</{tag}>'

        head = "".join(cell("th", h, None, a) for h, a in zip(self.headers, aligns, strict=True))
        body = "".join(
            "<tr>" + "".join(cell("td", v, f, a)
                             for v, f, a in zip(row, formats, aligns, strict=True)) + "</tr>"
            for row in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()
