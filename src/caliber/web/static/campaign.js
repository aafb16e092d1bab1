// The campaign page: upload, scoring progress, summary, charts, results, drawer, lists.
import * as API from "./api.js";
import { h, replace, field, select, fmt, badge, nextId } from "./dom.js";
import { histogram, stackedBar, hbars, statusColor } from "./charts.js";
import { setupText } from "./dashboard.js";
import { aiPanel } from "./ai.js";
import { readingPanel } from "./reading.js";

const EXTENSIONS = ["csv", "tsv", "txt", "xlsx", "xls"];
const PER_PAGE = 25;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const METRIC_NAMES = {
  cpm: "CPM",
  ecpm: "eCPM",
  ctr: "CTR",
  conversion_rate: "Conversion rate",
  ias_display_fully_in_view_1s_rate: "Viewability (fully in view 1 s)",
  ad_load_xl_rate: "Excessive ad load",
  ad_refresh_below_15s_rate: "Ad refresh under 15 s",
  sampled_in_view_rate: "In-view rate",
  player_completion_rate: "Completion rate",
  completion_rate: "Completion rate",
  player_errors_rate: "Player errors",
  player_mute_rate: "Muted plays",
  tv_quality_index_rate: "TV quality index",
  unique_id_ratio: "Unique id ratio",
};
export const metricName = (m) => METRIC_NAMES[m] || fmt.label(m);
export function metricValue(metric, v) {
  if (typeof v !== "number") return "—";
  if (/cpm$/.test(metric)) return fmt.money(v);
  if (/(rate|ctr)$/.test(metric)) return fmt.pct(v);
  return fmt.two(v);
}

