// The documents table of the chosen collection, with delete behind a confirmation dialog.

import { getJson, request, errorOf, withQuery } from "./api.js";
import { $, clear, el, formatDate } from "./dom.js";

const READ_BY = { text: "tekst", ocr: "OCR", mixed: "tekst + OCR" };
let loading = 0; // a list asked for later (another collection chosen) makes older answers stale

/** Fill the table; a collection not created yet (``exists`` false) is simply empty. */
export async function loadDocuments(collection, exists = true) {
  const ticket = ++loading;
  const error = $("documents-error");
  error.hidden = true;
  let documents = [];
  try {
    if (exists) documents = (await getJson(withQuery("/v1/documents", { collection }))).documents;
  } catch (failure) {
    if (ticket !== loading) return documents;
    if (failure.code !== "collection_not_found") {
      error.textContent = `Nie udało się wczytać listy dokumentów. ${failure.message}`;
      error.hidden = false;
    }
  }
  if (ticket !== loading) return documents;
  clear($("document-rows")).append(...documents.map((d) => row(d, collection)));
  $("documents-empty").hidden = documents.length > 0;
  return documents;
}

function row(document_, collection) {
  const remove = el(
    "button",
    { type: "button", class: "link danger", "aria-label": `Usuń ${document_.file_name}` },
    "Usuń",
  );
  remove.addEventListener("click", () => confirmDelete(document_, collection, remove));
  const added = formatDate(document_.added_at);
  return el(
    "tr",
    { "data-document-id": document_.id },
    el("td", { class: "name" }, document_.file_name),
    el("td", { class: "number" }, String(document_.pages)),
    el("td", { class: "number" }, String(document_.chunks)),
    el("td", { class: "date", title: added[1] }, added[0]),
    el("td", {}, READ_BY[document_.read_by] || "—"),
    el("td", {}, remove),
  );
}

function confirmDelete(document_, collection, button) {
  const dialog = $("confirm-dialog");
  $("confirm-message").textContent =
    `Dokument „${document_.file_name}” zostanie usunięty z kolekcji razem z jego fragmentami. ` +
    "Tego nie można cofnąć.";
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    async () => {
      if (dialog.returnValue !== "delete") {
        button.focus();
        return;
      }
      const path = withQuery(`/v1/documents/${encodeURIComponent(document_.id)}`, { collection });
      let failure = null;
      try {
        const response = await request(path, { method: "DELETE" });
        if (!response.ok && response.status !== 404) failure = await errorOf(response);
      } catch (error) {
        failure = error; // no answer (network): an ApiError in Polish like the others
      }
      await loadDocuments(collection);
      if (failure) {
        const error = $("documents-error");
        error.textContent = `Nie udało się usunąć dokumentu. ${failure.message}`;
        error.hidden = false;
      }
      $("file-input").focus();
    },
    { once: true },
  );
  dialog.showModal();
}
