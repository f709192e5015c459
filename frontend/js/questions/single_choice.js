// single_choice: one option out of `options`; the answer is that option.

import { oneOf, optionGroup } from "./choices.js";
import { editOptions } from "./editing.js";

export function render(container, question, context) {
  const options = (question.options || []).map(String);
  const group = optionGroup(question, context, { kind: "radio", options: options.map((o) => ({ value: o, text: o })) });
  container.append(group.element);
  return oneOf(group, context);
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
