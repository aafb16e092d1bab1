// The results table of the run on screen and the domain drawer (breakdown, explanation,
// the row's confidence and its history over the campaign's runs).
import * as API from "./api.js";
import { h, replace, field, select, fmt, badge, nextId } from "./dom.js";
import { decisionBadge, decisionNote, intervalText, drawerConfidence } from "./confidence.js";
import { domainHistory } from "./runs.js";
import { waterfall, attributionTable } from "./analytics.js";

const PER_PAGE = 25;

const METRIC_NAMES = {
  cpm: "CPM",
  ecpm: "eCPM",
  ctr: "CTR",
  conversion_rate: "Conversion rate",
  ias_display_fully_in_view_1s_rate: "Viewability (fully in view 1 s)",
  ad_load_xl_rate: "Excessive ad load",
  ad_refresh_below_15s_rate: "Ad refresh under 15 s",
  sampled_in_view_rate: "In-view rate",
  player_completion_rate: "Completion rate",
  completion_rate: "Completion rate",
  player_errors_rate: "Player errors",
  player_mute_rate: "Muted plays",
  tv_quality_index_rate: "TV quality index",
  unique_id_ratio: "Unique id ratio",
};
export const metricName = (m) => METRIC_NAMES[m] || fmt.label(m);
export function metricValue(metric, v) {
  if (typeof v !== "number") return "—";
  if (/cpm$/.test(metric)) return fmt.money(v);
  if (/(rate|ctr)$/.test(metric)) return fmt.pct(v);
  return fmt.two(v);
}

const BASE_COLUMNS = (dim) => [
  { key: "rank", label: "Rank", num: true },
  { key: "domain", label: dim, sort: "domain" },
  { key: "score", label: "Score", sort: "score", num: true },
  { key: "quality_status", label: "Status" },
  { key: "impressions", label: "Impressions", sort: "impressions", num: true },
  { key: "spend", label: "Spend", sort: "spend", num: true },
  { key: "cpm", label: "CPM", sort: "cpm", num: true },
  { key: "ctr", label: "CTR", sort: "ctr", num: true },
  { key: "conversion_rate", label: "Conv. rate", sort: "conversion_rate", num: true },
];
// a run scored with confidence: each row's interval and decision after its score
const CONFIDENCE_COLUMNS = [
  { key: "interval", label: "Likely range", num: true },
  { key: "decision", label: "Decision" },
];

// the likely range is of the shrunk score, so a thin row's range may sit away from its score
const rangeHint = (level) => {
  const sure = Math.round((level || 0.8) * 100);
  return `Likely range: the row's score once its rates are pulled towards the campaign's by how little its volume says; its true score is below the range ${100 - sure}% of the time, and above it as often. Decision: listed only when Caliber is at least ${sure}% sure.`;
};

/**
 * The scored rows of the run on screen. view: {q(query) adds run_id}; info: {confident,
 * minImpressions} of that run (from its summary).
 */
