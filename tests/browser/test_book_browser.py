"""The built book, read in a real browser with no network (issue 9).

Every page of ``_toc.yml`` (whatever chapters it lists when the tests run) is opened in
Debian's Chromium from a local server, every request to another host aborted:

- no console error and no uncaught exception from our pages; the only outside requests a
  page may make are the known third-party scripts below, and only their failed loads are
  tolerated in the console (see ``THIRD_PARTY``);
- math is typeset by the local MathJax (no raw ``$$`` or ``\\(`` left, a MathJax container
  in every math element, no MathJax error);
- every ``<img>`` loads;
- every chapter has its Colab launch button, linking to that chapter's notebook;
- chapter 4's attention heatmaps are visible; the search page finds "attention";
- a page reads as a page (issue 20): no code block or table wider than its column, no
  literal backticks in a table, no raw ``Profile(...)`` dump, no visible cell that mostly
  builds a paragraph of text or mostly draws a figure, long library listings folded, no
  chapter longer than ``MAX_SCREENS`` screens at 1280 x 900; every figure's smallest text is
  at least ``MIN_LABEL_PX`` pixels as shown (its PNG records its smallest font size, see
  ``seq2code.plots``) and every figure opens full size;
- a full-page screenshot of every page, at a laptop's width (1280 px), goes to
  ``_build/artifacts/screenshots/``.

The tests skip when the book is not built, unless ``SEQ2CODE_REQUIRE_BOOK=1`` (``.ci/run``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TOC = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
CONFIG = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())

# Outside scripts that a page may ask for, and why each is tolerated offline. The book
# embeds ipywidgets' state in chapter pages that display a widget (the chapter 4 explorer);
# MyST-NB then loads require.js and the widgets' HTML manager from a CDN to draw it. No
# package that pip or apt installs ships those two bundles, so offline (here, in CI) the
# widget is not drawn: the page says so in its prose ("shows the widget without its Python
# kernel: run the notebook to use it") and everything else on the page works. Any other
# outside request fails the tests.
THIRD_PARTY = {
    "require.js (ipywidgets embedding)": re.compile(r"^https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/"),
    "@jupyter-widgets/html-manager (ipywidgets embedding)": re.compile(
        r"^https://(cdn\.jsdelivr\.net/npm|unpkg\.com)/@jupyter-widgets/html-manager@"
    ),
}


def _toc_files(node) -> list[str]:
    """Every ``file`` in a jb-book toc, in reading order."""
    files = []
    if isinstance(node, dict):
        if "file" in node:
            files.append(node["file"])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                files.extend(_toc_files(child))
    return files


PAGES = [TOC["root"], *_toc_files(TOC)]
CHAPTERS = [page for page in PAGES if page.startswith("notebooks/")]
ATTENTION_CHAPTER = next((page for page in CHAPTERS if "attention" in page), None)


def _colab_url(page: str) -> str:
    """The launch link that _config.yml gives a chapter's notebook."""
    repo = CONFIG["repository"]["url"].removeprefix("https://github.com/").strip("/")
    branch = CONFIG["repository"].get("branch", "main")
    prefix = CONFIG["repository"].get("path_to_book", "") or ""
    path = "/".join(p for p in (prefix.strip("/"), f"{page}.ipynb") if p)
    colab = CONFIG["launch_buttons"]["colab_url"].rstrip("/")
    return f"{colab}/github/{repo}/blob/{branch}/{path}"


# In the page: wait until MathJax has typeset (when it loaded), then what a reader sees.
WAIT_FOR_MATHJAX = """async () => {
    const mj = window.MathJax;
    if (!(mj && mj.startup && mj.startup.promise)) return false;
    await mj.startup.promise;
    return true;
}"""

MATH_REPORT = r"""() => {
    const maths = [...document.querySelectorAll("span.math, div.math")];
    const typeset = maths.filter((e) => e.querySelector("mjx-container")).length;
    const errors = [...document.querySelectorAll("mjx-merror")].map(
        (e) => e.getAttribute("data-mjx-error") || e.textContent);
    const prose = (document.querySelector("main") || document.body).cloneNode(true);
    prose.querySelectorAll("pre, code, script, style, textarea, mjx-container, .highlight")
        .forEach((e) => e.remove());
    const text = prose.textContent;
    const raw = ["$$", "\\(", "\\)", "\\[", "\\begin{"].filter((s) => text.includes(s));
    const inline = text.match(/\$[^$\n]{0,80}[\\^_{][^$\n]{0,80}\$/g) || [];
    return {maths: maths.length, typeset, errors, raw: raw.concat(inline.slice(0, 5))};
}"""