export async function campaignPage(root, id, ctx) {
  document.title = "Campaign · Caliber";
  const path = `/campaigns/${encodeURIComponent(id)}`;
  replace(root, h("p", { class: "loading", role: "status" }, "Loading the campaign…"));
  let campaign;
  try {
    campaign = (await API.get(path)).data;
  } catch (err) {
    if (!ctx.alive()) return;
    const text = err.status === 404 ? "Campaign not found. It does not exist, or it belongs to another account." : err.message;
    replace(
      root,
      h("section", { class: "card empty", "aria-labelledby": "nf-title" }, h("h1", { id: "nf-title" }, "Campaign not found"), h("p", { role: "alert", class: "not-found" }, text), h("a", { href: "/", "data-link": "" }, "Back to the dashboard")),
    );
    return;
  }
  if (!ctx.alive()) return;
  document.title = `${campaign.name} · Caliber`;

  const headBadge = h("span", {}, badge(campaign.status));
  const head = h(
    "div",
    { class: "page-head" },
    h("a", { href: "/", "data-link": "", class: "back" }, "← All campaigns"),
    h("div", { class: "title-row" }, h("h1", { id: "campaign-title" }, campaign.name), headBadge),
    h("p", { class: "muted" }, setupText(campaign), campaign.analysis_level === "supply_vendor" ? " · scored by supply vendor" : " · scored by domain", ` · min. ${fmt.int(campaign.min_impressions)} impressions`),
    campaign.description ? h("p", {}, campaign.description) : null,
  );

  // ---- upload and start --------------------------------------------------------------
  const config = API.getConfig();
  const maxMb = Number(config?.maxUploadMb || 50);
  const fileInput = h("input", { type: "file", id: "file-input", accept: EXTENSIONS.map((e) => `.${e}`).join(","), class: "sr-only" });
  const fileInfo = h("p", { class: "file-info", role: "status" }, campaign.file_upload_id ? "A file is attached. Upload another to replace it." : "No file yet.");
  const uploadError = h("p", { class: "form-error", role: "alert", id: "upload-error" });
  const startBtn = h("button", { type: "button", class: "btn primary", id: "start-scoring", disabled: !campaign.file_upload_id }, campaign.status === "completed" || campaign.completed_at ? "Score again" : "Start scoring");
  const drop = h(
    "div",
    { class: "dropzone", id: "dropzone" },
    h("p", { class: "drop-title" }, "Drag and drop your Trade Desk or PulsePoint export here"),
    h("p", { class: "muted" }, `.csv, .tsv, .txt, .xlsx or .xls, up to ${fmt.int(maxMb)} MB`),
    h("label", { for: "file-input", class: "btn" }, "Choose a file…"),
    fileInput,
  );
  const uploadCard = h(
    "section",
    { class: "card", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title" }, "Data file"),
    drop,
    fileInfo,
    uploadError,
    h("div", { class: "actions" }, startBtn),
  );
  fileInput.addEventListener("focus", () => drop.classList.add("focus"));
  fileInput.addEventListener("blur", () => drop.classList.remove("focus"));
  fileInput.addEventListener("change", () => fileInput.files[0] && upload(fileInput.files[0]));
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files?.[0];
    if (file) upload(file);
  });

  async function upload(file) {
    uploadError.textContent = "";
    const ext = (file.name.split(".").pop() || "").toLowerCase();
    if (!file.name.includes(".") || !EXTENSIONS.includes(ext)) {
      uploadError.textContent = `“${file.name}” is not a supported file: upload a .csv, .tsv, .txt, .xlsx or .xls export.`;
      return;
    }
    if (file.size > maxMb * 1024 * 1024) {
      uploadError.textContent = `“${file.name}” is ${(file.size / 1048576).toFixed(1)} MB: the limit is ${fmt.int(maxMb)} MB.`;
      return;
    }
    fileInfo.textContent = `Uploading ${file.name}…`;
    startBtn.disabled = true;
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const res = await API.api("POST", `${path}/upload`, { form });
      fileInfo.textContent = `Uploaded ${res.data.original_filename} (${fmt.int(res.data.size_bytes / 1024)} KB). Ready to score.`;
      campaign.file_upload_id = res.data.id;
      startBtn.disabled = false;
      startBtn.focus();
      reading.refresh();
    } catch (err) {
      fileInfo.textContent = campaign.file_upload_id ? "The previous file is still attached." : "No file yet.";
      uploadError.textContent = err.message;
      startBtn.disabled = !campaign.file_upload_id;
    } finally {
      fileInput.value = "";
    }
  }

  startBtn.addEventListener("click", async () => {
    uploadError.textContent = "";
    startBtn.disabled = true;
    try {
      await API.post("/scoring/start", { campaign_id: id });
      replace(results);
      setStatus("processing");
      poll();
    } catch (err) {
      uploadError.textContent = err.message;
      startBtn.disabled = false;
    }
  });

  // ---- progress ----------------------------------------------------------------------
  const bar = h("div", { class: "bar-fill" });
  const progressbar = h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0", "aria-labelledby": "progress-title" }, bar);
  const stepText = h("p", { class: "step", id: "progress-status", "aria-live": "polite" });
  const progressError = h("p", { class: "form-error", role: "alert" });
  const progressCard = h("section", { class: "card", "aria-labelledby": "progress-title", hidden: true }, h("h2", { id: "progress-title" }, "Scoring progress"), progressbar, stepText, progressError);

  function renderProgress(p) {
    const pct = Math.max(0, Math.min(100, Math.round(p.progress_percentage || 0)));
    progressCard.hidden = false;
    progressbar.setAttribute("aria-valuenow", String(pct));
    progressbar.setAttribute("aria-valuetext", `${pct}% · ${p.status}`);
    bar.style.width = `${pct}%`;
    bar.className = `bar-fill ${p.status}`;
    const step = p.current_step && p.current_step !== p.status ? ` · ${fmt.label(p.current_step)}` : "";
    const records = p.total_records ? ` · ${fmt.int(p.processed_records || 0)} of ${fmt.int(p.total_records)} rows` : "";
    stepText.textContent = `${pct}% · ${p.status}${step}${records}`;
    progressError.textContent = p.status === "failed" ? `Scoring failed: ${p.error_message || "no reason given"}` : "";
  }

  function setStatus(status) {
    campaign.status = status;
    replace(headBadge, badge(status));
  }

  async function poll() {
    while (ctx.alive()) {
      let p;
      try {
        p = (await API.get(`/scoring/progress/${encodeURIComponent(id)}`)).data;
      } catch (err) {
        if (ctx.alive()) progressError.textContent = err.message;
        return;
      }
      if (!ctx.alive()) return;
      renderProgress(p);
      if (p.status !== campaign.status) setStatus(p.status);
      if (p.status === "completed") {
        startBtn.textContent = "Score again";
        startBtn.disabled = false;
        renderCompleted();
        assistant.refresh();
        return;
      }
      if (p.status === "failed" || p.status === "pending") {
        startBtn.disabled = !campaign.file_upload_id;
        if (holdsResults) renderCompleted(); // the last good results, now marked stale
        return;
      }
      await sleep(700);
    }
  }

  // ---- completed -----------------------------------------------------------------------
  const results = h("div", { class: "completed" });
  const ai = h("div");
  // what the file gives the setup and how it is read, changeable before scoring
  const reading = readingPanel(campaign, ctx);
  replace(root, head, h("div", { class: "two-col" }, uploadCard, progressCard), reading.el, results, ai);
  reading.refresh();

  // A campaign keeps the results of its last successful run while a later run is in
  // progress or after it failed (completed_at is theirs): they stay on screen, marked.
  const holdsResults = campaign.status === "completed" || Boolean(campaign.completed_at);
  if (campaign.status === "processing") poll();
  else if (campaign.status === "completed") {
    renderProgress({ progress_percentage: 100, status: "completed", current_step: "completed" });
  } else if (campaign.status === "failed") {
    renderProgress({ progress_percentage: campaign.progress_percentage || 0, status: "failed", error_message: campaign.error_message });
  }
  if (holdsResults) renderCompleted();
  const assistant = aiPanel(ai, id, ctx, () => campaign.status);

  async function renderCompleted() {
    const dim = campaign.analysis_level === "supply_vendor" ? "Supply vendor" : "Domain";
    const cards = h("section", { class: "cards", "aria-label": "Campaign summary" }, h("p", { class: "muted" }, "Loading the summary…"));
    const charts = h("section", { class: "chart-grid", "aria-label": "Charts" });
    const table = resultsTable(id, dim, ctx);
    const lists = listsSection(id);
    const outliers = h("section", { class: "card", "aria-labelledby": "outliers-title" }, h("h2", { id: "outliers-title" }, "Outliers"), h("p", { class: "muted" }, "Looking for outliers…"));
    replace(results, h("h2", { class: "section-title" }, "Results"), cards, charts, table.el, lists, outliers);
    let summary, run;
    try {
      ({ data: summary, run } = await API.get(`/scoring/summary/${encodeURIComponent(id)}`));
    } catch (err) {
      replace(cards, h("p", { class: "form-error", role: "alert" }, err.message));
      return;
    }
    if (!ctx.alive()) return;
    if (run?.stale) {
      const latest = run.latest_status === "failed" ? `failed${run.latest_error ? `: ${run.latest_error}` : ""}` : `is ${run.latest_status}`;
      results.insertBefore(h("p", { class: "notice", role: "status", id: "stale-results" }, `These are the results of the run completed ${fmt.date(run.completed_at)}; the latest run ${latest}.`), cards);
    }
    const counts = summary.status_counts || {};
    const stat = (label, value, sub, cls) => h("div", { class: `stat ${cls || ""}` }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value), sub ? h("span", { class: "stat-sub" }, sub) : null);
    replace(
      cards,
      stat("Campaign score", fmt.score(summary.campaign_level_score), "impression-weighted, 0–100", "accent"),
      stat("Total impressions", fmt.int(summary.total_impressions)),
      stat("Spend", fmt.money(summary.total_spend)),
      stat("Average CPM", fmt.money(summary.average_cpm)),
      stat("Rows scored", fmt.int(summary.row_count), summary.rows ? `${fmt.int(summary.rows.read)} rows read` : null),
      stat("Quality mix", `${counts.good || 0} · ${counts.moderate || 0} · ${counts.poor || 0}`, "good · moderate · poor"),
    );
    const chartCard = (title, svg) => h("figure", { class: "card chart-card" }, h("figcaption", {}, title), svg);
    const top = (summary.top_performers || []).map((r) => ({ label: r.domain, value: r.score, color: statusColor(r.quality_status), title: `${r.domain}: score ${r.score.toFixed(1)}, ${fmt.int(r.impressions)} impressions` }));
    const bottom = (summary.bottom_performers || []).map((r) => ({ label: r.domain, value: r.score, color: statusColor(r.quality_status), title: `${r.domain}: score ${r.score.toFixed(1)}, ${fmt.int(r.impressions)} impressions` }));
    const histoSlot = chartCard("Score distribution", h("p", { class: "muted" }, "Loading scores…"));
    replace(
      charts,
      histoSlot,
      chartCard("Quality mix", stackedBar(["good", "moderate", "poor"].map((k) => ({ label: k, value: counts[k] || 0, color: statusColor(k) })), "Quality mix")),
      chartCard("Top domains by score", hbars(top, { title: "Top domains by score", max: 100 })),
      chartCard("Bottom domains by score", hbars(bottom, { title: "Bottom domains by score", max: 100 })),
    );
    table.load();
    loadScores(id, summary.row_count).then((scores) => {
      if (ctx.alive()) histoSlot.replaceChild(histogram(scores, "Score distribution"), histoSlot.lastChild);
    }).catch((err) => {
      histoSlot.replaceChild(h("p", { class: "form-error" }, err.message), histoSlot.lastChild);
    });
    loadOutliers(id, outliers);
  }
}

