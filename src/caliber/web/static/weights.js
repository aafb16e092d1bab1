// The weights editor of the campaign page (issue 20 §1): a slider and a typed entry per
// metric that always sum to 100 %, the setup's defaults and the weights last scored one
// click away, suggested weights against an outcome column of the file, and before saving
// what the weights would do (POST /scoring/weights/sensitivity: its preview); saving
// stores them (PUT /campaigns/{id}/weights) and scores the campaign again as a new run.
import * as API from "./api.js";
import { h, replace, field, select, fmt, badge, nextId } from "./dom.js";
import { metricName } from "./results.js";
import * as Org from "./org.js";

const METHODS = [["correlation", "Correlation with the outcome"], ["mutual_info", "Mutual information"], ["f_score", "F-score"], ["variance", "Spread of each metric (no outcome)"], ["equal", "Equal weights"]];
const OPTIMIZERS = [["", "No"], ["grid", "Grid search"], ["genetic", "Genetic search"], ["bayesian", "Bayesian optimization (a few seconds)"]];
const NEEDS_TARGET = new Set(["correlation", "mutual_info", "f_score"]);
// outcome columns a result row may carry; the setup's raw metrics are added to them
const OUTCOMES = [["conversions", "Conversions"], ["conversion_rate", "Conversion rate"], ["ctr", "CTR"], ["spend", "Spend"], ["impressions", "Impressions"], ["cpm", "CPM"]];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** ``weights`` with ``metric`` set to ``value`` (0-1) and the others scaled in proportion
 * (spread equally when they are all 0) so the total stays 1. */
export function rebalance(weights, metric, value) {
  const names = Object.keys(weights);
  const v = names.length === 1 ? 1 : Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0));
  const others = names.filter((m) => m !== metric);
  const rest = others.reduce((a, m) => a + weights[m], 0);
  const out = { [metric]: v };
  for (const m of others) out[m] = rest > 0 ? (weights[m] * (1 - v)) / rest : (1 - v) / others.length;
  return Object.fromEntries(names.map((m) => [m, out[m]]));
}

/** Four decimals whose decimal sum is exactly 1 (the remainder on the largest weight),
 * as the API stores weights. */
export function payload(weights) {
  const names = Object.keys(weights);
  const units = Object.fromEntries(names.map((m) => [m, Math.round(weights[m] * 10000)]));
  const largest = names.reduce((a, m) => (units[m] > units[a] ? m : a), names[0]);
  units[largest] += 10000 - names.reduce((a, m) => a + units[m], 0);
  return Object.fromEntries(names.map((m) => [m, units[m] / 10000]));
}

/**
 * A slider and a typed entry per metric, always summing to 100 %. ``report(message)``
 * hears of every change: "" for a new value, a sentence for a refused entry.
 */
export function sliders(report) {
  let weights = {};
  let inputs = {};
  const rows = h("div", { class: "weight-rows" });
  const total = h("p", { class: "weights-total", id: "weights-total" });

  function show() {
    for (const [m, { range, number }] of Object.entries(inputs)) {
      const v = weights[m] * 100;
      range.value = String(v);
      range.setAttribute("aria-valuetext", `${v.toFixed(1)} percent`);
      if (document.activeElement !== number) number.value = v.toFixed(1);
    }
    total.textContent = `Total: ${pctText(Object.values(weights).reduce((a, v) => a + v, 0))}`;
  }

  function setOne(metric, value) {
    weights = rebalance(weights, metric, value);
    show();
    report("");
  }

  function set(next) {
    const same = Object.keys(next).join() === Object.keys(inputs).join();
    weights = { ...next };
    if (!same) {
      inputs = {};
      replace(rows, Object.keys(weights).map((m) => {
        const rid = nextId("w");
        const range = h("input", { type: "range", min: 0, max: 100, step: 0.5, id: `${rid}-range`, "aria-label": `${metricName(m)} weight, percent`, dataset: { metric: m } });
        const number = h("input", { type: "number", min: 0, max: 100, step: 0.1, id: `${rid}-num`, inputmode: "decimal", class: "weight-number", "aria-label": `${metricName(m)} weight, percent (type a value)`, dataset: { metric: m } });
        range.addEventListener("input", () => setOne(m, Number.parseFloat(range.value) / 100));
        number.addEventListener("change", () => {
          const v = Number.parseFloat(number.value);
          if (!Number.isFinite(v) || v < 0 || v > 100) {
            show();
            report(`${metricName(m)}: type a percentage from 0 to 100.`);
            return;
          }
          setOne(m, v / 100);
        });
        inputs[m] = { range, number };
        return h("div", { class: "weight-row", dataset: { metric: m } },
          h("label", { for: range.id, class: "weight-name" }, metricName(m)), range, number, h("span", { class: "unit", "aria-hidden": "true" }, "%"));
      }));
    }
    show();
  }

  return { el: h("div", {}, rows, total), set, get: () => ({ ...weights }) };
}

