// Drag-and-drop or chosen files: each sent with its own progress bar, then followed through the
// ingest job's stages (parsing, OCR page i/n, parsed, embedding, storing) until it is stored or failed.

import { fileFailure, getJson, uploadFile } from "./api.js";
import { $, el } from "./dom.js";

const POLL_MS = 400;
const STAGES = {
  queued: "W kolejce",
  pending: "W kolejce",
  parsing: "Odczyt tekstu",
  ocr: "OCR",
  parsed: "Odczytano, czeka na obliczenie wektorów",
  embedding: "Obliczanie wektorów",
  storing: "Zapisywanie",
};
const DONE = {
  added: "Dodano",
  replaced: "Zastąpiono nowszą wersją",
  unchanged: "Bez zmian (ten plik już jest)",
};

let queue = Promise.resolve();

/** Wire the drop zone and file input; onStored() runs after each file is stored. */
export function initUpload({ getCollection, onStored }) {
  const zone = $("drop-zone");
  const input = $("file-input");
  input.addEventListener("change", () => {
    addFiles([...input.files], getCollection(), onStored);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    addFiles([...event.dataTransfer.files], getCollection(), onStored);
  });
}

function addFiles(files, collection, onStored) {
  for (const file of files) {
    const row = fileRow(file);
    $("uploads").append(row.item);
    // One upload at a time keeps each bar honest; ingest jobs then run on the server.
    queue = queue.then(() => send(file, collection, row, onStored));
  }
}

function fileRow(file) {
  const bar = el("progress", { max: "100", value: "0", "aria-label": `Postęp: ${file.name}` });
  const status = el("span", { class: "upload-status" }, "Czeka na wysłanie");
  const detail = el("span", { class: "upload-detail" });
  const item = el("li", { class: "upload" }, el("span", { class: "upload-name" }, file.name), bar, status, detail);
  return { item, bar, status, detail };
}

async function send(file, collection, row, onStored) {
  row.status.textContent = "Wysyłanie…";
  try {
    const job = await uploadFile(
      file,
      collection,
      (fraction) => {
        row.bar.value = Math.round(fraction * 100);
        row.status.textContent = `Wysyłanie ${Math.round(fraction * 100)}%`;
      },
      (seconds) => {
        row.status.textContent = `Serwer jest zajęty innymi plikami, ponowię za ${seconds} s`;
      },
    );
    row.bar.removeAttribute("value"); // sent; now an indeterminate bar until the job says more
    // Follow the job without holding up the next upload.
    follow(job, row, onStored);
  } catch (error) {
    fail(row, error.message);
  }
}

async function follow(job, row, onStored) {
  try {
    while (job.url && (job.status === "queued" || job.status === "running")) {
      show(row, job.files?.[0], job.status);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await getJson(job.url);
    }
  } catch (error) {
    fail(row, error.message);
    return;
  }
  const file = job.files?.[0];
  if (!file || file.status === "failed" || job.status === "failed") {
    const reason = file?.error || job.error || "";
    fail(row, `Błąd: ${fileFailure(reason)}`, reason);
    return;
  }
  row.item.classList.add("done");
  row.bar.value = 100;
  row.status.textContent = `${DONE[file.status] || "Gotowe"}: ${pagesText(file.pages)}, ${file.chunks} fragm.`;
  onStored();
}

function show(row, file, jobStatus) {
  if (!file) {
    row.status.textContent = jobStatus === "queued" ? "W kolejce" : "Przetwarzanie…";
    return;
  }
  const stage = file.stage || (file.status === "pending" ? "pending" : "");
  if (stage === "ocr" && file.ocr_pages) {
    row.status.textContent = `OCR: strona ${file.ocr_page ?? 0} z ${file.ocr_pages}`;
    row.bar.value = Math.round((100 * (file.ocr_page ?? 0)) / file.ocr_pages);
  } else {
    row.bar.removeAttribute("value");
    row.status.textContent = STAGES[stage] || "Przetwarzanie…";
  }
}

function fail(row, message, detail = "") {
  row.item.classList.add("failed");
  row.bar.hidden = true;
  row.status.textContent = message;
  row.detail.textContent = detail;
}

export function pagesText(pages) {
  if (pages === 1) return "1 strona";
  const last = pages % 10;
  const teen = pages % 100 >= 12 && pages % 100 <= 14;
  return `${pages} ${last >= 2 && last <= 4 && !teen ? "strony" : "stron"}`;
}