async function loadScores(id, total) {
  const pages = Math.min(10, Math.ceil((total || 0) / 100));
  const calls = [];
  for (let page = 1; page <= pages; page += 1) calls.push(API.get(`/scoring/results/${encodeURIComponent(id)}`, { page, per_page: 100 }));
  const answers = await Promise.all(calls);
  return answers.flatMap((a) => a.data.map((r) => r.score));
}

async function loadOutliers(id, card) {
  const title = card.firstChild;
  try {
    const { data } = await API.get(`/scoring/outliers/${encodeURIComponent(id)}`, { method: "combined" });
    replace(
      card,
      title,
      h("div", { class: "outlier-facts" },
        h("span", { class: `badge severity-${String(data.severity).replace(/[^a-z]/g, "")}` }, `severity: ${data.severity}`),
        h("span", {}, `${fmt.int(data.count)} flagged (${fmt.pct(data.share, 1)})`)),
      data.names?.length ? h("p", {}, h("strong", {}, "Flagged: "), data.names.slice(0, 30).join(", "), data.names.length > 30 ? ` and ${data.names.length - 30} more` : "") : h("p", {}, "Nothing flagged."),
      data.recommendations?.length ? h("ul", { class: "recommendations" }, data.recommendations.map((r) => h("li", {}, r))) : null,
    );
  } catch (err) {
    replace(card, title, h("p", { class: err.status === 422 ? "muted" : "form-error" }, err.message));
  }
}

