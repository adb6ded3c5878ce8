// The audience expression editor: a live count as you type, errors underlined where the server says,
// the suggestion for an unknown dimension, and completion of dimension names and values from ListDimensions.

import { ApiError, call } from "./api.js";
import { byId, el, fill } from "./dom.js";
import { t } from "./i18n.js";

const DEBOUNCE_MS = 200;
const BARE = /^[\p{L}\p{N}_\-.:]+$/u;
const KEYWORDS = ["AND", "OR", "NOT", "IN", "ALL"];

/** Return text as the language writes it: bare when it can be, else double-quoted with escapes. */
export function quoted(text) {
  if (BARE.test(text) && !KEYWORDS.includes(text.toUpperCase())) return text;
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t")}"`;
}

/** Return the UTF-16 offset of a 1-based "line:column" position counted in code points (as the server counts). */
export function offsetOf(text, position) {
  const [line, column] = position.split(":").map(Number);
  let offset = 0;
  for (let l = 1; l < line; l += 1) {
    const next = text.indexOf("\n", offset);
    if (next < 0) return text.length;
    offset = next + 1;
  }
  for (let c = 1; c < column && offset < text.length; c += 1) {
    offset += text.codePointAt(offset) > 0xffff ? 2 : 1;
  }
  return offset;
}

function unquote(token) {
  if (!token.startsWith('"')) return token;
  return token.slice(1, token.endsWith('"') ? -1 : undefined).replace(/\\(.)/g, "$1");
}

/** Return what the caret is completing: {kind: "dimension"|"value", dimension, partial, start}. */
export function completionAt(text, caret) {
  const before = text.slice(0, caret);
  let start;
  let partial;
  const quotes = (before.match(/(?<!\\)"/g) || []).length;
  if (quotes % 2 === 1) {
    start = before.lastIndexOf('"');
    partial = unquote(before.slice(start));
  } else {
    partial = before.match(/[\p{L}\p{N}_\-.:@]*$/u)[0];
    start = caret - partial.length;
  }
  const head = before.slice(0, start).replace(/\s+$/, "");
  const assigned = head.match(/("(?:[^"\\]|\\.)*"|[\p{L}\p{N}_\-.:<>/]+)\s*!?=$/u);
  if (assigned) return { kind: "value", dimension: unquote(assigned[1]), partial, start };
  const listed = head.match(/("(?:[^"\\]|\\.)*"|[\p{L}\p{N}_\-.:<>/]+)\s+(?:NOT\s+)?IN\s*\(([^)]*)$/iu);
  if (listed && (listed[2].trim() === "" || /,$/.test(listed[2].trim()))) {
    return { kind: "value", dimension: unquote(listed[1]), partial, start };
  }
  if (partial.startsWith("@")) return { kind: "audience", partial: partial.slice(1), start };
  return { kind: "dimension", partial, start };
}

export class ExpressionEditor {
  /** Wire the editor's elements; onCount(result) is told each new count, population() gives the population. */
  constructor({ onCount, population }) {
    this.input = byId("expr");
    this.mirror = byId("expr-mirror");
    this.list = byId("suggest");
    this.onCount = onCount;
    this.population = population;
    this.dimensions = [];
    this.values = new Map();
    this.audiences = [];
    this.timer = 0;
    this.inflight = null;
    this.items = [];
    this.active = -1;
    this.input.addEventListener("input", () => { this.changed(); this.complete(); });
    this.input.addEventListener("keydown", (event) => this.keydown(event));
    this.input.addEventListener("click", () => this.complete());
    this.input.addEventListener("blur", () => setTimeout(() => this.hide(), 150));
    this.input.addEventListener("scroll", () => { this.mirror.scrollTop = this.input.scrollTop; });
    byId("expr-fix").addEventListener("click", () => this.applyFix());
  }

  get text() {
    return this.input.value;
  }

  set text(value) {
    this.input.value = value;
    this.changed();
  }

  setCatalog(dimensions, audiences) {
    this.dimensions = dimensions;
    this.audiences = audiences;
  }

  changed() {
    this.drawMirror(-1);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.count(), DEBOUNCE_MS);
  }

  async count() {
    const expression = this.text;
    if (this.inflight) this.inflight.abort();
    if (!expression.trim()) {
      this.showError(null);
      fill(byId("count"), "–");
      fill(byId("count-share"));
      return;
    }
    const controller = new AbortController();
    this.inflight = controller;
    fill(byId("count-status"), t("counting"));
    try {
      const result = await call("AudienceService", "Count", { expression }, controller.signal);
      if (controller.signal.aborted) return;
      this.showError(null);
      fill(byId("count"), result.suppressed ? t("suppressed") : Number(result.count).toLocaleString("en-US"));
      const population = this.population();
      fill(byId("count-share"), population && !result.suppressed
        ? `(${(100 * Number(result.count) / population).toFixed(2)}% ${t("ofPopulation")})` : "");
      byId("count").dataset.count = result.count;
      byId("count").dataset.expression = expression; // which expression the shown count belongs to
      this.onCount(result);
    } catch (error) {
      if (error.name === "AbortError") return;
      this.showError(error);
      byId("expr-error").dataset.expression = expression;
    } finally {
      if (this.inflight === controller) {
        this.inflight = null;
        fill(byId("count-status"));
      }
    }
  }

  showError(error) {
    const box = byId("expr-error");
    const fix = byId("expr-fix");
    this.fix = null;
    if (!error) {
      box.hidden = true;
      this.drawMirror(-1);
      byId("count").classList.remove("stale");
      return;
    }
    fill(byId("count"), "–");
    byId("count").dataset.count = "";
    byId("count").dataset.expression = "";
    fill(byId("count-share"));
    fill(byId("expr-error-text"), error.message);
    box.hidden = false;
    box.dataset.errorClass = error instanceof ApiError ? error.errorClass : "";
    const details = error instanceof ApiError ? error.details : {};
    const offset = details.position ? offsetOf(this.text, details.position) : -1;
    box.dataset.offset = String(offset);
    const named = details.name && this.text.startsWith(quoted(details.name), offset) ? quoted(details.name) : "";
    this.drawMirror(offset, Math.max(1, [...named].length));
    if (details.suggestion && details.name) {
      this.fix = { offset, name: details.name, suggestion: details.suggestion };
      fill(fix, `${t("replaceWith")} ${quoted(details.suggestion)}`);
      fix.hidden = false;
    } else {
      fix.hidden = true;
    }
  }

  /** Draw the text behind the textarea, marking `length` characters at offset (a space at the end). */
  drawMirror(offset, length = 1) {
    const text = this.text;
    if (offset < 0) {
      fill(this.mirror, text);
      return;
    }
    let width = 0;
    for (let i = 0; i < length && offset + width < text.length; i += 1) {
      width += text.codePointAt(offset + width) > 0xffff ? 2 : 1;
    }
    const marked = offset < text.length && text[offset] !== "\n" ? text.slice(offset, offset + width) : "\u00a0";
    const rest = offset < text.length && text[offset] !== "\n" ? text.slice(offset + width) : text.slice(offset);
    fill(this.mirror, text.slice(0, offset), el("span", { class: "err-mark", id: "expr-mark" }, marked), rest);
  }

  applyFix() {
    if (!this.fix) return;
    const { offset, name, suggestion } = this.fix;
    const text = this.text;
    const at = text.indexOf(name, Math.max(0, offset));
    const quotedAt = text.indexOf(quoted(name), Math.max(0, offset));
    if (quotedAt === offset) {
      this.text = text.slice(0, quotedAt) + quoted(suggestion) + text.slice(quotedAt + quoted(name).length);
    } else if (at >= 0) {
      this.text = text.slice(0, at) + quoted(suggestion) + text.slice(at + name.length);
    }
    this.input.focus();
  }

  // -- completion -------------------------------------------------------------------------------------------

  async complete() {
    const caret = this.input.selectionStart;
    if (caret !== this.input.selectionEnd) return this.hide();
    const where = completionAt(this.text, caret);
    const wanted = where.partial.toLowerCase();
    let items = [];
    if (where.kind === "dimension") {
      items = this.dimensions.filter((d) => d.name.toLowerCase().startsWith(wanted))
        .map((d) => (d.numeric
          ? { label: d.name, note: d.numeric.scale ? `${d.numeric.type}(${d.numeric.scale})` : d.numeric.type,
            insert: `${quoted(d.name)} ` } // then < <= > >= BETWEEN =
          : { label: d.name, note: `${Number(d.valueCount || 0)} ${t("values")}`, insert: `${quoted(d.name)}=` }));
      if (wanted) {
        items.push(...KEYWORDS.filter((k) => k.toLowerCase().startsWith(wanted) && k.toLowerCase() !== wanted)
          .map((k) => ({ label: k, note: "", insert: `${k} ` })));
      }
    } else if (where.kind === "audience") {
      items = this.audiences.filter((a) => a.name.toLowerCase().startsWith(wanted))
        .map((a) => ({ label: `@${a.name}`, note: Number(a.count || 0).toLocaleString("en-US"),
          insert: `@${a.name} ` }));
    } else {
      const values = await this.valuesOf(where.dimension);
      if (this.input.selectionStart !== caret) return undefined; // the user typed on meanwhile
      items = values.filter((v) => v.value.toLowerCase().startsWith(wanted))
        .map((v) => ({ label: v.value, note: Number(v.count || 0).toLocaleString("en-US"),
          insert: quoted(v.value) }));
    }
    if (!items.length || (items.length === 1 && items[0].label.toLowerCase() === wanted)) return this.hide();
    this.show(items.slice(0, 50), where.start, caret);
    return undefined;
  }

  async valuesOf(dimension) {
    if (!this.dimensions.some((d) => d.name === dimension && !d.numeric)) return [];
    if (!this.values.has(dimension)) {
      this.values.set(dimension, call("CatalogService", "ListDimensions", { dimension, maxValues: 200 })
        .then((page) => (page.dimensions[0] ? page.dimensions[0].values : []))
        .catch(() => []));
    }
    return this.values.get(dimension);
  }

  show(items, start, end) {
    this.items = items;
    this.range = [start, end];
    this.active = 0;
    fill(this.list, items.map((item, i) => el("li", {
      role: "option", "data-index": String(i),
      on: { mousedown: (event) => { event.preventDefault(); this.choose(i); } },
    }, el("span", {}, item.label), el("span", { class: "muted" }, item.note))));
    this.highlight();
    this.list.hidden = false;
  }

  hide() {
    this.list.hidden = true;
    this.items = [];
  }

  highlight() {
    [...this.list.children].forEach((li, i) => li.classList.toggle("active", i === this.active));
    const current = this.list.children[this.active];
    if (current) current.scrollIntoView({ block: "nearest" });
  }

  choose(i) {
    const item = this.items[i];
    if (!item) return;
    const [start, end] = this.range;
    const text = this.text;
    this.input.value = text.slice(0, start) + item.insert + text.slice(end);
    const caret = start + item.insert.length;
    this.input.setSelectionRange(caret, caret);
    this.hide();
    this.changed();
    this.input.focus();
    if (item.insert.endsWith("=")) this.complete();
  }

  keydown(event) {
    if (this.list.hidden || !this.items.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.items.length) % this.items.length;
      this.highlight();
      event.preventDefault();
    } else if (event.key === "Enter" || event.key === "Tab") {
      this.choose(this.active);
      event.preventDefault();
    } else if (event.key === "Escape") {
      this.hide();
      event.preventDefault();
    }
  }
}
