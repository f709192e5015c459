// A small, safe markdown renderer: it builds DOM nodes and sets only textContent and vetted attributes, so no
// HTML in the source ever runs or renders (it shows as text). Headings, paragraphs, emphasis, inline and fenced
// code, lists, block quotes, and links to http(s) URLs only. Linear in the length of the text.

import { el } from "./dom.js";

const MAX_DEPTH = 4;

export function safeHref(href) {
  try {
    const url = new URL(href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export function link(href, ...children) {
  return el("a", { href, target: "_blank", rel: "noopener noreferrer" }, ...children);
}

// Finds the next delimiter at or after `from`, remembering earlier searches: scanning again and again for a
// delimiter that is far away (or absent) would make "[[[[..." quadratic.
function finder(text) {
  const cache = new Map();
  return (delimiter, from) => {
    const known = cache.get(delimiter);
    if (known && known.from <= from && (known.at === -1 || known.at >= from)) return known.at;
    const at = text.indexOf(delimiter, from);
    cache.set(delimiter, { from, at });
    return at;
  };
}

const SPECIAL = /[`*_[]/g;

export function renderInline(text, depth = 0) {
  const nodes = [];
  const find = finder(text);
  let plain = "";
  let i = 0;
  const flush = () => {
    if (plain) nodes.push(document.createTextNode(plain));
    plain = "";
  };
  while (i < text.length) {
    SPECIAL.lastIndex = i;
    const found = SPECIAL.exec(text);
    if (!found) break;
    plain += text.slice(i, found.index);
    i = found.index;
    const rest = depth < MAX_DEPTH;
    const ch = text[i];
    if (ch === "`") {
      const end = find("`", i + 1);
      if (end > i + 1) {
        flush();
        nodes.push(el("code", { text: text.slice(i + 1, end) }));
        i = end + 1;
        continue;
      }
    } else if (ch === "[" && rest) {
      const close = find("](", i + 1);
      const end = close === -1 ? -1 : find(")", close + 2);
      if (close > i && end !== -1 && !text.slice(i + 1, close).includes("\n")) {
        const href = safeHref(text.slice(close + 2, end).trim());
        const inner = renderInline(text.slice(i + 1, close), depth + 1);
        flush();
        nodes.push(...(href ? [link(href, ...inner)] : inner));
        i = end + 1;
        continue;
      }
    } else if ((ch === "*" || ch === "_") && rest) {
      const strong = text[i + 1] === ch;
      const delimiter = strong ? ch + ch : ch;
      const start = i + delimiter.length;
      const end = find(delimiter, start);
      // "2 * 3 * 4" and snake_case_words stay as they are: emphasis hugs its text.
      const wordInside = ch === "_" && /\w/.test(text[i - 1] || "");
      if (end > start && !/\s/.test(text[start]) && !/\s/.test(text[end - 1]) && !wordInside) {
        flush();
        nodes.push(el(strong ? "strong" : "em", {}, ...renderInline(text.slice(start, end), depth + 1)));
        i = end + delimiter.length;
        continue;
      }
      plain += delimiter;
      i += delimiter.length;
      continue;
    }
    plain += ch;
    i += 1;
  }
  plain += text.slice(i);
  flush();
  return nodes;
}

const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const FENCE = /^\s{0,3}(```|~~~)/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

// Returns a DocumentFragment; the caller puts it inside its own container.
export function renderMarkdown(source) {
  const out = document.createDocumentFragment();
  const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
  let paragraph = [];
  let list = null; // {kind, node}
  const endParagraph = () => {
    if (paragraph.length) out.append(el("p", {}, ...renderInline(paragraph.join("\n"))));
    paragraph = [];
  };
  const endList = () => {
    list = null;
  };
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const fence = FENCE.exec(line);
    if (fence) {
      endParagraph();
      endList();
      const code = [];
      n += 1;
      while (n < lines.length && !lines[n].trimStart().startsWith(fence[1])) code.push(lines[n++]);
      out.append(el("pre", {}, el("code", { text: code.join("\n") })));
      continue;
    }
    if (!line.trim()) {
      endParagraph();
      endList();
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      endParagraph();
      endList();
      // Headings inside an item sit below the page's own h1/h2.
      const level = Math.min(6, heading[1].length + 2);
      out.append(el(`h${level}`, {}, ...renderInline(heading[2])));
      continue;
    }
    const bullet = BULLET.exec(line);
    const numbered = bullet ? null : NUMBERED.exec(line);
    if (bullet || numbered) {
      endParagraph();
      const kind = bullet ? "ul" : "ol";
      if (!list || list.kind !== kind) {
        list = { kind, node: el(kind, numbered && numbered[1] !== "1" ? { start: Number(numbered[1]) } : {}) };
        out.append(list.node);
      }
      list.node.append(el("li", {}, ...renderInline(bullet ? bullet[1] : numbered[2])));
      continue;
    }
    const quote = QUOTE.exec(line);
    if (quote) {
      endParagraph();
      endList();
      out.append(el("blockquote", {}, ...renderInline(quote[1])));
      continue;
    }
    if (list) {
      // A continuation line of a list item.
      list.node.lastElementChild.append(" ", ...renderInline(line.trim()));
      continue;
    }
    paragraph.push(line);
  }
  endParagraph();
  return out;
}
