// The shared part of the question types that show a row or list of options (single and multiple choice, rating):
// a fieldset of radios or checkboxes, each with its number key shown, so number keys and clicks do the same.

import { el } from "../dom.js";
import { gettext } from "../i18n.js";

// The key that picks each option: the option itself when every option is a different single digit ("0".."9", a
// rating's points), so the key for "3" is 3; else its position, 1 to 9.
export function optionKeys(options) {
  const texts = options.map((o) => String(o.text));
  const ownKeys = texts.every((t) => /^[0-9]$/.test(t)) && new Set(texts).size === texts.length;
  return texts.map((t, i) => (ownKeys ? t : i < 9 ? String(i + 1) : null));
}

// options: [{value, text, hint?}]; showKeys: show each option's key (a rating's points are their own keys).
// Returns {element, inputs, keys}.
export function optionGroup(question, { idPrefix, label, promptHidden, onChange }, { kind, options, className = "options", showKeys = true }) {
  const keys = optionKeys(options);
  const legendText = question.required === false ? `${label}${gettext(" (optional)")}` : label;
  const group = el("fieldset", { class: className }, el("legend", { class: promptHidden ? "sr-only" : "question-prompt", text: legendText }));
  const inputs = options.map((option, i) => {
    const id = `${idPrefix}-opt-${i}`;
    const input = el("input", { type: kind, name: idPrefix, id, value: option.value, onchange: onChange });
    const key = showKeys && keys[i] ? el("kbd", { "aria-hidden": "true", text: keys[i] }) : null;
    const hint = option.hint ? el("span", { class: "option-hint", text: option.hint }) : null;
    group.append(el("label", { class: "option", for: id }, input, key, el("span", { class: "option-text", text: option.text }), hint));
    return input;
  });
  return { element: group, inputs, keys };
}

// Focus the chosen option, else the first: Tab then leaves the group for the next question.
export function focusGroup(inputs) {
  const target = inputs.find((i) => i.checked) || inputs[0];
  if (target) target.focus();
}

// A radio group that is one answer: an option's key picks it, and the answer is the checked value (``read``
// turns it into the answer, e.g. a number for a rating).
export function oneOf({ element, inputs, keys }, context, read = (value) => value) {
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
    pick(key) {
      const input = inputs[keys.indexOf(key)];
      if (!input) return false;
      input.checked = true;
      context.onChange();
      return true;
    },
  };
}
