// Questions and streamed answers: [n] markers become links to the source panel, only the cited
// passages are listed, follow-ups carry the conversation as `history`.

import { errorOf, getJson, request } from "./api.js";
import { $, clear, el } from "./dom.js";
import { openSource } from "./source.js";
import { readEvents } from "./sse.js";

const MAX_HISTORY_TURNS = 8; // question + answer pairs sent back; older ones would crowd the passages
const MAX_TURN_CHARS = 20000; // the API's limit on one history turn (a long answer goes back cut)
let history = [];
// The answer in flight; a new conversation (or a collection switch) aborts it, and `conversation`
// tells an answer that outlived its conversation to leave the new one alone.
let inFlight = null;
let conversation = 0;

export function initAsk({ getCollection }) {
  const form = $("ask-form");
  const box = $("question");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = box.value.trim();
    // One question at a time: Enter while an answer streams waits for it.
    if (!question || $("ask-button").disabled) return;
    box.value = "";
    ask(question, getCollection());
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $("new-conversation").addEventListener("click", resetConversation);
}

export function resetConversation() {
  conversation += 1;
  inFlight?.abort();
  inFlight = null;
  history = [];
  clear($("conversation")).setAttribute("aria-busy", "false");
  $("ask-button").disabled = false;
  $("question").focus();
}

async function ask(question, collection) {
  const button = $("ask-button");
  const turn = newTurn(question);
  const region = $("conversation");
  region.setAttribute("aria-busy", "true");
  button.disabled = true;
  const controller = new AbortController();
  const signal = controller.signal;
  const mine = conversation;
  inFlight = controller;
  try {
    const body = { question, history: history.slice(-2 * MAX_HISTORY_TURNS), stream: true };
    if (collection) body.collection = collection;
    const response = await request("/v1/ask", { method: "POST", json: body, signal });
    if (response.status === 503) {
      await withoutGenerator(turn, question, collection, await errorOf(response), signal);
      return;
    }
    if (!response.ok) throw await errorOf(response);
    const answer = await stream(turn, response, collection);
    if (answer && mine === conversation) {
      history.push(
        { role: "user", content: question },
        { role: "assistant", content: answer.slice(0, MAX_TURN_CHARS) },
      );
    }
  } catch (error) {
    if (signal.aborted) return; // its conversation is gone
    turn.answer.replaceChildren(el("span", { class: "error" }, `Nie udało się uzyskać odpowiedzi. ${error.message}`));
  } finally {
    if (inFlight === controller) {
      inFlight = null;
      region.setAttribute("aria-busy", "false");
      button.disabled = false;
    }
  }
}

function newTurn(question) {
  const answer = el("div", { class: "answer-text" }, el("span", { class: "muted" }, "Szukam w dokumentach…"));
  const sources = el("div", { class: "sources" });
  const actions = el("div", { class: "answer-actions" });
  const article = el(
    "article",
    { class: "turn" },
    el("p", { class: "question" }, question),
    el("div", { class: "answer" }, answer, sources, actions),
  );
  $("conversation").append(article);
  article.scrollIntoView({ block: "nearest" });
  return { article, answer, sources, actions, question };
}

async function stream(turn, response, collection) {
  let passages = [];
  let text = "";
  // Tokens arrive faster than a screen shows them: the answer is drawn at most once a frame, so
  // a long answer costs one render per frame, not one per token.
  let frame = 0;
  const draw = () => {
    frame = 0;
    // While streaming, a marker links to its passage; the final list comes with `done`.
    render(turn.answer, text, passages, collection);
  };
  try {
    for await (const { event, data } of readEvents(response)) {
      if (event === "passages") {
        passages = data.passages;
        turn.answer.replaceChildren(el("span", { class: "muted" }, "Piszę odpowiedź…"));
      } else if (event === "token") {
        text += data.text;
        frame ||= requestAnimationFrame(draw);
      } else if (event === "done") {
        finish(turn, data, collection);
        return data.answer;
      } else if (event === "error") {
        const message = data.error?.code === "model_unavailable" ? "Model językowy jest niedostępny." : "";
        drawNow();
        turn.answer.append(
          el("p", { class: "error" }, `Odpowiedź przerwana. ${message || data.error?.message || ""}`),
        );
        return "";
      }
    }
  } finally {
    cancelAnimationFrame(frame);
  }
  // The stream closed without `done` (a proxy's timeout, the server gone): what came is shown,
  // said to be cut short, and kept out of the history.
  drawNow();
  turn.answer.append(
    el("p", { class: "error" }, "Odpowiedź przerwana: połączenie zamknięto przed jej końcem."),
  );
  return "";

  function drawNow() {
    // A frame still pending would draw again after the message below and wipe it.
    cancelAnimationFrame(frame);
    if (text) draw();
  }
}

