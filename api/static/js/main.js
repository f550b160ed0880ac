// Start-up: the API key prompt, the collection picker, and the four parts of the page.

import { getJson, setKeyPrompt } from "./api.js";
import { initAsk, resetConversation } from "./ask.js";
import { $, el } from "./dom.js";
import { loadDocuments } from "./documents.js";
import { closeSource, initSource } from "./source.js";
import { initUpload } from "./upload.js";

const COLLECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const CHOSEN = "polrag.collection";
const onServer = new Set(); // collections the server has; a new one appears with its first document

function collection() {
  return $("collection").value;
}

function promptForKey(wasWrong) {
  const dialog = $("key-dialog");
  $("key-message").textContent = wasWrong
    ? "Serwer nie przyjął tego klucza. Wpisz poprawny klucz API."
    : "Ten serwer wymaga klucza API. Klucz zostanie zapamiętany do zamknięcia karty.";
  $("key-input").value = "";
  return new Promise((resolve) => {
    const form = $("key-form");
    const submitted = (event) => {
      const key = $("key-input").value.trim();
      if (!key) {
        event.preventDefault(); // spaces pass `required`; the dialog stays until a key is given
        $("key-input").value = "";
        return;
      }
      form.removeEventListener("submit", submitted);
      resolve(key);
    };
    form.addEventListener("submit", submitted);
    if (!dialog.open) dialog.showModal();
  });
}

async function loadCollections(preferred) {
  const select = $("collection");
  const [{ collections }, { collection: fallback }] = await Promise.all([
    getJson("/v1/collections"),
    getJson("/v1/documents"),
  ]);
  const names = collections.map((c) => c.name);
  onServer.clear();
  for (const name of names) onServer.add(name);
  if (preferred && !names.includes(preferred)) names.push(preferred);
  select.replaceChildren(...names.sort().map((name) => el("option", { value: name }, name)));
  select.value = names.includes(preferred) ? preferred : fallback;
}

async function switchTo(name) {
  sessionStorage.setItem(CHOSEN, name);
  closeSource();
  resetConversation();
  await loadDocuments(name, onServer.has(name));
}

async function refresh() {
  await loadCollections(collection());
  await loadDocuments(collection());
}

async function start() {
  setKeyPrompt(promptForKey);
  // Escape would leave the page without a key: keep asking.
  $("key-dialog").addEventListener("cancel", (event) => event.preventDefault());
  initSource();
  initUpload({ getCollection: collection, onStored: refresh });
  initAsk({ getCollection: collection });
  $("collection").addEventListener("change", () => switchTo(collection()));
  $("collection-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("new-collection");
    const name = input.value.trim();
    if (!COLLECTION_NAME.test(name)) {
      input.setCustomValidity("Nazwa: litery, cyfry, - i _, do 64 znaków, zaczyna się literą lub cyfrą.");
      input.reportValidity();
      return;
    }
    input.setCustomValidity("");
    input.value = "";
    // It exists on the server once its first document is stored.
    await loadCollections(name);
    await switchTo(name);
  });
  $("new-collection").addEventListener("input", (event) => event.target.setCustomValidity(""));
  try {
    await loadCollections(sessionStorage.getItem(CHOSEN));
    await loadDocuments(collection(), onServer.has(collection()));
  } catch (error) {
    const box = $("documents-error");
    box.textContent = `Nie udało się połączyć z serwerem. ${error.message}`;
    box.hidden = false;
  }
}

start();
