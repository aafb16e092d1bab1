// The dashboard: figures, the campaigns table, the new-campaign form and templates.
import * as API from "./api.js";
import { h, replace, field, select, fmt, badge } from "./dom.js";
import { stackedBar, statusColor } from "./charts.js";
import { CONFIDENCE_WHY, levelOptions } from "./confidence.js";
import { deleteTemplate, exportsPanel } from "./housekeeping.js";
import { filesPanel } from "./files.js";
import * as Org from "./org.js";

export const PLATFORMS = [["trade_desk", "The Trade Desk"], ["pulsepoint", "PulsePoint"]];
export const GOALS = [["awareness", "Awareness"], ["action", "Action"]];
export const CHANNELS = [["display", "Display"], ["video", "Video"], ["ctv", "CTV"], ["audio", "Audio"]];
// `caliber configs`: the supported platform / channel pairs (both goals each).
const SUPPORTED = {
  trade_desk: ["display", "video", "ctv", "audio"],
  pulsepoint: ["display", "video"],
};
const PAGE = 10;

export function setupText(c) {
  const p = PLATFORMS.find(([v]) => v === c.platform)?.[1] || c.platform;
  const sure = typeof c.list_confidence === "number" ? ` · confidence ${c.list_confidence}` : "";
  return `${p} · ${fmt.label(c.goal)} · ${fmt.label(c.channel)}${c.ctr_sensitivity ? " · CTR-sensitive" : ""}${sure}`;
}