// ---- the results table ------------------------------------------------------------------
function resultsTable(id, dim, ctx) {
  const state = { page: 1, sort_by: "score", sort_direction: "desc", quality_status: "", min_score: "", max_score: "", min_impressions: "" };
  const columns = [
    { key: "rank", label: "Rank", num: true },
    { key: "domain", label: dim, sort: "domain" },
    { key: "score", label: "Score", sort: "score", num: true },
    { key: "quality_status", label: "Status" },
    { key: "impressions", label: "Impressions", sort: "impressions", num: true },
    { key: "spend", label: "Spend", sort: "spend", num: true },
    { key: "cpm", label: "CPM", sort: "cpm", num: true },
    { key: "ctr", label: "CTR", sort: "ctr", num: true },
    { key: "conversion_rate", label: "Conv. rate", sort: "conversion_rate", num: true },
  ];
  const cell = {
    rank: (r) => String(r.rank),
    domain: (r) => h("span", { class: "domain" }, r.domain, r.is_outlier ? h("span", { class: "flag", title: `Outlier: ${r.outlier_flags.join(", ")}` }, " ⚑") : null),
    score: (r) => fmt.score(r.score),
    quality_status: (r) => badge(r.quality_status),
    impressions: (r) => fmt.int(r.impressions),
    spend: (r) => fmt.money(r.spend),
    cpm: (r) => fmt.money(r.cpm),
    ctr: (r) => fmt.pct(r.ctr),
    conversion_rate: (r) => fmt.pct(r.conversion_rate, 3),
  };
  const status = field("Quality status", select([["", "All"], "good", "moderate", "poor"], "", { id: "filter-status" }));
  const minScore = field("Min. score", h("input", { type: "number", min: 0, max: 100, step: "any", id: "filter-min-score", inputmode: "decimal" }));
  const maxScore = field("Max. score", h("input", { type: "number", min: 0, max: 100, step: "any", id: "filter-max-score", inputmode: "decimal" }));
  const minImp = field("Min. impressions", h("input", { type: "number", min: 0, step: 1, id: "filter-min-impressions", inputmode: "numeric" }));
  const error = h("p", { class: "form-error", role: "alert" });
  const count = h("p", { class: "muted", role: "status", id: "results-count" });
  const wrap = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "pager" });
  const apply = () => {
    state.quality_status = status.input.value;
    state.min_score = minScore.input.value;
    state.max_score = maxScore.input.value;
    state.min_impressions = minImp.input.value;
    state.page = 1;
    load();
  };
  status.input.addEventListener("change", apply);
  const filters = h(
    "form",
    { class: "filters", "aria-label": "Filter results", onsubmit: (e) => (e.preventDefault(), apply()) },
    status.wrap, minScore.wrap, maxScore.wrap, minImp.wrap,
    h("div", { class: "filter-actions" },
      h("button", { type: "submit", class: "btn small" }, "Apply filters"),
      h("button", { type: "button", class: "btn small ghost", onclick: () => { status.input.value = ""; minScore.input.value = ""; maxScore.input.value = ""; minImp.input.value = ""; apply(); } }, "Reset")),
  );
  const drawer = makeDrawer(id);
  const el = h("section", { class: "card", "aria-labelledby": "results-title" }, h("h2", { id: "results-title" }, "Scored rows"), filters, error, count, wrap, pager, drawer.el);

  async function load() {
    error.textContent = "";
    const q = { page: state.page, per_page: PER_PAGE, sort_by: state.sort_by, sort_direction: state.sort_direction };
    for (const k of ["quality_status", "min_score", "max_score", "min_impressions"]) if (state[k] !== "") q[k] = state[k];
    let res;
    try {
      res = await API.get(`/scoring/results/${encodeURIComponent(id)}`, q);
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    if (!ctx.alive()) return;
    render(res);
  }

  function sortBy(key) {
    if (state.sort_by === key) state.sort_direction = state.sort_direction === "desc" ? "asc" : "desc";
    else {
      state.sort_by = key;
      state.sort_direction = key === "domain" ? "asc" : "desc";
    }
    state.page = 1;
    load().then(() => wrap.querySelector(`th[data-sort="${key}"] button`)?.focus());
  }

  function render(res) {
    const rows = res.data || [];
    const total = res.total || 0;
    const first = (state.page - 1) * PER_PAGE + 1;
    count.textContent = total ? `Showing ${first}–${first + rows.length - 1} of ${fmt.int(total)} rows` : "No rows match these filters.";
    const head = h("tr", {}, columns.map((c) => {
      const active = state.sort_by === c.sort;
      const aria = active ? (state.sort_direction === "asc" ? "ascending" : "descending") : null;
      const content = c.sort
        ? h("button", { type: "button", class: "sort", onclick: () => sortBy(c.sort) }, c.label, h("span", { class: "arrow", "aria-hidden": "true" }, active ? (state.sort_direction === "asc" ? " ▲" : " ▼") : " ↕"))
        : c.label;
      return h("th", { scope: "col", class: c.num ? "num" : null, "aria-sort": aria, dataset: c.sort ? { sort: c.sort } : {} }, content);
    }));
    const body = h("tbody", {}, rows.map((r) => {
      const tr = h("tr", { tabindex: "0", class: "clickable", "aria-label": `${r.domain}: score ${fmt.score(r.score)}, ${r.quality_status}. Open details`, dataset: { domain: r.domain } },
        columns.map((c) => h("td", { class: c.num ? "num" : null, dataset: { col: c.key } }, cell[c.key](r))));
      tr.addEventListener("click", () => drawer.open(r, tr));
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          drawer.open(r, tr);
        }
      });
      return tr;
    }));
    replace(wrap, h("table", { class: "data results", id: "results-table" }, h("caption", { class: "sr-only" }, "Scored rows; click a row for its breakdown"), h("thead", {}, head), body));
    const pages = Math.max(1, Math.ceil(total / PER_PAGE));
    replace(
      pager,
      h("button", { type: "button", class: "btn small", disabled: !res.has_prev, onclick: () => ((state.page -= 1), load()) }, "Previous"),
      h("span", { class: "muted" }, `Page ${state.page} of ${pages}`),
      h("button", { type: "button", class: "btn small", disabled: !res.has_next, onclick: () => ((state.page += 1), load()) }, "Next"),
    );
  }

  return { el, load };
}