export function resultsTable(id, dim, ctx, view, info) {
  const state = { page: 1, sort_by: "score", sort_direction: "desc", quality_status: "", decision: "", min_score: "", max_score: "", min_impressions: "" };
  const columns = [...BASE_COLUMNS(dim)];
  if (info.confident) columns.splice(3, 0, ...CONFIDENCE_COLUMNS);
  const cell = {
    rank: (r) => String(r.rank),
    domain: (r) => h("span", { class: "domain" }, r.domain, r.is_outlier ? h("span", { class: "flag", title: `Outlier: ${r.outlier_flags.join(", ")}` }, " ⚑") : null),
    score: (r) => fmt.score(r.score),
    interval: (r) => intervalText(r),
    decision: (r) => [decisionBadge(r.decision), h("span", { class: "sub needs" }, decisionNote(r, info.minImpressions))],
    quality_status: (r) => badge(r.quality_status),
    impressions: (r) => fmt.int(r.impressions),
    spend: (r) => fmt.money(r.spend),
    cpm: (r) => fmt.money(r.cpm),
    ctr: (r) => fmt.pct(r.ctr),
    conversion_rate: (r) => fmt.pct(r.conversion_rate, 3),
  };
  const status = field("Quality status", select([["", "All"], "good", "moderate", "poor"], "", { id: "filter-status" }));
  const decision = info.confident ? field("Decision", select([["", "All"], ["whitelist", "whitelist"], ["blacklist", "blacklist"], ["undecided", "undecided"]], "", { id: "filter-decision" })) : null;
  const minScore = field("Min. score", h("input", { type: "number", min: 0, max: 100, step: "any", id: "filter-min-score", inputmode: "decimal" }));
  const maxScore = field("Max. score", h("input", { type: "number", min: 0, max: 100, step: "any", id: "filter-max-score", inputmode: "decimal" }));
  const minImp = field("Min. impressions", h("input", { type: "number", min: 0, step: 1, id: "filter-min-impressions", inputmode: "numeric" }));
  const error = h("p", { class: "form-error", role: "alert" });
  const count = h("p", { class: "muted", role: "status", id: "results-count" });
  const wrap = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "pager" });
  const apply = () => {
    state.quality_status = status.input.value;
    state.decision = decision ? decision.input.value : "";
    state.min_score = minScore.input.value;
    state.max_score = maxScore.input.value;
    state.min_impressions = minImp.input.value;
    state.page = 1;
    load();
  };
  status.input.addEventListener("change", apply);
  decision?.input.addEventListener("change", apply);
  const reset = () => {
    for (const input of [status.input, decision?.input, minScore.input, maxScore.input, minImp.input]) if (input) input.value = "";
    apply();
  };
  const filters = h(
    "form",
    { class: "filters", "aria-label": "Filter results", onsubmit: (e) => (e.preventDefault(), apply()) },
    status.wrap, decision?.wrap, minScore.wrap, maxScore.wrap, minImp.wrap,
    h("div", { class: "filter-actions" },
      h("button", { type: "submit", class: "btn small" }, "Apply filters"),
      h("button", { type: "button", class: "btn small ghost", onclick: reset }, "Reset")),
  );
  const drawer = makeDrawer(id, view, info);
  const el = h("section", { class: "card", "aria-labelledby": "results-title" }, h("h2", { id: "results-title" }, "Scored rows"), info.confident ? h("p", { class: "hint", id: "range-hint" }, rangeHint(info.level)) : null, filters, error, count, wrap, pager, drawer.el);

  async function load() {
    error.textContent = "";
    const q = { page: state.page, per_page: PER_PAGE, sort_by: state.sort_by, sort_direction: state.sort_direction };
    for (const k of ["quality_status", "decision", "min_score", "max_score", "min_impressions"]) if (state[k] !== "") q[k] = state[k];
    let res;
    try {
      res = await API.get(`/scoring/results/${encodeURIComponent(id)}`, view.q(q));
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    if (!ctx.alive()) return;
    render(res);
  }

  function sortBy(key) {
    if (state.sort_by === key) state.sort_direction = state.sort_direction === "desc" ? "asc" : "desc";
    else {
      state.sort_by = key;
      state.sort_direction = key === "domain" ? "asc" : "desc";
    }
    state.page = 1;
    load().then(() => wrap.querySelector(`th[data-sort="${key}"] button`)?.focus());
  }

  function render(res) {
    const rows = res.data || [];
    const total = res.total || 0;
    const first = (state.page - 1) * PER_PAGE + 1;
    count.textContent = total ? `Showing ${first}–${first + rows.length - 1} of ${fmt.int(total)} rows` : "No rows match these filters.";
    const head = h("tr", {}, columns.map((c) => {
      const active = state.sort_by === c.sort;
      const aria = active ? (state.sort_direction === "asc" ? "ascending" : "descending") : null;
      const content = c.sort
        ? h("button", { type: "button", class: "sort", onclick: () => sortBy(c.sort) }, c.label, h("span", { class: "arrow", "aria-hidden": "true" }, active ? (state.sort_direction === "asc" ? " ▲" : " ▼") : " ↕"))
        : c.label;
      return h("th", { scope: "col", class: c.num ? "num" : null, "aria-sort": aria, dataset: c.sort ? { sort: c.sort } : {} }, content);
    }));
    const body = h("tbody", {}, rows.map((r) => {
      const tr = h("tr", { tabindex: "0", class: "clickable", "aria-label": `${r.domain}: score ${fmt.score(r.score)}, ${r.quality_status}. Open details`, dataset: { domain: r.domain } },
        columns.map((c) => h("td", { class: c.num ? "num" : null, dataset: { col: c.key } }, cell[c.key](r))));
      tr.addEventListener("click", () => drawer.open(r, tr));
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          drawer.open(r, tr);
        }
      });
      return tr;
    }));
    replace(wrap, h("table", { class: "data results", id: "results-table" }, h("caption", { class: "sr-only" }, "Scored rows; click a row for its breakdown"), h("thead", {}, head), body));
    const pages = Math.max(1, Math.ceil(total / PER_PAGE));
    replace(
      pager,
      h("button", { type: "button", class: "btn small", disabled: !res.has_prev, onclick: () => ((state.page -= 1), load()) }, "Previous"),
      h("span", { class: "muted" }, `Page ${state.page} of ${pages}`),
      h("button", { type: "button", class: "btn small", disabled: !res.has_next, onclick: () => ((state.page += 1), load()) }, "Next"),
    );
  }

  return { el, load };
}

