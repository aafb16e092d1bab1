// The campaign page: upload, scoring progress, run history, and the run on screen: its
// summary, confidence, changes since the last run, impact, charts, results and lists.
import * as API from "./api.js";
import { h, replace, fmt, badge } from "./dom.js";
import { histogram, stackedBar, hbars, statusColor } from "./charts.js";
import { setupText } from "./dashboard.js";
import { aiPanel } from "./ai.js";
import { readingPanel } from "./reading.js";
import { resultsTable } from "./results.js";
import { listsSection } from "./lists.js";
import { runView, runHistory, runLabel, runInAddress } from "./runs.js";
import { confidencePanel, confidenceSetting, sampleRows, scoreScatter } from "./confidence.js";
import { changesPanel } from "./changes.js";
import { impactPanel } from "./impact.js";
import { deleteCampaignButton, exportsPanel } from "./housekeeping.js";
import { weightsPanel } from "./weights.js";
import { outliersPanel, driversPanel } from "./analytics.js";
import * as Org from "./org.js";

const EXTENSIONS = ["csv", "tsv", "txt", "xlsx", "xls"];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
  // the role in the organization decides which edit controls show (issue 21)
  const work = Org.can("work");

  const headBadge = h("span", {}, badge(campaign.status));
  const head = h(
    "div",
    { class: "page-head" },
    h("a", { href: "/", "data-link": "", class: "back" }, "← All campaigns"),
    h("div", { class: "title-row" }, h("h1", { id: "campaign-title" }, campaign.name), headBadge, work ? deleteCampaignButton(campaign, ctx) : null),
    h("p", { class: "muted" }, setupText(campaign), campaign.analysis_level === "supply_vendor" ? " · scored by supply vendor" : " · scored by domain", ` · min. ${fmt.int(campaign.min_impressions)} impressions`),
    campaign.description ? h("p", {}, campaign.description) : null,
  );

  // ---- upload and start --------------------------------------------------------------
  const config = API.getConfig();
  const maxMb = Number(config?.maxUploadMb || 50);
  const fileInput = h("input", { type: "file", id: "file-input", accept: EXTENSIONS.map((e) => `.${e}`).join(","), class: "sr-only" });
  const fileInfo = h("p", { class: "file-info", role: "status" }, campaign.file_upload_id ? `A file is attached.${work ? " Upload another to replace it." : ""}` : "No file yet.");
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
    work ? drop : null,
    fileInfo,
    uploadError,
    work ? h("div", { class: "actions" }, startBtn) : Org.readOnlyNote("upload files, score campaigns or change their list confidence", { id: "no-upload" }),
    work ? confidenceSetting(campaign) : null,
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

  // a new run: from the button, or from the weights editor once it saved new weights
  async function startScoring() {
    startBtn.disabled = true;
    await API.post("/scoring/start", { campaign_id: id });
    replace(results);
    setStatus("processing");
    runsCard.refresh();
    poll();
  }
  startBtn.addEventListener("click", async () => {
    uploadError.textContent = "";
    try {
      await startScoring();
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
        runsCard.refresh().then(() => runsCard.choose(null)); // the new run, on screen
        assistant.refresh();
        weights.reset();
        weights.el.hidden = false;
        return;
      }
      if (p.status === "failed" || p.status === "pending") {
        startBtn.disabled = !campaign.file_upload_id;
        runsCard.refresh().then(() => holdsResults && renderCompleted()); // the last good results, now marked stale
        return;
      }
      await sleep(700);
    }
  }

  // ---- runs and the run on screen ----------------------------------------------------------
  const results = h("div", { class: "completed" });
  const ai = h("div");
  // what the file gives the setup and how it is read, changeable before scoring
  const reading = readingPanel(campaign, ctx);
  const view = runView(runInAddress());
  const runsCard = runHistory(id, view, ctx, () => renderCompleted());
  const weights = weightsPanel(id, ctx, { start: startScoring, canEdit: () => campaign.status !== "processing" });
  replace(root, head, h("div", { class: "two-col" }, uploadCard, progressCard), reading.el, runsCard.el, weights.el, results, ai);
  reading.refresh();

  // A campaign keeps the results of its last successful run while a later run is in
  // progress or after it failed (completed_at is theirs): they stay on screen, marked.
  const holdsResults = campaign.status === "completed" || Boolean(campaign.completed_at);
  weights.el.hidden = !holdsResults; // the editor reads and previews a scored run
  if (campaign.status === "processing") poll();
  else if (campaign.status === "completed") {
    renderProgress({ progress_percentage: 100, status: "completed", current_step: "completed" });
  } else if (campaign.status === "failed") {
    renderProgress({ progress_percentage: campaign.progress_percentage || 0, status: "failed", error_message: campaign.error_message });
  }
  runsCard.refresh().then(() => holdsResults && renderCompleted());
  const assistant = aiPanel(ai, id, ctx, () => campaign.status);
  // background exports of this campaign (of the run on screen), after the analyst
  const exportsCard = exportsPanel(ctx, { campaignId: id, view });
  root.append(exportsCard.el);
  exportsCard.load();

  let rendering = 0;
  async function renderCompleted() {
    rendering += 1;
    const mine = rendering;
    const alive = () => ctx.alive() && mine === rendering;
    const dim = campaign.analysis_level === "supply_vendor" ? "Supply vendor" : "Domain";
    const cards = h("section", { class: "cards", "aria-label": "Campaign summary" }, h("p", { class: "muted" }, "Loading the summary…"));
    replace(results, h("h2", { class: "section-title" }, "Results"), cards);
    let summary, run;
    try {
      ({ data: summary, run } = await API.get(`/scoring/summary/${encodeURIComponent(id)}`, view.q()));
    } catch (err) {
      if (alive()) replace(cards, h("p", { class: "form-error", role: "alert" }, err.message));
      return;
    }
    if (!alive()) return;
    const lists = summary.lists || {};
    const info = { confident: Boolean(summary.confidence), level: summary.confidence?.level, minImpressions: lists.min_impressions };
    const rctx = { alive };
    const charts = h("section", { class: "chart-grid", "aria-label": "Charts" });
    const table = resultsTable(id, dim, rctx, view, info);
    const changes = changesPanel(id, view, rctx);
    const impact = impactPanel(id, view, rctx);
    const outliers = outliersPanel(id, rctx);
    const drivers = driversPanel(id, rctx);
    replace(results, h("h2", { class: "section-title" }, "Results"), runNotice(run), cards, info.confident ? confidencePanel(summary) : null, changes.el, impact.el, charts, table.el, listsSection(id, view), drivers.el, outliers.el);
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
    const scatterSlot = chartCard("Score against impressions", h("p", { class: "muted" }, "Loading scores…"));
    scatterSlot.id = "score-scatter";
    replace(
      charts,
      histoSlot,
      chartCard("Quality mix", stackedBar(["good", "moderate", "poor"].map((k) => ({ label: k, value: counts[k] || 0, color: statusColor(k) })), "Quality mix")),
      chartCard("Top domains by score", hbars(top, { title: "Top domains by score", max: 100 })),
      chartCard("Bottom domains by score", hbars(bottom, { title: "Bottom domains by score", max: 100 })),
      scatterSlot,
    );
    table.load();
    impact.load();
    // the diff and the outliers are heavy requests (HEAVY_REQUESTS_PER_USER, 2 by
    // default): one after the other, so a drawer or a download opened meanwhile has a slot
    const diffDone = changes.load();
    // the histogram counts every row of the run on the server; the scatter draws a sample
    API.get(`/scoring/histogram/${encodeURIComponent(id)}`, view.q()).then(({ data }) => {
      if (alive()) histoSlot.replaceChild(histogram(data.bins.map((b) => b.count), "Score distribution"), histoSlot.lastChild);
    }).catch((err) => alive() && histoSlot.replaceChild(h("p", { class: "form-error" }, err.message), histoSlot.lastChild));
    sampleRows(id, view, summary.row_count).then(({ rows, sampled }) => {
      if (alive()) scatterSlot.replaceChild(scoreScatter(rows, sampled, summary.row_count), scatterSlot.lastChild);
    }).catch((err) => alive() && scatterSlot.replaceChild(h("p", { class: "form-error" }, err.message), scatterSlot.lastChild));
    // the analyses read the latest run; one at a time after the diff (heavy requests)
    if (view.latest()) diffDone.finally(() => alive() && outliers.load()).finally(() => alive() && drivers.load());
    else {
      outliers.notLatest();
      drivers.notLatest();
    }
  }

  // which run is on screen when it is not simply the latest: an earlier one the user
  // chose, or the last good one while a later run is in progress or failed
  function runNotice(run) {
    if (!run?.stale) return null;
    const chosen = view.runs.find((r) => r.id === run.run_id);
    if (!view.latest()) {
      return h("p", { class: "notice", role: "status", id: "stale-results" }, `You are looking at an earlier run: ${chosen ? runLabel(chosen) : fmt.date(run.completed_at)}. `,
        h("button", { type: "button", class: "btn-link", onclick: () => runsCard.choose(null) }, "Show the latest run"));
    }
    const latest = run.latest_status === "failed" ? `failed${run.latest_error ? `: ${run.latest_error}` : ""}` : `is ${run.latest_status}`;
    return h("p", { class: "notice", role: "status", id: "stale-results" }, `These are the results of the run completed ${fmt.date(run.completed_at)}; the latest run ${latest}.`);
  }
}