IMAGES_REPORT = """async () => {
    const images = [...document.images];
    images.forEach((img) => { img.loading = "eager"; });
    await Promise.all(images.map((img) => img.complete ? null : new Promise((done) => {
        img.addEventListener("load", done); img.addEventListener("error", done);
    })));
    return images.map((img) => ({src: img.currentSrc || img.src, width: img.naturalWidth,
                                 figure: img.closest(".cell_output, figure") !== null}));
}"""


# Code blocks (cells, outputs, show_source listings) whose text runs past the right edge of
# their box: a reader would have to scroll sideways to see the end of the line.
CODE_OVERFLOW_REPORT = """() => {
    const blocks = Array.from(document.querySelectorAll("main pre"));
    return {count: blocks.length,
            wide: blocks.filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
                        .map((pre) => pre.innerText.split("\\n")
                                         .reduce((a, b) => (b.length > a.length ? b : a), ""))
                        .slice(0, 5)};
}"""


# Tables (cell outputs and the text's own) whose box runs past the right edge of the text
# column, or whose cells are cut by it; and what their cells say.
TABLE_REPORT = """() => {
    const column = document.querySelector("main article") || document.querySelector("main")
                   || document.body;
    const right = column.getBoundingClientRect().right;
    const tables = Array.from(document.querySelectorAll("main table"));
    const wide = tables.filter((t) => t.getBoundingClientRect().right > right + 1
                                      || t.scrollWidth > t.clientWidth + 1
                                      || (t.parentElement.scrollWidth
                                          > t.parentElement.clientWidth + 1))
                       .map((t) => (t.rows[0] ? t.rows[0].innerText : "").slice(0, 120));
    const ticks = tables.filter((t) => t.innerText.includes("`"))
                        .map((t) => t.innerText.slice(0, 160));
    return {count: tables.length, wide, ticks};
}"""

# Every figure of a chapter (an image in a cell's output): its file, natural and shown
# widths, and the full-size link around it (book/_static/seq2code.js).
FIGURE_REPORT = """() => Array.from(document.querySelectorAll("main .cell_output img")).map((img) => {
    const link = img.closest("a.seq2code-full-size");
    return {src: img.currentSrc || img.src, natural: img.naturalWidth,
            shown: img.getBoundingClientRect().width,
            link: link ? link.href : null};
})"""

# What a reader sees of the cells: the visible inputs (a cell tagged remove-input has none
# in the page; one tagged hide-input has its input folded, listed apart as ``hidden``), the
# cells' text outputs (show_source listings apart), and the listings that are open (not
# folded in a <details>) with their line counts.
CELLS_REPORT = """() => {
    const folded_input = (pre) => pre.closest("details") !== null && !pre.closest("details").open;
    const all_inputs = Array.from(document.querySelectorAll("main .cell .cell_input pre"));
    const inputs = all_inputs.filter((pre) => !folded_input(pre)).map((pre) => pre.innerText);
    const hidden = all_inputs.filter(folded_input).map((pre) => pre.textContent);
    const outputs = Array.from(document.querySelectorAll("main .cell_output")).map((out) => {
        const copy = out.cloneNode(true);
        copy.querySelectorAll(".seq2code-source").forEach((e) => e.remove());
        return copy.innerText;
    });
    const listings = Array.from(document.querySelectorAll("main div.seq2code-source"))
        .map((div) => ({caption: div.firstElementChild ? div.firstElementChild.innerText : "",
                        lines: (div.querySelector("pre") || div).innerText.split("\\n")
                                   .length}));
    const folded = document.querySelectorAll("main details.seq2code-source:not([open])").length;
    return {inputs, hidden, outputs, listings, folded};
}"""

