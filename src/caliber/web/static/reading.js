// "How the file is read": what GET /reports/files/{id}/validate says of the campaign's
// file (number format, header row, sheet, each input and the column it comes from, what
// is missing with the columns that look like it), and a form that changes those reading
// choices on the campaign (PUT /campaigns/{id}/read-options) before scoring.
import * as API from "./api.js";
import * as Org from "./org.js";
import { h, replace, field, select, fmt, nextId } from "./dom.js";

const INPUT_NAMES = {
  domain: "Domain",
  supply_vendor: "Supply vendor",
  impressions: "Impressions",
  clicks: "Clicks",
  spend: "Spend",
  conversions: "Conversions",
  player_starts: "Player starts",
  player_completed_views: "Completed views",
  cpm: "CPM",
  ecpm: "eCPM",
  ctr: "CTR",
  conversion_rate: "Conversion rate",
  ias_display_fully_in_view_1s_rate: "IAS fully in view 1 s rate",
  ad_load_xl_impressions: "Ad load XL impressions",
  ad_refresh_below_15s_impressions: "Ad refresh under 15 s impressions",
};
export const inputName = (name) => {
  const text = INPUT_NAMES[name] || fmt.label(name);
  return text.charAt(0).toUpperCase() + text.slice(1);
};
const FORMATS = { point: "decimal point (1,234.56)", comma: "decimal comma (1.234,56)" };
const HOW = { given: "your choice", matched: "matched by its header" };

function facts(v) {
  const r = v.reading || {};
  const nf = r.number_format || {};
  const chosen = v.read_options || {};
  const numberText = nf.used
    ? `${FORMATS[nf.used] || nf.used} · ${nf.decided || "detected"}`
    : chosen.number_format && chosen.number_format !== "auto"
      ? `${FORMATS[chosen.number_format]} · given`
      : "detected when scoring";
  const line = r.sheet ? "row" : "line";
  const skipped = r.skipped_lines?.count ? ` · ${fmt.int(r.skipped_lines.count)} line(s) above skipped` : "";
  const headerText = r.header_row ? `${line} ${r.header_row} · ${r.header_row_chosen || "detected"}${skipped}` : "—";
  const others = (r.sheets || []).filter((s) => !r.sheet || s !== r.sheet.name);
  const sheetText = r.sheet ? `“${r.sheet.name}” · ${r.sheet.chosen}${others.length ? ` · other sheets: ${others.join(", ")}` : ""}` : "not a workbook";
  const fileText = [String(v.format || "").toUpperCase(), v.encoding, v.delimiter ? `“${v.delimiter === "\t" ? "tab" : v.delimiter}”-separated` : null, v.row_count !== null && v.row_count !== undefined ? `${fmt.int(v.row_count)} rows` : null].filter(Boolean).join(" · ");
  const item = (label, value, id) => [h("dt", {}, label), h("dd", { id }, value)];
  return h("dl", { class: "reading-facts" },
    item("File", fileText || "—", "reading-file"),
    item("Number format", numberText, "reading-number-format-used"),
    item("Header row", headerText, "reading-header-row-used"),
    item("Sheet", sheetText, "reading-sheet-used"));
}

