// Confidence (issue 17): a run scored with list_confidence gives each row a likely range
// of its score and a decision; the summary counts the decisions and sets the confident
// lists beside the classic ones. Also the score-vs-impressions scatter of every run.
import * as API from "./api.js";
import { h, fmt, field, select } from "./dom.js";
import { scatter, statusColor } from "./charts.js";

export const RECOMMENDED_LEVEL = 0.8;
export const CONFIDENCE_WHY =
  "Lists only what the data can decide: at 0.8 a domain is listed only when Caliber is at least 80% sure it belongs there; thin domains wait for more data.";
export const LEVELS = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];

export const levelOptions = () => [["", "Off (classic lists)"], ...LEVELS.map((l) => [String(l), l === RECOMMENDED_LEVEL ? `${l} (recommended)` : String(l)])];

/** The campaign's level, changed before its next scoring (PUT /campaigns/{id}/confidence). */
export function confidenceSetting(campaign) {
  const level = field("List confidence", select(levelOptions(), campaign.list_confidence ?? "", { id: "campaign-confidence" }), CONFIDENCE_WHY);
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite", id: "confidence-status" });
  const save = h("button", { type: "submit", class: "btn small" }, "Save confidence");
  const form = h("form", {
    class: "confidence-setting",
    onsubmit: async (e) => {
      e.preventDefault();
      status.textContent = "";
      status.classList.remove("error");
      const value = level.input.value ? Number(level.input.value) : null;
      try {
        const res = await API.put(`/campaigns/${encodeURIComponent(campaign.id)}/confidence`, { list_confidence: value });
        campaign.list_confidence = res.data.list_confidence;
        status.textContent = value === null ? "Classic lists from the next scoring." : `Confidence ${value} from the next scoring: score again to apply it.`;
      } catch (err) {
        status.textContent = err.message;
        status.classList.add("error");
      }
    },
  }, level.wrap, h("div", { class: "actions" }, save), status);
  return form;
}

const DECISION_COLORS = { whitelist: "#15803d", blacklist: "#b91c1c", undecided: "#6b7280" };

/** "about" a number of impressions: two significant digits (12,345 -> 12,000). */
export function about(n) {
  if (!(typeof n === "number" && Number.isFinite(n))) return "—";
  if (n < 100) return fmt.int(Math.ceil(n));
  const step = 10 ** (Math.floor(Math.log10(n)) - 1);
  return fmt.int(Math.round(n / step) * step);
}

export const intervalText = (r) => (typeof r.score_low === "number" && typeof r.score_high === "number" ? `${fmt.score(r.score_low)}–${fmt.score(r.score_high)}` : "—");

export function decisionBadge(decision) {
  const d = String(decision || "undecided");
  return h("span", { class: `badge decision decision-${d.replace(/[^a-z]/g, "")}` }, d);
}

/** What an undecided row would need; empty for a decided one. */
export function decisionNote(r, minImpressions) {
  if (r.decision !== "undecided") return "";
  if (typeof r.impressions_needed === "number") return ` needs about ${about(r.impressions_needed)} more impressions`;
  const eligible = typeof minImpressions !== "number" || r.impressions >= minImpressions;
  return eligible ? " no amount of data decides it" : ` under the ${fmt.int(minImpressions)} impressions lists need`;
}

/** The drawer's part: the row's likely range, its decision and what it needs. */
export function drawerConfidence(row, info) {
  const sure = Math.round((info.level || RECOMMENDED_LEVEL) * 100);
  return h("div", { class: "confidence-facts", id: "drawer-confidence" },
    h("div", {}, h("span", { class: "stat-label" }, "Likely range"), h("span", { class: "stat-value small", id: "drawer-interval" }, intervalText(row))),
    h("div", {}, h("span", { class: "stat-label" }, "Decision"), decisionBadge(row.decision)),
    h("p", { class: "hint", id: "drawer-decision-note" },
      row.decision === "undecided"
        ? `Not listed:${decisionNote(row, info.minImpressions)}.`
        : `On the ${row.decision}: Caliber is at least ${sure}% sure it belongs there (shrunk score ${fmt.score(row.shrunk_score)}).`));
}

