// The shared part of the marking types (spans, boxes): a row of label buttons, each with its number key, that
// sets the current label; and the builder's settings "column" and "labels, one per line".

import { el } from "../dom.js";
import { labelled, lines } from "./editing.js";
import { gettext } from "../i18n.js";

export const LABEL_COLOURS = 8; // CSS classes label-0 .. label-7

export function labelClass(labels, label) {
  return `label-${Math.max(0, labels.indexOf(label)) % LABEL_COLOURS}`;
}

// Returns {element, current(), set(label)}; `onPick(label)` runs when a button is clicked.
export function labelBar(labels, { idPrefix, onPick }) {
  let current = labels[0];
  const buttons = labels.map((label, i) =>
    el(
      "button",
      { type: "button", class: `label-button ${labelClass(labels, label)}`, id: `${idPrefix}-label-${i}`, "aria-pressed": "false", onclick: () => onPick(label) },
      i < 9 ? el("kbd", { "aria-hidden": "true", text: String(i + 1) }) : null,
      el("span", { text: label }),
    ),
  );
  const element = el("div", { class: "label-bar", role: "group", "aria-label": gettext("Labels") }, ...buttons);
  function set(label) {
    current = label;
    buttons.forEach((b, i) => b.setAttribute("aria-pressed", String(labels[i] === label)));
  }
  set(current);
  return { element, current: () => current, set };
}

// The label a digit key names ("1" is the first), or null.
export function labelOfKey(labels, key) {
  if (!/^[1-9]$/.test(key)) return null;
  return labels[Number(key) - 1] ?? null;
}

// A text input that offers the file's columns (the builder keeps the <datalist id="form-columns">).
export function columnInput(value) {
  return el("input", { list: "form-columns", maxlength: 200, value: value || "", spellcheck: "false" });
}

export function editColumnAndLabels(container, definition, { idPrefix }, columnText) {
  const column = columnInput(definition.column);
  const labels = el("textarea", { rows: 3 });
  labels.value = (definition.labels || []).join("\n");
  container.append(el("div", { class: "row" }, labelled(`${idPrefix}-column`, columnText, column), labelled(`${idPrefix}-labels`, "Labels, one per line", labels)));
  return () => ({ column: column.value.trim(), labels: lines(labels) });
}