// ---- the domain drawer --------------------------------------------------------------------
function makeDrawer(id, view, info) {
  const titleId = nextId("drawer-title");
  // scrolls on its own: focusable so the keyboard can scroll it too (axe: scrollable-region-focusable)
  const body = h("div", { class: "drawer-body", tabindex: "0", role: "region", "aria-label": "Details" });
  const closeBtn = h("button", { type: "button", class: "btn small close", "aria-label": "Close details" }, "Close ✕");
  const title = h("h2", { id: titleId });
  const panel = h("div", { class: "drawer", role: "dialog", "aria-modal": "true", "aria-labelledby": titleId, hidden: true, id: "domain-drawer" }, h("div", { class: "drawer-head" }, title, closeBtn), body);
  const backdrop = h("div", { class: "backdrop", hidden: true });
  let trigger = null;
  const close = () => {
    panel.hidden = true;
    backdrop.hidden = true;
    document.body.classList.remove("drawer-open");
    if (trigger && trigger.isConnected) trigger.focus();
  };
  closeBtn.addEventListener("click", close);
  backdrop.addEventListener("click", close);
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
    } else if (e.key === "Tab") {
      const items = [...panel.querySelectorAll("button, a[href], input, select, textarea, [tabindex]:not([tabindex='-1'])")].filter((x) => !x.disabled && x.offsetParent !== null);
      if (!items.length) return;
      const firstEl = items[0];
      const lastEl = items[items.length - 1];
      if (e.shiftKey && document.activeElement === firstEl) {
        e.preventDefault();
        lastEl.focus();
      } else if (!e.shiftKey && document.activeElement === lastEl) {
        e.preventDefault();
        firstEl.focus();
      }
    }
  });

  async function open(row, from) {
    trigger = from;
    title.textContent = row.domain;
    const breakdown = Object.entries(row.score_breakdown || {});
    const sentence = h("p", { class: "sentence", "aria-live": "polite" }, "Explaining this score…");
    const attrib = h("div", { class: "attributions" });
    const history = domainHistory(id, row.domain, view);
    replace(
      body,
      h("div", { class: "facts" },
        h("div", {}, h("span", { class: "stat-label" }, "Score"), h("span", { class: "stat-value" }, fmt.score(row.score))),
        h("div", {}, h("span", { class: "stat-label" }, "Status"), badge(row.quality_status)),
        h("div", {}, h("span", { class: "stat-label" }, "Percentile"), h("span", { class: "stat-value small" }, String(row.percentile_rank))),
        h("div", {}, h("span", { class: "stat-label" }, "Impressions"), h("span", { class: "stat-value small" }, fmt.int(row.impressions)))),
      info.confident ? drawerConfidence(row, info) : null,
      history.el,
      h("h3", {}, "Why this score"),
      sentence,
      attrib,
      h("h3", {}, "Score breakdown"),
      h("div", { class: "table-wrap" }, h("table", { class: "data breakdown" },
        h("caption", { class: "sr-only" }, "Per-metric breakdown"),
        h("thead", {}, h("tr", {}, ["Metric", "Value", "Normalized", "Weight", "Contribution"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
        h("tbody", {}, breakdown.map(([m, b]) => h("tr", {},
          h("th", { scope: "row" }, metricName(m), h("span", { class: "sub" }, b.higher_is_better ? " higher is better" : " lower is better")),
          h("td", { class: "num" }, metricValue(m, b.value)),
          h("td", { class: "num" }, fmt.one(b.normalized)),
          h("td", { class: "num" }, fmt.pct(b.weight, 0)),
          h("td", { class: "num" }, fmt.two(b.contribution))))),
        h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: "4" }, "Score"), h("td", { class: "num" }, fmt.two(row.score)))))),
      row.is_outlier ? h("p", { class: "hint" }, `Flagged as an outlier on: ${row.outlier_flags.map(metricName).join(", ")}.`) : null,
    );
    panel.hidden = false;
    backdrop.hidden = false;
    document.body.classList.add("drawer-open");
    closeBtn.focus();
    if (!view.latest()) {
      // the explanation routes read the campaign's latest run only
      sentence.textContent = "The explanation is given for the latest run only: select it above to read why this row scored what it did.";
      return;
    }
    try {
      await history.loaded;
      if (title.textContent !== row.domain) return;
      const { data } = await API.get(`/scoring/explain/${encodeURIComponent(id)}/domain`, { name: row.domain });
      if (title.textContent !== row.domain) return;
      sentence.textContent = data.sentence;
      // the exact attribution: from the campaign average, each metric's step to the score
      replace(attrib, h("p", { class: "hint" }, `From the campaign average (${fmt.one(data.campaign_average_score)}) to this score, each metric's points up or down:`),
        waterfall(data), attributionTable(data));
    } catch (err) {
      sentence.textContent = err.message;
    }
  }
  const el = h("div", {}, backdrop, panel);
  return { el, open, close };
}
