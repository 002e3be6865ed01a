"""The check that keeps the browser tests off a stale build (no browser needed)."""

import os
from pathlib import Path

from book_files import stale_sources


def _touch(path: Path, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    os.utime(path, (mtime, mtime))
    return path


def test_a_build_newer_than_its_sources_is_fresh(tmp_path):
    _touch(tmp_path / "notebooks" / "02_rnn.ipynb", 1000)
    _touch(tmp_path / "_toc.yml", 1000)
    _touch(tmp_path / "_build" / "html" / "index.html", 2000)
    assert stale_sources(tmp_path / "_build" / "html", tmp_path) == []


def test_a_source_edited_after_the_build_is_named(tmp_path):
    _touch(tmp_path / "_build" / "html" / "index.html", 2000)
    _touch(tmp_path / "_build" / "html" / "notebooks" / "02_rnn.html", 2500)
    _touch(tmp_path / "notebooks" / "02_rnn.ipynb", 3000)
    _touch(tmp_path / "book" / "intro.md", 1000)
    _touch(tmp_path / "notebooks" / "02_rnn.py", 4000)  # the text twin is not built
    assert stale_sources(tmp_path / "_build" / "html", tmp_path) == [
        Path("notebooks/02_rnn.ipynb")]


def test_no_pages_means_every_source_is_stale(tmp_path):
    (tmp_path / "_build" / "html").mkdir(parents=True)
    _touch(tmp_path / "_config.yml", 1000)
    assert stale_sources(tmp_path / "_build" / "html", tmp_path) == [Path("_config.yml")]