# How long the page is, in screens of the browser's viewport (1280 x 900, conftest.py).
HEIGHT_REPORT = """() => ({height: document.documentElement.scrollHeight,
                          viewport: [window.innerWidth, window.innerHeight]})"""


def _screenshot_name(page: str) -> str:
    return page.replace("/", "__") + ".png"


_VISITS: dict[str, dict] = {}


@pytest.fixture
def visit(open_offline, base_url, screenshot_dir):
    """``visit(page) -> report``: open a page of the toc once with no network (cached for the
    session); what the tests of that page look at. Saves its full-page screenshot."""

    def visit_(page: str) -> dict:
        if page not in _VISITS:
            _VISITS[page] = _open_and_report(open_offline, base_url, page, screenshot_dir)
        return _VISITS[page]

    return visit_


def _open_and_report(open_offline, base_url: str, page: str, screenshot_dir: Path) -> dict:
    context, tab, offline = open_offline()
    try:
        response = tab.goto(base_url + page + ".html", wait_until="load")
        report = {
            "status": response.status if response else None,
            "mathjax": tab.evaluate(WAIT_FOR_MATHJAX),
            "math": tab.evaluate(MATH_REPORT),
            "images": tab.evaluate(IMAGES_REPORT),
            "headings": tab.eval_on_selector_all(
                "main section > h1, main section > h2",
                "els => els.map(e => e.textContent.replace('#', '').trim())",
            ),
            "text": tab.evaluate("() => (document.querySelector('main') || document.body).innerText"),
            "code_overflow": tab.evaluate(CODE_OVERFLOW_REPORT),
            "tables": tab.evaluate(TABLE_REPORT),
            "figures": tab.evaluate(FIGURE_REPORT),
            "cells": tab.evaluate(CELLS_REPORT),
            "height": tab.evaluate(HEIGHT_REPORT),  # after the images and the math
        }
        tab.screenshot(path=str(screenshot_dir / _screenshot_name(page)), full_page=True)
        tab.wait_for_timeout(200)  # late console messages
    finally:
        context.close()
    report.update(
        blocked=list(offline.blocked),
        console_errors=list(offline.console_errors),
        page_errors=list(offline.page_errors),
    )
    return report


def _third_party(url: str) -> str | None:
    return next((name for name, pattern in THIRD_PARTY.items() if pattern.match(url)), None)


def test_toc_lists_the_chapters():
    assert TOC["root"] == "book/intro"
    assert len(CHAPTERS) >= 4, f"the toc lists {len(CHAPTERS)} chapters: {CHAPTERS}"
    for page in PAGES:
        assert any((REPO_ROOT / f"{page}{ext}").is_file() for ext in (".md", ".ipynb")), page


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_offline_without_console_errors(visit, page):
    report = visit(page)
    assert report["status"] == 200, f"{page}.html answered {report['status']}"
    assert not report["page_errors"], f"uncaught exceptions on {page}: {report['page_errors']}"
    unexpected = [url for url in report["blocked"] if not _third_party(url)]
    assert not unexpected, f"{page} asks for outside resources: {unexpected}"
    errors = [
        (text, url)
        for text, url in report["console_errors"]
        if not (_third_party(url) and "Failed to load resource" in text)
    ]
    assert not errors, f"console errors on {page}: {errors}"


@pytest.mark.parametrize("page", PAGES)
def test_math_is_typeset(visit, page):
    math = visit(page)["math"]
    assert not math["raw"], f"raw math left on {page}: {math['raw']}"
    if math["maths"]:
        assert visit(page)["mathjax"], f"{page} has math but MathJax did not start"
        assert math["typeset"] == math["maths"], (
            f"{page}: {math['typeset']} of {math['maths']} math elements typeset"
        )
    assert not math["errors"], f"MathJax errors on {page}: {math['errors']}"


def test_the_chapters_have_math_to_typeset(visit):
    """The check above is not vacuous: the chapters do show formulas."""
    counts = {page: visit(page)["math"]["typeset"] for page in CHAPTERS}
    assert sum(1 for n in counts.values() if n > 0) >= 2, counts


@pytest.mark.parametrize("page", PAGES)
def test_every_image_loads(visit, page):
    images = visit(page)["images"]
    broken = [image["src"] for image in images if image["width"] == 0]
    assert not broken, f"images that do not load on {page}: {broken}"


