// free_text: a text answer of at most `max_length` characters (surrounding spaces dropped).

import { el } from "../dom.js";
import { labelled, numberOrNull } from "./editing.js";
import { gettext } from "../i18n.js";

const DEFAULT_MAX_LENGTH = 10000;

export function render(container, question, { idPrefix, label, promptHidden, onChange }) {
  const id = `${idPrefix}-text`;
  const labelText = question.required === false ? `${label}${gettext(" (optional)")}` : label;
  const input = el("textarea", { id, rows: 2, maxlength: question.max_length || DEFAULT_MAX_LENGTH, oninput: onChange });
  const element = el("div", { class: "question-field" }, el("label", { for: id, class: promptHidden ? "sr-only" : "question-prompt", text: labelText }), input);
  container.append(element);
  return {
    element,
    pickable: false,
    completesOnPick: false,
    value() {
      const text = input.value.trim();
      return text ? text : undefined;
    },
    problem: () => "",
    focus: () => input.focus(),
    pick: () => false,
  };
}

export function edit(container, definition, { idPrefix }) {
  const maxLength = el("input", { type: "number", min: 1, max: DEFAULT_MAX_LENGTH, placeholder: String(DEFAULT_MAX_LENGTH) });
  if (definition.max_length) maxLength.value = definition.max_length;
  container.append(labelled(`${idPrefix}-max-length`, "Longest answer (characters)", maxLength));
  return () => (numberOrNull(maxLength) === null ? {} : { max_length: numberOrNull(maxLength) });
}

// Texts agree as the server's normalise_text has it: case, spacing and edge punctuation aside.
function normalise(value) {
  const text = String(value).normalize("NFKC").toLowerCase().split(/\s+/).filter(Boolean).join(" ");
  return text.replace(/^[\W_]+|[\W_]+$/gu, "") || text;
}

export function sameAnswer(question, a, b) {
  return normalise(a) === normalise(b);
}

// Free text has no fixed answers the builder could offer.
export const conditionValues = () => null;
