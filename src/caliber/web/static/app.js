// Caliber web app: start-up, sign-in, top bar, error banner and the History API router.
import * as API from "./api.js";
import { h, replace, field, disclosure } from "./dom.js";
import { dashboard } from "./dashboard.js";
import { campaignPage } from "./campaign.js";
import { comparePage } from "./compare.js";
import { templatePage } from "./template.js";
import { notificationBell } from "./notifications.js";
import * as Org from "./org.js";
import { organizationsPage, invitationPage } from "./teams.js";
import { membersPage } from "./members.js";
import { auditPage } from "./audit.js";

const main = document.getElementById("main");
const banner = document.getElementById("banner");
const menu = document.getElementById("user-menu");
const bellRoot = document.getElementById("notifications");
const orgRoot = document.getElementById("org-switcher");
let bell = null;
const SIGNED_OUT = "caliber.signedOut";
let firebase = null; // {auth, mod}
let user = null;
let generation = 0;

// ---- the global error banner ------------------------------------------------
export function showBanner(message, requestId) {
  replace(
    banner,
    h("span", {}, message),
    requestId ? h("span", { class: "request-id" }, ` Request id: ${requestId}`) : null,
    h("button", { type: "button", class: "btn-link", onclick: () => (banner.hidden = true) }, "Dismiss"),
  );
  banner.hidden = false;
}
API.on("unexpected", (err) => showBanner(err.message, err.requestId));
API.on("unauthorized", () => {
  if (API.storedToken()) API.clearStoredToken();
  if (user) {
    user = null;
    renderSignIn("Your session has ended. Please sign in again.");
  }
});
// removed from the organization the page works in: back to the personal one, saying so
// a refusal naming another role than the one on screen: the role changed meanwhile; the
// switcher shows the new one (the page keeps the API's message; a reload follows the role)
API.on("forbidden", (err) => {
  const org = Org.current();
  if (org && err.details.role !== org.role && err.sentOrganization === (org.personal ? null : org.id)) Org.refresh().catch(() => {});
});
let leaving = false;
API.on("organizationGone", async (err) => {
  const gone = Org.current();
  if (leaving || !gone || gone.id !== err.sentOrganization) return; // one banner for a page's many requests
  leaving = true;
  try {
    await Org.refresh();
  } catch {
    return;
  } finally {
    leaving = false;
  }
  showBanner(`You are no longer a member of “${gone ? gone.name : "that organization"}”: you now work in ${Org.current() ? Org.label(Org.current()) : "your personal organization"}.`);
  if (user) navigate("/");
});
window.addEventListener("unhandledrejection", (event) => {
  const err = event.reason;
  if (err instanceof API.ApiError) {
    if (!err.unexpected && err.status !== 401) showBanner(err.message, err.requestId);
  } else {
    showBanner(`Unexpected error: ${err && err.message ? err.message : String(err)}`);
  }
});

// ---- routing ------------------------------------------------------------------
export function navigate(path, { replaceState = false } = {}) {
  if (replaceState) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  route();
}

function route() {
  generation += 1;
  const mine = generation;
  const ctx = { alive: () => mine === generation && user !== null, navigate, user, showBanner };
  if (!user) return;
  bell?.refresh();
  const path = window.location.pathname;
  const m = /^\/app\/campaigns\/([^/]+)\/?$/.exec(path);
  const team = /^\/app\/(organizations|invitations)\/([^/]+)(\/audit)?\/?$/.exec(path);
  if (team && team[1] === "invitations" && !team[3]) {
    invitationPage(main, decodeURIComponent(team[2]), ctx);
  } else if (team && team[1] === "organizations") {
    (team[3] ? auditPage : membersPage)(main, decodeURIComponent(team[2]), ctx);
  } else if (path === "/app/organizations" || path === "/app/organizations/") {
    organizationsPage(main, ctx);
  } else if (m) {
    campaignPage(main, decodeURIComponent(m[1]), ctx);
  } else if (/^\/app\/templates\/[^/]+\/?$/.test(path)) {
    templatePage(main, decodeURIComponent(path.split("/")[3]), ctx);
  } else if (path === "/app/compare" || path === "/app/compare/") {
    comparePage(main, ctx);
  } else if (path === "/" || path === "/app" || path === "/app/" || path === "/index.html") {
    dashboard(main, ctx);
  } else {
    document.title = "Not found · Caliber";
    replace(
      main,
      h("section", { class: "card empty" }, h("h1", {}, "Page not found"), h("p", {}, "This page does not exist."), h("a", { href: "/", "data-link": "" }, "Back to the dashboard")),
    );
  }
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

// ---- sign-in ------------------------------------------------------------------
async function loadFirebase(config) {
  const base = "https://www.gstatic.com/firebasejs/10.12.0";
  const appMod = await import(`${base}/firebase-app.js`);
  const mod = await import(`${base}/firebase-auth.js`);
  const auth = mod.getAuth(appMod.initializeApp(config.firebase));
  API.setTokenProvider(async () => (auth.currentUser ? auth.currentUser.getIdToken() : null));
  await new Promise((resolve) => {
    const stop = mod.onAuthStateChanged(auth, () => {
      stop();
      resolve();
    });
  });
  return { auth, mod };
}

async function signedIn() {
  try {
    sessionStorage.removeItem(SIGNED_OUT);
  } catch {
    /* ignore */
  }
  try {
    const profile = await API.get("/auth/profile");
    user = profile.data;
    const { lost } = await Org.load(user.id);
    if (lost) showBanner("The organization chosen before is no longer one of yours: you work in your personal organization.");
  } catch (err) {
    if (err.status !== 401) renderSignIn(err.message);
    return;
  }
  renderMenu();
  route();
}

function renderSignIn(message) {
  user = null;
  generation += 1;
  replace(menu);
  replace(bellRoot);
  Org.unmount();
  bell = null;
  document.title = "Sign in · Caliber";
  const config = API.getConfig();
  const error = h("p", { class: "form-error", role: "alert" }, message || "");
  const card = h("section", { class: "card signin", "aria-labelledby": "signin-title" }, h("h1", { id: "signin-title" }, "Sign in to Caliber"));
  if (firebase) {
    const email = field("Email", h("input", { type: "email", autocomplete: "email", required: true }));
    const password = field("Password", h("input", { type: "password", autocomplete: "current-password", required: true, minlength: 6 }));
    const act = async (kind) => {
      error.textContent = "";
      try {
        const fn = kind === "up" ? firebase.mod.createUserWithEmailAndPassword : firebase.mod.signInWithEmailAndPassword;
        const cred = await fn(firebase.auth, email.input.value, password.input.value);
        const token = await cred.user.getIdToken();
        await API.post("/auth/login", { token });
        await signedIn();
      } catch (err) {
        error.textContent = err instanceof API.ApiError ? err.message : friendlyFirebase(err);
      }
    };
    const form = h(
      "form",
      { onsubmit: (e) => (e.preventDefault(), act("in")) },
      email.wrap,
      password.wrap,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "btn primary" }, "Sign in"), h("button", { type: "button", class: "btn", onclick: () => act("up") }, "Sign up")),
      error,
    );
    card.append(form);
  } else if (config && config.devSignIn) {
    card.append(
      h("p", {}, "This server runs in development mode: you sign in as the development user."),
      h("button", { type: "button", class: "btn primary", onclick: () => signedIn() }, "Continue"),
      error,
    );
  } else {
    card.append(h("p", {}, "Sign-in is not configured on this server. Ask your administrator for access."), error);
  }
  replace(main, card);
}

