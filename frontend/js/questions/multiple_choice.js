// multiple_choice: any options out of `options`; the answer lists the chosen ones in option order.

import { focusGroup, optionGroup } from "./choices.js";
import { editOptions } from "./editing.js";

export function render(container, question, context) {
  const options = (question.options || []).map(String);
  const { element, inputs, keys } = optionGroup(question, context, { kind: "checkbox", options: options.map((o) => ({ value: o, text: o })) });
  container.append(element);
  return {
    element,
    pickable: true,
    completesOnPick: false,
    value() {
      const chosen = inputs.filter((i) => i.checked).map((i) => i.value);
      return chosen.length ? chosen : undefined;
    },
    problem: () => "",
    focus: () => focusGroup(inputs),
    // An option's key toggles it, so a second press takes it back.
    pick(key) {
      const input = inputs[keys.indexOf(key)];
      if (!input) return false;
      input.checked = !input.checked;
      context.onChange();
      return true;
    },
  };
}

export const edit = editOptions;

// A condition on a multiple choice holds when any option it names is among those chosen.
export function conditionValues(question) {
  return (question.options || []).map(String);
}
