// A tiny, safe renderer for the analyst's light Markdown: **bold**, "- " bullets,
// "1. " numbered lines, "#" headings and paragraphs. It builds DOM nodes only.
import { h } from "./dom.js";

function inline(text) {
  const out = [];
  const re = /\*\*(.+?)\*\*/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h("strong", {}, m[1]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function renderMarkdown(text) {
  const root = h("div", { class: "md" });
  let list = null;
  let listKind = null;
  let para = null;
  const flush = () => {
    list = null;
    listKind = null;
    para = null;
  };
  for (const raw of String(text ?? "").split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (!line.trim()) {
      flush();
      continue;
    }
    const bullet = /^\s*[-*•]\s+(.*)$/.exec(line);
    const numbered = /^\s*(\d+)[.)]\s+(.*)$/.exec(line);
    const heading = /^\s*#{1,6}\s+(.*)$/.exec(line);
    if (bullet || numbered) {
      const kind = bullet ? "ul" : "ol";
      if (!list || listKind !== kind) {
        list = h(kind, {});
        if (numbered && numbered[1] !== "1") list.setAttribute("start", numbered[1]);
        listKind = kind;
        root.append(list);
      }
      list.append(h("li", {}, inline(bullet ? bullet[1] : numbered[2])));
      para = null;
    } else if (heading) {
      flush();
      root.append(h("p", { class: "md-heading" }, h("strong", {}, heading[1])));
    } else if (para) {
      para.append(document.createElement("br"), ...inline(line));
    } else {
      list = null;
      para = h("p", {}, inline(line));
      root.append(para);
    }
  }
  return root;
}