export async function dashboard(root, ctx) {
  document.title = "Dashboard · Caliber";
  const state = { skip: 0, status: "", templates: [] };

  // figures
  const figures = h("section", { class: "cards", "aria-label": "Dashboard figures" }, h("p", { class: "muted" }, "Loading figures…"));

  // campaigns table
  const statusFilter = select([["", "All statuses"], "pending", "processing", "completed", "failed"], "", { id: "status-filter" });
  const tableWrap = h("div", { class: "table-wrap" });
  const tableMsg = h("p", { class: "form-error", role: "alert" });
  const pager = h("div", { class: "pager" });
  const campaignsCard = h(
    "section",
    { class: "card", "aria-labelledby": "campaigns-title" },
    h("div", { class: "card-head" }, h("h2", { id: "campaigns-title" }, "Campaigns"),
      h("div", { class: "actions" }, h("a", { href: "/app/compare", "data-link": "", class: "btn small", id: "compare-link" }, "Compare campaigns"),
        h("div", { class: "inline-field" }, h("label", { for: "status-filter" }, "Status"), statusFilter))),
    tableMsg,
    tableWrap,
    pager,
  );
  statusFilter.addEventListener("change", () => {
    state.status = statusFilter.value;
    state.skip = 0;
    loadCampaigns();
  });

  // new campaign form
  const f = {
    name: field("Campaign name", h("input", { type: "text", required: true, maxlength: 200, autocomplete: "off" })),
    template: field("Start from a template", select([["", "No template"]], "")),
    platform: field("Platform", select(PLATFORMS, "trade_desk")),
    goal: field("Goal", select(GOALS, "awareness")),
    channel: field("Channel", select(CHANNELS, "display")),
    min: field("Minimum impressions", h("input", { type: "number", min: 0, step: 1, value: "250" }), "Rows below this are not put on lists."),
    // issue 17: off is the classic contract; a level lists only what the data decides
    confidence: field("List confidence", select(levelOptions(), "", { id: "list-confidence" }), CONFIDENCE_WHY),
  };
  const ctr = h("input", { type: "checkbox", id: "ctr-sensitivity" });
  const ctrWrap = h("div", { class: "field check" }, ctr, h("label", { for: "ctr-sensitivity" }, "CTR sensitivity (weigh clicks more)"));
  const advice = h("p", { class: "hint advice", "aria-live": "polite" });
  const formError = h("p", { class: "form-error", role: "alert", id: "create-error" });
  const formStatus = h("p", { class: "form-status", role: "status" });
  const setupFields = [f.platform.input, f.goal.input, f.channel.input, f.min.input, ctr, f.confidence.input];
  const checkCombo = () => {
    const p = f.platform.input.value;
    const c = f.channel.input.value;
    advice.textContent = SUPPORTED[p] && !SUPPORTED[p].includes(c) ? `${p === "pulsepoint" ? "PulsePoint" : p} supports ${SUPPORTED[p].join(" and ")} only: the server will refuse this setup.` : "";
  };
  f.platform.input.addEventListener("change", checkCombo);
  f.channel.input.addEventListener("change", checkCombo);
  f.template.input.addEventListener("change", () => {
    const t = state.templates.find((x) => x.id === f.template.input.value);
    for (const el of setupFields) el.disabled = Boolean(t);
    if (t) {
      f.platform.input.value = t.platform;
      f.goal.input.value = t.goal;
      f.channel.input.value = t.channel;
      f.min.input.value = String(t.min_impressions ?? 250);
      ctr.checked = Boolean(t.ctr_sensitivity);
      f.confidence.input.value = typeof t.list_confidence === "number" ? String(t.list_confidence) : "";
    }
    checkCombo();
  });
  const form = h(
    "form",
    {
      class: "stack",
      "aria-describedby": "create-error",
      onsubmit: async (e) => {
        e.preventDefault();
        formError.textContent = "";
        formStatus.textContent = "";
        const body = { name: f.name.input.value.trim() };
        if (!body.name) {
          formError.textContent = "Give the campaign a name.";
          f.name.input.focus();
          return;
        }
        if (f.template.input.value) body.template_id = f.template.input.value;
        else Object.assign(body, currentSetup());
        try {
          const res = await API.post("/campaigns", body);
          formStatus.textContent = `Campaign “${res.data.name}” created.`;
          ctx.navigate(`/app/campaigns/${encodeURIComponent(res.data.id)}`);
        } catch (err) {
          formError.textContent = err.message;
        }
      },
    },
    f.name.wrap,
    f.template.wrap,
    h("div", { class: "row3" }, f.platform.wrap, f.goal.wrap, f.channel.wrap),
    h("div", { class: "row2" }, f.min.wrap, ctrWrap),
    f.confidence.wrap,
    advice,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn primary" }, "Create campaign")),
    formError,
    formStatus,
    h(
      "details",
      { class: "setups" },
      h("summary", {}, "Supported setups"),
      h("ul", {}, h("li", {}, "The Trade Desk: display (awareness or action, optional CTR sensitivity), video, audio, and CTV (scored by supply vendor)."), h("li", {}, "PulsePoint: display and video, awareness or action.")),
    ),
  );
  function currentSetup() {
    const min = Number.parseFloat(f.min.input.value);
    const level = Number.parseFloat(f.confidence.input.value);
    return {
      platform: f.platform.input.value,
      goal: f.goal.input.value,
      channel: f.channel.input.value,
      ctr_sensitivity: ctr.checked,
      ...(Number.isFinite(min) ? { min_impressions: min } : {}),
      ...(Number.isFinite(level) ? { list_confidence: level } : {}),
    };
  }
  // a viewer reads the organization's campaigns and creates none (issue 21)
  const work = Org.can("work");
  const formCard = h("section", { class: "card", "aria-labelledby": "new-title" }, h("h2", { id: "new-title" }, "New campaign"), work ? form : Org.readOnlyNote("create campaigns or templates", { id: "no-create" }));

  // templates
  const tName = field("Template name", h("input", { type: "text", maxlength: 200, autocomplete: "off" }), "Saves the platform, goal, channel, thresholds and list confidence chosen above.");
  const tError = h("p", { class: "form-error", role: "alert" });
  const tList = h("ul", { class: "template-list" });
  const templatesCard = h(
    "section",
    { class: "card", "aria-labelledby": "templates-title" },
    h("h2", { id: "templates-title" }, "Templates"),
    tList,
    work && h(
      "form",
      {
        class: "stack",
        onsubmit: async (e) => {
          e.preventDefault();
          tError.textContent = "";
          const name = tName.input.value.trim();
          if (!name) {
            tError.textContent = "Give the template a name.";
            return;
          }
          try {
            await API.post("/campaigns/templates", { name, ...currentSetup() });
            tName.input.value = "";
            loadTemplates();
          } catch (err) {
            tError.textContent = err.message;
          }
        },
      },
      tName.wrap,
      h("button", { type: "submit", class: "btn" }, "Save setup as template"),
      tError,
    ),
  );

  // housekeeping (issue 20): uploaded files and background exports, under the campaigns
  const names = {};
  const files = filesPanel(ctx);
  const exportsCard = exportsPanel(ctx, { names: () => names });
  const deleted = new URLSearchParams(window.location.search).get("deleted");
  const org = Org.current();
  replace(
    root,
    h("div", { class: "page-head" }, h("h1", {}, "Dashboard"), h("p", { class: "muted" }, "Score your Trade Desk and PulsePoint exports, domain by domain."),
      org && !org.personal ? h("p", { class: "org-note", id: "org-note" }, `Working in “${org.name}”, shared by its members. Your role: ${org.role}.`) : null),
    deleted ? h("p", { class: "notice", role: "status", id: "deleted-notice" }, `The campaign “${deleted}” was deleted.`) : null,
    figures,
    h("div", { class: "dash-grid" }, h("div", { class: "main-col" }, campaignsCard, files.el, exportsCard.el), h("div", { class: "side" }, formCard, templatesCard)),
  );
  if (deleted) history.replaceState(history.state, "", window.location.pathname);

  async function loadStats() {
    try {
      const { data } = await API.get("/campaigns/statistics");
      if (!ctx.alive()) return;
      const c = data.campaigns || {};
      const mix = data.quality_mix || {};
      const card = (label, value, sub) => h("div", { class: "stat" }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value), sub ? h("span", { class: "stat-sub" }, sub) : null);
      const mixTotal = (mix.good || 0) + (mix.moderate || 0) + (mix.poor || 0);
      replace(
        figures,
        card("Campaigns", fmt.int(c.total), `${fmt.int(c.completed)} completed · ${fmt.int(c.processing)} processing · ${fmt.int(c.pending)} pending${c.failed ? ` · ${c.failed} failed` : ""}`),
        card("Average campaign score", fmt.score(data.average_campaign_score), "impression-weighted, completed campaigns"),
        card("Impressions scored", fmt.compact(data.impressions_scored), `${fmt.int(data.rows_scored)} domains and vendors`),
        card("Spend scored", fmt.money(data.spend_scored), data.last_completed_at ? `last scored ${fmt.date(data.last_completed_at)}` : "nothing scored yet"),
        h(
          "div",
          { class: "stat wide" },
          h("span", { class: "stat-label" }, "Quality mix"),
          mixTotal
            ? stackedBar(
                ["good", "moderate", "poor"].map((k) => ({ label: k, value: mix[k] || 0, color: statusColor(k) })),
                "Quality mix of all scored rows",
              )
            : h("span", { class: "stat-sub" }, "No scored rows yet"),
        ),
      );
    } catch (err) {
      if (ctx.alive()) replace(figures, h("p", { class: "form-error", role: "alert" }, err.message));
    }
  }

  async function loadCampaigns() {
    tableMsg.textContent = "";
    try {
      const res = await API.get("/campaigns", { skip: state.skip, limit: PAGE, status: state.status });
      if (!ctx.alive()) return;
      renderTable(res);
    } catch (err) {
      if (ctx.alive()) tableMsg.textContent = err.message;
    }
  }

  function renderTable(res) {
    const rows = res.data || [];
    if (!rows.length) {
      replace(tableWrap, h("p", { class: "empty-state" }, state.status ? `No ${state.status} campaigns.` : work ? "No campaigns yet. Create one with the form." : "No campaigns yet in this organization."));
      replace(pager);
      return;
    }
    const table = h(
      "table",
      { class: "data campaigns" },
      h("caption", { class: "sr-only" }, "Your campaigns"),
      h("thead", {}, h("tr", {}, ["Name", "Status", "Progress", "Score", "Created", "Updated"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        rows.map((c) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `/app/campaigns/${encodeURIComponent(c.id)}`, "data-link": "", class: "campaign-link" }, c.name), h("div", { class: "sub" }, setupText(c))),
            h("td", {}, badge(c.status)),
            h("td", {}, h("div", { class: "mini-progress", title: `${c.progress_percentage ?? 0}%` }, h("span", { style: `width:${Math.max(0, Math.min(100, c.progress_percentage || 0))}%` })), h("span", { class: "sub" }, `${c.progress_percentage ?? 0}%`)),
            h("td", { class: "num" }, fmt.score(c.campaign_level_score)),
            h("td", {}, fmt.date(c.created_at)),
            h("td", {}, fmt.date(c.updated_at)),
          ),
        ),
      ),
    );
    replace(tableWrap, table);
    const from = state.skip + 1;
    const to = state.skip + rows.length;
    replace(
      pager,
      h("button", { type: "button", class: "btn small", disabled: !res.has_prev, onclick: () => ((state.skip = Math.max(0, state.skip - PAGE)), loadCampaigns()) }, "Previous"),
      h("span", { class: "muted" }, `${from}–${to} of ${res.total}`),
      h("button", { type: "button", class: "btn small", disabled: !res.has_next, onclick: () => ((state.skip += PAGE), loadCampaigns()) }, "Next"),
    );
  }

  async function loadTemplates() {
    try {
      const { data } = await API.get("/campaigns/templates");
      if (!ctx.alive()) return;
      state.templates = data || [];
      const current = f.template.input.value;
      replace(f.template.input, h("option", { value: "" }, "No template"), state.templates.map((t) => h("option", { value: t.id }, t.name)));
      f.template.input.value = state.templates.some((t) => t.id === current) ? current : "";
      if (!state.templates.length) {
        replace(tList, h("li", { class: "muted" }, "No templates yet."));
        return;
      }
      replace(
        tList,
        state.templates.map((t) =>
          h(
            "li",
            {},
            h("div", {}, h("a", { href: `/app/templates/${encodeURIComponent(t.id)}`, "data-link": "", class: "template-link" }, h("strong", {}, t.name)), h("div", { class: "sub" }, setupText(t), t.custom_weights ? " · own weights" : "")),
            work && h("div", { class: "btns" },
              h("button", { type: "button", class: "btn small", onclick: () => { f.template.input.value = t.id; f.template.input.dispatchEvent(new Event("change")); f.name.input.focus(); } }, "Use", h("span", { class: "sr-only" }, ` ${t.name}`)),
              h("button", {
                type: "button",
                class: "btn small danger",
                onclick: async () => {
                  tError.textContent = "";
                  if (await deleteTemplate(t)) loadTemplates();
                },
              }, "Delete", h("span", { class: "sr-only" }, ` ${t.name}`)),
            ),
          ),
        ),
      );
    } catch (err) {
      if (ctx.alive()) tError.textContent = err.message;
    }
  }

  loadStats();
  loadCampaigns();
  loadTemplates();
  files.load();
  // the exports name their campaigns (the newest 100 the user has)
  API.get("/campaigns", { limit: 100 }).then(({ data }) => (data || []).forEach((c) => (names[c.id] = c.name))).catch(() => {}).finally(() => exportsCard.load());
}
