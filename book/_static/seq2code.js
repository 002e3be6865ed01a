// The book's own script (added by book/_ext/seq2code_book.py).
//
// Every figure of a chapter (an image in a cell's output) can be opened full size: it is
// wrapped in a link to its image file (a middle click opens it in a new tab), and a plain
// click shows it at its natural size over the page (scrolling when it is larger than the
// window); a click anywhere or Escape closes it. The browser tests check that every figure
// has this link. Long inline code in tables gets places where it may break.
(function () {
  "use strict";

  function close(overlay) {
    overlay.remove();
    document.body.classList.remove("seq2code-lightbox-open");
  }

  function show(src, alt) {
    const overlay = document.createElement("div");
    overlay.className = "seq2code-lightbox";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-label", "figure at full size (click or Escape to close)");
    const image = document.createElement("img");
    image.src = src;
    image.alt = alt || "";
    overlay.appendChild(image);
    overlay.addEventListener("click", () => close(overlay));
    const onKey = (event) => {
      if (event.key === "Escape") {
        close(overlay);
        document.removeEventListener("keydown", onKey);
      }
    };
    document.addEventListener("keydown", onKey);
    document.body.appendChild(overlay);
    document.body.classList.add("seq2code-lightbox-open");
  }

  function linkFigures() {
    for (const img of document.querySelectorAll("main .cell_output img")) {
      if (img.closest("a")) continue;
      const link = document.createElement("a");
      link.href = img.getAttribute("src");
      link.className = "seq2code-full-size";
      link.title = "Click to open the figure full size";
      img.replaceWith(link);
      link.appendChild(img);
      link.addEventListener("click", (event) => {
        if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
        event.preventDefault();
        show(img.currentSrc || img.src, img.alt);
      });
    }
  }

  // Inline code in a table (a name such as signals.request_finished.connect) may break
  // after ".", "_", "(" and ",": a narrow column then wraps it at those places instead of
  // pushing the table past the column's edge.
  function breakableCode() {
    for (const code of document.querySelectorAll("main table code")) {
      if (code.textContent.length <= 12 || code.querySelector("wbr")) continue;
      const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
      const texts = [];
      while (walker.nextNode()) texts.push(walker.currentNode);
      for (const text of texts) {
        const parts = text.textContent.split(/(?<=[._(,])/);
        if (parts.length < 2) continue;
        const fragment = document.createDocumentFragment();
        parts.forEach((part, i) => {
          if (i > 0) fragment.appendChild(document.createElement("wbr"));
          fragment.appendChild(document.createTextNode(part));
        });
        text.replaceWith(fragment);
      }
    }
  }

  function ready() {
    linkFigures();
    breakableCode();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
