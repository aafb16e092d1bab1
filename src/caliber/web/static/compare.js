// Compare campaigns (issue 20 §3), reached from the dashboard: pick two or more completed
// campaigns and see their scores, metrics and list overlap side by side. The first one
// picked is the base: GET /scoring/compare answers each other one against it (scores,
// each metric's impression-weighted average and its effect on the score, rows in
// common); the lists' overlap is counted from each campaign's lists in use.
import * as API from "./api.js";
import { h, replace, fmt } from "./dom.js";
import { setupText } from "./dashboard.js";
import { metricName, metricValue } from "./results.js";

const PATH = "/app/compare";

/** The campaign ids in the address (?ids=a,b,c), in order, without repeats. */
export function idsInAddress() {
  const raw = new URLSearchParams(window.location.search).get("ids") || "";
  return [...new Set(raw.split(",").map((s) => s.trim()).filter(Boolean))];
}

export async function comparePage(root, ctx) {
  document.title = "Compare campaigns · Caliber";
  const chosen = idsInAddress();
  const pickError = h("p", { class: "form-error", role: "alert", id: "compare-error" });
  const picker = h("fieldset", { class: "compare-pick", id: "compare-pick" }, h("legend", { class: "sr-only" }, "Completed campaigns"), h("p", { class: "muted" }, "Loading your campaigns…"));
  const result = h("div", { id: "compare-result" });
  const form = h("form", { onsubmit: (e) => (e.preventDefault(), submit()) },
    picker, h("div", { class: "actions" }, h("button", { type: "submit", class: "btn primary", id: "compare-button" }, "Compare")), pickError);
  replace(root,
    h("div", { class: "page-head" }, h("a", { href: "/", "data-link": "", class: "back" }, "← All campaigns"), h("h1", {}, "Compare campaigns"),
      h("p", { class: "muted" }, "Pick two or more scored campaigns. The first one you pick is the base the others are compared with.")),
    h("section", { class: "card", "aria-labelledby": "pick-title" }, h("h2", { id: "pick-title" }, "Campaigns"), form),
    result);

  let campaigns = [];
  try {
    campaigns = (await API.get("/campaigns", { status: "completed", limit: 100 })).data || [];
  } catch (err) {
    if (ctx.alive()) replace(picker, h("p", { class: "form-error" }, err.message));
    return;
  }
  if (!ctx.alive()) return;
  // the order of picking is the order of the columns: a box ticked joins at the end
  const order = chosen.filter((id) => campaigns.some((c) => c.id === id));
  if (campaigns.length < 2) {
    replace(picker, h("legend", { class: "sr-only" }, "Completed campaigns"), h("p", { class: "empty-state" }, "Score at least two campaigns to compare them."));
  } else {
    replace(picker, h("legend", { class: "sr-only" }, "Completed campaigns"), campaigns.map((c) => {
      const box = h("input", { type: "checkbox", value: c.id, id: `pick-${c.id}`, checked: order.includes(c.id) });
      box.addEventListener("change", () => {
        const at = order.indexOf(c.id);
        if (box.checked && at < 0) order.push(c.id);
        if (!box.checked && at >= 0) order.splice(at, 1);
      });
      return h("label", { for: box.id }, box, h("span", {}, h("strong", {}, c.name), h("span", { class: "sub" }, ` ${setupText(c)} · score ${fmt.score(c.campaign_level_score)}`)));
    }));
  }

  function submit() {
    pickError.textContent = "";
    if (order.length < 2) {
      pickError.textContent = "Pick at least two campaigns.";
      return;
    }
    ctx.navigate(`${PATH}?ids=${order.map(encodeURIComponent).join(",")}`);
  }

  if (order.length >= 2) await renderComparison(result, order.map((id) => campaigns.find((c) => c.id === id)), ctx);
}