/** The summary's confidence card: decisions, and the confident lists against the classic. */
export function confidencePanel(summary) {
  const c = summary.confidence;
  const lists = summary.lists || {};
  const classic = c.classic_lists || {};
  const d = c.decisions || {};
  const sure = Math.round(c.level * 100);
  const row = (name) => {
    const x = d[name] || {};
    return h("tr", { dataset: { decision: name } },
      h("th", { scope: "row" }, decisionBadge(name)),
      h("td", { class: "num" }, fmt.int(x.count)),
      h("td", { class: "num" }, fmt.int(x.impressions)),
      h("td", { class: "num" }, fmt.money(x.spend)));
  };
  const change = (kind) => {
    const ch = (c.changes || {})[kind] || {};
    const title = kind === "whitelist" ? "Whitelist" : "Blacklist";
    return h("li", { dataset: { list: kind } },
      `${title}: ${fmt.int(lists[`${kind}_count`])} entries with confidence against ${fmt.int(classic[`${kind}_count`])} classic`,
      ` (${fmt.int(ch.kept)} kept, ${fmt.int(ch.dropped)} left out for thin data, ${fmt.int(ch.added)} added)`);
  };
  return h("section", { class: "card confidence", id: "confidence-panel", "aria-labelledby": "confidence-title" },
    h("h2", { id: "confidence-title" }, `How sure are these lists (confidence ${fmt.two(c.level)})`),
    h("p", {}, `A domain is listed only when Caliber is at least ${sure}% sure it belongs there; the rest wait for more data.`),
    h("div", { class: "table-wrap" }, h("table", { class: "data decisions", id: "decision-table" },
      h("caption", { class: "sr-only" }, "Rows, impressions and spend per decision"),
      h("thead", {}, h("tr", {}, ["Decision", "Rows", "Impressions", "Spend"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
      h("tbody", {}, ["whitelist", "blacklist", "undecided"].map(row)))),
    h("h3", {}, "Classic lists against confident ones"),
    h("ul", { class: "list-changes" }, change("whitelist"), change("blacklist")));
}

/**
 * Up to `limit` rows of the run spread evenly over the score ranks (whole pages of 100
 * at even steps): a big campaign's charts see every part of the range, not only its top.
 */
export async function sampleRows(id, view, total, limit = 1000) {
  const pages = Math.ceil((total || 0) / 100);
  const wanted = Math.min(pages, Math.ceil(limit / 100));
  const picks = new Set();
  for (let i = 0; i < wanted; i += 1) picks.add(1 + (wanted > 1 ? Math.round((i * (pages - 1)) / (wanted - 1)) : 0));
  const answers = await Promise.all([...picks].map((page) => API.get(`/scoring/results/${encodeURIComponent(id)}`, view.q({ page, per_page: 100 }))));
  return { rows: answers.flatMap((a) => a.data), sampled: pages > wanted };
}

/** Score against impressions (log scale): the noise of thin rows is visible. */
export function scoreScatter(rows, sampled, total) {
  const confident = rows.some((r) => typeof r.score_low === "number");
  const points = rows.map((r) => ({
    x: r.impressions,
    y: r.score,
    low: confident ? r.score_low : null,
    high: confident ? r.score_high : null,
    color: confident ? DECISION_COLORS[r.decision] || DECISION_COLORS.undecided : statusColor(r.quality_status),
    title: `${r.domain}: score ${fmt.score(r.score)}${confident ? ` (likely ${intervalText(r)}, ${r.decision})` : `, ${r.quality_status}`}, ${fmt.int(r.impressions)} impressions`,
  }));
  const what = sampled ? `a sample of ${fmt.int(rows.length)} of ${fmt.int(total)} rows` : `${fmt.int(rows.length)} rows`;
  // the legend names what each colour means (colour is never the only signal: each dot's
  // title says it too)
  const legend = confident ? DECISION_COLORS : Object.fromEntries(["good", "moderate", "poor"].map((s) => [s, statusColor(s)]));
  return scatter(points, { title: `Score against impressions: ${what}`, legend });
}
