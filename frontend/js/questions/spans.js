// spans: the worker marks stretches of the text in `data[question.column]` and labels each (docs/ANNOTATION.md).
// The answer is a list of {start, end, label}: offsets in Unicode code points (Array.from, never JS string
// indexes, so they match Python's), end exclusive. Marks snap to whole words; [] (nothing to mark) is an answer.

import { el } from "../dom.js";
import { editColumnAndLabels, labelBar, labelClass, labelOfKey } from "./labels.js";
import { format, gettext } from "../i18n.js";

const WORD = /[\p{L}\p{N}\p{M}_]/u;
const SPACE = /\s/u;

function asText(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

// The text as pieces {start, end, text, kind}: "word" (a run of letters and digits), "sign" (any other one
// character: a comma, an emoji) or "space" (a run of white space, never the edge of a mark).
export function tokenize(text) {
  const chars = Array.from(text);
  const pieces = [];
  let i = 0;
  while (i < chars.length) {
    const kind = WORD.test(chars[i]) ? "word" : SPACE.test(chars[i]) ? "space" : "sign";
    let j = i + 1;
    if (kind !== "sign") while (j < chars.length && (kind === "word" ? WORD.test(chars[j]) : SPACE.test(chars[j]))) j++;
    pieces.push({ start: i, end: j, text: chars.slice(i, j).join(""), kind });
    i = j;
  }
  return pieces;
}

// The pieces cut where a span starts or ends inside one (a merged span need not follow words); each keeps the
// index of the piece it came from.
function splitAtEdges(pieces, spans) {
  const edges = new Set(spans.flatMap((s) => [s.start, s.end]));
  const out = [];
  for (const [index, piece] of pieces.entries()) {
    const chars = Array.from(piece.text);
    let from = piece.start;
    for (let at = piece.start + 1; at <= piece.end; at++) {
      if (at === piece.end || edges.has(at)) {
        out.push({ ...piece, index, start: from, end: at, text: chars.slice(from - piece.start, at - piece.start).join("") });
        from = at;
      }
    }
  }
  return out;
}

const overlaps = (a, b) => a.start < b.end && b.start < a.end;

// Draws the text with the spans marked (each covered piece gets its label's colour; the last piece of a span shows
// the label). Shared by the worker's question and the results pages.
export function markedText(pieces, spans, labels, { selected = null, cursor = -1, tag = (s) => s.label } = {}) {
  const node = el("p", { class: "span-text item-text" });
  for (const piece of splitAtEdges(pieces, spans)) {
    const covering = spans.filter((s) => s.start <= piece.start && piece.end <= s.end);
    const attrs = { class: "piece", "data-start": piece.start, "data-end": piece.end };
    if (covering.length) {
      attrs.class += ` marked ${labelClass(labels, covering[covering.length - 1].label)}`;
      if (selected && covering.includes(selected)) attrs.class += " selected";
      const ending = covering.filter((s) => s.end === piece.end);
      if (ending.length) attrs["data-tag"] = ending.map(tag).join(" · ");
    }
    if (piece.index === cursor) attrs.class += " cursor";
    node.append(el("span", attrs, piece.text));
  }
  return node;
}

export function render(container, question, { idPrefix, label, promptHidden, onChange, item = { data: {} } }) {
  const labels = (question.labels || []).map(String);
  const maxSpans = question.max_spans || 100;
  const text = asText(item.data ? item.data[question.column] : "");
  const chars = Array.from(text);
  const pieces = tokenize(text);
  // The stops of the keyboard's cursor: the words (the signs too in a text of signs alone).
  const stopKind = pieces.some((p) => p.kind === "word") ? "word" : "sign";
  const words = pieces.map((p, i) => (p.kind === stopKind ? i : -1)).filter((i) => i !== -1);
  let spans = [];
  let selected = null;
  let cursor = 0; // an index into words

  // After a click on a button the focus goes back to the text: keys act on it, Enter submits.
  const andFocus = (act) => (arg) => {
    act(arg);
    textBox.focus();
  };
  const bar = labelBar(labels, { idPrefix, onPick: andFocus(useLabel) });
  const textBox = el("div", { class: "span-box", tabindex: 0, id: `${idPrefix}-text`, role: "application", "aria-roledescription": gettext("text to mark"), "aria-label": format(gettext("%(label)s: select words to mark them"), { label }) });
  const list = el("ul", { class: "span-list", "aria-label": gettext("Marked spans") });
  const note = el("p", { class: "question-problem", "aria-live": "polite" });
  const legendText = question.required === false ? `${label} (optional)` : label;
  const element = el("fieldset", { class: "spans" }, el("legend", { class: promptHidden ? "sr-only" : "question-prompt", text: legendText }), bar.element, textBox, list, note);
  container.append(element);

  const spanText = (s) => chars.slice(s.start, s.end).join("");

  function draw() {
    textBox.replaceChildren(markedText(pieces, spans, labels, { selected, cursor: words[cursor] }));
    list.replaceChildren(
      ...spans.map((s) =>
        el(
          "li",
          { class: `span-entry${s === selected ? " selected" : ""}` },
          el("button", { type: "button", class: `span-pick ${labelClass(labels, s.label)}`, onclick: () => andFocus(select)(s) }, el("span", { class: "span-label", text: s.label }), ` ${spanText(s)}`),
          el("button", { type: "button", class: "small span-remove", text: "×", "aria-label": format(gettext("Remove “%(text)s” (%(label)s)"), { text: spanText(s), label: s.label }), onclick: () => andFocus(remove)(s) }),
        ),
      ),
    );
  }

  function changed() {
    spans.sort((a, b) => a.start - b.start || a.end - b.end);
    draw();
    onChange();
  }

  function select(span) {
    selected = span;
    if (span) cursor = Math.max(0, words.findLastIndex((w) => pieces[w].end <= span.end));
    draw();
  }

  function remove(span) {
    spans = spans.filter((s) => s !== span);
    if (selected === span) selected = null;
    note.textContent = "";
    changed();
  }

  // Adds (or, for `replacing`, reshapes) a span; without overlap, the spans it overlaps give way.
  function put(span, replacing = null) {
    const others = spans.filter((s) => s !== replacing);
    const kept = question.overlap ? others.filter((s) => !(s.start === span.start && s.end === span.end && s.label === span.label)) : others.filter((s) => !overlaps(s, span));
    if (kept.length >= maxSpans) {
      note.textContent = format(gettext("At most %(count)s spans."), { count: maxSpans });
      return;
    }
    spans = [...kept, span];
    selected = span;
    note.textContent = "";
    changed();
  }

  function useLabel(l) {
    bar.set(l);
    if (selected) put({ ...selected, label: l }, selected);
  }

  // The word pieces a stretch of code points [start, end) touches, snapped to whole words.
  function snapped(start, end) {
    const touched = pieces.filter((p) => p.kind !== "space" && p.start < end && start < p.end);
    if (!touched.length) return null;
    return { start: touched[0].start, end: touched[touched.length - 1].end };
  }

  // A DOM position inside the text as a code-point offset.
  function offsetOf(node, offset) {
    const piece = (node.nodeType === Node.TEXT_NODE ? node.parentElement : node)?.closest?.("[data-start]");
    if (!piece || !textBox.contains(piece)) return null;
    if (node.nodeType !== Node.TEXT_NODE) return Number(offset === 0 ? piece.dataset.start : piece.dataset.end);
    return Number(piece.dataset.start) + Array.from(node.data.slice(0, offset)).length;
  }

  textBox.addEventListener("pointerup", () => {
    const selection = window.getSelection();
    if (!selection || selection.rangeCount === 0) return;
    const range = selection.getRangeAt(0);
    if (!selection.isCollapsed) {
      const a = offsetOf(range.startContainer, range.startOffset);
      const b = offsetOf(range.endContainer, range.endOffset);
      selection.removeAllRanges();
      const span = a !== null && b !== null ? snapped(Math.min(a, b), Math.max(a, b)) : null;
      if (span) put({ ...span, label: bar.current() });
      return;
    }
    // A click: on a span selects it; on another word puts the cursor there.
    const at = offsetOf(range.startContainer, range.startOffset);
    const piece = pieceAt(at);
    if (piece === null) return;
    const hit = spans.filter((s) => s.start <= pieces[piece].start && pieces[piece].end <= s.end).pop();
    if (words.includes(piece)) cursor = words.indexOf(piece);
    select(hit || null);
  });

  function pieceAt(at) {
    if (at === null) return null;
    const n = pieces.findIndex((p) => p.start <= at && at < p.end);
    return n === -1 ? null : n;
  }

  // Shift+→ takes in the next word; Shift+← gives back the last one (a one-word span stays).
  function stretch(step) {
    if (!selected) return;
    const last = words.findLastIndex((w) => pieces[w].end <= selected.end);
    const target = last + step;
    if (target < 0 || target >= words.length || pieces[words[target]].end <= selected.start) return;
    cursor = target;
    put({ ...selected, end: pieces[words[target]].end }, selected);
  }

  draw();
  return {
    element,
    pickable: false,
    completesOnPick: false,
    value: () => spans.map(({ start, end, label: l }) => ({ start, end, label: l })),
    problem: () => "",
    focus: () => textBox.focus(),
    pick: () => false,
    key(event) {
      if (event.altKey || !words.length) return false;
      const chosen = labelOfKey(labels, event.key);
      if (chosen !== null) {
        bar.set(chosen);
        if (selected) put({ ...selected, label: chosen }, selected);
        else put({ start: pieces[words[cursor]].start, end: pieces[words[cursor]].end, label: chosen });
        return true;
      }
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        const step = event.key === "ArrowRight" ? 1 : -1;
        if (event.shiftKey) stretch(step);
        else {
          cursor = Math.max(0, Math.min(words.length - 1, cursor + step));
          selected = null;
          draw();
        }
        return true;
      }
      if ((event.key === "Delete" || event.key === "Backspace") && selected) {
        remove(selected);
        return true;
      }
      if (event.key === "Escape" && selected) {
        select(null);
        return true;
      }
      return false;
    },
  };
}

export function claimedColumns(definition) {
  return { [definition.column]: "text" };
}

export function edit(container, definition, context) {
  const read = editColumnAndLabels(container, definition, context, "Text column");
  const overlap = el("input", { type: "checkbox", id: `${context.idPrefix}-overlap`, checked: Boolean(definition.overlap) });
  container.append(el("label", { class: "choice", for: overlap.id }, overlap, " Spans may overlap"));
  return () => ({ ...read(), overlap: overlap.checked });
}

export const conditionValues = () => null;

export function sameAnswer(question, a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Merged spans {start, end, label, confidence, workers}, drawn on the text.
export function showResult(container, question, result, { item }) {
  if (!Array.isArray(result)) return false;
  const labels = (question.labels || []).map(String);
  const text = asText(item.data ? item.data[question.column] : "");
  const tag = (s) => (typeof s.confidence === "number" ? `${s.label} ${s.confidence.toFixed(2)}` : s.label);
  container.append(markedText(tokenize(text), result, labels, { tag }));
  if (!result.length) container.append(el("p", { class: "muted", text: "No spans." }));
  return true;
}
