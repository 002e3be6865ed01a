"""Small fixes to the built book's HTML: a local Sphinx extension, listed in _config.yml.

- One copy of each inline script. sphinx-thebe (which Jupyter Book always loads) adds its
  inline configuration script (``const THEBE_JS_URL = ...``) twice under Sphinx 7 (once with
  the file name None, once with ""), and the second copy throws ``SyntaxError: Identifier
  'THEBE_JS_URL' has already been declared`` on every page. The browser tests
  (tests/browser) fail on any uncaught error, so the duplicate goes; a script that appears
  once is left alone.
- The book's own styles, ``book/_static/seq2code.css`` (the setup cell is not shown: it
  installs seq2code on Colab and does nothing in the book).
"""

from __future__ import annotations

from pathlib import Path

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


def add_static(app) -> None:
    """Copy book/_static into the built book and link its style sheet from every page."""
    app.config.html_static_path.append(str(STATIC))
    app.add_css_file("seq2code.css")


def setup(app):
    app.connect("builder-inited", add_static)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