// ---- the domain drawer --------------------------------------------------------------------
function makeDrawer(id) {
  const titleId = nextId("drawer-title");
  const body = h("div", { class: "drawer-body" });
  const closeBtn = h("button", { type: "button", class: "btn small close", "aria-label": "Close details" }, "Close ✕");
  const title = h("h2", { id: titleId });
  const panel = h("div", { class: "drawer", role: "dialog", "aria-modal": "true", "aria-labelledby": titleId, hidden: true, id: "domain-drawer" }, h("div", { class: "drawer-head" }, title, closeBtn), body);
  const backdrop = h("div", { class: "backdrop", hidden: true });
  let trigger = null;
  const close = () => {
    panel.hidden = true;
    backdrop.hidden = true;
    document.body.classList.remove("drawer-open");
    if (trigger && trigger.isConnected) trigger.focus();
  };
  closeBtn.addEventListener("click", close);
  backdrop.addEventListener("click", close);
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
    } else if (e.key === "Tab") {
      const items = [...panel.querySelectorAll("button, a[href], input, select, textarea, [tabindex]:not([tabindex='-1'])")].filter((x) => !x.disabled && x.offsetParent !== null);
      if (!items.length) return;
      const firstEl = items[0];
      const lastEl = items[items.length - 1];
      if (e.shiftKey && document.activeElement === firstEl) {
        e.preventDefault();
        lastEl.focus();
      } else if (!e.shiftKey && document.activeElement === lastEl) {
        e.preventDefault();
        firstEl.focus();
      }
    }
  });

  async function open(row, from) {
    trigger = from;
    title.textContent = row.domain;
    const breakdown = Object.entries(row.score_breakdown || {});
    const sentence = h("p", { class: "sentence", "aria-live": "polite" }, "Explaining this score…");
    const attrib = h("div", { class: "attributions" });
    replace(
      body,
      h("div", { class: "facts" },
        h("div", {}, h("span", { class: "stat-label" }, "Score"), h("span", { class: "stat-value" }, fmt.score(row.score))),
        h("div", {}, h("span", { class: "stat-label" }, "Status"), badge(row.quality_status)),
        h("div", {}, h("span", { class: "stat-label" }, "Percentile"), h("span", { class: "stat-value small" }, String(row.percentile_rank))),
        h("div", {}, h("span", { class: "stat-label" }, "Impressions"), h("span", { class: "stat-value small" }, fmt.int(row.impressions)))),
      h("h3", {}, "Why this score"),
      sentence,
      attrib,
      h("h3", {}, "Score breakdown"),
      h("div", { class: "table-wrap" }, h("table", { class: "data breakdown" },
        h("caption", { class: "sr-only" }, "Per-metric breakdown"),
        h("thead", {}, h("tr", {}, ["Metric", "Value", "Normalized", "Weight", "Contribution"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
        h("tbody", {}, breakdown.map(([m, b]) => h("tr", {},
          h("th", { scope: "row" }, metricName(m), h("span", { class: "sub" }, b.higher_is_better ? " higher is better" : " lower is better")),
          h("td", { class: "num" }, metricValue(m, b.value)),
          h("td", { class: "num" }, fmt.one(b.normalized)),
          h("td", { class: "num" }, fmt.pct(b.weight, 0)),
          h("td", { class: "num" }, fmt.two(b.contribution))))),
        h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: "4" }, "Score"), h("td", { class: "num" }, fmt.two(row.score)))))),
      row.is_outlier ? h("p", { class: "hint" }, `Flagged as an outlier on: ${row.outlier_flags.map(metricName).join(", ")}.`) : null,
    );
    panel.hidden = false;
    backdrop.hidden = false;
    document.body.classList.add("drawer-open");
    closeBtn.focus();
    try {
      const { data } = await API.get(`/scoring/explain/${encodeURIComponent(id)}/domain`, { name: row.domain });
      if (title.textContent !== row.domain) return;
      sentence.textContent = data.sentence;
      replace(attrib, h("p", { class: "hint" }, `Each metric's share of the difference from the campaign average (${fmt.one(data.campaign_average_score)}):`),
        hbars((data.attributions || []).map((a) => ({ label: metricName(a.metric), value: a.attribution, color: a.attribution < 0 ? "#b91c1c" : "#15803d", title: `${metricName(a.metric)}: ${a.attribution >= 0 ? "+" : ""}${a.attribution.toFixed(2)} points` })), { title: "Attribution of the score difference", format: (v) => `${v >= 0 ? "+" : ""}${v.toFixed(1)}` }));
    } catch (err) {
      sentence.textContent = err.message;
    }
  }
  const el = h("div", {}, backdrop, panel);
  return { el, open, close };
}

