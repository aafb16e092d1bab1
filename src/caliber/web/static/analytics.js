// Analytics of the campaign's latest run (issue 20 §2): the outliers view (method,
// contamination, the flagged rows, how they differ from the rest and what to do:
// GET /scoring/outliers), what drives the scores (importance per metric by method:
// GET /scoring/explain) and a row's exact attribution as a waterfall for the drawer.
import * as API from "./api.js";
import { h, replace, field, select, fmt, nextId } from "./dom.js";
import { hbars } from "./charts.js";
import { metricName, metricValue } from "./results.js";

const OUTLIER_METHODS = [["combined", "Combined (isolation forest, LOF and z-score)"], ["isolation_forest", "Isolation forest"], ["local_outlier_factor", "Local outlier factor"], ["elliptic_envelope", "Elliptic envelope"], ["zscore", "Z-score (over 3)"], ["iqr", "Interquartile range (1.5 × IQR)"]];
// the methods that take a contamination (the share of rows expected to be outliers)
const CONTAMINATED = new Set(["combined", "isolation_forest", "local_outlier_factor", "elliptic_envelope"]);
const EXPLAIN_METHODS = [["exact", "Exact (the weights × the spread of each metric)"], ["shap", "SHAP (a model fitted on the scores)"], ["feature_importance", "Feature importance (the same model)"], ["correlation", "Correlation with the score"]];

const valueOf = (column, v) => (typeof v === "number" ? metricValue(column, v) : "—");

/** How the flagged rows' mean differs from the rest's, in words. */
export function differs(c) {
  const a = c.outlier_mean;
  const b = c.inlier_mean;
  if (typeof a !== "number" || typeof b !== "number") return "—";
  if (b === 0 || a === 0) return a === b ? "the same" : a > b ? "higher" : "lower";
  const ratio = a / b;
  if (ratio >= 1.05) return `${ratio.toFixed(1)}× higher`;
  if (ratio <= 0.95) return `${(1 / ratio).toFixed(1)}× lower`;
  return "about the same";
}

/** One unusual value in words: "CTR 2.30% (median 0.20%, 8.1 spreads above)". */
export function unusualText(u) {
  const side = u.deviations >= 0 ? "above" : "below";
  return `${metricName(u.column)} ${valueOf(u.column, u.value)} (median ${valueOf(u.column, u.median)}, ${Math.abs(u.deviations).toFixed(1)} spreads ${side})`;
}

// the flagged rows, each with the columns it stands out on most
function flaggedRows(data) {
  const rows = data.rows || [];
  if (!rows.length) return h("p", {}, "Nothing flagged.");
  return h("div", { class: "table-wrap" }, h("table", { class: "data", id: "outlier-rows" },
    h("caption", { class: "hint" }, "A spread is the usual distance between rows on that metric (the interquartile range / 1.349)."),
    h("thead", {}, h("tr", {}, ["Row", "Score", "Impressions", "What is unusual"].map((t, i) => h("th", { scope: "col", class: i && i < 3 ? "num" : null }, t)))),
    h("tbody", {}, rows.map((r) => h("tr", { dataset: { name: r.name } },
      h("th", { scope: "row" }, r.name),
      h("td", { class: "num" }, fmt.score(r.score)),
      h("td", { class: "num" }, fmt.int(r.impressions)),
      h("td", {}, r.unusual.length ? h("ul", { class: "unusual" }, r.unusual.map((u) => h("li", {}, unusualText(u)))) : "—"))))));
}

