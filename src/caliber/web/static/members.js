// An organization's members page (issue 21): who belongs with which role; owners and
// admins invite by email with a role (the link to send, each invitation's status, revoke),
// change roles and remove members; anyone may leave. The API decides: its refusals (the
// last owner, a role that may not) are shown in its words.
import * as API from "./api.js";
import * as Org from "./org.js";
import { h, replace, field, select, fmt } from "./dom.js";
import { confirmAction } from "./housekeeping.js";

const enc = encodeURIComponent;

export function invitationStatus(i, now = Date.now()) {
  if (i.accepted_at) return ["accepted", `accepted ${fmt.date(i.accepted_at)}`];
  if (i.revoked_at) return ["revoked", `revoked ${fmt.date(i.revoked_at)}`];
  if (new Date(i.expires_at).getTime() <= now) return ["expired", `expired ${fmt.date(i.expires_at)}`];
  return ["open", `open until ${fmt.date(i.expires_at)}`];
}

const inviteLink = (id) => `${window.location.origin}/app/invitations/${enc(id)}`;

function copyable(value, what) {
  const input = h("input", { type: "text", readonly: true, value, class: "invite-link", "aria-label": what });
  const done = h("span", { class: "sub", role: "status" });
  const copy = h("button", { type: "button", class: "btn small", onclick: async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(value);
      done.textContent = " Copied.";
    } catch {
      done.textContent = " Selected: copy it with Ctrl+C.";
    }
  } }, "Copy", h("span", { class: "sr-only" }, ` ${what}`));
  return h("div", { class: "copyable" }, input, copy, done);
}

