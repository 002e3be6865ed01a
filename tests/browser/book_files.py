"""Whether the built book is up to date with its sources (a browser test of an older build
tests an older course)."""

from __future__ import annotations

from pathlib import Path

# What the book is built from, relative to the repository root.
BOOK_SOURCES = ("_config.yml", "_toc.yml", "book/**/*.md", "book/_ext/*.py", "book/_static/*",
                "notebooks/*.ipynb")


def stale_sources(book_dir: Path, root: Path) -> list[Path]:
    """The sources under ``root`` changed after the book in ``book_dir`` was last built (the
    newest of its pages), relative to ``root``; empty when the build is up to date."""
    built = max((page.stat().st_mtime for page in book_dir.rglob("*.html")), default=0.0)
    sources = {path for pattern in BOOK_SOURCES for path in root.glob(pattern) if path.is_file()}
    return sorted(path.relative_to(root) for path in sources if path.stat().st_mtime > built)
