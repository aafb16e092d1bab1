// "Since last run" (issue 18 §2): what changed between the run on screen and the
// completed run before it (GET /scoring/diff), and a download of the list changes.
import * as API from "./api.js";
import { h, replace, fmt, badge } from "./dom.js";
import { downloadButton } from "./lists.js";
import { metricName } from "./results.js";
import { runLabel } from "./runs.js";

const signed = (v, digits = 1) => (typeof v === "number" && Number.isFinite(v) ? `${v > 0 ? "+" : ""}${v.toFixed(digits)}` : "—");
const SHOWN = 12; // entries of each change listed; the download has them all

function names(entries, what) {
  if (!entries.length) return h("p", { class: "muted" }, `None ${what}.`);
  const more = entries.length > SHOWN ? h("li", { class: "muted" }, `and ${fmt.int(entries.length - SHOWN)} more (in the download)`) : null;
  return h("ul", { class: "domain-list compact", tabindex: "0", "aria-label": `Domains that ${what}` }, entries.slice(0, SHOWN).map((e) => h("li", { dataset: { domain: e.domain } }, e.domain, h("span", { class: "sub" }, ` ${fmt.score(e.score)}`))), more);
}

function listChanges(kind, change) {
  const title = kind === "whitelist" ? "Whitelist" : "Blacklist";
  const added = change.added || [];
  const removed = change.removed || [];
  return h("div", { class: `list-card ${kind}`, id: `changes-${kind}` },
    h("h4", {}, `${title}: ${fmt.int(added.length)} join, ${fmt.int(removed.length)} leave, ${fmt.int(change.kept)} kept`),
    h("div", { class: "two-lists" },
      h("div", { dataset: { change: "added" } }, h("p", { class: "stat-label" }, "Join"), names(added, "join")),
      h("div", { dataset: { change: "removed" } }, h("p", { class: "stat-label" }, "Leave"), names(removed, "leave"))));
}

function moversTable(title, movers, key) {
  if (!movers.length) return null;
  return h("div", { class: "table-wrap" }, h("table", { class: "data movers", id: `movers-${key}` },
    h("caption", {}, title),
    h("thead", {}, h("tr", {}, ["Domain", "Before", "Now", "Change", "Status"].map((t, i) => h("th", { scope: "col", class: i && i < 4 ? "num" : null }, t)))),
    h("tbody", {}, movers.slice(0, 10).map((m) => h("tr", { dataset: { domain: m.domain } },
      h("th", { scope: "row" }, m.domain),
      h("td", { class: "num" }, fmt.score(m.base_score)),
      h("td", { class: "num" }, fmt.score(m.head_score)),
      h("td", { class: "num" }, signed(m.change)),
      h("td", {}, m.base_status === m.head_status ? badge(m.head_status) : [badge(m.base_status), " → ", badge(m.head_status)]))))));
}

// how each of the diff's campaign figures reads, and its change
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const plus = (v, text) => (isNum(v) ? `${v > 0 ? "+" : v < 0 ? "-" : ""}${text}` : "—");
const KINDS = {
  score: [fmt.score, (v) => signed(v)],
  count: [fmt.int, (v) => plus(v, fmt.int(Math.abs(v)))],
  money: [fmt.money, (v) => plus(v, fmt.money(Math.abs(v)))],
  rate: [(v) => fmt.pct(v), (v) => (isNum(v) ? `${signed(v * 100, 3)} pts` : "—")],
};
const FIGURES = {
  campaign_score: ["Campaign score", "score"],
  median_score: ["Median score", "score"],
  total_impressions: ["Impressions", "count"],
  impressions: ["Impressions", "count"],
  total_spend: ["Spend", "money"],
  spend: ["Spend", "money"],
  average_cpm: ["Average CPM", "money"],
  cpm: ["CPM", "money"],
  row_count: ["Rows", "count"],
  whitelist_count: ["Whitelist entries", "count"],
  blacklist_count: ["Blacklist entries", "count"],
};
function figure(name) {
  const [text, kind] = FIGURES[name] || [metricName(name), /(rate|ctr)$/.test(name) ? "rate" : /count$/.test(name) ? "count" : "score"];
  return [text, ...KINDS[kind]];
}

