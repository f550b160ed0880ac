// The /v1 client: adds the API key, asks for one on 401 and retries, turns errors into Polish.

const KEY = "polrag.apiKey";
let askForKey = async () => "";
let pendingKey = null;

/** The page's way of asking the user for a key: fn(wasWrong) -> Promise<key>. */
export function setKeyPrompt(prompt) {
  askForKey = prompt;
}

function currentKey() {
  return sessionStorage.getItem(KEY) || "";
}

function authorization() {
  const key = currentKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// Many requests may meet the same 401 at once: they all wait for one prompt.
function newKey() {
  if (!pendingKey) {
    pendingKey = askForKey(Boolean(currentKey())).then((key) => {
      sessionStorage.setItem(KEY, key);
      pendingKey = null;
      return key;
    });
  }
  return pendingKey;
}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(describe(status, code, detail));
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/** fetch() with the key; a 401 asks for a key and tries again. */
export async function request(path, { method = "GET", json, signal } = {}) {
  for (;;) {
    const headers = authorization();
    const init = { method, headers, signal };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, "network", ""); // the browser's "Failed to fetch" says no more, in English
    }
    if (response.status !== 401) return response;
    await newKey();
  }
}

export async function errorOf(response) {
  let code = "";
  let message = "";
  try {
    const body = await response.json();
    code = body.error?.code || "";
    message = body.error?.message || "";
  } catch {
    // not JSON: the status says enough
  }
  return new ApiError(response.status, code, message);
}

export async function getJson(path, options) {
  const response = await request(path, options);
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

/** The key-bearing blob of a binary resource (an <img> cannot send headers). */
export async function getBlob(path) {
  const response = await request(path);
  if (!response.ok) throw await errorOf(response);
  return response.blob();
}

export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Upload one file as a background job: resolves to the job (202) or the result; onProgress(0..1)
 * follows the bytes sent (XMLHttpRequest: fetch cannot report upload progress).
 */
export function uploadFile(file, collection, onProgress, onWait = () => {}) {
  const attempt = () =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", withQuery("/v1/documents", { background: "true", collection }));
      const key = currentKey();
      if (key) xhr.setRequestHeader("Authorization", `Bearer ${key}`);
      xhr.responseType = "json";
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      xhr.onload = () => resolve(xhr);
      // No detail: there are no server's words to show, and ours would be English on a Polish page.
      xhr.onerror = () => reject(new ApiError(0, "network", ""));
      const form = new FormData();
      form.append("files", file, file.name);
      xhr.send(form);
    });
  return (async () => {
    for (;;) {
      const xhr = await attempt();
      if (xhr.status === 401) {
        await newKey();
        continue;
      }
      // Busy (too many jobs queued, or the collection locked by another write): wait, send again.
      if (xhr.status === 429 || xhr.status === 409) {
        const seconds = Number(xhr.getResponseHeader("Retry-After")) || 5;
        onWait(seconds);
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        continue;
      }
      const body = xhr.response || {};
      if (xhr.status >= 400) {
        const failed = body.files?.find((f) => f.status === "failed");
        if (failed) return { status: "failed", files: [failed] };
        throw new ApiError(xhr.status, body.error?.code || "", body.error?.message || "");
      }
      return body;
    }
  })();
}

const STATUS_TEXT = {
  0: "Brak połączenia z serwerem.",
  401: "Serwer nie przyjął klucza API.",
  404: "Nie znaleziono.",
  409: "Kolekcja jest zajęta przez inny zapis. Spróbuj za chwilę.",
  413: "Plik jest za duży.",
  415: "Nieobsługiwany format pliku.",
  422: "Serwer odrzucił dane.",
  429: "Serwer jest zajęty. Spróbuj za chwilę.",
  502: "Model językowy zwrócił błąd.",
  503: "Usługa jest chwilowo niedostępna.",
};

const CODE_TEXT = {
  collection_not_found: "Nie ma takiej kolekcji.",
  document_not_found: "Nie ma już tego dokumentu.",
  prompt_too_long: "Pytanie z historią rozmowy jest za długie. Zacznij nową rozmowę.",
  generator_unavailable: "Model językowy jest niedostępny.",
  model_unavailable: "Model językowy jest niedostępny.",
  starting: "Serwer jeszcze się uruchamia. Spróbuj za chwilę.",
};

function describe(status, code, detail) {
  const text = CODE_TEXT[code] || STATUS_TEXT[status] || `Błąd serwera (${status}).`;
  return detail ? `${text} (${detail})` : text;
}

// Why a file could not be added, in Polish; the server's own words stay beside it.
const FILE_REASONS = [
  [/^unsupported file type/, "nieobsługiwany format pliku"],
  [/^empty file/, "plik jest pusty"],
  [/encrypted|password/i, "plik jest zaszyfrowany"],
  [/^corrupt/, "plik jest uszkodzony lub nieczytelny"],
  [/OCR is off/, "brak warstwy tekstowej (skan?), a OCR jest wyłączony"],
  [/^no text found: OCR read nothing/, "OCR nie odczytał tekstu (pusta lub nieczytelna strona)"],
  [/^no text layer/, "brak warstwy tekstowej (skan?)"],
  [/^no text found/, "w dokumencie nie znaleziono tekstu"],
  [/too large|more than|limit/i, "plik przekracza dopuszczalny rozmiar"],
  [/cannot detect the text encoding/, "nie udało się rozpoznać kodowania tekstu"],
  [/cannot parse HTML/, "nie udało się odczytać HTML"],
  [/cannot read file/, "nie udało się odczytać pliku"],
];

export function fileFailure(message = "") {
  for (const [pattern, polish] of FILE_REASONS) {
    if (pattern.test(message)) return polish;
  }
  return "nie udało się dodać pliku";
}