// ---- lists and downloads --------------------------------------------------------------------
function listsSection(id) {
  const enc = encodeURIComponent(id);
  const exp = `/reports/export/campaigns/${enc}`;
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite", id: "download-status" });
  const dl = (label, path, query, fallback) =>
    h("button", {
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
  const listCard = (kind) => {
    const title = kind === "whitelist" ? "Whitelist" : "Blacklist";
    const content = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    API.get(`/scoring/${kind}/${enc}`).then(({ data }) => {
      const crit = data.criteria_used || {};
      const rule = kind === "whitelist" ? `score ≥ ${fmt.one(crit.whitelist_min_score)}` : `score ≤ ${fmt.one(crit.blacklist_max_score)}`;
      replace(content,
        h("p", { class: "list-facts" }, h("strong", {}, `${fmt.int(data.domains.length)} entries`), ` · average score ${fmt.one(data.average_score)} · ${fmt.int(data.total_impressions)} impressions · ${rule}, at least ${fmt.int(crit.min_impressions)} impressions`),
        data.domains.length ? h("ol", { class: "domain-list", tabindex: "0", "aria-label": `${title} entries` }, data.domains.map((d) => h("li", {}, d))) : h("p", { class: "muted" }, "The list is empty."));
    }).catch((err) => replace(content, h("p", { class: "form-error" }, err.message)));
    return h("div", { class: `list-card ${kind}` },
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
