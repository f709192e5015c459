// boxes: the worker draws labelled boxes on the image `item.media[question.column]` (docs/ANNOTATION.md). The
// answer is a list of {x, y, w, h, label} in fractions of the image's width and height (0..1 from its top left),
// so a box means the same at any size the image is shown. Pointer events: a mouse, a pen or a finger.

import { el } from "../dom.js";
import { renderBlock } from "../display.js";
import { editColumnAndLabels, labelBar, labelClass, labelOfKey } from "./labels.js";
import { format, gettext, ngettext } from "../i18n.js";

const SMALLEST = 0.005; // a drag shorter than this is a click
const NUDGE = 0.01;
const clamp = (v, low, high) => Math.min(high, Math.max(low, v));
const round = (v) => Math.round(v * 1e6) / 1e6;

function imageBlock(blocks, column) {
  return (blocks || []).find((b) => b.column === column && b.type === "image") || { type: "image", column, label: "" };
}

// Places a box element over the image: CSSOM styles (the CSP allows no inline style attribute).
function place(node, box) {
  node.style.left = `${box.x * 100}%`;
  node.style.top = `${box.y * 100}%`;
  node.style.width = `${box.w * 100}%`;
  node.style.height = `${box.h * 100}%`;
}

// The image of `column` with a layer over it for boxes; {element, stage} (stage null when there is no image).
function imageStage(blocks, column, item) {
  const element = renderBlock(imageBlock(blocks, column), item);
  const image = element.querySelector("img");
  if (!image) return { element, stage: null };
  const stage = el("div", { class: "box-stage" });
  image.replaceWith(stage);
  image.draggable = false;
  stage.append(image);
  image.addEventListener("load", () => enlargeSmall(image, stage));
  requestAnimationFrame(() => enlargeSmall(image, stage));
  return { element, stage };
}

// A small image is drawn as large as the room allows (its height within the CSS max-height): boxes cannot be
// placed with a pointer on a 64-pixel picture. Box coordinates are fractions, so the scale changes nothing else.
function enlargeSmall(image, stage) {
  const room = stage.parentElement ? stage.parentElement.clientWidth : 0;
  if (!image.naturalWidth || !room) return;
  const tallest = parseFloat(getComputedStyle(image).maxHeight) || Infinity;
  const scale = Math.min(room / image.naturalWidth, tallest / image.naturalHeight);
  if (scale > 1) image.style.width = `${Math.floor(image.naturalWidth * scale)}px`;
}

