// The "Źródło" side panel: document, page, the passage, and the page itself as an image with the
// passage highlighted; formats without page images show their text with the passage marked.

import { getBlob, getJson, withQuery } from "./api.js";
import { $, clear, el, markedText } from "./dom.js";

let state = null; // {citation, collection, page, pages, returnTo}
let objectUrl = null;
let loading = 0; // a newer request makes older answers stale

export function initSource() {
  $("source-close").addEventListener("click", closeSource);
  $("source-panel").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeSource();
  });
  $("page-prev").addEventListener("click", () => showPage(state.page - 1));
  $("page-next").addEventListener("click", () => showPage(state.page + 1));
}

/** Open passage ``citation`` ({document, document_id, page, chunk_id, text, n}). */
export async function openSource(citation, collection, returnTo) {
  state = { citation, collection, page: citation.page, pages: null, returnTo };
  const panel = $("source-panel");
  panel.hidden = false;
  document.body.classList.add("with-source");
  $("source-document").textContent = citation.document;
  $("source-passage").textContent = citation.text;
  panel.focus();
  await showPage(citation.page);
}

export function closeSource() {
  const panel = $("source-panel");
  if (panel.hidden) return;
  loading += 1; // what it was still loading is for nobody now
  panel.hidden = true;
  document.body.classList.remove("with-source");
  dropImage();
  state?.returnTo?.focus();
  state = null;
}

async function showPage(page) {
  const { citation, collection } = state;
  const ticket = ++loading;
  const status = $("source-status");
  status.textContent = "Wczytywanie…";
  $("page-figure").hidden = true;
  $("source-text").hidden = true;
  const id = encodeURIComponent(citation.document_id);
  let view;
  try {
    view = await getJson(
      withQuery(`/v1/documents/${id}/text`, { page, highlight: citation.chunk_id, collection }),
    );
  } catch (error) {
    if (ticket === loading) status.textContent = `Nie udało się wczytać dokumentu. ${error.message}`;
    return;
  }
  if (ticket !== loading) return;
  state.page = view.page;
  state.pages = view.pages;
  pageNavigation(view);
  if (view.has_page_images && view.page) {
    await pageImage(id, view, ticket);
  } else {
    textView(view);
    status.textContent = view.page ? "" : "Ten format nie ma obrazów stron: fragment pokazany w tekście.";
  }
}

function pageNavigation(view) {
  const paged = Boolean(view.page);
  $("page-label").textContent = paged ? `Strona ${view.page} z ${view.pages}` : "";
  $("page-prev").hidden = !paged;
  $("page-next").hidden = !paged;
  $("page-prev").disabled = !paged || view.page <= 1;
  $("page-next").disabled = !paged || view.page >= view.pages;
}

async function pageImage(id, view, ticket) {
  const { citation, collection } = state;
  const figure = $("page-figure");
  // Sharp on this screen, within the server's bounds (200-2000 px).
  const width = Math.min(2000, Math.max(200, Math.round(figure.parentElement.clientWidth * devicePixelRatio)));
  const path = withQuery(`/v1/documents/${id}/pages/${view.page}`, {
    width,
    highlight: citation.chunk_id,
    collection,
  });
  try {
    const blob = await getBlob(path);
    if (ticket !== loading) return;
    dropImage();
    objectUrl = URL.createObjectURL(blob);
    const image = $("page-image");
    image.alt = `Strona ${view.page} dokumentu ${citation.document}, cytowany fragment zaznaczony na żółto`;
    image.src = objectUrl;
    figure.hidden = false;
    $("source-status").textContent = "";
  } catch (error) {
    if (ticket !== loading) return;
    textView(view);
    $("source-status").textContent = `Nie udało się wczytać obrazu strony. ${error.message}`;
  }
}

function textView(view) {
  const box = clear($("source-text"));
  box.append(...markedText(view.text, view.highlights || []));
  box.hidden = false;
  box.querySelector("mark")?.scrollIntoView({ block: "center" });
}

function dropImage() {
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = null;
  $("page-image").removeAttribute("src");
}
