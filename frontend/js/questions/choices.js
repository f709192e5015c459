// The shared part of the question types that show a row or list of options (single and multiple choice, rating):
// a fieldset of radios or checkboxes, each with its number key shown, so number keys and clicks do the same.

import { el } from "../dom.js";

// options: [{value, text, hint?}]; showKeys: show each option's number key (a rating's points are their keys).
// Returns {element, inputs}.
export function optionGroup(question, { idPrefix, label, promptHidden, onChange }, { kind, options, className = "options", showKeys = true }) {
  const legendText = question.required === false ? `${label} (optional)` : label;
  const group = el("fieldset", { class: className }, el("legend", { class: promptHidden ? "sr-only" : "question-prompt", text: legendText }));
  const inputs = options.map((option, i) => {
    const id = `${idPrefix}-opt-${i}`;
    const input = el("input", { type: kind, name: idPrefix, id, value: option.value, onchange: onChange });
    const key = showKeys && i < 9 ? el("kbd", { "aria-hidden": "true", text: String(i + 1) }) : null;
    const hint = option.hint ? el("span", { class: "option-hint", text: option.hint }) : null;
    group.append(el("label", { class: "option", for: id }, input, key, el("span", { class: "option-text", text: option.text }), hint));
    return input;
  });
  return { element: group, inputs };
}

// Focus the chosen option, else the first: Tab then leaves the group for the next question.
export function focusGroup(inputs) {
  const target = inputs.find((i) => i.checked) || inputs[0];
  if (target) target.focus();
}

// A radio group that is one answer: number key n picks option n, and the answer is the checked value (``read``
// turns it into the answer, e.g. a number for a rating).
export function oneOf(element, inputs, context, read = (value) => value) {
  return {
    element,
    pickable: true,
    completesOnPick: true,
    value() {
      const checked = inputs.find((i) => i.checked);
      return checked ? read(checked.value) : undefined;
    },
    problem: () => "",
    focus: () => focusGroup(inputs),
    pick(n) {
      const input = inputs[n - 1];
      if (!input) return false;
      input.checked = true;
      context.onChange();
      return true;
    },
  };
}
