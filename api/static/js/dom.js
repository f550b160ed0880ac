// Small DOM helpers. Text always goes in as text nodes, never parsed as markup: file names, document
// text and answers come from users and models.

/** el("p", {class: "x", onclick: f}, "text", child) -> element; strings become text nodes. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

const DAY = new Intl.DateTimeFormat("pl-PL", { dateStyle: "short" });
const MOMENT = new Intl.DateTimeFormat("pl-PL", { dateStyle: "long", timeStyle: "short" });

/** [day, day with time] of an ISO timestamp, in Polish. */
export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? [iso, iso] : [DAY.format(date), MOMENT.format(date)];
}

/** Text with [start, end) ranges wrapped in <mark>, as nodes. */
export function markedText(text, ranges) {
  const nodes = [];
  let at = 0;
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (start < at || end <= start) continue;
    if (start > at) nodes.push(document.createTextNode(text.slice(at, start)));
    nodes.push(el("mark", {}, text.slice(start, end)));
    at = end;
  }
  if (at < text.length) nodes.push(document.createTextNode(text.slice(at)));
  return nodes;
}
