// The AI analyst: insights by type and a chat about the campaign.
import * as API from "./api.js";
import { h, replace, field, fmt } from "./dom.js";
import { renderMarkdown } from "./md.js";
import * as Org from "./org.js";

const chatKey = (id) => `caliber.chat.${id}`;

export function aiPanel(root, id, ctx, getStatus) {
  const enc = encodeURIComponent(id);
  // a viewer reads the organization's insights; asking the analyst is for analysts and up
  const ask = Org.can("ask_ai");
  // insights
  const typeSelect = h("select", { id: "insight-type" });
  const typeField = field("Insight type", typeSelect);
  const typeHint = h("p", { class: "hint", id: "insight-type-desc" });
  typeSelect.setAttribute("aria-describedby", typeHint.id);
  const genBtn = h("button", { type: "submit", class: "btn primary" }, "Generate insight");
  const insightError = h("p", { class: "form-error", role: "alert", id: "insight-error" });
  const insightList = h("div", { class: "insight-list", "aria-live": "polite" });
  let descriptions = {};
  typeSelect.addEventListener("change", () => (typeHint.textContent = descriptions[typeSelect.value] || ""));

  const insightForm = h("form", {
    class: "stack",
    onsubmit: async (e) => {
      e.preventDefault();
      insightError.textContent = "";
      genBtn.disabled = true;
      genBtn.textContent = "Generating…";
      try {
        await API.post("/ai/insights/generate", { campaign_id: id, insight_type: typeSelect.value });
        await loadInsights();
      } catch (err) {
        insightError.textContent = err.message;
      } finally {
        genBtn.disabled = false;
        genBtn.textContent = "Generate insight";
      }
    },
  }, typeField.wrap, typeHint, h("div", { class: "actions" }, genBtn), insightError);

  // chat
  const log = h("div", { class: "chat-log", role: "log", "aria-live": "polite", "aria-label": "Conversation with the analyst", id: "chat-log" });
  const input = h("textarea", { rows: 3, maxlength: 1000, required: true, placeholder: "e.g. Which domains should I block first?" });
  const inputField = field("Ask the analyst", input);
  const sendBtn = h("button", { type: "submit", class: "btn primary" }, "Send");
  const chatError = h("p", { class: "form-error", role: "alert", id: "chat-error" });
  let conversation = null;
  try {
    conversation = localStorage.getItem(chatKey(id));
  } catch {
    conversation = null;
  }
  const clearBtn = h("button", {
    type: "button",
    class: "btn ghost",
    onclick: async () => {
      chatError.textContent = "";
      if (conversation) {
        try {
          await API.del(`/ai/chat/history/${encodeURIComponent(conversation)}`);
        } catch (err) {
          if (err.status !== 404) {
            chatError.textContent = err.message;
            return;
          }
        }
      }
      conversation = null;
      try {
        localStorage.removeItem(chatKey(id));
      } catch {
        /* ignore */
      }
      replace(log, emptyChat());
    },
  }, "Clear conversation");
  const emptyChat = () => h("p", { class: "muted empty-chat" }, "Ask about scores, lists, outliers or what to change first.");
  const bubble = (role, content, time) =>
    h("div", { class: `msg ${role}` }, h("span", { class: "who" }, role === "user" ? "You" : "Analyst", time ? ` · ${fmt.date(time)}` : ""), role === "user" ? h("p", {}, content) : renderMarkdown(content));
  const chatForm = h("form", {
    class: "stack chat-form",
    onsubmit: async (e) => {
      e.preventDefault();
      const message = input.value.trim();
      if (!message) return;
      chatError.textContent = "";
      log.querySelector(".empty-chat")?.remove();
      log.append(bubble("user", message));
      input.value = "";
      sendBtn.disabled = true;
      const pending = h("p", { class: "muted typing" }, "The analyst is writing…");
      log.append(pending);
      log.scrollTop = log.scrollHeight;
      try {
        const { data } = await API.post("/ai/chat", { message, campaign_id: id });
        conversation = data.conversation_id;
        try {
          localStorage.setItem(chatKey(id), conversation);
        } catch {
          /* ignore */
        }
        pending.remove();
        log.append(bubble("assistant", data.response, data.timestamp));
      } catch (err) {
        pending.remove();
        chatError.textContent = err.message;
        input.value = message;
      } finally {
        sendBtn.disabled = false;
        log.scrollTop = log.scrollHeight;
      }
    },
  }, inputField.wrap, h("div", { class: "actions" }, sendBtn, clearBtn), chatError);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) chatForm.requestSubmit();
  });

  replace(
    root,
    h("section", { class: "card ai", "aria-labelledby": "ai-title", id: "ai-panel" },
      h("h2", { id: "ai-title" }, "AI analyst"),
      h("div", { class: "ai-grid" },
        h("div", { class: "ai-insights" }, h("h3", {}, "Insights"), ask ? insightForm : Org.readOnlyNote("ask the AI analyst for insights or chat with it", { id: "no-ai" }), insightList),
        ask ? h("div", { class: "ai-chat" }, h("h3", {}, "Chat"), log, chatForm) : null)),
  );

  async function loadTypes() {
    try {
      const { data } = await API.get("/ai/insights/types");
      descriptions = data.descriptions || {};
      replace(typeSelect, (data.insight_types || []).filter((t) => t !== "domain").map((t) => h("option", { value: t }, fmt.label(t).replace(/^./, (c) => c.toUpperCase()))));
      typeHint.textContent = descriptions[typeSelect.value] || "";
    } catch (err) {
      insightError.textContent = err.message;
    }
  }

  async function loadInsights() {
    try {
      const { data } = await API.get(`/ai/insights/${enc}`);
      if (!ctx.alive()) return;
      const items = data.insights || [];
      if (!items.length) {
        replace(insightList, h("p", { class: "muted" }, getStatus() === "completed" ? `No insights yet${ask ? ": pick a type and generate one" : ""}.` : "Score the campaign first: insights are built from its results."));
        return;
      }
      replace(insightList, items.map((i) => h("article", { class: "insight" },
        h("div", { class: "insight-head" },
          h("strong", {}, fmt.label(i.insight_type)),
          h("span", { class: "sub" }, ` ${fmt.date(i.generated_at)} · ${i.provider}${i.cached ? " · cached" : ""}`),
          ask && h("button", {
            type: "button",
            class: "btn small ghost",
            onclick: async () => {
              try {
                await API.del(`/ai/insights/${encodeURIComponent(i.id)}`);
                loadInsights();
              } catch (err) {
                insightError.textContent = err.message;
              }
            },
          }, "Delete", h("span", { class: "sr-only" }, ` ${fmt.label(i.insight_type)} insight`))),
        renderMarkdown(i.content))));
    } catch (err) {
      if (ctx.alive()) replace(insightList, h("p", { class: "form-error" }, err.message));
    }
  }

  async function loadHistory() {
    if (!conversation) {
      replace(log, emptyChat());
      return;
    }
    try {
      const { data } = await API.get(`/ai/chat/history/${encodeURIComponent(conversation)}`);
      if (!ctx.alive()) return;
      const msgs = data.messages || [];
      replace(log, msgs.length ? msgs.map((m) => bubble(m.role, m.content, m.timestamp)) : emptyChat());
      log.scrollTop = log.scrollHeight;
    } catch {
      replace(log, emptyChat());
    }
  }

  if (ask) loadTypes();
  loadInsights();
  if (ask) loadHistory();
  return { refresh: loadInsights };
}
