// pairwise: two candidates side by side (the blocks of the `left` and `right` columns); the answer is the better
// side, "left" or "right", or "equal" where `allow_equal` is set (docs/ANNOTATION.md).

import { el } from "../dom.js";
import { renderBlock } from "../display.js";
import { labelled } from "./editing.js";
import { columnInput } from "./labels.js";
import { gettext } from "../i18n.js";

function sides(question) {
  return question.allow_equal ? ["left", "right", "equal"] : ["left", "right"];
}

const BUTTON_TEXT = { left: gettext("← Left is better"), right: gettext("Right is better →"), equal: gettext("= Equal") };
const ARROWS = { ArrowLeft: "left", ArrowRight: "right", "=": "equal" };

export function blockOf(blocks, column) {
  return (blocks || []).find((b) => b.column === column) || { type: "text", column, label: "" };
}

export function render(container, question, { idPrefix, label, promptHidden, onChange, item = { data: {} }, blocks = [] }) {
  const choices = sides(question);
  let chosen;
  const buttons = {};
  const choose = (side) => {
    chosen = side;
    for (const [s, button] of Object.entries(buttons)) button.setAttribute("aria-pressed", String(s === side));
    onChange();
  };
  // The focus rests on the pair, not on a button, so Enter submits rather than clicking the button again.
  const click = (side) => {
    choose(side);
    pair.focus();
  };
  const sideButton = (side, n) => {
    buttons[side] = el("button", { type: "button", class: `pair-choice pair-${side}`, id: `${idPrefix}-${side}`, "aria-pressed": "false", onclick: () => click(side) }, el("kbd", { "aria-hidden": "true", text: String(n) }), ` ${BUTTON_TEXT[side]}`);
    return buttons[side];
  };
  const candidate = (side, n) => el("div", { class: `pair-candidate pair-candidate-${side}` }, renderBlock(blockOf(blocks, question[side]), item), sideButton(side, n));
  const legendText = question.required === false ? `${label} (optional)` : label;
  const pair = el("div", { class: "pair", tabindex: -1 }, candidate("left", 1), candidate("right", 2));
  const element = el(
    "fieldset",
    { class: "pairwise" },
    el("legend", { class: promptHidden ? "sr-only" : "question-prompt", text: legendText }),
    pair,
    choices.includes("equal") ? el("div", { class: "pair-equal" }, sideButton("equal", 3)) : null,
  );
  container.append(element);
  return {
    element,
    pickable: true,
    completesOnPick: true,
    value: () => chosen,
    problem: () => "",
    focus: () => pair.focus(),
    pick(key) {
      const side = choices[Number(key) - 1];
      if (!/^[1-3]$/.test(key) || !side) return false;
      choose(side);
      return true;
    },
    // ← left, → right, = equal.
    key(event) {
      const side = ARROWS[event.key];
      if (!side || event.shiftKey || event.altKey || !choices.includes(side)) return false;
      choose(side);
      return true;
    },
  };
}

// The columns a question draws itself, and as which block (tasks/questions/pairwise.py claimed_columns).
export function claimedColumns(definition) {
  const drawn = definition.pairs === "drawn";
  return { [drawn ? "left" : definition.left || "left"]: "text", [drawn ? "right" : definition.right || "right"]: "text" };
}

export function edit(container, definition, { idPrefix }) {
  const pairs = el("select", {}, el("option", { value: "given", text: "Each row holds two candidates" }), el("option", { value: "drawn", text: "Each row is one candidate; Quorum draws the pairs" }));
  pairs.value = definition.pairs === "drawn" ? "drawn" : "given";
  const left = columnInput(definition.pairs === "drawn" ? "" : definition.left || "left");
  const right = columnInput(definition.pairs === "drawn" ? "" : definition.right || "right");
  const candidate = columnInput(definition.candidate_column || "candidate");
  const perCandidate = el("input", { type: "number", min: 2, max: 50, value: definition.comparisons_per_candidate || 6 });
  const group = columnInput(definition.group_column || "");
  const allowEqual = el("input", { type: "checkbox", id: `${idPrefix}-allow-equal`, checked: Boolean(definition.allow_equal) });
  const given = el("div", { class: "row" }, labelled(`${idPrefix}-left`, "Left candidate column", left), labelled(`${idPrefix}-right`, "Right candidate column", right));
  const drawn = el("div", { class: "row" }, labelled(`${idPrefix}-candidate`, "Candidate column", candidate), labelled(`${idPrefix}-per-candidate`, "Comparisons per candidate", perCandidate));
  const show = () => {
    given.hidden = pairs.value !== "given";
    drawn.hidden = pairs.value !== "drawn";
  };
  pairs.addEventListener("change", show);
  show();
  container.append(
    labelled(`${idPrefix}-pairs`, "Pairs", pairs),
    given,
    drawn,
    labelled(`${idPrefix}-group`, "Group column (optional: candidates are ranked within their group)", group),
    el("label", { class: "choice", for: allowEqual.id }, allowEqual, " Workers may answer “equal”"),
  );
  return () => {
    const out = { pairs: pairs.value, allow_equal: allowEqual.checked, group_column: group.value.trim() };
    if (pairs.value === "given") Object.assign(out, { left: left.value.trim(), right: right.value.trim() });
    else Object.assign(out, { candidate_column: candidate.value.trim(), comparisons_per_candidate: Number(perCandidate.value) || 6 });
    return out;
  };
}

export const conditionValues = sides;

export function sameAnswer(question, a, b) {
  return String(a) === String(b);
}

// Its results page shows a ranking of the candidates (GET /api/jobs/<id>/ranking/).
export const ranksCandidates = true;

// A pair's result: the preferred side, with that side's candidate.
export function showResult(container, question, result, { item, blocks }) {
  if (typeof result !== "string") return false;
  const text = { left: "Left", right: "Right", equal: "Equal" }[result] || result;
  container.append(el("strong", { class: "pair-result", text }));
  if (result === "left" || result === "right") container.append(renderBlock(blockOf(blocks, question[result]), item));
  return true;
}
