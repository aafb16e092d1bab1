// Organizations (issue 21): the one the app acts in (api.js sends it as X-Organization-Id
// on every request; kept across reloads in localStorage, and ?org=ID in an address picks
// it), the switcher in the top bar, and what the current role may do.
import * as API from "./api.js";
import { h, replace, nextId } from "./dom.js";

// What each role may do is the API's answer: every organization GET /organizations gives
// carries the caller's role and its `permissions` (read, work, ask_ai, manage_members,
// read_audit), decided by orgs/policy.py alone; a 403 that still happens (the role changed
// meanwhile) shows the API's message.
export const ROLES = ["viewer", "analyst", "admin", "owner"];
export const ROLE_TEXT = {
  viewer: "read everything and download reports and lists, and change nothing",
  analyst: "create, upload, score, change and delete, and ask the AI analyst",
  admin: "do what an analyst does, invite, change roles, remove members and read the audit log",
  owner: "do what an admin does, and make, change or remove owners",
};

const state = { list: [], current: null, userId: null };
const storeKey = () => `caliber.org.${state.userId}`;

export const current = () => state.current;
export const organizations = () => state.list;
/** Whether the caller's role in the organization (an answer of the organizations routes)
 * may take the action (work, ask_ai, manage_members, read_audit). */
export const allowed = (org, action) => Boolean(org) && (org.permissions || []).includes(action);
/** Whether the role in the current organization may take the action. */
export const can = (action) => allowed(state.current, action);

/** In place of an edit control a role may not use: says why, naming the role. */
export function readOnlyNote(what, attrs = {}) {
  const o = state.current;
  const role = o ? o.role : "viewer";
  const where = o ? `“${o.name}”` : "this organization";
  return h("p", { class: "role-note", ...attrs }, `Your role in ${where} is ${role}: a ${role} may not ${what}.`);
}

function remember(id) {
  try {
    localStorage.setItem(storeKey(), id);
  } catch {
    /* storage unavailable: the choice lasts until a reload */
  }
}

function stored() {
  try {
    return localStorage.getItem(storeKey());
  } catch {
    return null;
  }
}

function apply(org) {
  state.current = org;
  // the personal organization is the API's default: no header (its faster path)
  API.setOrganization(org && !org.personal ? org.id : null);
}

/**
 * Read the user's organizations and choose the current one: ?org= in the address, else
 * the one chosen last in this browser, else the personal one. Returns the one chosen
 * and, when a remembered one is no longer the user's, its id (the caller says so).
 */
export async function load(userId) {
  state.userId = userId;
  API.setOrganization(null);
  const { data } = await API.get("/organizations");
  state.list = data || [];
  const params = new URLSearchParams(window.location.search);
  const asked = params.get("org") || stored();
  const found = state.list.find((o) => o.id === asked);
  const chosen = found || state.list.find((o) => o.personal) || state.list[0] || null;
  apply(chosen);
  if (chosen) remember(chosen.id);
  return { chosen, lost: asked && !found ? asked : null };
}

/** Read the list again (after creating or joining one) keeping the current choice. */
export async function refresh() {
  const { data } = await API.get("/organizations");
  state.list = data || [];
  const same = state.current && state.list.find((o) => o.id === state.current.id);
  apply(same || state.list.find((o) => o.personal) || state.list[0] || null);
  render();
  return state.list;
}

export function choose(id) {
  const org = state.list.find((o) => o.id === id);
  if (!org) return false;
  apply(org);
  remember(org.id);
  render();
  return true;
}

export const label = (o) => `${o.personal ? "Personal" : o.name} · ${o.role}`;

let mount = null;
let onSwitch = () => {};

/** The switcher in the top bar: a select of the user's organizations and a link to them. */
export function switcher(root, { switched }) {
  mount = root;
  onSwitch = switched;
  render();
}

function render() {
  if (!mount) return;
  if (!state.list.length) {
    replace(mount);
    return;
  }
  const id = nextId("org");
  const pick = h("select", { id, class: "org-select", "aria-describedby": `${id}-role` },
    state.list.map((o) => h("option", { value: o.id, selected: state.current && o.id === state.current.id }, label(o))));
  pick.addEventListener("change", () => {
    if (choose(pick.value)) onSwitch(state.current);
  });
  const role = state.current ? state.current.role : "";
  replace(mount,
    h("label", { for: id, class: "org-label" }, "Organization"),
    pick,
    h("span", { class: "sr-only", id: `${id}-role` }, role ? `Your role: ${role}` : ""),
    h("a", { href: "/app/organizations", "data-link": "", class: "btn small ghost org-link", id: "organizations-link" }, "Team"));
}

export function unmount() {
  if (mount) replace(mount);
  mount = null;
  state.list = [];
  apply(null);
}