def test_the_chapters_show_figures(visit):
    """The check above is not vacuous: the chapters show figures (cell outputs), not only
    the logo."""
    counts = {page: sum(i["figure"] for i in visit(page)["images"]) for page in CHAPTERS}
    assert sum(1 for n in counts.values() if n > 0) >= 2, f"figures per chapter: {counts}"


def test_screenshots_saved(visit, screenshot_dir):
    """Every page of the toc, chapters and the pages around them, at a laptop's width."""
    for page in PAGES:
        visit(page)
        shot = screenshot_dir / _screenshot_name(page)
        assert shot.is_file() and shot.stat().st_size > 10_000, shot


@pytest.mark.parametrize("page", CHAPTERS)
def test_colab_launch_button(offline_page, base_url, page):
    tab, _ = offline_page
    response = tab.goto(base_url + page + ".html", wait_until="load")
    assert response and response.status == 200, f"{page}.html is not in the built book"
    expected = _colab_url(page)
    assert (REPO_ROOT / expected.rsplit("/blob/", 1)[1].split("/", 1)[1]).is_file(), expected
    link = tab.locator(f'a[href="{expected}"]')
    assert link.count() == 1, (
        f"{page}: no Colab launch link to {expected}; launch links: "
        f"{tab.eval_on_selector_all('a[href*=colab]', 'els => els.map(e => e.href)')}"
    )
    # The reader opens the launch menu (the rocket) and sees the Colab entry.
    tab.locator(".dropdown-launch-buttons button").first.click()
    link.wait_for(state="visible")
    assert "colab" in link.inner_text().lower()


@pytest.mark.skipif(ATTENTION_CHAPTER is None, reason="the toc lists no attention chapter")
def test_attention_heatmaps_visible(offline_page, base_url, screenshot_dir):
    tab, _ = offline_page
    tab.goto(base_url + ATTENTION_CHAPTER + ".html", wait_until="load")
    # the section whose own heading says what the model attends to (not the page around it)
    section = tab.locator("xpath=//section[h2[contains(., 'attends to')]]")
    assert section.count() == 1, "no section on what the model attends to"
    figures = section.locator(".cell_output img")
    assert figures.count() >= 1, "no figure in the section on what the model attends to"
    for i in range(figures.count()):
        figure = figures.nth(i)
        figure.scroll_into_view_if_needed()
        assert figure.is_visible()
        box = figure.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, box
        inside = tab.evaluate(
            """(b) => b.y >= 0 && b.y < window.innerHeight && b.x >= 0
                      && b.x + b.width <= window.innerWidth""",
            box,
        )
        assert inside, f"heatmap {i} is not in the viewport after scrolling: {box}"
        # Not a blank picture: a heatmap has many colours.
        colours = figure.evaluate(
            """(img) => {
                const c = document.createElement("canvas");
                c.width = img.naturalWidth; c.height = img.naturalHeight;
                const g = c.getContext("2d"); g.drawImage(img, 0, 0);
                const d = g.getImageData(0, 0, c.width, c.height).data, seen = new Set();
                for (let k = 0; k < d.length; k += 16) seen.add(d[k] << 16 | d[k+1] << 8 | d[k+2]);
                return seen.size;
            }"""
        )
        assert colours > 20, f"heatmap {i} looks blank ({colours} colours)"
        figure.screenshot(path=str(screenshot_dir / f"heatmap_{i}.png"))


def test_search_finds_attention(offline_page, base_url):
    tab, offline = offline_page
    tab.goto(base_url + "search.html?q=attention", wait_until="load")
    results = tab.locator("#search-results ul.search li")
    results.first.wait_for(state="attached")
    links = results.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert len(links) >= 1, "the search for 'attention' lists nothing"
    if ATTENTION_CHAPTER:
        assert any(ATTENTION_CHAPTER in link for link in links), links
    assert not offline.page_errors, offline.page_errors


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_opens_with_outcomes_and_closes_with_summary(visit, page):
    report = visit(page)
    assert report["status"] == 200, f"{page}.html is not in the built book"
    assert re.search(r"what you will learn", report["text"], re.I), (
        f"{page} does not open with what the reader will learn"
    )
    assert any(re.search(r"\bsummary\b", h, re.I) for h in report["headings"]), (
        f"{page} has no Summary section: {report['headings']}"
    )