function friendlyFirebase(err) {
  const code = (err && err.code) || "";
  if (code.includes("invalid-credential") || code.includes("wrong-password") || code.includes("user-not-found")) return "Wrong email or password.";
  if (code.includes("email-already-in-use")) return "An account already uses this email: sign in instead.";
  if (code.includes("weak-password")) return "Choose a password of at least 6 characters.";
  if (code.includes("invalid-email")) return "Enter a valid email address.";
  if (code.includes("network")) return "The sign-in service could not be reached.";
  return (err && err.message) || "Sign-in failed.";
}

async function signOut() {
  API.clearStoredToken();
  try {
    sessionStorage.setItem(SIGNED_OUT, "1");
  } catch {
    /* ignore */
  }
  if (firebase) await firebase.mod.signOut(firebase.auth);
  history.pushState({}, "", "/");
  renderSignIn("You are signed out.");
}

// ---- the user menu ----------------------------------------------------------------
function renderMenu() {
  const panelId = "user-panel";
  const button = h(
    "button",
    { type: "button", class: "user-button", "aria-expanded": "false", "aria-controls": panelId, "aria-haspopup": "true" },
    h("span", { class: "avatar", "aria-hidden": "true" }, initials(user.name || user.email)),
    h("span", { class: "user-name" }, user.name || user.email || "Account"),
  );
  const nameInput = field("Display name", h("input", { type: "text", value: user.name || "", maxlength: 200, required: true }));
  const status = h("p", { class: "form-status", role: "status" });
  const panel = h(
    "div",
    { id: panelId, class: "user-panel", hidden: true },
    h("p", { class: "user-email" }, user.email || "no email"),
    h(
      "form",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          status.textContent = "";
          try {
            const res = await API.put("/auth/profile", { name: nameInput.input.value });
            user = res.data;
            status.textContent = "Name saved.";
            button.querySelector(".user-name").textContent = user.name || user.email;
            button.querySelector(".avatar").textContent = initials(user.name || user.email);
          } catch (err) {
            status.textContent = err.message;
          }
        },
      },
      nameInput.wrap,
      h("button", { type: "submit", class: "btn small" }, "Save name"),
      status,
    ),
    h("button", { type: "button", class: "btn small", onclick: signOut }, "Sign out"),
  );
  disclosure(button, panel, menu, () => nameInput.input.focus());
  replace(menu, button, panel);
  bell = notificationBell(bellRoot, { signedIn: () => user !== null });
  // another organization: its campaigns, from the dashboard (the page on screen was the
  // previous one's)
  Org.switcher(orgRoot, { switched: () => navigate("/") });
}

function initials(text) {
  const parts = String(text || "?").split(/[\s@.]+/).filter(Boolean);
  return (parts[0]?.[0] || "?").toUpperCase() + (parts[1]?.[0] || "").toUpperCase();
}

// ---- start ---------------------------------------------------------------------------
async function start() {
  let config;
  try {
    config = await API.loadConfig();
  } catch (err) {
    replace(main, h("section", { class: "card" }, h("h1", {}, "Caliber is unavailable"), h("p", { role: "alert" }, err.message)));
    return;
  }
  if (API.storedToken()) return signedIn();
  if (config.firebase) {
    try {
      firebase = await loadFirebase(config);
    } catch {
      renderSignIn("The sign-in service could not be loaded. Check your connection and reload the page.");
      return;
    }
    if (firebase.auth.currentUser) return signedIn();
    return renderSignIn();
  }
  let signedOut = false;
  try {
    signedOut = sessionStorage.getItem(SIGNED_OUT) === "1";
  } catch {
    /* ignore */
  }
  if (config.devSignIn && !signedOut) return signedIn();
  return renderSignIn();
}

start();
