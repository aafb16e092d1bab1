// Housekeeping (issue 20): deleting a campaign or a template after a confirmation that
// names what goes, and the background exports (status, download, delete; a new one of
// the run on screen from the campaign page).
import * as API from "./api.js";
import { h, replace, field, select, fmt, badge, nextId } from "./dom.js";
import * as Org from "./org.js";

/**
 * A modal confirmation (the native <dialog>: focus stays inside, Escape cancels, focus
 * returns to the button that opened it). lines: what goes, one sentence each; blocked:
 * a reason the action cannot be taken (the confirm button is then disabled). action:
 * async, its error is shown in the dialog, which stays open. Resolves true once done.
 */
export function confirmAction({ title, lines = [], blocked = null, confirmLabel = "Delete", action }) {
  return new Promise((resolve) => {
    const titleId = nextId("confirm-title");
    const error = h("p", { class: "form-error", role: "alert" });
    const confirm = h("button", { type: "button", class: "btn danger-solid", disabled: Boolean(blocked), id: "confirm-action" }, confirmLabel);
    const cancel = h("button", { type: "button", class: "btn" }, "Cancel");
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": titleId, id: "confirm-dialog" },
      h("h2", { id: titleId }, title),
      lines.length ? h("ul", { class: "goes" }, lines.map((t) => h("li", {}, t))) : null,
      blocked ? h("p", { class: "blocked", id: "confirm-blocked" }, blocked) : null,
      error,
      h("div", { class: "actions" }, confirm, cancel),
    );
    let done = false;
    const finish = (value) => {
      done = value;
      dialog.close();
    };
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(done);
    });
    cancel.addEventListener("click", () => finish(false));
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      error.textContent = "";
      try {
        await action();
        finish(true);
      } catch (err) {
        error.textContent = err.message;
        confirm.disabled = false;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus(); // the safe choice first
  });
}

const plural = (n, one, many = `${one}s`) => `${fmt.int(n)} ${n === 1 ? one : many}`;

async function campaignExports(campaignId) {
  const { data } = await API.get("/reports/exports");
  return (data || []).filter((e) => e.campaign_id === campaignId);
}

/**
 * The campaign page's delete button. A campaign being scored or completed cannot be
 * deleted (the API's 409, docs/service.md): the confirmation says so, read at the click
 * (the page changes campaign.status as runs start and end).
 */
export function deleteCampaignButton(campaign, ctx) {
  const button = h("button", { type: "button", class: "btn small danger", id: "delete-campaign" }, "Delete campaign");
  button.addEventListener("click", async () => {
    const enc = encodeURIComponent(campaign.id);
    let runs = 0;
    let exports = [];
    try {
      [runs, exports] = await Promise.all([API.get(`/campaigns/${enc}/runs`, { per_page: 1 }).then((r) => r.total || 0), campaignExports(campaign.id)]);
    } catch {
      /* the confirmation still names what goes, without counts */
    }
    const blocked = campaign.status === "processing" ? "It is being scored: cancel the run or wait for it to end first." : campaign.status === "completed" ? "A completed campaign keeps its results and cannot be deleted." : null;
    const deleted = await confirmAction({
      title: `Delete the campaign “${campaign.name}”?`,
      lines: [
        `Its ${plural(runs, "scoring run")} and their results, lists and reports.`,
        "Its AI insights, chat history and notifications.",
        exports.length ? `Its ${plural(exports.length, "background export")}, removed at the next cleanup.` : "It has no background exports.",
        campaign.file_upload_id ? "Its uploaded file stays in Your files, to delete there if you wish." : "It has no uploaded file.",
      ],
      blocked,
      confirmLabel: "Delete campaign",
      action: () => API.del(`/campaigns/${enc}`),
    });
    if (deleted) ctx.navigate(`/?deleted=${encodeURIComponent(campaign.name)}`);
  });
  return button;
}

/** Confirm and delete a template; campaigns made from it block it (the API's 409). */
export async function deleteTemplate(template) {
  let users = [];
  try {
    const { data } = await API.get("/campaigns", { limit: 100 });
    users = (data || []).filter((c) => c.template_id === template.id);
  } catch {
    /* the API still refuses a template in use */
  }
  const names = users.slice(0, 5).map((c) => `“${c.name}”`).join(", ") + (users.length > 5 ? ` and ${users.length - 5} more` : "");
  return confirmAction({
    title: `Delete the template “${template.name}”?`,
    lines: ["Its saved setup (platform, goal, channel, thresholds, weights, reading choices and list confidence). Campaigns keep the setups they copied."],
    blocked: users.length ? `${plural(users.length, "campaign")} made from it (${names}) must be deleted first.` : null,
    confirmLabel: "Delete template",
    action: () => API.del(`/campaigns/templates/${encodeURIComponent(template.id)}`),
  });
}

// ---- background exports ------------------------------------------------------------------
const FORMATS = [
  ["results_csv", "Results CSV"],
  ["summary_csv", "Summary CSV"],
  ["optimization_lists_csv", "Both lists CSV"],
  ["whitelist_csv", "Whitelist CSV"],
  ["blacklist_csv", "Blacklist CSV"],
  ["whitelist_trade_desk", "Whitelist, Trade Desk JSON"],
  ["blacklist_trade_desk", "Blacklist, Trade Desk JSON"],
  ["whitelist_dv360", "Whitelist, DV360 JSON"],
  ["blacklist_dv360", "Blacklist, DV360 JSON"],
  ["campaign_json", "Campaign JSON"],
  ["pdf", "PDF report"],
];
export const formatName = (f) => FORMATS.find(([v]) => v === f)?.[1] || fmt.label(f);
const PENDING = new Set(["pending", "processing"]);