export function render(container, question, { idPrefix, label, promptHidden, onChange, item = { data: {} }, blocks = [] }) {
  const labels = (question.labels || []).map(String);
  const maxBoxes = question.max_boxes || 50;
  let boxes = [];
  let selected = null;
  // After a click on a label the focus goes back to the image: keys act on it, Enter submits.
  const bar = labelBar(labels, {
    idPrefix,
    onPick: (l) => {
      useLabel(l);
      if (stage) layer.focus();
    },
  });
  const { element: picture, stage } = imageStage(blocks, question.column, item);
  const layer = el("div", { class: "box-layer", tabindex: 0, id: `${idPrefix}-boxes`, role: "application", "aria-roledescription": gettext("image to box"), "aria-label": format(gettext("%(label)s: drag on the image to draw a box"), { label }) });
  if (stage) stage.append(layer);
  const status = el("p", { class: "box-status muted", "aria-live": "polite" });
  const legendText = question.required === false ? `${label} (optional)` : label;
  const element = el("fieldset", { class: "boxes" }, el("legend", { class: promptHidden ? "sr-only" : "question-prompt", text: legendText }), bar.element, picture, status);
  container.append(element);

  function draw() {
    layer.replaceChildren(
      ...boxes.map((box, n) => {
        const node = el("div", { class: `box ${labelClass(labels, box.label)}${box === selected ? " selected" : ""}`, "data-box": n }, el("span", { class: "box-tag", text: box.label }), el("span", { class: "box-handle", "data-handle": "1", "aria-hidden": "true" }));
        place(node, box);
        return node;
      }),
    );
    status.textContent = boxes.length ? `${format(ngettext("%(count)s box", "%(count)s boxes", boxes.length), { count: boxes.length })}${selected ? format(gettext("; selected: %(label)s (%(n)s)"), { label: selected.label, n: boxes.indexOf(selected) + 1 }) : ""}` : gettext("No boxes yet.");
  }

  function changed() {
    draw();
    onChange();
  }

  function add(box) {
    if (boxes.length >= maxBoxes) {
      status.textContent = format(gettext("At most %(count)s boxes."), { count: maxBoxes });
      return;
    }
    boxes.push(box);
    selected = box;
    changed();
  }

  function useLabel(l) {
    bar.set(l);
    if (selected) {
      selected.label = l;
      changed();
    }
  }

  // Keeps a box inside the image (and at least a sliver wide).
  function fit(box) {
    box.w = clamp(box.w, SMALLEST, 1);
    box.h = clamp(box.h, SMALLEST, 1);
    box.x = clamp(box.x, 0, 1 - box.w);
    box.y = clamp(box.y, 0, 1 - box.h);
  }

  let drag = null; // {mode: "draw" | "move" | "resize", box, from: {x, y}, start: {...box}}
  const pointAt = (event) => {
    const rect = layer.getBoundingClientRect();
    return { x: clamp((event.clientX - rect.left) / rect.width, 0, 1), y: clamp((event.clientY - rect.top) / rect.height, 0, 1) };
  };
  layer.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    layer.focus();
    const from = pointAt(event);
    const hit = event.target.closest("[data-box]");
    const box = hit ? boxes[Number(hit.dataset.box)] : null;
    if (box) {
      selected = box;
      drag = { mode: event.target.closest("[data-handle]") ? "resize" : "move", box, from, start: { ...box } };
      draw();
    } else {
      drag = { mode: "draw", box: null, from, start: null };
    }
    layer.setPointerCapture(event.pointerId);
  });
  layer.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const p = pointAt(event);
    const { from, start } = drag;
    if (drag.mode === "draw") {
      const w = Math.abs(p.x - from.x);
      const h = Math.abs(p.y - from.y);
      if (!drag.box) {
        if (w < SMALLEST && h < SMALLEST) return;
        if (boxes.length >= maxBoxes) return;
        drag.box = { x: from.x, y: from.y, w: SMALLEST, h: SMALLEST, label: bar.current() };
        boxes.push(drag.box);
        selected = drag.box;
      }
      Object.assign(drag.box, { x: Math.min(p.x, from.x), y: Math.min(p.y, from.y), w, h });
    } else if (drag.mode === "move") {
      Object.assign(drag.box, { x: start.x + p.x - from.x, y: start.y + p.y - from.y });
    } else {
      Object.assign(drag.box, { w: p.x - start.x, h: p.y - start.y });
    }
    fit(drag.box);
    draw();
  });
  const endDrag = () => {
    if (!drag) return;
    const { mode, box } = drag;
    drag = null;
    if (mode === "draw" && !box) selected = null; // a click on the image itself
    changed();
  };
  layer.addEventListener("pointerup", endDrag);
  layer.addEventListener("pointercancel", endDrag);

  function step(n) {
    if (!boxes.length) return;
    const at = selected ? boxes.indexOf(selected) : n > 0 ? -1 : boxes.length;
    selected = boxes[(at + n + boxes.length) % boxes.length];
    draw();
  }

  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

  draw();
  return {
    element,
    pickable: false,
    completesOnPick: false,
    value: () => boxes.map((b) => ({ x: round(b.x), y: round(b.y), w: round(b.w), h: round(b.h), label: b.label })),
    problem: () => "",
    focus: () => (stage ? layer : bar.element.querySelector("button"))?.focus(),
    pick: () => false,
    key(event) {
      if (!stage) return false;
      const chosen = labelOfKey(labels, event.key);
      if (chosen !== null && !event.altKey) {
        useLabel(chosen);
        return true;
      }
      if ((event.key === "n" || event.key === "N") && !event.altKey) {
        add({ x: 0.35, y: 0.35, w: 0.3, h: 0.3, label: bar.current() });
        return true;
      }
      if (event.key === "[" || event.key === "]") {
        step(event.key === "]" ? 1 : -1);
        return true;
      }
      if ((event.key === "Delete" || event.key === "Backspace") && selected) {
        boxes = boxes.filter((b) => b !== selected);
        selected = null;
        changed();
        return true;
      }
      const arrow = ARROWS[event.key];
      if (arrow && selected) {
        const d = NUDGE * (event.shiftKey ? 10 : 1);
        if (event.altKey) Object.assign(selected, { w: selected.w + arrow[0] * d, h: selected.h + arrow[1] * d });
        else Object.assign(selected, { x: selected.x + arrow[0] * d, y: selected.y + arrow[1] * d });
        fit(selected);
        changed();
        return true;
      }
      if (event.key === "Escape" && selected) {
        selected = null;
        draw();
        return true;
      }
      return false;
    },
  };
}

export function claimedColumns(definition) {
  return { [definition.column]: "image" };
}

export function edit(container, definition, context) {
  return editColumnAndLabels(container, definition, context, "Image column");
}

export const conditionValues = () => null;

export function sameAnswer(question, a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Merged boxes {x, y, w, h, label, confidence, workers}, drawn on the image.
export function showResult(container, question, result, { item, blocks }) {
  if (!Array.isArray(result)) return false;
  const labels = (question.labels || []).map(String);
  const { element, stage } = imageStage(blocks, question.column, item);
  container.append(element);
  if (stage) {
    const layer = el("div", { class: "box-layer" });
    for (const box of result) {
      const details = [box.label, typeof box.confidence === "number" ? box.confidence.toFixed(2) : "", box.workers ? `${box.workers} workers` : ""].filter(Boolean).join(" · ");
      const node = el("div", { class: `box ${labelClass(labels, box.label)}` }, el("span", { class: "box-tag", text: details }));
      place(node, box);
      layer.append(node);
    }
    stage.append(layer);
  }
  container.append(el("p", { class: "muted", text: result.length ? `${result.length} box${result.length === 1 ? "" : "es"}` : "No boxes." }));
  return true;
}