/** The outliers card: a method, a contamination, then the route's report. */
export function outliersPanel(id, ctx) {
  const method = field("Outlier method", select(OUTLIER_METHODS, "combined", { id: "outlier-method" }));
  const contamination = field("Expected share of outliers", h("input", { type: "number", id: "outlier-contamination", min: 0.01, max: 0.5, step: 0.01, value: "0.05", inputmode: "decimal" }), "0.01 to 0.5, for the model methods");
  const result = h("div", { id: "outliers-result", "aria-live": "polite" }, h("p", { class: "muted" }, "Looking for outliers…"));
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "filters", "aria-label": "Outlier detection", novalidate: true, onsubmit: (e) => (e.preventDefault(), load()) },
    method.wrap, contamination.wrap,
    h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "btn small", id: "find-outliers" }, "Find outliers")));
  const el = h("section", { class: "card", id: "outliers-panel", "aria-labelledby": "outliers-title" },
    h("h2", { id: "outliers-title" }, "Outliers"),
    h("p", { class: "hint" }, "Rows whose metrics look unlike the rest: often tracking problems or fraud, sometimes real outliers."),
    form, error, result);
  const sync = () => (contamination.input.disabled = !CONTAMINATED.has(method.input.value));
  method.input.addEventListener("change", sync);
  sync();

  async function load() {
    error.textContent = "";
    const q = { method: method.input.value };
    if (CONTAMINATED.has(q.method)) {
      const c = Number.parseFloat(contamination.input.value);
      if (!(c > 0 && c <= 0.5)) {
        error.textContent = "Expected share of outliers: a number above 0 and at most 0.5.";
        contamination.input.focus();
        return;
      }
      q.contamination = c;
    }
    replace(result, h("p", { class: "muted" }, "Looking for outliers…"));
    let data;
    try {
      ({ data } = await API.get(`/scoring/outliers/${encodeURIComponent(id)}`, q));
    } catch (err) {
      if (ctx.alive()) replace(result, h("p", { class: err.status === 422 ? "muted" : "form-error" }, err.message));
      return;
    }
    if (!ctx.alive()) return;
    const names = data.names || [];
    replace(result,
      h("div", { class: "outlier-facts" },
        h("span", { class: `badge severity-${String(data.severity).replace(/[^a-z]/g, "")}` }, `severity: ${data.severity}`),
        h("span", { id: "outliers-count" }, `${fmt.int(data.count)} of ${fmt.int(data.rows_used)} rows flagged (${fmt.pct(data.share, 1)})`)),
      (data.comparisons || []).length ? h("div", { class: "table-wrap" }, h("table", { class: "data", id: "outlier-comparisons" },
        h("caption", {}, "What is unusual: the flagged rows against the rest"),
        h("thead", {}, h("tr", {}, ["Metric", "Flagged rows (mean)", "The rest (mean)", "Flagged rows are"].map((t, i) => h("th", { scope: "col", class: i && i < 3 ? "num" : null }, t)))),
        h("tbody", {}, data.comparisons.map((c) => h("tr", { dataset: { column: c.column } },
          h("th", { scope: "row" }, metricName(c.column)),
          h("td", { class: "num" }, valueOf(c.column, c.outlier_mean)),
          h("td", { class: "num" }, valueOf(c.column, c.inlier_mean)),
          h("td", {}, differs(c))))))) : null,
      h("h3", {}, "What to do"),
      (data.recommendations || []).length ? h("ul", { class: "recommendations", id: "outlier-recommendations" }, data.recommendations.map((r) => h("li", {}, r))) : h("p", { class: "muted" }, "Nothing to do."),
      h("h3", {}, "Flagged rows"),
      flaggedRows(data),
      names.length > (data.rows || []).length ? h("p", { class: "muted" }, `and ${fmt.int(names.length - data.rows.length)} more (the results CSV marks every outlier)`) : null,
      (data.notes || []).length ? h("ul", { class: "hint notes" }, data.notes.map((n) => h("li", {}, n))) : null);
  }

  // a run that is not the latest: the analyses read the latest run only
  function notLatest() {
    replace(result, h("p", { class: "muted" }, "The outlier analysis is given for the latest run only: each row above keeps its own outlier flags."));
    form.hidden = true;
  }
  return { el, load, notLatest };
}

/** What drives the scores: each metric's importance by the chosen method. */
export function driversPanel(id, ctx) {
  const method = field("Explanation method", select(EXPLAIN_METHODS, "exact", { id: "drivers-method" }));
  const result = h("div", { id: "drivers-result", "aria-live": "polite" }, h("p", { class: "muted" }, "Working out what drives the scores…"));
  const form = h("form", { class: "filters", "aria-label": "Choose how to explain the scores", onsubmit: (e) => (e.preventDefault(), load()) },
    method.wrap, h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "btn small", id: "explain-scores" }, "Explain")));
  const el = h("section", { class: "card", id: "drivers-panel", "aria-labelledby": "drivers-title" },
    h("h2", { id: "drivers-title" }, "What drives the scores"), form, result);

  async function load() {
    replace(result, h("p", { class: "muted" }, method.input.value === "exact" ? "Working out what drives the scores…" : "Fitting a model on the scores: this takes a few seconds…"));
    let data;
    try {
      ({ data } = await API.get(`/scoring/explain/${encodeURIComponent(id)}`, { method: method.input.value }));
    } catch (err) {
      if (ctx.alive()) replace(result, h("p", { class: err.status === 422 ? "muted" : "form-error" }, err.message));
      return;
    }
    if (!ctx.alive()) return;
    const items = data.importances || [];
    replace(result,
      h("p", { id: "drivers-summary" }, data.summary),
      hbars(items.map((m) => ({ label: metricName(m.metric), value: m.share * 100, title: `${metricName(m.metric)}: ${(m.share * 100).toFixed(1)}% of what moves the scores` })), { title: "Share of what moves the scores, per metric", max: 100, format: (v) => `${v.toFixed(1)}%` }),
      h("div", { class: "table-wrap" }, h("table", { class: "data", id: "drivers-table" },
        h("caption", { class: "sr-only" }, "Importance per metric"),
        h("thead", {}, h("tr", {}, ["Metric", "Share", "Importance", "Weight", "Direction"].map((t, i) => h("th", { scope: "col", class: i && i < 4 ? "num" : null }, t)))),
        h("tbody", {}, items.map((m) => h("tr", { dataset: { metric: m.metric } },
          h("th", { scope: "row" }, metricName(m.metric)),
          h("td", { class: "num" }, fmt.pct(m.share, 1)),
          h("td", { class: "num" }, m.importance.toFixed(3)),
          h("td", { class: "num" }, fmt.pct(m.weight, 0)),
          h("td", {}, m.direction === "higher_is_better" ? "higher is better" : "lower is better")))))),
      typeof data.model_fit === "number" ? h("p", { class: "hint" }, `The model explains ${fmt.pct(data.model_fit, 0)} of the scores' variation (out-of-bag R²).`) : null,
      (data.notes || []).length ? h("ul", { class: "hint notes" }, data.notes.map((n) => h("li", {}, n))) : null);
  }

  function notLatest() {
    replace(result, h("p", { class: "muted" }, "What drives the scores is given for the latest run only."));
    form.hidden = true;
  }
  return { el, load, notLatest };
}