def test_chapters_are_numbered(visit):
    """Chapter N's title starts with N, in reading order; no heading is numbered twice
    (the toc's own numbering on top of the titles' gave "4. 4. LSTM ...")."""
    for number, page in enumerate(CHAPTERS, start=1):
        headings = visit(page)["headings"]
        assert headings, f"{page} has no title (page status {visit(page)['status']})"
        title = headings[0]
        assert re.match(rf"{number}\.\s", title), f"{page}: title {title!r}"
        twice = [h for h in headings if re.match(r"\d+(\.\d+)*\.?\s+\d+(\.\d+)*\.?\s", h)]
        assert not twice, f"{page}: headings numbered twice: {twice}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_setup_cell_not_shown(offline_page, base_url, page):
    """The first cell installs seq2code on Colab; the book does not show it."""
    tab, _ = offline_page
    tab.goto(base_url + page + ".html", wait_until="load")
    setup = tab.locator(".cell.tag_setup")
    assert setup.count() == 1, f"{page}: {setup.count()} setup cells"
    assert not setup.is_visible(), f"{page} shows its setup cell"


# The papers the course must cite (issue 9): an author's surname and the year, as the
# references page prints them.
PAPERS = [
    ("Sutskever", "2014"), ("Bahdanau", "2015"), ("Luong", "2015"), ("Oda", "2015"),
    ("Ling", "2016"), ("Yin", "2017"), ("Yin", "2018"), ("See", "2017"), ("Tu", "2016"),
    ("Vaswani", "2017"),
]


def test_references_page_lists_the_papers(visit):
    text = visit("book/references")["text"]
    missing = [
        f"{name} {year}" for name, year in PAPERS
        if not re.search(rf"\b{name}\b[^\n]*\b{year}\b", text)
    ]
    assert not missing, f"the references page lacks: {missing}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_no_code_block_scrolls_sideways(visit, page):
    """Every line of code is seen whole at the book's width: a chapter's code blocks wrap
    at the edge of the column (book/_static/seq2code.css) rather than scroll."""
    report = visit(page)["code_overflow"]
    assert report["count"] > 0, f"{page} shows no code block: is the selector right?"
    assert not report["wide"], f"code that scrolls sideways on {page}: {report['wide']}"


# --- Issue 20: the page as a reader sees it -------------------------------------------------

MIN_LABEL_PX = 11  # the smallest text of a figure, as shown: about the body text's size
# The course's own constants, repeated: the browser tests import no course module.
FONT_KEY = "seq2code:min-font-pt"  # seq2code.plots.FONT_METADATA_KEY
FOLD_LINES = 40  # seq2code.show.FOLD_LINES


@pytest.mark.parametrize("page", PAGES)
def test_no_table_wider_than_its_column(visit, page):
    tables = visit(page)["tables"]
    assert not tables["wide"], f"tables wider than the column on {page}: {tables['wide']}"


@pytest.mark.parametrize("page", PAGES)
def test_no_literal_backticks_in_tables(visit, page):
    """Inline code in a table is shown as code, not as `text between backticks`."""
    tables = visit(page)["tables"]
    assert not tables["ticks"], f"literal backticks in tables on {page}: {tables['ticks']}"


def test_the_chapters_show_tables(visit):
    """The two checks above are not vacuous."""
    counts = {page: visit(page)["tables"]["count"] for page in CHAPTERS}
    assert sum(1 for n in counts.values() if n > 0) >= 4, counts


@pytest.mark.parametrize("page", PAGES)
def test_no_profile_dump(visit, page):
    """A chapter says its run profile in a sentence (Profile.describe()), not as a dataclass."""
    dumps = [text[:200] for text in visit(page)["cells"]["outputs"]
             if re.search(r"\bProfile\(\s*name=", text)]
    assert not dumps, f"raw Profile dump on {page}: {dumps}"


