// An organization's audit log (issue 21; owners and admins): who created, scored,
// changed weights or reading choices, exported a list, invited or removed whom, and when,
// newest first, a page at a time (GET /organizations/{id}/audit).
import * as API from "./api.js";
import { h, replace, fmt } from "./dom.js";
import * as Org from "./org.js";

const enc = encodeURIComponent;
const PER_PAGE = 25;
const ACTIONS = {
  "organization.created": "created the organization",
  "campaign.created": "created a campaign",
  "campaign.deleted": "deleted a campaign",
  "campaign.scored": "scored a campaign",
  "campaign.rescored": "scored a campaign again",
  "campaign.weights_changed": "changed a campaign's weights",
  "campaign.confidence_changed": "changed a campaign's list confidence",
  "campaign.reading_changed": "changed how a campaign's file is read",
  "template.created": "created a template",
  "template.deleted": "deleted a template",
  "template.weights_changed": "changed a template's weights",
  "template.confidence_changed": "changed a template's list confidence",
  "template.reading_changed": "changed a template's reading choices",
  "upload.created": "uploaded a file",
  "upload.assigned": "attached a file to a campaign",
  "upload.deleted": "deleted a file",
  "export.created": "prepared an export",
  "list.exported": "downloaded a list",
  "member.invited": "invited a member",
  "member.joined": "joined",
  "member.role_changed": "changed a member's role",
  "member.removed": "removed a member",
  "member.left": "left",
  "invitation.revoked": "revoked an invitation",
};
export const actionText = (action) => ACTIONS[action] || fmt.label(action);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// a campaign's id by its name when known, other ids by their first 8 characters
const detailsText = (details, campaigns) =>
  Object.entries(details || {})
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => {
      if (typeof v === "object") return `${fmt.label(k)}: ${JSON.stringify(v)}`;
      if (k === "campaign_id" && campaigns[v]) return `campaign: ${campaigns[v]}`;
      return `${fmt.label(k)}: ${UUID.test(String(v)) ? String(v).slice(0, 8) : v}`;
    })
    .join(" · ");

export async function auditPage(root, id, ctx) {
  document.title = "Audit log · Caliber";
  const state = { page: 1 };
  const status = h("p", { class: "form-status", role: "status", id: "audit-status" });
  const wrap = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading the audit log…"));
  const pager = h("div", { class: "pager" });
  const heading = h("h1", { id: "audit-title" }, "Audit log");
  const back = h("a", { href: `/app/organizations/${enc(id)}`, "data-link": "", class: "back" }, "← Members");
  replace(root,
    h("div", { class: "page-head" }, back, heading, h("p", { class: "muted" }, "Who did what in the organization, and when; newest first.")),
    h("section", { class: "card", "aria-labelledby": "audit-title" }, status, wrap, pager));

  // names of the people the entries point at: the members, and former members by the
  // address their invitation was accepted with; campaigns by name when the app works in
  // this organization (the campaigns route reads the current one)
  const people = {};
  const campaigns = {};
  try {
    const [org, members] = await Promise.all([API.get(`/organizations/${enc(id)}`), API.get(`/organizations/${enc(id)}/members`)]);
    heading.textContent = `Audit log · ${org.data.personal ? "Personal" : org.data.name}`;
    document.title = `${heading.textContent} · Caliber`;
    const invited = await API.get(`/organizations/${enc(id)}/invitations`).catch(() => ({ data: [] }));
    for (const i of invited.data || []) if (i.accepted_by) people[i.accepted_by] = `${i.email} (former member)`;
    for (const m of members.data || []) people[m.user_id] = m.name || m.email || m.user_id;
    if (Org.current() && Org.current().id === id) {
      const { data } = await API.get("/campaigns", { limit: 100 }).catch(() => ({ data: [] }));
      for (const c of data || []) campaigns[c.id] = c.name;
    }
  } catch (err) {
    if (ctx.alive()) replace(wrap, h("p", { class: "form-error", role: "alert" }, err.status === 404 ? "Organization not found: it does not exist, or you are not one of its members." : err.message));
    return;
  }

  async function load() {
    let res;
    try {
      res = await API.get(`/organizations/${enc(id)}/audit`, { page: state.page, per_page: PER_PAGE });
    } catch (err) {
      if (ctx.alive()) replace(wrap, h("p", { class: "form-error", role: "alert", id: "audit-error" }, err.message));
      return;
    }
    if (!ctx.alive()) return;
    const rows = res.data || [];
    if (!rows.length) {
      replace(wrap, h("p", { class: "empty-state" }, "Nothing recorded yet."));
      replace(pager);
      return;
    }
    const who = (uid) => (uid ? people[uid] || `a former member (${uid.slice(0, 8)})` : "Caliber");
    const object = (r) => {
      if (r.object_type === "user") return who(r.object_id);
      if (r.object_type === "campaign" && campaigns[r.object_id]) {
        return h("a", { href: `/app/campaigns/${enc(r.object_id)}`, "data-link": "" }, campaigns[r.object_id]);
      }
      return `${fmt.label(r.object_type)}${r.object_id ? ` ${String(r.object_id).slice(0, 8)}` : ""}`;
    };
    replace(wrap, h("table", { class: "data audit-table", id: "audit-table" },
      h("caption", { class: "sr-only" }, `Audit log, page ${state.page}, newest first`),
      h("thead", {}, h("tr", {}, ["When", "Who", "What", "On", "Details"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((r) => h("tr", { dataset: { action: r.action, entry: r.id } },
        h("td", {}, fmt.date(r.created_at)),
        h("td", {}, who(r.actor_id)),
        h("td", {}, actionText(r.action), h("code", { class: "sub block audit-action" }, r.action)),
        h("td", {}, object(r)),
        h("td", { class: "audit-details" }, detailsText(r.details, campaigns)))))));
    const pages = Math.max(1, Math.ceil((res.total || 0) / PER_PAGE));
    status.textContent = `${fmt.int(res.total)} entries`;
    replace(pager,
      h("button", { type: "button", class: "btn small", disabled: !res.has_prev, onclick: () => ((state.page -= 1), load()) }, "Previous"),
      h("span", { class: "muted", id: "audit-page" }, `Page ${state.page} of ${pages}`),
      h("button", { type: "button", class: "btn small", disabled: !res.has_next, onclick: () => ((state.page += 1), load()) }, "Next"));
  }
  load();
}
