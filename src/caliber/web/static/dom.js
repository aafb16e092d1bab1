// Tiny DOM helpers: every string goes in as text, never as markup.

/**
 * h("div", {class: "x", onclick: fn, "aria-label": "y"}, "text", childNode, [more])
 * Strings and numbers become text nodes; null/undefined/false are skipped.
 */
export function h(tag, attrs, ...children) {
  const svg = SVG_TAGS.has(tag);
  const el = svg ? document.createElementNS(SVG_NS, tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.setAttribute("class", value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (!svg && (key === "value" || key === "checked" || key === "disabled" || key === "hidden")) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export const SVG_NS = "http://www.w3.org/2000/svg";
const SVG_TAGS = new Set(["svg", "g", "rect", "circle", "line", "text", "title", "path", "desc", "polyline"]);

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

let uid = 0;
/**
 * A button that opens and closes a panel (a menu, the bell's list): aria-expanded kept
 * true, Escape inside the panel closes it and gives the focus back to the button, a click
 * outside ``root`` closes it; ``onOpen`` runs each time it opens. Returns ``toggle(open)``.
 */
export function disclosure(button, panel, root, onOpen = () => {}) {
  const toggle = (open) => {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) onOpen();
  };
  button.addEventListener("click", () => toggle(panel.hidden));
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      toggle(false);
      button.focus();
    }
  });
  document.addEventListener("click", (e) => {
    if (!panel.hidden && !root.contains(e.target)) toggle(false);
  });
  return toggle;
}

export function nextId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: returns {wrap, input}. */
export function field(label, input, hint) {
  const id = input.id || nextId("f");
  input.id = id;
  const hintEl = hint ? h("small", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), input, hintEl);
  return { wrap, input };
}

export function select(options, value, attrs = {}) {
  const el = h("select", attrs);
  for (const opt of options) {
    const [val, text] = Array.isArray(opt) ? opt : [opt, opt];
    const o = h("option", { value: val }, text);
    if (String(val) === String(value ?? "")) o.selected = true;
    el.append(o);
  }
  return el;
}

// ---- formatting -------------------------------------------------------------

const nf0 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const nf2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 2 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
export const fmt = {
  int: (v) => (isNum(v) ? nf0.format(v) : "—"),
  one: (v) => (isNum(v) ? nf1.format(v) : "—"),
  two: (v) => (isNum(v) ? nf2.format(v) : "—"),
  money: (v) => (isNum(v) ? money.format(v) : "—"),
  compact: (v) => (isNum(v) ? compact.format(v) : "—"),
  pct: (v, digits = 2) => (isNum(v) ? `${(v * 100).toFixed(digits)}%` : "—"),
  score: (v) => (isNum(v) ? v.toFixed(1) : "—"),
  date: (v) => {
    if (!v) return "—";
    const d = new Date(v);
    return Number.isNaN(d.getTime())
      ? String(v)
      : d.toLocaleString("en-US", { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  },
  label: (v) => String(v ?? "").replace(/_/g, " "),
};

export function badge(status) {
  const s = String(status || "unknown");
  return h("span", { class: `badge badge-${s.replace(/[^a-z_]/gi, "")}` }, fmt.label(s));
}
