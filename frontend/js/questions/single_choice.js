// single_choice: one option out of `options`; the answer is that option.

import { focusGroup, optionGroup } from "./choices.js";
import { editOptions } from "./editing.js";

export function render(container, question, context) {
  const options = (question.options || []).map(String);
  const { element, inputs } = optionGroup(question, context, { kind: "radio", options: options.map((o) => ({ value: o, text: o })) });
  container.append(element);
  return {
    element,
    pickable: true,
    completesOnPick: true,
    value() {
      const checked = inputs.find((i) => i.checked);
      return checked ? checked.value : undefined;
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

// The builder's settings for this type, and the answers a later question's `show_if` may name.
export const edit = editOptions;

// As the server compares (tasks/questions/choice.py): case and surrounding spaces aside.
export function sameAnswer(question, a, b) {
  return String(a).trim().toLowerCase() === String(b).trim().toLowerCase();
}

export function conditionValues(question) {
  return (question.options || []).map(String);
}