/**
 * A row's exact attribution as a waterfall (inline SVG): from the campaign's average
 * score, each metric's step up or down, to the row's score. data: the explanation
 * route's answer for one row.
 */
export function waterfall(data) {
  const steps = data.attributions || [];
  const W = 460, row = 24, top = 8, labelWidth = 170, right = 52, axis = 22;
  const rows = steps.length + 2;
  const H = top + row * rows + axis;
  const plotW = W - labelWidth - right;
  let level = data.campaign_average_score;
  const points = [level];
  for (const s of steps) points.push((level += s.attribution));
  points.push(data.score);
  const lo = Math.max(0, Math.floor(Math.min(...points) / 10) * 10);
  const hi = Math.min(100, Math.max(lo + 10, Math.ceil(Math.max(...points) / 10) * 10));
  const X = (v) => labelWidth + ((v - lo) / (hi - lo)) * plotW;
  const titleId = nextId("waterfall");
  const marks = [];
  for (let t = lo; t <= hi; t += hi - lo > 50 ? 20 : 10) {
    marks.push(h("line", { x1: X(t), x2: X(t), y1: top, y2: top + row * rows, class: "grid" }));
    marks.push(h("text", { x: X(t), y: H - 6, "text-anchor": "middle", class: "axis" }, String(t)));
  }
  const bar = (i, from, to, color, label, value, title) => {
    const y = top + i * row;
    const x = X(Math.min(from, to));
    const w = Math.max(Math.abs(X(to) - X(from)), 1);
    marks.push(h("text", { x: labelWidth - 8, y: y + 16, "text-anchor": "end", class: "label" }, label.length > 26 ? `${label.slice(0, 25)}…` : label));
    marks.push(h("rect", { x, y: y + 4, width: w, height: row - 8, rx: 2, fill: color, class: "bar" }, h("title", {}, title)));
    marks.push(h("text", { x: X(Math.max(from, to)) + 4, y: y + 16, class: "value" }, value));
  };
  bar(0, lo, data.campaign_average_score, "#6b7280", "Campaign average", data.campaign_average_score.toFixed(1), `Campaign average score: ${data.campaign_average_score.toFixed(2)}`);
  let at = data.campaign_average_score;
  steps.forEach((s, i) => {
    const next = at + s.attribution;
    const sign = s.attribution >= 0 ? "+" : "−";
    const text = `${sign}${Math.abs(s.attribution).toFixed(1)}`;
    bar(i + 1, at, next, s.attribution < 0 ? "#b91c1c" : "#15803d", metricName(s.metric), text, `${metricName(s.metric)}: ${sign}${Math.abs(s.attribution).toFixed(2)} points (value ${valueOf(s.metric, s.value)}, normalized ${fmt.one(s.normalized)} against the campaign's ${fmt.one(s.campaign_average_normalized)})`);
    if (i < steps.length) marks.push(h("line", { x1: X(next), x2: X(next), y1: top + (i + 1) * row + row - 4, y2: top + (i + 2) * row + 4, class: "axis-line" }));
    at = next;
  });
  bar(rows - 1, lo, data.score, "#1d4ed8", "Score", data.score.toFixed(1), `${data.name}: score ${data.score.toFixed(2)}`);
  const label = `How ${data.name}'s score of ${data.score.toFixed(1)} is reached from the campaign average of ${data.campaign_average_score.toFixed(1)}, metric by metric`;
  return h("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": titleId, class: "chart waterfall", id: "attribution-waterfall", preserveAspectRatio: "xMidYMid meet" }, h("title", { id: titleId }, label), ...marks);
}

/** The waterfall's figures as a table (every step's value in words, for everyone). */
export function attributionTable(data) {
  return h("div", { class: "table-wrap" }, h("table", { class: "data", id: "attribution-table" },
    h("caption", { class: "sr-only" }, "Each metric's share of the difference from the campaign average"),
    h("thead", {}, h("tr", {}, ["Metric", "Value", "Normalized", "Campaign avg.", "Points"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
    h("tbody", {}, (data.attributions || []).map((a) => h("tr", { dataset: { metric: a.metric } },
      h("th", { scope: "row" }, metricName(a.metric)),
      h("td", { class: "num" }, valueOf(a.metric, a.value)),
      h("td", { class: "num" }, fmt.one(a.normalized)),
      h("td", { class: "num" }, fmt.one(a.campaign_average_normalized)),
      h("td", { class: "num" }, `${a.attribution >= 0 ? "+" : "−"}${Math.abs(a.attribution).toFixed(2)}`))))));
}