/**
 * The exports list: every export of the user (dashboard), or one campaign's with a form
 * that renders a new one of the run on screen (campaign page: opts.campaignId, opts.view).
 */
export function exportsPanel(ctx, { campaignId = null, view = null, names = () => ({}) } = {}) {
  const status = h("p", { class: "form-status", role: "status", id: campaignId ? "campaign-exports-status" : "exports-status" });
  const wrap = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading exports…"));
  const titleId = nextId("exports-title");
  let form = null;
  // a viewer downloads the exports and prepares or deletes none (issue 21)
  const work = Org.can("work");
  if (campaignId && !work) form = Org.readOnlyNote("prepare or delete exports", { id: "no-exports" });
  if (campaignId && work) {
    const pick = field("Format", select(FORMATS, "results_csv", { id: "export-format" }));
    form = h("form", {
      class: "export-form",
      onsubmit: async (e) => {
        e.preventDefault();
        status.classList.remove("error");
        try {
          const options = view && view.runId ? { run_id: view.runId } : {};
          await API.post("/reports/exports", { campaign_id: campaignId, format: pick.input.value, options });
          status.textContent = `${formatName(pick.input.value)} is being prepared.`;
          load();
        } catch (err) {
          status.textContent = err.message;
          status.classList.add("error");
        }
      },
    }, pick.wrap, h("button", { type: "submit", class: "btn small" }, "Prepare in the background"));
  }
  const el = h("section", { class: "card exports", id: campaignId ? "campaign-exports" : "exports", "aria-labelledby": titleId },
    h("div", { class: "card-head" }, h("h2", { id: titleId }, campaignId ? "Background exports" : "Exports"),
      h("button", { type: "button", class: "btn small ghost", onclick: () => load() }, "Refresh", h("span", { class: "sr-only" }, " the exports"))),
    campaignId ? h("p", { class: "hint" }, "For large campaigns: the file is rendered on the server and kept for a day.") : null,
    form, status, wrap);
  let timer = null;

  async function load() {
    let list;
    try {
      list = (await API.get("/reports/exports")).data || [];
    } catch (err) {
      if (ctx.alive()) replace(wrap, h("p", { class: "form-error" }, err.message));
      return;
    }
    if (!ctx.alive() || !el.isConnected) return;
    if (campaignId) list = list.filter((x) => x.campaign_id === campaignId);
    render(list);
    clearTimeout(timer);
    if (list.some((x) => PENDING.has(x.status))) timer = setTimeout(() => ctx.alive() && el.isConnected && load(), 1500);
  }

  function render(list) {
    if (!list.length) {
      replace(wrap, h("p", { class: "empty-state" }, campaignId ? "No background exports of this campaign." : "No exports. Prepare one from a campaign's page."));
      return;
    }
    const campaignNames = names();
    replace(wrap, h("table", { class: "data exports-table" },
      h("caption", { class: "sr-only" }, "Background exports, newest first"),
      h("thead", {}, h("tr", {}, [campaignId ? null : "Campaign", "Export", "Status", "Created", "Size", "Actions"].filter(Boolean).map((t) => h("th", { scope: "col", class: t === "Size" ? "num" : null }, t)))),
      h("tbody", {}, list.map((x) => {
        const what = formatName(x.format);
        const actions = h("div", { class: "btns" },
          x.status === "completed" ? h("button", { type: "button", class: "btn small", dataset: { export: x.id }, onclick: () => download(x) }, "Download", h("span", { class: "sr-only" }, ` ${what}`)) : null,
          work && h("button", { type: "button", class: "btn small danger", onclick: () => remove(x, what) }, "Delete", h("span", { class: "sr-only" }, ` ${what}`)));
        return h("tr", { dataset: { export: x.id } },
          campaignId ? null : h("td", {}, x.campaign_id ? campaignNames[x.campaign_id] || "another campaign" : "deleted campaign"),
          h("td", {}, what, x.filename ? h("span", { class: "sub block" }, x.filename) : null),
          h("td", {}, badge(x.status), x.error_message ? h("span", { class: "sub block" }, x.error_message) : null),
          h("td", {}, fmt.date(x.created_at)),
          h("td", { class: "num" }, x.size_bytes ? size(x.size_bytes) : "—"),
          h("td", {}, actions));
      }))));
  }

  async function download(x) {
    status.classList.remove("error");
    try {
      const name = await API.download(`/reports/exports/${encodeURIComponent(x.id)}/download`, {}, x.filename || "export");
      status.textContent = `Downloaded ${name}.`;
    } catch (err) {
      status.textContent = err.message;
      status.classList.add("error");
    }
  }

  async function remove(x, what) {
    const gone = await confirmAction({
      title: `Delete the export “${x.filename || what}”?`,
      lines: ["Its file goes; the campaign and its results stay, and the export can be prepared again."],
      confirmLabel: "Delete export",
      action: () => API.del(`/reports/exports/${encodeURIComponent(x.id)}`),
    });
    if (gone) {
      status.textContent = `Deleted ${x.filename || what}.`;
      load();
    }
  }

  return { el, load };
}

export function size(bytes) {
  if (bytes < 1024) return `${fmt.int(bytes)} B`;
  if (bytes < 1024 * 1024) return `${fmt.one(bytes / 1024)} KB`;
  return `${fmt.one(bytes / 1048576)} MB`;
}
