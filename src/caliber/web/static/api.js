// The API client: envelope unwrapping, bearer token, errors in buyer words, downloads.

const TOKEN_KEY = "caliber.token";
let config = null;
let tokenProvider = null; // async () => token | null (Firebase SDK)
let organizationId = null; // sent as X-Organization-Id on every request (org.js chooses it)
const listeners = { unexpected: [], unauthorized: [], organizationGone: [], forbidden: [] };

export async function loadConfig() {
  const res = await fetch("/app/config.json", { headers: { Accept: "application/json" } });
  if (!res.ok) throw new Error(`could not load the app configuration (HTTP ${res.status})`);
  config = await res.json();
  return config;
}

export const getConfig = () => config;
export const on = (kind, fn) => listeners[kind].push(fn);
export const setOrganization = (id) => {
  organizationId = id || null;
};
export const setTokenProvider = (fn) => {
  tokenProvider = fn;
};
export const storedToken = () => {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
};
export const clearStoredToken = () => {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage unavailable */
  }
};

async function currentToken() {
  const stored = storedToken();
  if (stored) return stored;
  if (tokenProvider) return tokenProvider();
  return null;
}

export class ApiError extends Error {
  constructor(status, body, requestId, retryAfter) {
    const retry = retryAfter ? Number.parseInt(retryAfter, 10) : null;
    let message = (body && body.message) || defaultMessage(status);
    if (status === 429) {
      message = `Too many requests, try again in ${Number.isFinite(retry) ? retry : 60} s.`;
    }
    super(message);
    this.status = status;
    this.code = (body && body.error) || "error";
    this.details = (body && body.details) || {};
    this.requestId = requestId || null;
    this.retryAfter = retry;
  }
  get unexpected() {
    return this.status === 0 || this.status >= 500;
  }
}

function defaultMessage(status) {
  if (status === 0) return "The server could not be reached. Check your connection and try again.";
  if (status === 401) return "Your session has ended. Please sign in again.";
  if (status === 404) return "Not found.";
  if (status === 413) return "The file is too large.";
  if (status >= 500) return "Something went wrong on our side.";
  return `The request failed (HTTP ${status}).`;
}

function buildUrl(path, query) {
  const url = new URL((config ? config.api : "/api/v1") + path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, String(v));
  }
  return url.pathname + url.search;
}

// A read the server turns away because the user's heavy requests (exports, reports,
// analyses, diffs) are all in flight is tried again after its Retry-After, a few times:
// one page opens several of them at once (panels, a drawer, a download).
const RETRIES = 3;
const MAX_WAIT_S = 10;

async function send(method, path, options = {}) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await sendOnce(method, path, options);
    } catch (err) {
      const wait = err instanceof ApiError && err.status === 429 && method === "GET" && attempt < RETRIES ? Math.min(err.retryAfter || 1, MAX_WAIT_S) : null;
      if (wait === null) {
        if (err instanceof ApiError) notify(err);
        throw err;
      }
      await new Promise((r) => setTimeout(r, wait * 1000));
    }
  }
}

function notify(err) {
  if (err.status === 401) listeners.unauthorized.forEach((fn) => fn(err));
  if (err.status === 403 && err.details.role) listeners.forbidden.forEach((fn) => fn(err));
  // the organization the header names is no longer the user's (removed meanwhile)
  if (err.status === 404 && organizationId && err.details.organization_id === organizationId && err.sentOrganization === organizationId) {
    listeners.organizationGone.forEach((fn) => fn(err));
  }
  if (err.unexpected) listeners.unexpected.forEach((fn) => fn(err));
}

async function sendOnce(method, path, { json, form, query } = {}) {
  const headers = { Accept: "application/json" };
  const token = await currentToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const sentOrganization = organizationId;
  if (sentOrganization) headers["X-Organization-Id"] = sentOrganization;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let res;
  try {
    res = await fetch(buildUrl(path, query), { method, headers, body });
  } catch {
    throw new ApiError(0, null, null, null);
  }
  if (!res.ok) {
    let payload = null;
    try {
      payload = await res.json();
    } catch {
      payload = null;
    }
    const err = new ApiError(res.status, payload, res.headers.get("X-Request-ID"), res.headers.get("Retry-After"));
    err.sentOrganization = sentOrganization;
    throw err;
  }
  return res;
}

/** JSON call: resolves to the whole envelope ({success, data, message, total...}). */
export async function api(method, path, options) {
  const res = await send(method, path, options);
  if (res.status === 204) return { success: true, data: null };
  return res.json();
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, json) => api("POST", path, { json });
export const put = (path, json) => api("PUT", path, { json });
export const del = (path) => api("DELETE", path);

function filenameFrom(disposition, fallback) {
  if (!disposition) return fallback;
  const star = /filename\*=(?:UTF-8'')?([^;]+)/i.exec(disposition);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ""));
    } catch {
      /* fall through */
    }
  }
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  return plain ? plain[1] : fallback;
}

/** Fetch a file with the token, then save it under the server's filename. */
export async function download(path, query, fallback = "caliber-download") {
  const res = await send("GET", path, { query });
  const blob = await res.blob();
  const name = filenameFrom(res.headers.get("Content-Disposition"), fallback);
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}
