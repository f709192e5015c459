// rating: a point on a scale of 1..`scale` (2-10), shown as one row; the end `labels` name its first and last point.

import { oneOf, optionGroup } from "./choices.js";
import { labelled, numberOrNull } from "./editing.js";
import { el } from "../dom.js";

export function render(container, question, context) {
  const scale = Math.max(2, Math.min(10, Number(question.scale) || 5));
  const [low, high] = question.labels || [];
  const options = Array.from({ length: scale }, (_, i) => {
    const point = i + 1;
    const hint = point === 1 ? low : point === scale ? high : "";
    return { value: String(point), text: String(point), hint: hint || "" };
  });
  const group = optionGroup(question, context, { kind: "radio", options, className: "options rating", showKeys: false });
  container.append(group.element);
  return oneOf(group, context, Number);
}

export function edit(container, definition, { idPrefix }) {
  const scale = el("input", { type: "number", min: 2, max: 10, value: definition.scale || 5 });
  const [lowText, highText] = definition.labels || [];
  const low = el("input", { maxlength: 100, value: lowText || "" });
  const high = el("input", { maxlength: 100, value: highText || "" });
  container.append(
    el("div", { class: "row" }, labelled(`${idPrefix}-scale`, "Points on the scale", scale), labelled(`${idPrefix}-low`, "Label of point 1", low), labelled(`${idPrefix}-high`, "Label of the last point", high)),
  );
  return () => {
    const out = { scale: numberOrNull(scale) ?? 5 };
    if (low.value.trim() || high.value.trim()) out.labels = [low.value.trim(), high.value.trim()];
    return out;
  };
}

export function sameAnswer(question, a, b) {
  return String(a) === String(b);
}

export function conditionValues(question) {
  const scale = Math.max(2, Math.min(10, Number(question.scale) || 5));
  return Array.from({ length: scale }, (_, i) => i + 1);
}
