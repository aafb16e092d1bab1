// Charts drawn as inline SVG; every label is a text node and every mark has a <title>.
import { h } from "./dom.js";

const COLORS = { good: "#15803d", moderate: "#b45309", poor: "#b91c1c", accent: "#1d4ed8", neg: "#b91c1c" };
export const statusColor = (s) => COLORS[s] || COLORS.accent;
const count = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const axisCount = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

function frame(title, width, height, ...children) {
  return h(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart", preserveAspectRatio: "xMidYMid meet" },
    h("title", {}, title),
    ...children,
  );
}

/**
 * Score histogram: bins of 10 points from 0 to 100. counts: the ten bins' row counts
 * (GET /scoring/histogram: every row of the run, not the rows a page fetched).
 */
export function histogram(counts, title = "Score distribution") {
  const bins = counts.slice(0, 10);
  const rows = bins.reduce((a, n) => a + n, 0);
  const W = 420, H = 220, left = 36, bottom = 28, top = 12, right = 8;
  const max = Math.max(1, ...bins);
  const bw = (W - left - right) / bins.length;
  const ph = H - top - bottom;
  const marks = [];
  for (let i = 0; i <= 4; i += 1) {
    const v = Math.round((max * i) / 4);
    const y = top + ph - (ph * v) / max;
    marks.push(h("line", { x1: left, x2: W - right, y1: y, y2: y, class: "grid" }));
    marks.push(h("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, axisCount.format(v)));
  }
  bins.forEach((n, i) => {
    const bh = (ph * n) / max;
    const x = left + i * bw;
    const color = i >= 7 ? COLORS.good : i >= 4 ? COLORS.accent : COLORS.poor;
    marks.push(
      h(
        "rect",
        { x: x + 2, y: top + ph - bh, width: bw - 4, height: Math.max(bh, 0.5), fill: color, rx: 2, class: "bar" },
        h("title", {}, `Score ${i * 10}–${i * 10 + 10}: ${count.format(n)} ${n === 1 ? "row" : "rows"}`),
      ),
    );
    marks.push(h("text", { x: x + bw / 2, y: H - 10, "text-anchor": "middle", class: "axis" }, String(i * 10)));
  });
  return frame(`${title}: ${count.format(rows)} rows in bins of 10 points`, W, H, ...marks);
}

/** A stacked horizontal bar (quality mix) with a legend. */
export function stackedBar(parts, title = "Quality mix") {
  const total = parts.reduce((a, p) => a + (p.value || 0), 0) || 1;
  const W = 420, H = 96;
  let x = 0;
  const marks = [];
  for (const p of parts) {
    const w = ((p.value || 0) / total) * W;
    const share = ((100 * (p.value || 0)) / total).toFixed(1);
    marks.push(
      h("rect", { x, y: 8, width: Math.max(w, 0), height: 36, fill: p.color, class: "bar" }, h("title", {}, `${p.label}: ${p.value} (${share}%)`)),
    );
    if (w > 44) marks.push(h("text", { x: x + w / 2, y: 31, "text-anchor": "middle", class: "on-bar" }, `${share}%`));
    x += w;
  }
  let lx = 0;
  for (const p of parts) {
    marks.push(h("rect", { x: lx, y: 64, width: 12, height: 12, fill: p.color, rx: 2 }));
    marks.push(h("text", { x: lx + 18, y: 75, class: "legend" }, `${p.label} ${p.value}`));
    lx += 140;
  }
  return frame(title, W, H, ...marks);
}

/**
 * Horizontal bars with labels; values may be negative (diverging from 0).
 * items: [{label, value, color?, title?}]
 */
export function hbars(items, { title, max, format = (v) => v.toFixed(1), labelWidth = 170 } = {}) {
  const W = 460, row = 26, top = 6;
  const H = top * 2 + row * Math.max(items.length, 1);
  const hasNeg = items.some((i) => i.value < 0);
  const limit = max || Math.max(1e-9, ...items.map((i) => Math.abs(i.value)));
  const plotW = W - labelWidth - 56;
  const zero = labelWidth + (hasNeg ? plotW / 2 : 0);
  const scale = (hasNeg ? plotW / 2 : plotW) / limit;
  const marks = [];
  if (hasNeg) marks.push(h("line", { x1: zero, x2: zero, y1: 0, y2: H, class: "axis-line" }));
  items.forEach((it, i) => {
    const y = top + i * row;
    const w = Math.abs(it.value) * scale;
    const x = it.value < 0 ? zero - w : zero;
    const label = it.label.length > 26 ? `${it.label.slice(0, 25)}…` : it.label;
    marks.push(h("text", { x: labelWidth - 8, y: y + 17, "text-anchor": "end", class: "label" }, label));
    marks.push(
      h(
        "rect",
        { x, y: y + 4, width: Math.max(w, 1), height: row - 8, rx: 2, fill: it.color || (it.value < 0 ? COLORS.neg : COLORS.accent), class: "bar" },
        h("title", {}, it.title || `${it.label}: ${format(it.value)}`),
      ),
    );
    const tx = it.value < 0 ? x - 4 : x + w + 4;
    marks.push(h("text", { x: tx, y: y + 17, "text-anchor": it.value < 0 ? "end" : "start", class: "value" }, format(it.value)));
  });
  return frame(title || "Bar chart", W, H, ...marks);
}

/**
 * Score (0–100) against a count on a log10 x axis. points: [{x, y, color, title, low?,
 * high?}]; a point with low and high gets a vertical whisker (its likely range).
 * legend: {name: color} or null.
 */
export function scatter(points, { title = "Scatter", legend = null } = {}) {
  const W = 460, H = 260, left = 36, right = 10, top = 12, bottom = legend ? 48 : 30;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const xs = points.map((p) => Math.max(1, p.x || 0));
  const lo = Math.floor(Math.log10(Math.min(...xs, 10)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...xs, 10))));
  const X = (v) => left + ((Math.log10(Math.max(1, v)) - lo) / (hi - lo)) * pw;
  const Y = (v) => top + ph - (Math.max(0, Math.min(100, v)) / 100) * ph;
  const marks = [];
  for (let s = 0; s <= 100; s += 25) {
    marks.push(h("line", { x1: left, x2: W - right, y1: Y(s), y2: Y(s), class: "grid" }));
    marks.push(h("text", { x: left - 6, y: Y(s) + 4, "text-anchor": "end", class: "axis" }, String(s)));
  }
  const tickEvery = hi - lo > 6 ? 2 : 1;
  for (let e = lo; e <= hi; e += tickEvery) {
    const x = X(10 ** e);
    marks.push(h("line", { x1: x, x2: x, y1: top, y2: top + ph, class: "grid" }));
    marks.push(h("text", { x, y: top + ph + 16, "text-anchor": "middle", class: "axis" }, new Intl.NumberFormat("en-US", { notation: "compact" }).format(10 ** e)));
  }
  for (const p of points) {
    const x = X(p.x);
    if (typeof p.low === "number" && typeof p.high === "number") {
      marks.push(h("line", { x1: x, x2: x, y1: Y(p.low), y2: Y(p.high), stroke: p.color, class: "whisker" }));
    }
    marks.push(h("circle", { cx: x, cy: Y(p.y), r: 3, fill: p.color, class: "dot" }, h("title", {}, p.title)));
  }
  marks.push(h("text", { x: W - right, y: top + ph - 4, "text-anchor": "end", class: "axis" }, "impressions (log scale) →"));
  marks.push(h("text", { x: left + 4, y: top + 10, class: "axis" }, "score"));
  if (legend) {
    let lx = left;
    for (const [name, color] of Object.entries(legend)) {
      marks.push(h("circle", { cx: lx + 6, cy: H - 10, r: 5, fill: color }));
      marks.push(h("text", { x: lx + 16, y: H - 6, class: "legend" }, name));
      lx += 110;
    }
  }
  return frame(`${title}; impressions on a log scale`, W, H, ...marks);
}
