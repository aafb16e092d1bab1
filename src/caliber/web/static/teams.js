// The user's organizations (issue 21): the list with their role in each, a new one, and
// accepting an invitation (the link an owner or admin shares: /app/invitations/{id}).
import * as API from "./api.js";
import * as Org from "./org.js";
import { h, replace, field, fmt } from "./dom.js";

const enc = encodeURIComponent;

export async function organizationsPage(root, ctx) {
  document.title = "Organizations · Caliber";
  const wrap = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading your organizations…"));
  const name = field("Name", h("input", { type: "text", required: true, maxlength: 200, autocomplete: "organization", id: "new-organization-name" }), "You become its owner; invite your colleagues from its members page.");
  const error = h("p", { class: "form-error", role: "alert", id: "new-organization-error" });
  const form = h("form", {
    class: "stack",
    id: "new-organization",
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      const value = name.input.value.trim();
      if (!value) {
        error.textContent = "Give the organization a name.";
        name.input.focus();
        return;
      }
      try {
        const { data } = await API.post("/organizations", { name: value });
        await Org.refresh();
        Org.choose(data.id);
        ctx.navigate(`/app/organizations/${enc(data.id)}`);
      } catch (err) {
        error.textContent = err.message;
      }
    },
  }, name.wrap, h("div", { class: "actions" }, h("button", { type: "submit", class: "btn primary" }, "Create organization")), error);
  replace(root,
    h("div", { class: "page-head" }, h("a", { href: "/", "data-link": "", class: "back" }, "← Dashboard"), h("h1", {}, "Organizations"),
      h("p", { class: "muted" }, "Campaigns, templates, files and exports belong to an organization; its members share them with the role they have.")),
    h("div", { class: "dash-grid" },
      h("div", { class: "main-col" }, h("section", { class: "card", "aria-labelledby": "orgs-title" }, h("h2", { id: "orgs-title" }, "Your organizations"), wrap)),
      h("div", { class: "side" }, h("section", { class: "card", "aria-labelledby": "new-org-title" }, h("h2", { id: "new-org-title" }, "New organization"), form))));

  let list;
  try {
    list = await Org.refresh();
  } catch (err) {
    if (ctx.alive()) replace(wrap, h("p", { class: "form-error", role: "alert" }, err.message));
    return;
  }
  if (!ctx.alive()) return;
  const current = Org.current();
  replace(wrap, h("table", { class: "data", id: "organizations-table" },
    h("caption", { class: "sr-only" }, "Your organizations and your role in each"),
    h("thead", {}, h("tr", {}, ["Organization", "Your role", "Created", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, list.map((o) => h("tr", { dataset: { organization: o.id } },
      h("td", {}, h("a", { href: `/app/organizations/${enc(o.id)}`, "data-link": "" }, o.personal ? "Personal" : o.name),
        o.personal ? h("span", { class: "sub block" }, "your own, made when you first signed in") : null,
        current && current.id === o.id ? h("span", { class: "sub block" }, "the one you work in now") : null),
      h("td", {}, h("span", { class: `badge role role-${o.role}` }, o.role)),
      h("td", {}, fmt.date(o.created_at)),
      h("td", {}, h("div", { class: "btns" },
        current && current.id === o.id ? null : h("button", { type: "button", class: "btn small", onclick: () => Org.choose(o.id) && ctx.navigate("/") }, "Work in it", h("span", { class: "sr-only" }, ` ${o.name}`)),
        h("a", { href: `/app/organizations/${enc(o.id)}`, "data-link": "", class: "btn small ghost" }, "Members", h("span", { class: "sr-only" }, ` of ${o.name}`)),
        Org.allowed(o, "read_audit") ? h("a", { href: `/app/organizations/${enc(o.id)}/audit`, "data-link": "", class: "btn small ghost" }, "Audit log", h("span", { class: "sr-only" }, ` of ${o.name}`)) : null)))))));
}

/** /app/invitations/{id}: join with the invitation's role, signed in with its email. */
export function invitationPage(root, id, ctx) {
  document.title = "Invitation · Caliber";
  const status = h("div", { id: "invitation-status", role: "status" });
  const accept = h("button", { type: "button", class: "btn primary", id: "accept-invitation" }, "Accept the invitation");
  accept.addEventListener("click", async () => {
    accept.disabled = true;
    replace(status);
    try {
      const { data } = await API.post(`/organizations/invitations/${enc(id)}/accept`);
      await Org.refresh();
      accept.hidden = true;
      replace(status,
        h("p", { class: "notice" }, `You joined “${data.name}” as ${data.role}: you ${Org.ROLE_TEXT[data.role] || "work with its members"}.`),
        h("button", { type: "button", class: "btn primary", id: "work-in-joined", onclick: () => Org.choose(data.id) && ctx.navigate("/") }, `Work in “${data.name}”`));
    } catch (err) {
      accept.disabled = false;
      const text = err.status === 404 ? `This invitation is not for ${ctx.user.email || "this account"}: sign in with the address it was sent to.` : err.message;
      replace(status, h("p", { class: "form-error", role: "alert" }, text));
    }
  });
  replace(root, h("section", { class: "card narrow", "aria-labelledby": "invitation-title" },
    h("h1", { id: "invitation-title" }, "Join an organization"),
    h("p", {}, `You were invited to an organization on Caliber. Accepting adds ${ctx.user.email || "you"} to it with the role the invitation gives; its members then share their campaigns with you.`),
    h("div", { class: "actions" }, accept),
    status));
}