export async function membersPage(root, id, ctx) {
  document.title = "Members · Caliber";
  replace(root, h("p", { class: "loading", role: "status" }, "Loading the organization…"));
  let org;
  try {
    org = (await API.get(`/organizations/${enc(id)}`)).data;
  } catch (err) {
    if (!ctx.alive()) return;
    const text = err.status === 404 ? "Organization not found: it does not exist, or you are not one of its members." : err.message;
    replace(root, h("section", { class: "card empty" }, h("h1", {}, "Organization not found"), h("p", { role: "alert" }, text), h("a", { href: "/app/organizations", "data-link": "" }, "Your organizations")));
    return;
  }
  if (!ctx.alive()) return;
  const title = org.personal ? "Personal" : org.name;
  document.title = `${title} · Members · Caliber`;
  const manages = Org.allowed(org, "manage_members");
  const owner = org.role === "owner";
  const path = `/organizations/${enc(id)}`;
  const status = h("p", { class: "form-status", role: "status", id: "members-status" });
  const error = h("p", { class: "form-error", role: "alert", id: "members-error" });
  const membersWrap = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading the members…"));
  const invitesWrap = h("div", { class: "table-wrap", id: "invitations" });
  const grantable = owner ? Org.ROLES : Org.ROLES.filter((r) => r !== "owner");
  const say = (text, bad = false) => {
    status.textContent = bad ? "" : text;
    error.textContent = bad ? text : "";
  };

  // ---- invite ------------------------------------------------------------------
  const email = field("Email", h("input", { type: "email", required: true, maxlength: 320, autocomplete: "off", id: "invite-email" }));
  const role = field("Role", select(grantable.map((r) => [r, r]), "viewer", { id: "invite-role" }));
  const sent = h("div", { id: "invitation-sent", "aria-live": "polite" });
  const inviteForm = manages ? h("form", {
    class: "invite-form",
    id: "invite-form",
    onsubmit: async (e) => {
      e.preventDefault();
      replace(sent);
      say("");
      try {
        const { data } = await API.post(`${path}/invitations`, { email: email.input.value.trim(), role: role.input.value });
        email.input.value = "";
        replace(sent, h("p", { class: "notice" }, `${data.email} is invited as ${data.role} until ${fmt.date(data.expires_at)}. Send them this link; they accept it signed in with that address:`),
          copyable(inviteLink(data.id), `the invitation link for ${data.email}`));
        loadInvitations();
      } catch (err) {
        say(err.message, true);
      }
    },
  }, h("div", { class: "row2" }, email.wrap, role.wrap),
    h("p", { class: "hint" }, grantable.map((r) => `${r}: ${Org.ROLE_TEXT[r]}`).join(" · ")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn primary" }, "Invite")), sent) : null;

  const auditLink = Org.allowed(org, "read_audit") ? h("a", { href: `/app/organizations/${enc(id)}/audit`, "data-link": "", class: "btn small", id: "audit-link" }, "Audit log") : null;
  const isCurrent = Org.current() && Org.current().id === org.id;
  replace(root,
    h("div", { class: "page-head" }, h("a", { href: "/app/organizations", "data-link": "", class: "back" }, "← Organizations"),
      h("div", { class: "title-row" }, h("h1", { id: "organization-title" }, title), h("span", { class: `badge role role-${org.role}`, id: "my-role" }, `your role: ${org.role}`), auditLink,
        isCurrent ? null : h("button", { type: "button", class: "btn small", id: "work-in-organization", onclick: () => Org.choose(org.id) && ctx.navigate("/") }, "Work in it")),
      h("p", { class: "muted" }, org.personal ? "Your personal organization, made for you when you first signed in: what you do without choosing another happens here." : `As ${org.role}, you ${Org.ROLE_TEXT[org.role]}.`)),
    status, error,
    h("section", { class: "card", "aria-labelledby": "members-title" }, h("h2", { id: "members-title" }, "Members"), membersWrap),
    manages ? h("section", { class: "card", "aria-labelledby": "invite-title" }, h("h2", { id: "invite-title" }, "Invite a colleague"), inviteForm) : null,
    manages ? h("section", { class: "card", "aria-labelledby": "invitations-title" }, h("h2", { id: "invitations-title" }, "Invitations"), invitesWrap) : null);

  async function loadMembers() {
    let rows;
    try {
      rows = (await API.get(`${path}/members`)).data || [];
    } catch (err) {
      if (ctx.alive()) replace(membersWrap, h("p", { class: "form-error" }, err.message));
      return;
    }
    if (!ctx.alive()) return;
    replace(membersWrap, h("table", { class: "data members-table", id: "members-table" },
      h("caption", { class: "sr-only" }, `Members of ${title} and their roles`),
      h("thead", {}, h("tr", {}, ["Member", "Role", "Joined", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map(memberRow))));
  }

  function memberRow(m) {
    const who = m.name || m.email || "a member";
    const me = m.user_id === ctx.user.id;
    // owners alone change or remove an owner (the API refuses it to admins)
    const mayChange = manages && (owner || m.role !== "owner");
    const actions = h("div", { class: "btns" });
    let roleCell = h("span", { class: `badge role role-${m.role}` }, m.role);
    if (mayChange) {
      const pick = select(grantable.map((r) => [r, r]), m.role, { "aria-label": `Role of ${who}`, class: "member-role" });
      const apply = h("button", { type: "button", class: "btn small", onclick: () => changeRole(m, pick.value, who) }, "Change role", h("span", { class: "sr-only" }, ` of ${who}`));
      roleCell = h("div", { class: "btns" }, pick, apply);
      if (!me) actions.append(h("button", { type: "button", class: "btn small danger", onclick: () => remove(m, who) }, "Remove", h("span", { class: "sr-only" }, ` ${who}`)));
    }
    if (me && !org.personal) actions.append(h("button", { type: "button", class: "btn small ghost", id: "leave-organization", onclick: () => remove(m, who) }, "Leave"));
    return h("tr", { dataset: { member: m.user_id, email: m.email || "" } },
      h("td", {}, h("strong", {}, who), me ? " (you)" : "", m.email && m.name ? h("span", { class: "sub block" }, m.email) : null),
      h("td", { class: "role-cell" }, roleCell),
      h("td", {}, fmt.date(m.joined_at)),
      h("td", {}, actions));
  }

  async function changeRole(m, next, who) {
    say("");
    if (next === m.role) {
      say(`${who} is already ${next}.`);
      return;
    }
    try {
      await API.put(`${path}/members/${enc(m.user_id)}`, { role: next });
      say(`${who} is now ${next}.`);
      if (m.user_id === ctx.user.id) await Org.refresh();
    } catch (err) {
      say(err.message, true);
    }
    loadMembers();
  }

  async function remove(m, who) {
    const me = m.user_id === ctx.user.id;
    say("");
    const done = await confirmAction({
      title: me ? `Leave “${title}”?` : `Remove ${who} from “${title}”?`,
      lines: [me ? "You no longer see its campaigns, files and exports; a new invitation brings you back." : `${who} no longer sees its campaigns, files and exports, from their next request. What they made stays the organization's.`],
      confirmLabel: me ? "Leave" : "Remove member",
      action: () => API.del(`${path}/members/${enc(m.user_id)}`),
    });
    if (!done) return;
    if (me) {
      await Org.refresh();
      ctx.navigate("/app/organizations");
      return;
    }
    say(`${who} was removed.`);
    loadMembers();
  }

  async function loadInvitations() {
    let rows;
    try {
      rows = (await API.get(`${path}/invitations`)).data || [];
    } catch (err) {
      if (ctx.alive()) replace(invitesWrap, h("p", { class: "form-error" }, err.message));
      return;
    }
    if (!ctx.alive()) return;
    if (!rows.length) {
      replace(invitesWrap, h("p", { class: "empty-state" }, "No invitations yet."));
      return;
    }
    replace(invitesWrap, h("table", { class: "data invitations-table", id: "invitations-table" },
      h("caption", { class: "sr-only" }, "Invitations, newest first"),
      h("thead", {}, h("tr", {}, ["Email and link to send", "Role", "Status", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((i) => {
        const [kind, text] = invitationStatus(i);
        return h("tr", { dataset: { invitation: i.id, status: kind } },
          h("td", { class: "invite-email" }, i.email, kind === "open" ? copyable(inviteLink(i.id), `the invitation link for ${i.email}`) : null),
          h("td", {}, i.role),
          h("td", {}, h("span", { class: `badge invite-${kind}` }, kind), h("span", { class: "sub block" }, text)),
          h("td", {}, kind === "open" ? h("button", { type: "button", class: "btn small danger", onclick: () => revoke(i) }, "Revoke", h("span", { class: "sr-only" }, ` the invitation of ${i.email}`)) : null));
      }))));
  }

  async function revoke(i) {
    say("");
    try {
      await API.del(`${path}/invitations/${enc(i.id)}`);
      say(`The invitation of ${i.email} is revoked: its link no longer works.`);
    } catch (err) {
      say(err.message, true);
    }
    loadInvitations();
  }

  loadMembers();
  if (manages) loadInvitations();
}
