// The notification bell (issue 20): the unread count in the top bar and, opened, the
// list (a run completed or failed, the lists changed since the last run: lists_changed),
// each marked as read by itself or all at once (GET /notifications, POST .../read).
import * as API from "./api.js";
import { h, replace, fmt, disclosure } from "./dom.js";
import * as Org from "./org.js";

const PER_PAGE = 20;
const POLL_MS = 30_000;
const KINDS = { lists_changed: "lists changed", scoring_finished: "run finished" };
const kindText = (kind) => KINDS[kind] || fmt.label(kind);

/** Mount the bell in root; returns {refresh} (the unread count, and the list if open). */
export function notificationBell(root, ctx) {
  const panelId = "notifications-panel";
  const count = h("span", { class: "bell-count", id: "unread-count", hidden: true });
  const button = h("button", { type: "button", class: "bell", id: "notifications-button", "aria-expanded": "false", "aria-controls": panelId },
    h("svg", { class: "bell-icon", viewBox: "0 0 24 24", width: "18", height: "18", "aria-hidden": "true", focusable: "false" },
      h("path", { d: "M12 3a6 6 0 0 0-6 6v3.6L4.3 16h15.4L18 12.6V9a6 6 0 0 0-6-6Zm-2.2 15a2.2 2.2 0 0 0 4.4 0Z", fill: "currentColor" })),
    h("span", { class: "sr-only" }, "Notifications"),
    count);
  const status = h("p", { class: "form-status", role: "status", id: "notifications-status" });
  const list = h("ul", { class: "notification-list", id: "notification-list" });
  const more = h("button", { type: "button", class: "btn small ghost", hidden: true, onclick: () => loadList(state.page + 1) }, "Show older");
  const markAll = h("button", { type: "button", class: "btn small", id: "mark-all-read", onclick: () => readAll() }, "Mark all as read");
  const panel = h("div", { id: panelId, class: "notification-panel", role: "region", "aria-label": "Notifications", hidden: true },
    h("div", { class: "card-head" }, h("h2", {}, "Notifications"), markAll),
    status, list, more);
  const state = { page: 1, items: [], unread: 0 };

  const toggle = disclosure(button, panel, root, () => loadList(1));
  replace(root, button, panel);

  function showCount(n) {
    // marking the organization's notifications read is not a viewer's (issue 21)
    markAll.hidden = !Org.can("work");
    state.unread = n;
    count.hidden = n === 0;
    replace(count, n > 99 ? "99+" : String(n), h("span", { class: "sr-only" }, " unread"));
    button.title = n ? `Notifications: ${n} unread` : "Notifications: none unread";
    markAll.disabled = n === 0;
  }

  async function refreshCount() {
    try {
      const res = await API.get("/notifications", { unread: "true", per_page: 1 });
      if (root.isConnected) showCount(res.total || 0);
    } catch {
      /* the bell keeps its last count; the next poll tries again */
    }
  }

  async function loadList(page) {
    status.textContent = page === 1 ? "Loading…" : "";
    status.classList.remove("error");
    let res;
    try {
      res = await API.get("/notifications", { page, per_page: PER_PAGE });
    } catch (err) {
      status.textContent = err.message;
      status.classList.add("error");
      return;
    }
    state.page = page;
    state.items = page === 1 ? res.data : [...state.items, ...res.data];
    status.textContent = state.items.length ? "" : "No notifications yet. You get one when a run ends and when its lists change.";
    more.hidden = !res.has_next;
    replace(list, state.items.map(item));
    refreshCount();
  }

  function item(n) {
    const unread = !n.read_at;
    const read = h("button", { type: "button", class: "btn small", onclick: () => markRead(n) }, "Mark as read", h("span", { class: "sr-only" }, `: ${n.title}`));
    return h("li", { class: `notification${unread ? " unread" : ""}`, dataset: { notification: n.id } },
      h("div", { class: "notification-head" },
        h("span", { class: `badge ${unread ? "badge-processing" : ""}` }, unread ? "unread" : "read"),
        h("span", { class: "sub" }, `${kindText(n.kind)} · ${fmt.date(n.created_at)}`)),
      h("p", { class: "notification-title" }, h("strong", {}, n.title)),
      h("p", { class: "notification-message" }, n.message),
      h("div", { class: "btns" },
        n.campaign_id ? h("a", { href: `/app/campaigns/${encodeURIComponent(n.campaign_id)}`, "data-link": "", class: "btn small ghost", onclick: () => toggle(false) }, "Open the campaign") : null,
        unread && Org.can("work") ? read : null));
  }

  async function markRead(n) {
    try {
      await API.post(`/notifications/${encodeURIComponent(n.id)}/read`);
      n.read_at = new Date().toISOString();
      replace(list, state.items.map(item));
      status.textContent = "Marked as read.";
      list.querySelector("li.unread button") ? list.querySelector("li.unread button").focus() : markAll.focus();
      refreshCount();
    } catch (err) {
      status.textContent = err.message;
      status.classList.add("error");
    }
  }

  // no route marks them all: the unread ones are read page by page, each marked
  async function readAll() {
    markAll.disabled = true;
    status.textContent = "Marking all as read…";
    try {
      for (let guard = 0; guard < 100; guard += 1) {
        const res = await API.get("/notifications", { unread: "true", per_page: 100 });
        if (!res.data.length) break;
        for (const n of res.data) await API.post(`/notifications/${encodeURIComponent(n.id)}/read`);
      }
      await loadList(1);
      status.textContent = "All marked as read.";
    } catch (err) {
      status.textContent = err.message;
      status.classList.add("error");
    }
    refreshCount();
  }

  refreshCount();
  const timer = setInterval(() => {
    if (!root.isConnected || !ctx.signedIn()) clearInterval(timer);
    else if (document.visibilityState === "visible") refreshCount();
  }, POLL_MS);
  return { refresh: () => (panel.hidden ? refreshCount() : loadList(1)) };
}