// a POST the server turns away while the user's heavy requests are in flight (429) is
// asked again after its Retry-After, as api.js does for reads
async function heavyPost(path, body) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await API.post(path, body);
    } catch (err) {
      if (!(err instanceof API.ApiError) || err.status !== 429 || attempt >= 3) throw err;
      await sleep(Math.min(err.retryAfter || 1, 10) * 1000);
    }
  }
}

const pctText = (v) => `${(v * 100).toFixed(1)}%`;
const signed = (v) => (typeof v === "number" ? `${v > 0 ? "+" : ""}${v.toFixed(2)}` : "—");

/**
 * The editor. ``start()`` scores the campaign again (the page's own start, which shows the
 * progress and the new run); ``canEdit()`` says whether no run is in progress.
 */
export function weightsPanel(id, ctx, { start, canEdit }) {
  const body = h("div", {});
  const openBtn = h("button", { type: "button", class: "btn", id: "open-weights" }, "Edit the weights");
  const el = h("section", { class: "card weights", id: "weights-panel", "aria-labelledby": "weights-title" },
    h("h2", { id: "weights-title" }, "Weights"),
    h("p", { class: "hint" }, "How much each metric counts in a score. Change them, see what they would do, then save to score the campaign again as a new run."),
    body);
  const state = { scored: {}, defaults: {}, previewed: null };
  const status = h("p", { class: "form-status", role: "status", id: "weights-status" });
  const error = h("p", { class: "form-error", role: "alert", id: "weights-error" });
  const editor = sliders((message) => {
    error.textContent = message;
    if (!message) changed("");
  });
  const preview = h("div", { class: "weights-preview", id: "weights-preview", "aria-live": "polite" });
  const previewBtn = h("button", { type: "button", class: "btn", id: "preview-weights" }, "Preview the effect");
  const saveBtn = h("button", { type: "button", class: "btn primary", id: "save-weights", disabled: true }, "Save and score again");
  const method = field("Suggest by", select(METHODS, "correlation", { id: "suggest-method" }));
  const target = field("Outcome column (from your file)", select([], "", { id: "suggest-target", "aria-describedby": "suggest-hint" }));
  const optimize = field("Then optimize the ranking", select(OPTIMIZERS, "", { id: "suggest-optimize" }));
  const suggestNote = h("div", { class: "hint", id: "suggest-note", "aria-live": "polite" });
  // the outcome column is needed by the target methods and by any optimization
  const syncTarget = () => (target.input.disabled = !NEEDS_TARGET.has(method.input.value) && !optimize.input.value);

  function reset() {
    replace(body, openBtn);
  }
  openBtn.addEventListener("click", () => open());
  reset();

  async function open() {
    replace(body, h("p", { class: "muted", role: "status" }, "Loading the weights…"));
    let data;
    try {
      ({ data } = await heavyPost("/scoring/weights/sensitivity", { campaign_id: id }));
    } catch (err) {
      if (ctx.alive()) replace(body, h("p", { class: "form-error", role: "alert" }, err.message), openBtn);
      return;
    }
    if (!ctx.alive()) return;
    state.scored = data.weights;
    state.defaults = data.defaults || {};
    loadTargets(Object.keys(data.weights));
    replace(body,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "btn small", id: "weights-defaults", onclick: () => setAll(state.defaults, "The setup's default weights.") }, "Setup defaults"),
        h("button", { type: "button", class: "btn small", id: "weights-scored", onclick: () => setAll(state.scored, "The weights of the latest run.") }, "As last scored")),
      editor.el,
      h("fieldset", { class: "suggest" }, h("legend", {}, "Suggested weights"),
        h("p", { class: "hint", id: "suggest-hint" }, "Weights from your own data: how each metric ranks rows like the outcome column you pick, e.g. conversions."),
        h("div", { class: "suggest-row" }, method.wrap, target.wrap, optimize.wrap,
          h("button", { type: "button", class: "btn", id: "suggest-weights", onclick: suggest }, "Suggest")),
        suggestNote),
      // a viewer previews weights (a computation) but saves none (issue 21)
      h("div", { class: "actions" }, previewBtn, Org.can("work") ? saveBtn : null),
      Org.can("work") ? null : Org.readOnlyNote("save weights or score campaigns", { id: "no-save-weights" }),
      status, error, preview);
    method.input.addEventListener("change", syncTarget);
    optimize.input.addEventListener("change", syncTarget);
    editor.set(data.weights);
    changed("");
  }

  async function loadTargets(metrics) {
    const known = OUTCOMES.map(([k, label]) => [k, label]);
    let row = null;
    try {
      row = (await API.get(`/scoring/results/${encodeURIComponent(id)}`, { per_page: 1 })).data?.[0] || null;
    } catch {
      row = null; // the metrics alone are offered
    }
    const options = known.filter(([k]) => !row || typeof row[k] === "number");
    for (const m of metrics) if (!row || typeof row.raw_metrics?.[m] === "number") options.push([m, metricName(m)]);
    replace(target.input, options.map(([v, text]) => h("option", { value: v }, text)));
  }

  function setAll(weights, message) {
    error.textContent = "";
    editor.set(weights);
    changed(message);
  }

  // any change makes the preview stale: saving waits for a preview of these weights
  function changed(message) {
    state.previewed = null;
    saveBtn.disabled = true;
    status.textContent = message;
    replace(preview, h("p", { class: "muted" }, "Preview the effect of these weights before saving them."));
  }

  async function suggest() {
    error.textContent = "";
    const m = method.input.value;
    const q = { campaign_id: id, method: m };
    if (NEEDS_TARGET.has(m) || optimize.input.value) q.target = target.input.value;
    if (optimize.input.value) q.optimize = optimize.input.value;
    suggestNote.textContent = q.optimize ? "Optimizing the weights: this can take a few seconds…" : "Working out suggested weights…";
    try {
      const { data } = await heavyPost("/scoring/weights/suggest", q);
      if (!ctx.alive()) return;
      const found = data.optimized || data.suggested;
      setAll(found.weights, `${data.optimized ? "Optimized" : "Suggested"} weights set: preview them before saving.`);
      replace(suggestNote, h("span", {}, found.summary), (found.notes || []).map((n) => h("span", { class: "note" }, ` ${n}`)));
    } catch (err) {
      suggestNote.textContent = "";
      error.textContent = err.message;
    }
  }

  previewBtn.addEventListener("click", async () => {
    error.textContent = "";
    const weights = payload(editor.get());
    replace(preview, h("p", { class: "muted" }, "Working out what these weights would do…"));
    let data;
    try {
      ({ data } = await heavyPost("/scoring/weights/sensitivity", { campaign_id: id, weights }));
    } catch (err) {
      replace(preview);
      error.textContent = err.message;
      return;
    }
    if (!ctx.alive()) return;
    state.previewed = JSON.stringify(weights);
    saveBtn.disabled = !canEdit();
    renderPreview(data);
  });

  saveBtn.addEventListener("click", async () => {
    error.textContent = "";
    const weights = payload(editor.get());
    if (state.previewed !== JSON.stringify(weights)) return;
    saveBtn.disabled = true;
    try {
      await API.put(`/campaigns/${encodeURIComponent(id)}/weights`, { weights });
    } catch (err) {
      error.textContent = err.message;
      saveBtn.disabled = false;
      return;
    }
    status.textContent = "Weights saved. Scoring the campaign again as a new run…";
    try {
      await start();
    } catch (err) {
      error.textContent = err.message;
    }
  });

  function renderPreview(data) {
    const p = data.preview;
    const score = p.campaign_score;
    const changes = p.status_changes;
    const listBlock = (name) => {
      const b = p.lists[name];
      const line = (kind, block) => (block.count ? h("li", {}, `${kind} ${fmt.int(block.count)}: `, block.items.map((e) => e.domain).join(", "), block.count > block.items.length ? ` and ${fmt.int(block.count - block.items.length)} more` : "") : null);
      return h("div", { class: "preview-list", dataset: { list: name } },
        h("h4", {}, `${name === "whitelist" ? "Whitelist" : "Blacklist"}: ${fmt.int(b.before)} → ${fmt.int(b.after)} entries`),
        b.added.count || b.removed.count ? h("ul", {}, line("Joins", b.added), line("Leaves", b.removed)) : h("p", { class: "muted" }, "No change."));
    };
    replace(preview,
      h("h3", {}, "What these weights would do"),
      h("p", { class: "hint" }, "Worked out on the latest run's rows; saving scores the file attached now (the same one unless you uploaded another since)."),
      h("div", { class: "facts" },
        h("div", {}, h("span", { class: "stat-label" }, "Campaign score"), h("span", { class: "stat-value small", id: "preview-score" }, `${fmt.score(score.before)} → ${fmt.score(score.after)}`), h("span", { class: "stat-sub" }, `${signed(score.change)} points`)),
        h("div", {}, h("span", { class: "stat-label" }, "Status changes"), h("span", { class: "stat-value small", id: "preview-status-count" }, fmt.int(changes.count)), h("span", { class: "stat-sub" }, `${fmt.int(changes.up)} up · ${fmt.int(changes.down)} down`))),
      changes.items.length ? h("div", { class: "table-wrap" }, h("table", { class: "data", id: "preview-status-table" },
        h("caption", {}, changes.count > changes.items.length ? `The ${changes.items.length} largest of ${fmt.int(changes.count)} status changes` : "Rows whose status would change"),
        h("thead", {}, h("tr", {}, ["Domain", "Score now", "Score after", "Status now", "Status after", "Impressions"].map((t, i) => h("th", { scope: "col", class: i && i !== 3 && i !== 4 ? "num" : null }, t)))),
        h("tbody", {}, changes.items.map((r) => h("tr", { dataset: { domain: r.domain } },
          h("th", { scope: "row" }, r.domain), h("td", { class: "num" }, fmt.score(r.score_before)), h("td", { class: "num" }, fmt.score(r.score_after)),
          h("td", {}, badge(r.status_before)), h("td", {}, badge(r.status_after)), h("td", { class: "num" }, fmt.int(r.impressions))))))) : h("p", { class: "muted" }, "No row would change status."),
      listBlock("whitelist"), listBlock("blacklist"),
      p.note ? h("p", { class: "hint" }, p.note) : null,
      sensitivityTable(data));
  }

  return { el, reset };
}

// how fragile each weight is: the labels that change when it moves 10 points either way
function sensitivityTable(data) {
  const step = Math.round((data.delta || 0.1) * 100);
  return h("details", { class: "sensitivity" }, h("summary", {}, `How much each weight matters (moving it ${step} points)`),
    h("div", { class: "table-wrap" }, h("table", { class: "data", id: "sensitivity-table" },
      h("caption", { class: "sr-only" }, "Status changes when one weight moves"),
      h("thead", {}, h("tr", {}, ["Metric", "Weight", `+${step} points`, `−${step} points`].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
      h("tbody", {}, (data.metrics || []).map((m) => h("tr", {},
        h("th", { scope: "row" }, metricName(m.metric)), h("td", { class: "num" }, pctText(m.weight)),
        h("td", { class: "num" }, `${fmt.int(m.labels_changed_up)} rows change status`), h("td", { class: "num" }, `${fmt.int(m.labels_changed_down)} rows change status`)))))));
}
