// Runs (issue 18): every scoring of a campaign is kept. The run history, the run selector
// every view honours (view.q adds run_id to each read), and one domain's history.
import * as API from "./api.js";
import { h, replace, field, select, fmt, badge } from "./dom.js";

/** Which run the page shows: runId null is the latest completed run (no run_id sent). */
export function runView(runId) {
  return {
    runId: runId || null,
    runs: [],
    q(extra = {}) {
      return this.runId ? { ...extra, run_id: this.runId } : { ...extra };
    },
    latest() {
      return this.runId === null;
    },
  };
}

// ?run=ID keeps an earlier run on screen across a reload (no parameter: the latest)
export const runInAddress = () => new URLSearchParams(window.location.search).get("run");
function keepInAddress(runId) {
  const url = new URL(window.location.href);
  if (runId) url.searchParams.set("run", runId);
  else url.searchParams.delete("run");
  window.history.replaceState(window.history.state, "", url.pathname + url.search);
}

const when = (run) => fmt.date(run.completed_at || run.finished_at || run.started_at);
export const runLabel = (run) => `${when(run)} · ${run.file_name || run.original_filename || "file"}`;

/**
 * The history card: a table of the campaign's runs and a selector of its completed
 * ones. onSelect(runId | null) is called when the user picks another run.
 */
export function runHistory(id, view, ctx, onSelect) {
  const picker = field("Run shown", select([["", "Latest completed run"]], "", { id: "run-select" }), "Every view below (results, charts, lists, downloads, PDF, drawer) reads this run.");
  const tableWrap = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading the runs…"));
  const error = h("p", { class: "form-error", role: "alert" });
  const el = h("section", { class: "card runs", id: "run-history", "aria-labelledby": "runs-title", hidden: true },
    h("div", { class: "card-head" }, h("h2", { id: "runs-title" }, "Run history"), h("div", { class: "inline-field" }, picker.wrap)),
    error, tableWrap);
  picker.input.addEventListener("change", () => choose(picker.input.value || null));

  function choose(runId) {
    const latest = view.runs.find((r) => r.latest_results);
    view.runId = runId && (!latest || latest.id !== runId) ? runId : null;
    picker.input.value = view.runId || "";
    keepInAddress(view.runId);
    render();
    onSelect(view.runId);
  }

  async function refresh() {
    error.textContent = "";
    let res;
    try {
      res = await API.get(`/campaigns/${encodeURIComponent(id)}/runs`, { page: 1, per_page: 50 });
    } catch (err) {
      if (ctx.alive()) error.textContent = err.message;
      return;
    }
    if (!ctx.alive()) return;
    view.runs = res.data || [];
    el.hidden = view.runs.length === 0;
    if (view.runId && !view.runs.some((r) => r.id === view.runId && r.status === "completed" && !r.latest_results)) {
      view.runId = null; // gone (retention), not completed, or the latest anyway
      keepInAddress(null);
    }
    const completed = view.runs.filter((r) => r.status === "completed");
    // the latest completed run is "" (no run_id): what every read answers by default
    replace(picker.input, completed.map((r) => h("option", { value: r.latest_results ? "" : r.id }, `${runLabel(r)}${r.latest_results ? " (latest)" : ""}`)));
    picker.input.value = view.runId || "";
    render();
  }

  function render() {
    const shown = (r) => (view.runId ? r.id === view.runId : r.latest_results);
    const num = (v) => h("td", { class: "num" }, fmt.int(v));
    replace(tableWrap, h("table", { class: "data runs", id: "runs-table" },
      h("caption", { class: "sr-only" }, "The campaign's scoring runs, newest first"),
      h("thead", {}, h("tr", {}, ["Date", "File", "Status", "Campaign score", "Rows", "Whitelist", "Blacklist", ""].map((t, i) => h("th", { scope: "col", class: i >= 3 && i < 7 ? "num" : null }, t)))),
      h("tbody", {}, view.runs.map((r) => h("tr", { dataset: { run: r.id }, class: shown(r) ? "current" : null, "aria-current": shown(r) ? "true" : null },
        h("td", {}, when(r)),
        h("td", { class: "file" }, r.file_name || "—"),
        h("td", {}, badge(r.status), r.status === "failed" && r.error_message ? h("span", { class: "sub" }, ` ${r.error_message}`) : null),
        h("td", { class: "num" }, fmt.score(r.campaign_level_score)),
        num(r.row_count),
        num(r.whitelist_count),
        num(r.blacklist_count),
        h("td", {}, shown(r)
          ? h("span", { class: "sub" }, "shown")
          : r.status === "completed"
            ? h("button", { type: "button", class: "btn small", onclick: () => choose(r.id) }, "View", h("span", { class: "sr-only" }, ` the run of ${runLabel(r)}`))
            : null))))));
  }

  return { el, refresh, choose };
}

/**
 * The drawer's part: the domain's score, status, volume and list in every run; `loaded`
 * settles when it is shown (the drawer then asks for the explanation: both are heavy).
 */
export function domainHistory(id, domain, view) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading its history…"));
  const el = h("section", { class: "domain-history", id: "domain-history", "aria-labelledby": "history-title" }, h("h3", { id: "history-title" }, "History over runs"), body);
  const loaded = API.get(`/scoring/history/${encodeURIComponent(id)}/${encodeURIComponent(domain)}`).then(({ data }) => {
    const runs = data.runs || [];
    const current = view.runId || view.runs.find((r) => r.latest_results)?.id;
    replace(body, h("div", { class: "table-wrap" }, h("table", { class: "data history", id: "history-table" },
      h("caption", { class: "sr-only" }, `${domain} in each run, oldest first`),
      h("thead", {}, h("tr", {}, ["Run", "Score", "Status", "Impressions", "Spend", "List"].map((t, i) => h("th", { scope: "col", class: i && i !== 2 && i !== 5 ? "num" : null }, t)))),
      h("tbody", {}, runs.map((r) => h("tr", { dataset: { run: r.run_id }, class: r.run_id === current ? "current" : null, "aria-current": r.run_id === current ? "true" : null },
        h("th", { scope: "row" }, fmt.date(r.completed_at), h("span", { class: "sub" }, ` ${r.original_filename || ""}`)),
        ...(r.present
          ? [h("td", { class: "num" }, fmt.score(r.score)), h("td", {}, badge(r.quality_status)), h("td", { class: "num" }, fmt.int(r.impressions)), h("td", { class: "num" }, fmt.money(r.spend)), h("td", {}, r.list || "—")]
          : [h("td", { colspan: "5", class: "muted" }, "not in this run's file")])))))));
  }).catch((err) => replace(body, h("p", { class: err.status === 404 ? "muted" : "form-error" }, err.message)));
  return { el, loaded };
}
