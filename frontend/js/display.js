// Display blocks (docs/FORMS.md): how an item's columns are shown to a worker. Every value goes into the page as
// text or as a vetted URL; markdown is built node by node (markdown.js). Media URLs come from the item's `media`
// map (short-lived signed URLs, or allowed http(s) URLs); a block whose media is missing says so.

import { el } from "./dom.js";
import { link, renderMarkdown, safeHref } from "./markdown.js";
import { format, gettext } from "./i18n.js";

export const MEDIA_TYPES = new Set(["image", "audio", "video"]);

function asText(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function mediaURL(item, column, type) {
  const url = item.media && item.media[column];
  if (typeof url !== "string" || !url) return null;
  // An image may come inline (the New job page's preview of an archive); <img> runs no script from it.
  if (type === "image" && url.startsWith("data:image/")) return url;
  // Signed URLs of this server are relative or same-origin; others must be http(s). Never javascript:.
  return safeHref(new URL(url, location.href).href);
}

const RENDERERS = {
  text: (value) => el("p", { class: "item-text", text: asText(value) }),
  markdown: (value) => el("div", { class: "item-markdown" }, renderMarkdown(asText(value))),
  image: (value, item, block) => {
    const src = mediaURL(item, block.column, block.type);
    return src ? el("img", { class: "item-media", src, alt: block.label || block.column, decoding: "async" }) : null;
  },
  audio: (value, item, block) => {
    const src = mediaURL(item, block.column, block.type);
    return src ? el("audio", { class: "item-media", src, controls: true, preload: "auto", "aria-label": block.label || block.column }) : null;
  },
  video: (value, item, block) => {
    const src = mediaURL(item, block.column, block.type);
    return src ? el("video", { class: "item-media", src, controls: true, preload: "auto", playsinline: true, "aria-label": block.label || block.column }) : null;
  },
  link: (value, item, block) => {
    const href = safeHref(asText(value));
    return href ? el("p", { class: "item-link" }, link(href, block.label || href)) : el("p", { class: "item-text", text: asText(value) });
  },
};

// One display block of an item: its caption (the label, or the column's name when `labelled` and not media) and
// its body. Questions that show a column themselves (spans, boxes, pairs) draw its block with this too.
export function renderBlock(block, item, { labelled = false } = {}) {
  const render = Object.hasOwn(RENDERERS, block.type) ? RENDERERS[block.type] : RENDERERS.text;
  const value = item.data ? item.data[block.column] : undefined;
  const body = render(value, item, block) || el("p", { class: "muted media-missing", text: missingText(block) });
  // A link's label is its text; other blocks show their label above (or the column's name among several blocks).
  const caption = block.type === "link" ? "" : block.label || (labelled && !MEDIA_TYPES.has(block.type) ? block.column : "");
  return el("div", { class: `block block-${block.type}`, "data-column": block.column }, caption ? el("span", { class: "block-label", text: caption }) : null, body);
}

// Renders the blocks of one item into `container`, but those of the `claimed` columns (a question draws them).
// With no blocks at all, the item's text (the old shorthand).
export function renderDisplay(container, blocks, item, claimed = new Set()) {
  if (!blocks || !blocks.length) {
    container.append(el("p", { class: "item-text", text: itemText(item) }));
    return;
  }
  const labelled = blocks.length > 1;
  for (const block of blocks) if (!claimed.has(block.column)) container.append(renderBlock(block, item, { labelled }));
}

export function itemText(item) {
  if (item.text !== undefined && item.text !== null && item.text !== "") return String(item.text);
  return Object.entries(item.data || {})
    .map(([key, value]) => `${key}: ${asText(value)}`)
    .join(" · ");
}

// Starts downloading the media of a microtask not shown yet, so it plays at once when its turn comes. Returns
// the objects holding the downloads; drop them to let the browser forget.
export function preloadMedia(blocks, items) {
  const held = [];
  for (const block of blocks || []) {
    if (!MEDIA_TYPES.has(block.type)) continue;
    for (const item of items || []) {
      const src = mediaURL(item, block.column, block.type);
      if (!src) continue;
      if (block.type === "image") {
        const image = new Image();
        image.decoding = "async";
        image.src = src;
        held.push(image);
      } else {
        const media = document.createElement(block.type);
        media.preload = "auto";
        media.muted = true;
        media.src = src;
        held.push(media);
      }
    }
  }
  return held;
}

function missingText(block) {
  const texts = { image: gettext("(no image for %(name)s)"), audio: gettext("(no audio for %(name)s)"), video: gettext("(no video for %(name)s)") };
  return format(texts[block.type] || gettext("(nothing to show for %(name)s)"), { name: block.label || block.column });
}
