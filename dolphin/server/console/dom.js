// DOM helpers. Everything that comes from the server (names, values, expressions) becomes a text node:
// nothing here parses HTML, so a value like "<script>" is shown, never run.

import { t } from "./i18n.js";

/** Return an element with attributes (class, id, data-*, properties for others) and children (text or nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key === "id" || key === "title" || key === "type") node.setAttribute(key, value);
    else if (key === "on") Object.entries(value).forEach(([event, fn]) => node.addEventListener(event, fn));
    else node[key] = value;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of a node. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}

/** Return a table: columns are [label, className?]; rows are arrays of cells (text, nodes or {text, class}). */
export function table(columns, rows, attrs = {}) {
  const head = el("tr", {}, columns.map(([label, cls]) => el("th", { class: cls }, label)));
  const body = rows.map((row) => el("tr", {}, row.map((cell, i) => {
    const cls = columns[i][1] || "";
    if (cell && typeof cell === "object" && !(cell instanceof Node)) {
      return el("td", { class: `${cls} ${cell.class || ""}`.trim(), "data-value": cell.raw }, cell.text);
    }
    return el("td", { class: cls }, cell);
  })));
  return el("table", attrs, el("thead", {}, head), el("tbody", {}, body));
}

/** Format an integer count (uint64 arrives as a string in proto3 JSON); suppressed counts say so. */
export function count(value, suppressed = false) {
  if (suppressed) return { text: t("suppressed"), class: "suppressed", raw: "suppressed" };
  const n = Number(value || 0);
  return { text: n.toLocaleString("en-US"), raw: String(value || 0) };
}

export function percent(value, digits = 1) {
  return `${(100 * Number(value || 0)).toFixed(digits)}%`;
}

export function number(value, digits = 1) {
  return Number(value || 0).toFixed(digits);
}

/** Run an async action with its button disabled, showing failures in the banner. */
export async function busy(button, action) {
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

export function showError(error) {
  const banner = byId("banner");
  const status = error.status ? `${error.status}: ` : "";
  fill(banner, status + (error.message || String(error)));
  banner.hidden = false;
}

export function clearError() {
  byId("banner").hidden = true;
}
