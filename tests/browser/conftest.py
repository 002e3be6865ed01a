"""Fixtures of the browser tests: the built book served on loopback, and Debian's Chromium.

The tests read the book the way a reader does: Playwright drives a real Chromium
(``/usr/bin/chromium``, Debian's package; never a browser that Playwright downloads) over
pages served from ``_build/html`` by a local HTTP server on a free port. Every request that
does not go to that server is aborted and recorded, so the pages are tested with no network.

Environment:

- ``SEQ2CODE_BOOK_HTML``: the built book (default ``_build/html``);
- ``SEQ2CODE_REQUIRE_BOOK=1`` (set by ``.ci/run`` after it builds the book): a missing or
  stale book, Playwright or Chromium is a failure instead of a skip;
- ``SEQ2CODE_CHROMIUM``: the browser (default ``/usr/bin/chromium``);
- ``SEQ2CODE_ARTIFACTS``: where screenshots go (default ``_build/artifacts``).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from book_files import stale_sources

REPO_ROOT = Path(__file__).resolve().parents[2]
BOOK_HTML = Path(os.environ.get("SEQ2CODE_BOOK_HTML", REPO_ROOT / "_build" / "html"))
ARTIFACTS = Path(os.environ.get("SEQ2CODE_ARTIFACTS", REPO_ROOT / "_build" / "artifacts"))
CHROMIUM = os.environ.get("SEQ2CODE_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BOOK = os.environ.get("SEQ2CODE_REQUIRE_BOOK") == "1"
PAGE_TIMEOUT_MS = 120_000  # a long chapter with many formulas, on a loaded 2-core machine
# Chromium's own background traffic is switched off; it has no network here anyway.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing(reason: str):
    """Skip with ``reason``, or fail when CI requires the book to be tested."""
    if REQUIRE_BOOK:
        pytest.fail(f"{reason} (SEQ2CODE_REQUIRE_BOOK=1)", pytrace=False)
    pytest.skip(reason)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="session")
def book_dir() -> Path:
    """The built book's folder; skips (or fails in CI) when the book is not built, or was
    built before its sources last changed (testing it would test an older course)."""
    if not (BOOK_HTML / "index.html").is_file():
        _missing(
            f"the book is not built ({BOOK_HTML / 'index.html'} does not exist): "
            "run `jupyter-book build --all .` first"
        )
    if BOOK_HTML == REPO_ROOT / "_build" / "html" and (stale := stale_sources(BOOK_HTML, REPO_ROOT)):
        shown = ", ".join(str(path) for path in stale[:3]) + (", ..." if len(stale) > 3 else "")
        _missing(
            f"the built book is older than {len(stale)} of its sources ({shown}): "
            "run `jupyter-book build --all .` again"
        )
    return BOOK_HTML


@pytest.fixture(scope="session")
def base_url(book_dir: Path):
    """``http://127.0.0.1:PORT/``: the built book, served on a free loopback port."""
    handler = functools.partial(_QuietHandler, directory=str(book_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser(book_dir: Path):
    """Debian's Chromium, headless, driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (python -m pip install -e '.[dev]')")
    if shutil.which(CHROMIUM) is None:
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Offline:
    """What one browser context tried to fetch from outside, and what its pages logged."""

    base_url: str
    blocked: list[str] = field(default_factory=list)  # every aborted non-local request
    console_errors: list[tuple[str, str]] = field(default_factory=list)  # (text, source url)
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions

    def route(self, route):
        url = route.request.url
        if url.startswith(self.base_url) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")

    def watch(self, page):
        page.on(
            "console",
            lambda msg: msg.type == "error"
            and self.console_errors.append((msg.text, msg.location.get("url", ""))),
        )
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        return page


@pytest.fixture(scope="session")
def open_offline(browser, base_url):
    """``open_offline() -> (context, page, offline)``: a fresh browser context whose requests
    outside the local server are aborted; the caller closes the context."""

    def open_():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        offline = Offline(base_url)
        context.route("**/*", offline.route)
        return context, offline.watch(context.new_page()), offline

    return open_


@pytest.fixture
def offline_page(open_offline):
    """A fresh page with no network: ``(page, offline)``."""
    context, page, offline = open_offline()
    yield page, offline
    context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