def _paragraph_builder(source: str) -> bool:
    """A cell of 8 lines or more whose code is mostly one ``display(Markdown(...))``: the
    reader should see the paragraph, not the code that writes it (tag it remove-input)."""
    return _mostly_from(source, re.compile(r"display\(Markdown\("), min_lines=8)


def _mostly_from(source: str, first: re.Pattern, min_lines: int) -> bool:
    """True when ``source`` has at least ``min_lines`` non-blank lines and the part from the
    first line that matches ``first`` to the end is at least half of them."""
    lines = [line for line in source.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if first.search(line)), None)
    return len(lines) >= min_lines and start is not None and len(lines) - start >= len(lines) / 2


@pytest.mark.parametrize("page", CHAPTERS)
def test_no_cell_that_only_writes_a_paragraph(visit, page):
    shown = [source.splitlines()[0][:80] for source in visit(page)["cells"]["inputs"]
             if _paragraph_builder(source)]
    assert not shown, f"{page} shows the code of cells that write a paragraph: {shown}"


def test_paragraph_builder_rule():
    built = "x = 1\n" * 3 + "display(Markdown(\n" + '    f"{x}"\n' * 5 + "))"
    assert _paragraph_builder(built)
    assert not _paragraph_builder("display(Markdown(x))")  # short: fine
    assert not _paragraph_builder("y = 2\n" * 12 + "display(Markdown(f'{y}'))")  # mostly work


@pytest.mark.parametrize("page", CHAPTERS)
def test_long_listings_are_folded(visit, page):
    """A library listing longer than FOLD_LINES lines is reference material: it is folded
    behind its caption (seq2code.show), so the lesson's page stays short."""
    cells = visit(page)["cells"]
    long = [listing["caption"] for listing in cells["listings"]
            if listing["lines"] > FOLD_LINES + 1]
    assert not long, f"{page} shows long listings open: {long}"


def test_some_listing_is_folded(visit):
    """The check above is not vacuous: the chapters do fold long listings."""
    assert sum(visit(page)["cells"]["folded"] for page in CHAPTERS) >= 1


# A page length a student can face (issue 20). Measured on the ci profile's book (what CI
# builds and tests), at 1280 x 900 with the folded cells closed, built from commit c75dc29:
# before the chapters folded their reference material (imports, figure and table drawing,
# bookkeeping, listings the text already gives), chapters 1-8 ran 21.9 to 34.3 screens; after
# it 16.8 to 27.9 (1: 22.4, 2: 27.9, 3: 21.3, 4: 19.5, 5: 16.8, 6: 19.8, 7: 16.9, 8: 26.2;
# chapter 9, not part of that pass, 20.8), a mean of 21.3 over the nine. The bounds leave
# about two screens of headroom over the longest chapter and one over the mean: a chapter
# that unfolds its reference material, or grows by a section without folding what supports
# it, fails. (A cpu or full build shows the same cells with other numbers; its pages were not
# measured, and the bounds are set for the ci build.)
MAX_SCREENS = 30.0
MEAN_SCREENS = 22.5


def _screens(report: dict) -> float:
    width, height = report["height"]["viewport"]
    assert (width, height) == (1280, 900), f"viewport {width} x {height}, not 1280 x 900"
    return report["height"]["height"] / height


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_length_a_student_can_face(visit, page):
    """A chapter is at most MAX_SCREENS screens long at 1280 x 900, with its folded cells
    closed (as a reader first sees it)."""
    screens = _screens(visit(page))
    assert screens <= MAX_SCREENS, (
        f"{page} runs {screens:.1f} screens of 900 px at 1280 px wide (bound {MAX_SCREENS}): "
        "fold what is reference rather than the lesson (hide-input, hide-output)"
    )


def test_chapters_mean_length(visit):
    """The chapters together: a mean of at most MEAN_SCREENS screens, so that short chapters
    do not grow unnoticed up to the longest one's bound."""
    screens = {page: round(_screens(visit(page)), 1) for page in CHAPTERS}
    assert sum(screens.values()) / len(screens) <= MEAN_SCREENS, screens


