// "What applying the lists would do" (issue 18 §3): the share of the campaign the
// blacklist removes, and the campaign's metrics before, after blocking and after moving
// the removed spend to the whitelist (GET /scoring/impact), with its assumptions.
import * as API from "./api.js";
import { h, replace, fmt } from "./dom.js";
import { hbars } from "./charts.js";
import { metricName, metricValue } from "./results.js";

const REMOVED = [["impressions", "Impressions", fmt.int], ["spend", "Spend", fmt.money], ["clicks", "Clicks", fmt.int], ["conversions", "Conversions", fmt.int]];
const FIRST = ["campaign_score", "cpm", "ctr", "conversion_rate"];

const show = (name, v) => (name === "campaign_score" ? fmt.score(v) : metricValue(name, v));
const label = (name) => (name === "campaign_score" ? "Campaign score" : metricName(name));

export function impactPanel(id, view, ctx) {
  const body = h("div", {}, h("p", { class: "muted" }, "Working out the lists' effect…"));
  const el = h("section", { class: "card impact", id: "impact-panel", "aria-labelledby": "impact-title" }, h("h2", { id: "impact-title" }, "What applying the lists would do"), body);

  async function load() {
    let data;
    try {
      ({ data } = await API.get(`/scoring/impact/${encodeURIComponent(id)}`, view.q()));
    } catch (err) {
      if (ctx.alive()) replace(body, h("p", { class: "form-error" }, err.message));
      return;
    }
    if (!ctx.alive()) return;
    const removed = data.removed || {};
    const before = data.before || {};
    const names = [...FIRST.filter((m) => m in before), ...Object.keys(before).filter((m) => !FIRST.includes(m))];
    const scores = [["Before", before], ["After blocking", data.after_block || {}], ["After moving spend", data.after_move || {}]]
      .filter(([, m]) => typeof m.campaign_score === "number")
      .map(([name, m]) => ({ label: name, value: m.campaign_score, title: `${name}: campaign score ${fmt.score(m.campaign_score)}` }));
    replace(body,
      h("p", { id: "impact-removed" }, `Blocking the ${data.lists === "confident" ? "confident " : ""}blacklist removes ${fmt.int(removed.domains)} ${removed.domains === 1 ? "domain" : "domains"}:`),
      h("div", { class: "table-wrap" }, h("table", { class: "data impact-removed", id: "impact-removed-table" },
        h("caption", { class: "sr-only" }, "What the blacklist removes"),
        h("thead", {}, h("tr", {}, ["", "Removed", "Share of the campaign"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
        h("tbody", {}, REMOVED.map(([key, text, format]) => h("tr", { dataset: { removed: key } },
          h("th", { scope: "row" }, text),
          h("td", { class: "num" }, format(removed[key]?.value)),
          h("td", { class: "num" }, fmt.pct(removed[key]?.share, 1))))))),
      h("h3", {}, "Before and after"),
      h("div", { class: "table-wrap" }, h("table", { class: "data impact-metrics", id: "impact-metrics" },
        h("caption", { class: "sr-only" }, "The campaign's metrics before, after blocking the blacklist, and after moving its spend to the whitelist"),
        h("thead", {}, h("tr", {}, ["Metric", "Before", "After blocking", "After moving spend"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
        h("tbody", {}, names.map((m) => h("tr", { dataset: { metric: m } },
          h("th", { scope: "row" }, label(m)),
          h("td", { class: "num" }, show(m, before[m])),
          h("td", { class: "num" }, show(m, data.after_block?.[m])),
          h("td", { class: "num" }, show(m, data.after_move?.[m]))))))),
      scores.length ? h("figure", { class: "chart-card" }, h("figcaption", {}, "Campaign score"), hbars(scores, { title: "Campaign score before and after", max: 100 })) : null,
      h("h3", {}, "Assumptions"),
      h("ul", { class: "assumptions", id: "impact-assumptions" }, (data.assumptions || []).map((a) => h("li", {}, a))));
  }

  return { el, load };
}
