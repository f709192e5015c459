// number: a finite number, within `min`..`max` when they are set, a whole one when `integer` is set.

import { el } from "../dom.js";
import { labelled, numberOrNull } from "./editing.js";
import { format, gettext } from "../i18n.js";

function isSet(bound) {
  return bound !== undefined && bound !== null && bound !== "";
}

export function render(container, question, { idPrefix, label, promptHidden, onChange }) {
  const id = `${idPrefix}-number`;
  const { min, max, integer } = question;
  const range = isSet(min) && isSet(max) ? ` (${min}–${max})` : isSet(min) ? format(gettext(" (at least %(min)s)"), { min }) : isSet(max) ? format(gettext(" (at most %(max)s)"), { max }) : "";
  const labelText = `${label}${range}${question.required === false ? gettext(" (optional)") : ""}`;
  const input = el("input", {
    id,
    type: "number",
    step: integer ? "1" : "any",
    inputmode: integer && !(isSet(min) && Number(min) < 0) ? "numeric" : "decimal",
    min: isSet(min) ? min : null,
    max: isSet(max) ? max : null,
    oninput: onChange,
  });
  const hint = el("p", { class: "question-problem", id: `${id}-problem`, "aria-live": "polite" });
  input.setAttribute("aria-describedby", hint.id);
  const element = el("div", { class: "question-field" }, el("label", { for: id, class: promptHidden ? "sr-only" : "question-prompt", text: labelText }), input, hint);
  container.append(element);

  function problem() {
    if (input.validity.badInput) return gettext("Type a number.");
    if (input.value === "") return "";
    const n = input.valueAsNumber;
    if (!Number.isFinite(n)) return gettext("Type a number.");
    if (integer && !Number.isInteger(n)) return gettext("Type a whole number.");
    if (isSet(min) && n < Number(min)) return format(gettext("Type a number of at least %(min)s."), { min });
    if (isSet(max) && n > Number(max)) return format(gettext("Type a number of at most %(max)s."), { max });
    return "";
  }

  input.addEventListener("input", () => {
    hint.textContent = problem();
  });

  return {
    element,
    pickable: false,
    completesOnPick: false,
    value() {
      if (input.value === "" || problem()) return undefined;
      return input.valueAsNumber;
    },
    problem,
    focus: () => input.focus(),
    pick: () => false,
  };
}

export function edit(container, definition, { idPrefix }) {
  const low = el("input", { type: "number", step: "any" });
  const high = el("input", { type: "number", step: "any" });
  const integer = el("input", { type: "checkbox", id: `${idPrefix}-integer` });
  if (isSet(definition.min)) low.value = definition.min;
  if (isSet(definition.max)) high.value = definition.max;
  integer.checked = Boolean(definition.integer);
  container.append(
    el("div", { class: "row" }, labelled(`${idPrefix}-min`, "Smallest", low), labelled(`${idPrefix}-max`, "Largest", high)),
    el("label", { class: "choice", for: integer.id }, integer, " Whole numbers only"),
  );
  return () => {
    const out = { integer: integer.checked };
    if (numberOrNull(low) !== null) out.min = numberOrNull(low);
    if (numberOrNull(high) !== null) out.max = numberOrNull(high);
    return out;
  };
}

export function sameAnswer(question, a, b) {
  return Number(a) === Number(b);
}

export const conditionValues = () => null;