function inputsTable(v) {
  const rows = Object.entries(v.inputs || {}).filter(([, info]) => info.headers && info.headers.length);
  if (!rows.length) return h("p", { class: "muted" }, "No input could be matched to a column yet.");
  return h("div", { class: "table-wrap" }, h("table", { class: "data inputs", id: "reading-inputs" },
    h("caption", { class: "sr-only" }, "Where each input is read from"),
    h("thead", {}, h("tr", {}, ["Input", "Column", "How"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map(([name, info]) => h("tr", { dataset: { input: name } },
      h("th", { scope: "row" }, inputName(name)),
      h("td", {}, info.headers.join(" + ")),
      h("td", {}, `${HOW[info.source] || info.source || ""}${info.summed ? " · added up" : ""}`))))));
}

// One missing input's choice: checkboxes for a count (several columns add up), else a
// select; candidates first, suggested ones ticked, the file's other columns after.
function inputChoice(input, entry, headers, picks) {
  const candidates = (entry.candidates?.[input] || []).map((c) => c.header);
  const suggested = new Set(entry.suggested_columns?.[input] || []);
  const counts = ["conversions", "clicks", "impressions", "spend", "player_starts", "player_completed_views"];
  const legendId = nextId("pick");
  if (counts.includes(input) && candidates.length) {
    const boxes = candidates.map((header) => {
      const box = h("input", { type: "checkbox", value: header, checked: suggested.has(header), id: nextId("pick") });
      return h("div", { class: "check" }, box, h("label", { for: box.id }, header));
    });
    picks.push(() => [input, boxes.map((b) => b.querySelector("input")).filter((b) => b.checked).map((b) => b.value)]);
    return h("fieldset", { class: "pick", dataset: { input } }, h("legend", { id: legendId }, `${inputName(input)}: read from (ticked columns are added up)`), boxes);
  }
  const options = [["", "— choose a column —"], ...candidates, ...headers.filter((x) => !candidates.includes(x))];
  const one = field(`${inputName(input)} column`, select(options, [...suggested][0] || "", { id: nextId("pick") }));
  picks.push(() => [input, one.input.value ? [one.input.value] : []]);
  return one.wrap;
}

export function readingPanel(campaign, ctx) {
  const body = h("div", { class: "reading-body" }, h("p", { class: "muted" }, "Upload a file to see how it is read."));
  const el = h("section", { class: "card reading", id: "reading-panel", "aria-labelledby": "reading-title" }, h("h2", { id: "reading-title" }, "How the file is read"), body);
  const path = `/campaigns/${encodeURIComponent(campaign.id)}`;

  async function refresh() {
    if (!campaign.file_upload_id) return;
    replace(body, h("p", { class: "muted", role: "status" }, "Reading the file…"));
    let v;
    try {
      v = (await API.get(`/reports/files/${encodeURIComponent(campaign.file_upload_id)}/validate`, { campaign_id: campaign.id })).data;
    } catch (err) {
      if (ctx.alive()) replace(body, h("p", { class: "form-error", role: "alert" }, err.message));
      return;
    }
    if (ctx.alive()) render(v);
  }

  function render(v) {
    const missing = v.missing || [];
    // the engine's message names the --column arguments of the command line: here the
    // choices below say the same
    const why = missing.length ? "the file lacks what this setup needs; choose the columns below." : v.message;
    const verdict = v.valid
      ? h("p", { class: "ready", id: "reading-verdict", role: "status" }, "Ready to score.")
      : h("p", { class: "form-error", id: "reading-verdict", role: "status" }, `Not ready: ${why}`);
    const picks = [];
    const headers = (v.headers || []).filter(Boolean);
    const missingEls = missing.map((entry) => {
      const inputs = Object.keys(entry.candidates || {});
      const wanted = inputs.length ? inputs : [entry.name];
      return h("div", { class: "missing", dataset: { missing: entry.name } },
        h("p", {}, h("strong", {}, `Missing ${inputName(entry.name)}`), entry.requirement ? ` — needs ${entry.requirement}` : ""),
        wanted.map((input) => inputChoice(input, entry, headers, picks)));
    });
    const level = v.campaign?.analysis_level || campaign.analysis_level || "domain";
    const chosen = campaign.column_mapping || {};
    const numberFormat = field("Number format", select([["auto", "Detect"], ["point", FORMATS.point], ["comma", FORMATS.comma]], campaign.number_format || "auto", { id: "reading-number-format" }));
    const sheets = v.reading?.sheets || [];
    const sheet = sheets.length ? field("Sheet", select([["", "Detect (best match)"], ...sheets], campaign.sheet ?? "", { id: "reading-sheet" })) : null;
    const headerRow = field("Header row", h("input", { type: "number", min: 1, step: 1, id: "reading-header-row", inputmode: "numeric", value: campaign.header_row ?? "" }), "Leave empty to detect it.");
    const dimension = field(`${inputName(level)} column`, select([["", "Detect"], ...headers], chosen[level]?.[0] || "", { id: "reading-dimension" }), `The column results are keyed by (scored by ${inputName(level).toLowerCase()}).`);
    const status = h("p", { class: "form-status", role: "status", "aria-live": "polite", id: "reading-status" });
    const save = async (reset) => {
      const mapping = { ...chosen };
      if (!reset) {
        if (dimension.input.value) mapping[level] = [dimension.input.value];
        else delete mapping[level];
        for (const pick of picks) {
          const [input, list] = pick();
          if (list.length) mapping[input] = list;
        }
      }
      const rowText = headerRow.input.value.trim();
      const bodyJson = reset ? {} : {
        number_format: numberFormat.input.value,
        sheet: sheet && sheet.input.value ? sheet.input.value : null,
        header_row: rowText ? Number(rowText) : null,
        column_mapping: mapping,
      };
      status.textContent = "Saving…";
      status.classList.remove("error");
      try {
        const saved = (await API.put(`${path}/read-options`, bodyJson)).data;
        Object.assign(campaign, { number_format: saved.number_format, sheet: saved.sheet, header_row: saved.header_row, column_mapping: saved.column_mapping });
        await refresh();
        el.querySelector("#reading-status").textContent = "Reading choices saved.";
      } catch (err) {
        status.textContent = err.message;
        status.classList.add("error");
      }
    };
    const form = h("form", { class: "reading-form", "aria-labelledby": "reading-form-title", onsubmit: (e) => (e.preventDefault(), save(false)) },
      h("h3", { id: "reading-form-title" }, "Change how it is read"),
      missingEls,
      h("div", { class: "row3" }, numberFormat.wrap, sheet ? sheet.wrap : null, headerRow.wrap),
      dimension.wrap,
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "btn small primary", id: "reading-save" }, "Save reading choices"),
        h("button", { type: "button", class: "btn small ghost", onclick: () => save(true) }, "Clear my choices")),
      status);
    // a viewer sees how the file is read and changes nothing (issue 21)
    const change = Org.can("work") ? form : Org.readOnlyNote("change how files are read", { id: "no-reading" });
    replace(body, verdict, facts(v), h("h3", {}, "Where each input comes from"), inputsTable(v), change);
  }

  return { el, refresh };
}
