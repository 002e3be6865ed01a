"""Small fixes to the built book's HTML: a local Sphinx extension, listed in _config.yml.

- One copy of each inline script. sphinx-thebe (which Jupyter Book always loads) adds its
  inline configuration script (``const THEBE_JS_URL = ...``) twice under Sphinx 7 (once with
  the file name None, once with ""), and the second copy throws ``SyntaxError: Identifier
  'THEBE_JS_URL' has already been declared`` on every page. The browser tests
  (tests/browser) fail on any uncaught error, so the duplicate goes; a script that appears
  once is left alone.
- The book's own styles, ``book/_static/seq2code.css`` (the setup cell is not shown: it
  installs seq2code on Colab and does nothing in the book; output tables get cell padding)
  and script, ``book/_static/seq2code.js`` (every figure opens full size on a click).
- An author-year bibliography style, ``author_year_labels`` (book/references.md's
  ``{bibliography}`` names it): entries sorted by author and year, each labelled the way
  the book cites it, ``[Oda et al., 2015]``, ``[Yin and Neubig, 2017]``, ``[Post, 2018]``.
  pybtex's own label styles are ``alpha`` (``[OFN+15]``) and ``number`` (``[1]``), neither of
  which matches the author-year citations of the pages ({cite:p}, ``bibtex_reference_style:
  author_year``) and of the notebooks (plain text, "Oda et al. (2015)", as Colab shows it).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.alpha import Style as AlphaStyle
from pybtex.style.labels import BaseLabelStyle

STATIC = Path(__file__).resolve().parent.parent / "_static"  # book/_static


def _script_key(script) -> tuple:
    """What a script is: its file (None and "" alike: an inline script) and its attributes."""
    attributes = getattr(script, "attributes", {}) or {}
    filename = getattr(script, "filename", script) or ""
    return str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated identical entries of the page's ``script_files`` (first one kept)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _surname(person) -> str:
    """``van Merriënboer`` of ``van Merri{\\"e}nboer, Bart``: the von and last names, LaTeX read."""
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    """``Oda et al., 2015`` (three authors or more), ``Yin and Neubig, 2017``, ``Post, 2018``;
    labels that would repeat get ``a``, ``b``, ... after the year."""

    def format_label(self, entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_surname(person) for person in persons]
        if not names:
            who = entry.fields.get("title", entry.key)
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} and {names[1]}"
        else:
            who = f"{names[0]} et al."
        year = entry.fields.get("year")
        return f"{who}, {year}" if year else who

    def format_labels(self, sorted_entries):
        labels = [self.format_label(entry) for entry in sorted_entries]
        count, seen = Counter(labels), Counter()
        for label in labels:
            if count[label] == 1:
                yield label
            else:
                yield label + chr(ord("a") + seen[label])
                seen[label] += 1


class AuthorYearStyle(AlphaStyle):
    """pybtex's ``alpha`` entries (sorted by author, year, title) with author-year labels."""

    default_label_style = "author_year_labels"


def register_bibliography_style() -> None:
    """Make ``:style: author_year_labels`` known to pybtex (and so to sphinxcontrib-bibtex)."""
    register_plugin("pybtex.style.labels", "author_year_labels", AuthorYearLabelStyle,
                    force=True)
    register_plugin("pybtex.style.formatting", "author_year_labels", AuthorYearStyle,
                    force=True)


def add_static(app) -> None:
    """Copy book/_static into the built book and link its style sheet and script from every
    page."""
    app.config.html_static_path.append(str(STATIC))
    app.add_css_file("seq2code.css")
    app.add_js_file("seq2code.js", loading_method="defer")


def setup(app):
    register_bibliography_style()
    app.connect("builder-inited", add_static)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
