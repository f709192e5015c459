// Small parts the question types use to draw their own settings in the New job page's form builder.

import { el } from "../dom.js";

export function labelled(id, text, input) {
  input.id = id;
  return el("div", {}, el("label", { for: id, text }), input);
}

export function numberOrNull(input) {
  const text = input.value.trim();
  return text === "" ? null : Number(text);
}

export function lines(textarea) {
  return textarea.value.split("\n").map((line) => line.trim()).filter(Boolean);
}

// The options editor of the choice types: one option per line.
export function editOptions(container, definition, { idPrefix }) {
  const options = el("textarea", { rows: 3 });
  options.value = (definition.options || []).join("\n");
  container.append(labelled(`${idPrefix}-options`, "Options, one per line", options));
  return () => ({ options: lines(options) });
}