function metricsTable(campaign) {
  const rows = [["campaign_score", campaign.campaign_score || {}], ...Object.entries(campaign.metrics || {})];
  return h("div", { class: "table-wrap" }, h("table", { class: "data diff-metrics", id: "diff-metrics" },
    h("caption", { class: "sr-only" }, "The campaign's score and metrics, last run against this one"),
    h("thead", {}, h("tr", {}, ["", "Last run", "This run", "Change"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
    h("tbody", {}, rows.map(([name, v]) => {
      const [text, show, change] = figure(name);
      return h("tr", { dataset: { metric: name } }, h("th", { scope: "row" }, text), h("td", { class: "num" }, show(v.base)), h("td", { class: "num" }, show(v.head)), h("td", { class: "num" }, change(v.change)));
    }))));
}

/** The panel; hidden until the diff answers (a campaign with one run has none). */
export function changesPanel(id, view, ctx) {
  const body = h("div", {}, h("p", { class: "muted" }, "Comparing with the last run…"));
  const el = h("section", { class: "card changes", id: "changes-panel", "aria-labelledby": "changes-title" }, h("h2", { id: "changes-title" }, "Since last run"), body);
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite", id: "changes-download-status" });

  // nothing to compare: said in the buyer's words before asking (the API's 409 says it too)
  function nothingYet() {
    const completed = view.runs.filter((r) => r.status === "completed"); // newest first
    const head = view.runId || completed.find((r) => r.latest_results)?.id;
    if (completed.length < 2) return "Nothing to compare yet: this is the campaign's only completed run. Score it again (next week's export, or a re-score) to see what changed.";
    if (completed[completed.length - 1].id === head) return "This is the campaign's first run: there is no earlier run to compare it with.";
    return null;
  }

  async function load() {
    const none = nothingYet();
    if (none) {
      replace(body, h("p", { class: "muted", id: "changes-none" }, none));
      return;
    }
    let data;
    try {
      ({ data } = await API.get(`/scoring/diff/${encodeURIComponent(id)}`, view.runId ? { head: view.runId } : {}));
    } catch (err) {
      if (!ctx.alive()) return;
      // 409: fewer than two completed runs, nothing to compare yet
      replace(body, h("p", { class: err.status === 409 ? "muted" : "form-error", id: "changes-none" }, err.status === 409 ? `Nothing to compare yet: ${err.message}` : err.message));
      return;
    }
    if (!ctx.alive()) return;
    const pair = { base: data.base.id || data.base.run_id, head: data.head.id || data.head.run_id };
    const dl = (label, format) => downloadButton(status, label, `/scoring/diff/${encodeURIComponent(id)}/export`, { format, ...pair });
    const lists = data.lists || {};
    const domains = data.domains || {};
    const movers = data.movers || {};
    replace(body,
      h("p", { class: "muted", id: "changes-runs" }, `From the run of ${runLabel(data.base)} to the run of ${runLabel(data.head)}.`),
      metricsTable(data.campaign || {}),
      h("h3", {}, "List changes"),
      h("div", { class: "lists" }, listChanges("whitelist", lists.whitelist || {}), listChanges("blacklist", lists.blacklist || {})),
      h("div", { class: "downloads", role: "group", "aria-label": "List change downloads" },
        dl("List changes Trade Desk JSON", "ttd"),
        dl("List changes DV360 JSON", "dv360"),
        dl("List changes text", "text")),
      status,
      h("h3", {}, "Domains"),
      h("p", { id: "changes-domains" }, `${fmt.int(domains.new?.count)} new since the last run, ${fmt.int(domains.vanished?.count)} no longer in the file.`),
      moversTable("Largest rises", movers.up || [], "up"),
      moversTable("Largest falls", movers.down || [], "down"),
      moversTable("Status changes", movers.status || [], "status"));
  }

  return { el, load };
}
