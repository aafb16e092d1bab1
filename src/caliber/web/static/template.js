// A template's page (issue 20 §1): its setup and its weights, which every campaign created
// from it copies. The sliders keep 100 %; saving stores them (PUT
// /campaigns/templates/{id}/weights), "Setup defaults" stores null (the setup's own).
// A template holds no data: the setup's metrics and default weights are in its answer
// (``default_weights``, scoring.md §1, in the setup's order).
import * as API from "./api.js";
import { h, replace } from "./dom.js";
import { setupText } from "./dashboard.js";
import { sliders, payload } from "./weights.js";
import * as Org from "./org.js";

export async function templatePage(root, id, ctx) {
  document.title = "Template · Caliber";
  replace(root, h("p", { class: "loading", role: "status" }, "Loading the template…"));
  let template;
  try {
    template = (await API.get(`/campaigns/templates/${encodeURIComponent(id)}`)).data;
  } catch (err) {
    if (!ctx.alive()) return;
    const text = err.status === 404 ? "Template not found. It does not exist, or it belongs to another account." : err.message;
    replace(root, h("section", { class: "card empty" }, h("h1", {}, "Template not found"), h("p", { role: "alert" }, text), h("a", { href: "/", "data-link": "" }, "Back to the dashboard")));
    return;
  }
  if (!ctx.alive()) return;
  document.title = `${template.name} · Caliber`;
  const status = h("p", { class: "form-status", role: "status", id: "template-weights-status" });
  const error = h("p", { class: "form-error", role: "alert", id: "weights-error" });
  const editor = sliders((message) => {
    error.textContent = message;
    if (!message) status.textContent = "";
  });
  const body = h("div", {}, h("p", { class: "muted" }, "Loading the weights…"));
  replace(root,
    h("div", { class: "page-head" }, h("a", { href: "/", "data-link": "", class: "back" }, "← All campaigns"),
      h("h1", {}, template.name), h("p", { class: "muted" }, setupText(template)), template.description ? h("p", {}, template.description) : null),
    h("section", { class: "card weights", id: "weights-panel", "aria-labelledby": "weights-title" },
      h("h2", { id: "weights-title" }, "Weights"),
      h("p", { class: "hint" }, "How much each metric counts in a score. Campaigns created from this template start with these weights."),
      body));

  const defaults = template.default_weights || null;
  const start = template.custom_weights || defaults;
  const useDefaults = h("button", { type: "button", class: "btn small", id: "weights-defaults" }, "Use the setup's defaults");
  const save = h("button", { type: "button", class: "btn primary", id: "save-template-weights" }, "Save weights");
  useDefaults.addEventListener("click", async () => {
    error.textContent = "";
    try {
      template = (await API.put(`/campaigns/templates/${encodeURIComponent(id)}/weights`, { weights: null })).data;
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    if (defaults) editor.set(defaults);
    source.textContent = "The setup's default weights.";
    status.textContent = "Saved: the template scores with its setup's default weights.";
  });
  save.addEventListener("click", async () => {
    error.textContent = "";
    try {
      template = (await API.put(`/campaigns/templates/${encodeURIComponent(id)}/weights`, { weights: payload(editor.get()) })).data;
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    source.textContent = "The template's own weights.";
    status.textContent = "Weights saved: campaigns created from this template start with them.";
  });
  if (!start) {
    // a setup the engine no longer knows: nothing to weigh
    replace(body, h("p", { id: "template-weights-none" }, "This template's setup is not one Caliber scores: its weights cannot be shown."));
    return;
  }
  // in the setup's order (stored weights come back sorted by name)
  const order = defaults && Object.keys(defaults).every((m) => m in start) ? Object.keys(defaults) : Object.keys(start);
  editor.set(Object.fromEntries(order.map((m) => [m, start[m]])));
  const source = h("p", { class: "hint", id: "template-weights-source" }, template.custom_weights ? "The template's own weights." : "The setup's default weights.");
  // a viewer sees the template's weights and changes none (issue 21)
  const work = Org.can("work");
  replace(body,
    source,
    work ? h("div", { class: "actions" }, useDefaults) : null,
    editor.el,
    work ? h("div", { class: "actions" }, save) : Org.readOnlyNote("change templates", { id: "no-template-save" }), status, error);
  // nothing to preview on a template: the sliders only show the weights to a viewer
  if (!work) editor.el.querySelectorAll("input").forEach((input) => (input.disabled = true));
}