def _figure_drawer(source: str) -> bool:
    """A cell of 5 lines or more that mostly draws a figure: from its first call that makes
    one (``column_figure``, ``plt.subplots``, ``plt.figure``) to its end is at least half of
    it. The reader should see the figure, and open its drawing code if they want it (tag the
    cell hide-input); a cell that computes the lesson and ends with a short plot is not one."""
    return _mostly_from(source, re.compile(r"\b(column_figure|plt\.subplots|plt\.figure)\("),
                        min_lines=5)


@pytest.mark.parametrize("page", CHAPTERS)
def test_figure_drawing_cells_are_folded(visit, page):
    shown = [source.splitlines()[0][:80] for source in visit(page)["cells"]["inputs"]
             if _figure_drawer(source)]
    assert not shown, f"{page} shows the code of cells that mostly draw a figure: {shown}"


def test_some_figure_drawing_cell_is_folded(visit):
    """The check above is not vacuous: the chapters do have figure-drawing cells, folded."""
    folded = {page: sum(_figure_drawer(source) for source in visit(page)["cells"]["hidden"])
              for page in CHAPTERS}
    assert sum(1 for n in folded.values() if n > 0) >= 4, folded


def test_figure_drawer_rule():
    drawing = "fig, ax = column_figure()\nax.plot(x, y)\nax.set(xlabel='x')\nax.legend()\nplt.show()"
    assert _figure_drawer(drawing)
    assert _figure_drawer("rows = f(x)\n" + drawing)  # mostly drawing
    assert not _figure_drawer("fig, ax = column_figure()\nplt.show()")  # short: fine
    assert not _figure_drawer("y = 2\n" * 12 + drawing)  # mostly work, then a plot
    assert not _figure_drawer("x = 1\n" * 6)  # no figure


def _png_file(book_dir: Path, base_url: str, src: str) -> Path:
    assert src.startswith(base_url), src
    return book_dir / unquote(urlsplit(src).path).lstrip("/")


def _label_px(path: Path, natural: float, shown: float) -> tuple[float | None, str]:
    """The figure's smallest text in CSS pixels as shown: its smallest font (points, from
    the PNG's text chunk) at the PNG's resolution, scaled as the page scales the image."""
    from PIL import Image

    with Image.open(io.BytesIO(path.read_bytes())) as image:
        info = image.info
    if FONT_KEY not in info:
        return None, f"{path.name} records no smallest font size (drawn without seq2code.plots)"
    dpi = float(info.get("dpi", (72.0, 72.0))[0])
    px = float(info[FONT_KEY]) * dpi / 72 * (shown / natural)
    return px, (f"{path.name}: {info[FONT_KEY]} pt at {dpi:.0f} dpi, shown at "
                f"{shown:.0f} of {natural} px -> {px:.1f} px")


@pytest.mark.parametrize("page", CHAPTERS)
def test_figure_labels_are_readable(visit, page, book_dir, base_url):
    figures = visit(page)["figures"]
    small = []
    for figure in figures:
        assert figure["natural"] > 0, figure
        px, why = _label_px(_png_file(book_dir, base_url, figure["src"]), figure["natural"],
                            figure["shown"])
        if px is None or px < MIN_LABEL_PX:
            small.append(why)
    assert not small, f"figures on {page} whose smallest text is under {MIN_LABEL_PX} px: {small}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_figures_open_full_size(visit, page):
    figures = visit(page)["figures"]
    unlinked = [f["src"] for f in figures if f["link"] != f["src"]]
    assert not unlinked, f"figures on {page} without a full-size link: {unlinked}"


def test_a_figure_opens_full_size_on_a_click(offline_page, base_url):
    page = next(p for p in CHAPTERS if "attention" in p)
    tab, _ = offline_page
    tab.goto(base_url + page + ".html", wait_until="load")
    figure = tab.locator("main .cell_output a.seq2code-full-size img").first
    figure.scroll_into_view_if_needed()
    figure.click()
    overlay = tab.locator(".seq2code-lightbox img")
    overlay.wait_for(state="visible")
    natural = overlay.evaluate("img => [img.naturalWidth, img.getBoundingClientRect().width]")
    assert natural[0] > 0 and abs(natural[1] - natural[0]) <= 1, natural  # natural size
    tab.keyboard.press("Escape")
    assert tab.locator(".seq2code-lightbox").count() == 0
