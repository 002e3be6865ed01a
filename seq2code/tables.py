"""Small tables for notebooks, as Markdown: they render in Jupyter, Colab and the book alike.

    from seq2code.tables import Table
    Table(["split", "examples"], [["train", 16000], ["dev", 1000]])   # the last line of a cell

Numbers are formatted with ``formats`` (one format spec per column, e.g. ``",d"`` or
``".1%"``), so a table shows computed values, never retyped ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def _cell(value, spec: str | None) -> str:
    text = format(value, spec) if spec else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


@dataclass
class Table:
    """A table with a header row, displayed as Markdown.

    Attributes:
        headers: the column names.
        rows: the rows, each as long as ``headers``.
        formats: per column, a format spec for :func:`format` (``None`` or ``""``: ``str``).
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
        numeric = [bool(self.rows) and all(isinstance(row[i], (int, float)) for row in self.rows)
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

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()
