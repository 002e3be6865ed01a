// The book's own script (added by book/_ext/seq2code_book.py).
//
// Every figure of a chapter (an image in a cell's output) can be opened full size: it is
// wrapped in a link to its image file (a middle click opens it in a new tab), and a plain
// click shows it at its natural size over the page (scrolling when it is larger than the
// window); a click anywhere or Escape closes it. The browser tests check that every figure
// has this link.
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

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", linkFigures);
  } else {
    linkFigures();
  }
})();