async function renderComparison(root, picked, ctx) {
  replace(root, h("p", { class: "loading", role: "status" }, "Comparing…"));
  const [base, ...others] = picked;
  let summaries, lists;
  try {
    summaries = await Promise.all(picked.map((c) => API.get(`/scoring/summary/${encodeURIComponent(c.id)}`).then((r) => r.data)));
    lists = await Promise.all(picked.map(async (c) => ({
      whitelist: new Set((await API.get(`/scoring/whitelist/${encodeURIComponent(c.id)}`)).data.domains),
      blacklist: new Set((await API.get(`/scoring/blacklist/${encodeURIComponent(c.id)}`)).data.domains),
    })));
  } catch (err) {
    if (ctx.alive()) replace(root, h("p", { class: "form-error", role: "alert" }, err.message));
    return;
  }
  // the comparisons are heavy requests: one after the other
  const pairs = [];
  for (const other of others) {
    try {
      pairs.push({ data: (await API.get("/scoring/compare", { before: base.id, after: other.id })).data });
    } catch (err) {
      pairs.push({ error: err.message });
    }
    if (!ctx.alive()) return;
  }
  const head = h("tr", {}, h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Figure")), picked.map((c, i) => h("th", { scope: "col", class: "num" }, c.name, i === 0 ? h("span", { class: "sub" }, " (base)") : null)));
  const line = (label, cells, key) => h("tr", { dataset: { row: key } }, h("th", { scope: "row" }, label), cells.map((v) => h("td", { class: "num" }, v)));
  const counts = (s, k) => fmt.int((s.status_counts || {})[k] || 0);
  const scores = h("table", { class: "data compare", id: "compare-scores" },
    h("caption", { class: "sr-only" }, "Scores side by side"), h("thead", {}, head.cloneNode(true)),
    h("tbody", {},
      line("Campaign score", summaries.map((s) => fmt.score(s.campaign_level_score)), "campaign_score"),
      line("Change from the base", [null, ...pairs.map((p) => (p.data ? `${p.data.change > 0 ? "+" : ""}${p.data.change.toFixed(2)}` : "—"))].map((v) => v ?? "—"), "change"),
      line("Mean score", summaries.map((s) => fmt.one(s.score_distribution?.mean)), "mean"),
      line("Rows scored", summaries.map((s) => fmt.int(s.row_count)), "rows"),
      line("Impressions", summaries.map((s) => fmt.int(s.total_impressions)), "impressions"),
      line("Spend", summaries.map((s) => fmt.money(s.total_spend)), "spend"),
      line("Good · moderate · poor", summaries.map((s) => `${counts(s, "good")} · ${counts(s, "moderate")} · ${counts(s, "poor")}`), "statuses"),
      line("Whitelist", lists.map((l) => fmt.int(l.whitelist.size)), "whitelist"),
      line("Blacklist", lists.map((l) => fmt.int(l.blacklist.size)), "blacklist")));

  // metrics: each one's impression-weighted average (the base's from the first comparison)
  const first = pairs.find((p) => p.data)?.data;
  const metricRows = (first?.changes || []).map((m) => m.metric);
  const valueIn = (p, metric, side) => p.data?.changes.find((c) => c.metric === metric)?.[side];
  const metrics = metricRows.length ? h("table", { class: "data compare", id: "compare-metrics" },
    h("caption", { class: "sr-only" }, "Each metric's impression-weighted average"), h("thead", {}, head.cloneNode(true)),
    h("tbody", {}, metricRows.map((m) => line(metricName(m), [metricValue(m, valueIn({ data: first }, m, "before")), ...pairs.map((p) => (p.data ? metricValue(m, valueIn(p, m, "after")) : "—"))], m)))) : null;

  // what moved each score from the base's, in the engine's words
  const sentences = h("ul", { class: "compare-summaries", id: "compare-summaries" }, others.map((c, i) => h("li", {}, h("strong", {}, `${c.name}: `), pairs[i].data ? pairs[i].data.summary : pairs[i].error)));

  // the lists' overlap, pair by pair, and what every campaign lists
  const overlapRows = [];
  for (let i = 0; i < picked.length; i += 1) {
    for (let j = i + 1; j < picked.length; j += 1) {
      const shared = (k) => [...lists[i][k]].filter((d) => lists[j][k].has(d)).length;
      const common = i === 0 && pairs[j - 1].data ? fmt.int(pairs[j - 1].data.common_rows) : "—";
      overlapRows.push(h("tr", { dataset: { pair: `${i}-${j}` } }, h("th", { scope: "row" }, `${picked[i].name} and ${picked[j].name}`),
        h("td", { class: "num" }, fmt.int(shared("whitelist"))), h("td", { class: "num" }, fmt.int(shared("blacklist"))), h("td", { class: "num" }, common)));
    }
  }
  const inAll = (k) => [...lists[0][k]].filter((d) => lists.every((l) => l[k].has(d)));
  const overlap = h("table", { class: "data", id: "compare-overlap" },
    h("caption", { class: "sr-only" }, "List overlap"),
    h("thead", {}, h("tr", {}, ["Campaigns", "On both whitelists", "On both blacklists", "Rows in common"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
    h("tbody", {}, overlapRows));
  const everywhere = picked.length > 2 ? h("p", { id: "compare-in-all" }, `On every campaign's whitelist: ${fmt.int(inAll("whitelist").length)}; on every blacklist: ${fmt.int(inAll("blacklist").length)}.`) : null;

  replace(root,
    h("section", { class: "card", "aria-labelledby": "cmp-scores" }, h("h2", { id: "cmp-scores" }, "Scores"), h("div", { class: "table-wrap" }, scores), sentences),
    metrics ? h("section", { class: "card", "aria-labelledby": "cmp-metrics" }, h("h2", { id: "cmp-metrics" }, "Metrics"), h("p", { class: "hint" }, "Each metric's average over the campaign, weighted by impressions."), h("div", { class: "table-wrap" }, metrics)) : null,
    h("section", { class: "card", "aria-labelledby": "cmp-overlap" }, h("h2", { id: "cmp-overlap" }, "List overlap"), h("div", { class: "table-wrap" }, overlap), everywhere));
}
