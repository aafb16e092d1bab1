// The run's lists in use (classic, or confident when the run was scored with confidence)
// and every download of that run: lists for each DSP, the reports and the PDF.
import * as API from "./api.js";
import { h, replace, fmt } from "./dom.js";

/** A button that downloads path (with query) and says what happened in `status`. */
export function downloadButton(status, label, path, query, fallback) {
  return h("button", {
    type: "button",
    class: "btn small",
    dataset: { download: label },
    onclick: async (e) => {
      const btn = e.currentTarget;
      btn.disabled = true;
      status.textContent = `Preparing ${label}…`;
      status.classList.remove("error");
      try {
        const name = await API.download(path, query, fallback);
        status.textContent = `Downloaded ${name}.`;
      } catch (err) {
        status.textContent = `${label}: ${err.message}`;
        status.classList.add("error");
      } finally {
        btn.disabled = false;
      }
    },
  }, label);
}

const SHOWN = 500;

function ruleText(kind, crit) {
  const bar = kind === "whitelist" ? `score ≥ ${fmt.one(crit.whitelist_min_score)}` : `score ≤ ${fmt.one(crit.blacklist_max_score)}`;
  const sure = typeof crit.list_confidence === "number" ? `at least ${Math.round(crit.list_confidence * 100)}% sure of ${bar}` : bar;
  return `${sure}, at least ${fmt.int(crit.min_impressions)} impressions`;
}

export function listsSection(id, view) {
  const enc = encodeURIComponent(id);
  const exp = `/reports/export/campaigns/${enc}`;
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite", id: "download-status" });
  const dl = (label, path, query) => downloadButton(status, label, path, view.q(query));
  const listCard = (kind) => {
    const title = kind === "whitelist" ? "Whitelist" : "Blacklist";
    const content = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    API.get(`/scoring/${kind}/${enc}`, view.q()).then(({ data }) => {
      const crit = data.criteria_used || {};
      // a big campaign's list has tens of thousands of entries: drawing them all holds
      // the browser for seconds; the first SHOWN are listed, the downloads hold them all
      const shown = data.domains.slice(0, SHOWN);
      const rest = data.domains.length - shown.length;
      replace(content,
        h("p", { class: "list-facts" }, h("strong", {}, `${fmt.int(data.domains.length)} entries`), ` · average score ${fmt.one(data.average_score)} · ${fmt.int(data.total_impressions)} impressions · ${ruleText(kind, crit)}`),
        shown.length ? h("ol", { class: "domain-list", tabindex: "0", "aria-label": `${title} entries` }, shown.map((d) => h("li", {}, d))) : h("p", { class: "muted" }, "The list is empty."),
        rest > 0 ? h("p", { class: "hint list-rest" }, `The first ${fmt.int(SHOWN)} are shown; the downloads below hold all ${fmt.int(data.domains.length)}.`) : null);
    }).catch((err) => replace(content, h("p", { class: "form-error" }, err.message)));
    return h("div", { class: `list-card ${kind}`, id: `list-${kind}` },
      h("h3", {}, title),
      content,
      h("div", { class: "downloads", role: "group", "aria-label": `${title} downloads` },
        dl(`${title} CSV`, `${exp}/${kind}/csv`),
        dl(`${title} JSON`, `${exp}/${kind}/json`),
        dl(`${title} DSP text (web)`, `${exp}/${kind}/txt`),
        dl(`${title} DSP text (apps)`, `${exp}/${kind}/txt`, { entries: "apps" }),
        dl(`${title} Trade Desk JSON`, `${exp}/${kind}/trade-desk`),
        dl(`${title} DV360 JSON`, `${exp}/${kind}/dv360`)));
  };
  return h("section", { class: "card", "aria-labelledby": "lists-title" },
    h("h2", { id: "lists-title" }, "Lists and downloads"),
    h("div", { class: "lists" }, listCard("whitelist"), listCard("blacklist")),
    h("h3", {}, "Reports"),
    h("div", { class: "downloads", role: "group", "aria-label": "Report downloads" },
      dl("Results CSV", `${exp}/results/csv`),
      dl("Summary CSV", `${exp}/summary/csv`),
      dl("Campaign JSON", `${exp}/data/json`),
      dl("PDF report", `/reports/campaigns/${enc}/pdf`)),
    status);
}