/** Answer text with each valid [n] as a link that opens passage n in the source panel. */
function render(container, text, citable, collection) {
  const byNumber = new Map(citable.map((c) => [c.n, c]));
  const nodes = [];
  let at = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const cited = byNumber.get(Number(match[1]));
    if (!cited) continue;
    if (match.index > at) nodes.push(text.slice(at, match.index));
    nodes.push(citationLink(cited, collection, `[${cited.n}]`));
    at = match.index + match[0].length;
  }
  nodes.push(text.slice(at));
  container.replaceChildren(...nodes);
}

function citationLink(citation, collection, label) {
  const where = citation.page ? `, strona ${citation.page}` : "";
  return el(
    "a",
    {
      href: "#source-panel",
      class: "cite",
      "aria-label": `Źródło ${citation.n}: ${citation.document}${where}`,
      onclick: (event) => {
        event.preventDefault();
        openSource(citation, collection, event.currentTarget);
      },
    },
    label,
  );
}

function finish(turn, done, collection) {
  const citations = done.citations || [];
  render(turn.answer, done.answer, citations, collection);
  if (done.grounded === false) turn.article.classList.add("not-found");
  if (done.finish_reason === "length") {
    turn.answer.append(el("span", { class: "muted" }, " (odpowiedź ucięta: osiągnięto limit długości)"));
  }
  sourceList(turn.sources, citations, collection, "Źródła");
  turn.actions.replaceChildren(copyButton(turn.question, done.answer, citations));
}

function sourceList(container, passages, collection, title) {
  if (!passages.length) return;
  container.replaceChildren(
    el("h3", {}, title),
    el(
      "ol",
      { class: "source-list" },
      passages.map((p) =>
        el(
          "li",
          {},
          citationLink(p, collection, `[${p.n}]`),
          ` ${p.document}${p.page ? `, s. ${p.page}` : ""}`,
          p.inferred ? el("span", { class: "muted" }, " (dopasowane po treści)") : null,
        ),
      ),
    ),
  );
}

function copyButton(question, answer, citations) {
  const status = el("span", { class: "muted", role: "status" });
  const button = el("button", { type: "button" }, "Kopiuj odpowiedź ze źródłami");
  button.addEventListener("click", async () => {
    const lines = [`Pytanie: ${question}`, "", answer];
    if (citations.length) {
      lines.push("", "Źródła:");
      for (const c of citations) {
        lines.push(`[${c.n}] ${c.document}${c.page ? `, s. ${c.page}` : ""}: „${c.text.trim()}”`);
      }
    }
    try {
      await navigator.clipboard.writeText(lines.join("\n"));
      status.textContent = "Skopiowano.";
    } catch {
      status.textContent = "Nie udało się skopiować (przeglądarka nie pozwala).";
    }
  });
  return el("span", {}, button, " ", status);
}

// No generator (503): say so, and still show what search found, so the documents stay usable.
async function withoutGenerator(turn, question, collection, error, signal) {
  turn.article.classList.add("no-generator");
  turn.answer.replaceChildren(
    el(
      "p",
      { class: "notice" },
      "Model językowy jest teraz niedostępny, więc nie mogę ułożyć odpowiedzi. " +
        "Poniżej fragmenty dokumentów, które najlepiej pasują do pytania.",
    ),
  );
  turn.answer.title = error.detail || "";
  const body = { query: question };
  if (collection) body.collection = collection;
  try {
    const hits = (await getJson("/v1/search", { method: "POST", json: body, signal })).hits;
    const passages = hits.map((hit, i) => ({ ...hit, n: i + 1 }));
    if (!passages.length) {
      turn.answer.append(el("p", { class: "muted" }, "Nie znaleziono pasujących fragmentów."));
      return;
    }
    turn.sources.replaceChildren(
      el("h3", {}, "Znalezione fragmenty"),
      el(
        "ol",
        { class: "passage-list" },
        passages.map((p) =>
          el(
            "li",
            {},
            el("p", { class: "passage-text" }, p.text),
            el("p", {}, citationLink(p, collection, `[${p.n}]`), ` ${p.document}${p.page ? `, s. ${p.page}` : ""}`),
          ),
        ),
      ),
    );
  } catch (failure) {
    if (signal.aborted) return;
    turn.answer.append(el("p", { class: "error" }, `Wyszukiwanie też się nie udało. ${failure.message}`));
  }
}
