// "Your files" (issue 20): the uploaded exports, each with a preview of its first rows
// (GET /reports/files/{id}/preview), a check of whether it can be scored and how it is
// read (GET /reports/files/{id}/validate) and a delete that names what it affects.
import * as API from "./api.js";
import { h, replace, fmt, nextId } from "./dom.js";
import { confirmAction, size } from "./housekeeping.js";
import { inputName } from "./reading.js";
import * as Org from "./org.js";

const PAGE = 10;
const PREVIEW_ROWS = 10;

export function filesPanel(ctx) {
  const state = { page: 1 };
  const titleId = nextId("files-title");
  const wrap = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading files…"));
  const pager = h("div", { class: "pager" });
  const status = h("p", { class: "form-status", role: "status", id: "files-status" });
  const detail = h("div", { class: "file-detail", id: "file-detail", "aria-live": "polite" });
  const el = h("section", { class: "card files", id: "files", "aria-labelledby": titleId },
    h("h2", { id: titleId }, "Your files"),
    h("p", { class: "hint" }, "Every export you uploaded. Preview its first rows or check how Caliber reads it."),
    status, wrap, pager, detail);

  async function load() {
    let res;
    try {
      res = await API.get("/reports/files", { page: state.page, per_page: PAGE });
    } catch (err) {
      if (ctx.alive()) replace(wrap, h("p", { class: "form-error" }, err.message));
      return;
    }
    if (!ctx.alive()) return;
    if (!res.data.length && state.page > 1) {
      state.page -= 1; // the last file of a page went
      load();
      return;
    }
    render(res);
  }

  function render(res) {
    const rows = res.data || [];
    if (!rows.length) {
      replace(wrap, h("p", { class: "empty-state" }, "No files yet. Upload one from a campaign's page."));
      replace(pager);
      return;
    }
    replace(wrap, h("table", { class: "data files-table" },
      h("caption", { class: "sr-only" }, "Your uploaded files, newest first"),
      h("thead", {}, h("tr", {}, ["File", "Size", "Uploaded", "Actions"].map((t) => h("th", { scope: "col", class: t === "Size" ? "num" : null }, t)))),
      h("tbody", {}, rows.map((f) => h("tr", { dataset: { file: f.id } },
        h("td", { class: "file-name" }, f.original_filename, h("span", { class: "sub block" }, String(f.file_format || "").toUpperCase())),
        h("td", { class: "num" }, size(f.size_bytes)),
        h("td", {}, fmt.date(f.created_at)),
        h("td", {}, h("div", { class: "btns" },
          h("button", { type: "button", class: "btn small", onclick: () => preview(f) }, "Preview", h("span", { class: "sr-only" }, ` ${f.original_filename}`)),
          h("button", { type: "button", class: "btn small", onclick: () => check(f) }, "Check", h("span", { class: "sr-only" }, ` ${f.original_filename}`)),
          // a viewer previews and checks files, deletes none (issue 21)
          Org.can("work") && h("button", { type: "button", class: "btn small danger", onclick: () => remove(f) }, "Delete", h("span", { class: "sr-only" }, ` ${f.original_filename}`)))))))));
    const pages = Math.max(1, Math.ceil((res.total || 0) / PAGE));
    replace(pager,
      h("button", { type: "button", class: "btn small", disabled: !res.has_prev, onclick: () => ((state.page -= 1), load()) }, "Previous"),
      h("span", { class: "muted" }, `Page ${state.page} of ${pages}`),
      h("button", { type: "button", class: "btn small", disabled: !res.has_next, onclick: () => ((state.page += 1), load()) }, "Next"));
  }

  const heading = (f, what) => h("h3", { id: "file-detail-title", tabindex: "-1" }, `${what}: ${f.original_filename}`);
  const focusDetail = () => detail.querySelector("#file-detail-title")?.focus();

  async function preview(f) {
    replace(detail, heading(f, "Preview"), h("p", { class: "muted" }, "Reading the file…"));
    focusDetail();
    try {
      const { data } = await API.get(`/reports/files/${encodeURIComponent(f.id)}/preview`, { rows: PREVIEW_ROWS });
      const facts = [String(data.format || "").toUpperCase(), data.encoding, data.delimiter ? `“${data.delimiter === "\t" ? "tab" : data.delimiter}”-separated` : null, `${fmt.int(data.total_rows)} rows`].filter(Boolean).join(" · ");
      replace(detail, heading(f, "Preview"),
        h("p", { class: "muted", id: "preview-facts" }, `${facts}; the first ${fmt.int(data.rows.length)} shown.`),
        h("div", { class: "table-wrap preview-wrap", tabindex: "0", role: "region", "aria-label": `First rows of ${f.original_filename}` },
          h("table", { class: "data preview", id: "file-preview" },
            h("caption", { class: "sr-only" }, `The first rows of ${f.original_filename}`),
            h("thead", {}, h("tr", {}, data.headers.map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, data.rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c === null ? "—" : c))))))),
        data.warnings?.length ? h("ul", { class: "warnings" }, data.warnings.map((w) => h("li", {}, w))) : null);
    } catch (err) {
      replace(detail, heading(f, "Preview"), h("p", { class: "form-error" }, err.message));
    }
    focusDetail();
  }

  async function check(f) {
    replace(detail, heading(f, "Check"), h("p", { class: "muted" }, "Checking the file…"));
    focusDetail();
    try {
      const { data } = await API.get(`/reports/files/${encodeURIComponent(f.id)}/validate`);
      const missing = data.missing || [];
      replace(detail, heading(f, "Check"),
        h("p", { class: `verdict ${data.valid ? "ok" : "bad"}`, id: "file-verdict" },
          h("span", { class: `badge ${data.valid ? "badge-completed" : "badge-failed"}` }, data.valid ? "can be scored" : "cannot be scored"),
          ` ${sentence(data.message)}`),
        h("dl", { class: "reading-facts" },
          h("dt", {}, "Read as"), h("dd", {}, [String(data.format || "").toUpperCase(), data.encoding, data.row_count !== null && data.row_count !== undefined ? `${fmt.int(data.row_count)} rows` : null].filter(Boolean).join(" · ") || "—"),
          h("dt", {}, "Columns"), h("dd", {}, (data.headers || []).join(", ") || "—")),
        (data.errors || []).length ? h("div", {}, h("h4", {}, "Problems"), h("ul", { class: "problems" }, data.errors.map((e) => h("li", {}, sentence(e.message || String(e)))))) : null,
        missing.length ? h("div", {}, h("h4", {}, "Missing"), h("ul", { class: "missing-inputs" }, missing.map((m) => h("li", {}, inputName(m.name), m.requirement ? ` — needs ${m.requirement}` : "")))) : null,
        (data.warnings || []).length ? h("div", {}, h("h4", {}, "Warnings"), h("ul", { class: "warnings" }, data.warnings.map((w) => h("li", {}, sentence(String(w)))))) : null);
    } catch (err) {
      replace(detail, heading(f, "Check"), h("p", { class: "form-error" }, err.message));
    }
    focusDetail();
  }

  async function remove(f) {
    let users = [];
    try {
      const { data } = await API.get("/campaigns", { limit: 100 });
      users = (data || []).filter((c) => c.file_upload_id === f.id);
    } catch {
      /* still confirmed, without the campaigns' names */
    }
    const names = users.slice(0, 5).map((c) => `“${c.name}”`).join(", ") + (users.length > 5 ? ` and ${users.length - 5} more` : "");
    const gone = await confirmAction({
      title: `Delete the file “${f.original_filename}”?`,
      lines: [
        `The uploaded export (${size(f.size_bytes)}) goes from storage.`,
        users.length ? `${names} ${users.length === 1 ? "loses its file and needs" : "lose their file and need"} a new upload to score again; runs already scored keep their results.` : "No campaign uses it as its file.",
      ],
      confirmLabel: "Delete file",
      action: () => API.del(`/reports/files/${encodeURIComponent(f.id)}`),
    });
    if (gone) {
      status.textContent = `Deleted ${f.original_filename}.`;
      if (detail.textContent.includes(f.original_filename)) replace(detail);
      load();
    }
  }

  return { el, load };
}

const sentence = (text) => {
  const t = String(text || "");
  return t ? t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? "" : ".") : "";
};
