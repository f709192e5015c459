// Renders one microtask (job question + its items) per docs/PROTOCOL.md `task.assigned`, and collects the
// answers. Used by the worker page and by the job-creation preview, so the preview is exactly what workers see.

import { el } from "./dom.js";

const CHOICE_TYPES = new Set(["single_choice", "multiple_choice"]);

export function itemText(item) {
  if (item.text !== undefined && item.text !== null && item.text !== "") return String(item.text);
  return Object.entries(item.data || {})
    .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" · ");
}

export function renderTask(root, task, { prefix = "t", onChange = () => {} } = {}) {
  const { job, items } = task;
  const type = job.question_type;
  const options = (job.options || []).map(String);
  const sections = [];
  root.replaceChildren();
  root.append(el("h2", { class: "task-job", text: job.name }));
  if (job.question) root.append(el("p", { class: "task-question", text: job.question }));

  items.forEach((item, index) => {
    const name = `${prefix}-item-${index}`;
    const heading = items.length > 1 ? `Item ${index + 1} of ${items.length}` : "Item";
    const section = el("section", { class: "task-item", "data-index": index, "aria-label": heading });
    section.append(el("p", { class: "item-text", text: itemText(item) }));
    let control;
    if (CHOICE_TYPES.has(type)) {
      const group = el("fieldset", { class: "options" }, el("legend", { class: "sr-only", text: `${heading}: ${job.question || "answer"}` }));
      options.forEach((option, i) => {
        const id = `${name}-opt-${i}`;
        const input = el("input", {
          type: type === "single_choice" ? "radio" : "checkbox",
          name,
          id,
          value: option,
          onchange: () => {
            update();
            onChange();
          },
        });
        const key = i < 9 ? el("kbd", { "aria-hidden": "true", text: String(i + 1) }) : null;
        group.append(el("label", { class: "option", for: id }, input, key, el("span", { text: option })));
      });
      control = group;
    } else if (type === "number") {
      const id = `${name}-number`;
      control = el("div", {}, el("label", { for: id, text: `${heading}: your answer (a number)` }), el("input", { id, type: "number", step: "any", inputmode: "decimal", oninput: () => { update(); onChange(); } }));
    } else {
      const id = `${name}-text`;
      control = el("div", {}, el("label", { for: id, text: `${heading}: your answer` }), el("textarea", { id, rows: 2, oninput: () => { update(); onChange(); } }));
    }
    section.append(control);
    section.addEventListener("click", () => setActive(index));
    section.addEventListener("focusin", () => setActive(index));
    root.append(section);
    sections.push(section);
  });

  let active = 0;
  function setActive(index) {
    active = Math.max(0, Math.min(sections.length - 1, index));
    sections.forEach((s, i) => s.classList.toggle("active", i === active));
  }

  function valueOf(index) {
    const section = sections[index];
    if (type === "single_choice") {
      const checked = section.querySelector("input:checked");
      return checked ? checked.value : undefined;
    }
    if (type === "multiple_choice") {
      const checked = [...section.querySelectorAll("input:checked")].map((i) => i.value);
      return checked.length ? checked : undefined;
    }
    if (type === "number") {
      const input = section.querySelector("input");
      return input.value === "" || Number.isNaN(input.valueAsNumber) ? undefined : input.valueAsNumber;
    }
    const text = section.querySelector("textarea").value.trim();
    return text ? text : undefined;
  }

  function update() {
    sections.forEach((s, i) => s.classList.toggle("answered", valueOf(i) !== undefined));
  }

  setActive(0);
  return {
    get active() {
      return active;
    },
    setActive,
    next: () => setActive(active + 1),
    previous: () => setActive(active - 1),
    // Number keys: pick option n on the active item; a single choice moves on to the next unanswered item.
    pick(n) {
      if (!CHOICE_TYPES.has(type) || n < 1 || n > options.length) return false;
      const input = sections[active].querySelectorAll("input")[n - 1];
      input.checked = type === "single_choice" ? true : !input.checked;
      update();
      onChange();
      if (type === "single_choice") {
        const nextOpen = sections.findIndex((_, i) => i > active && valueOf(i) === undefined);
        if (nextOpen !== -1) setActive(nextOpen);
      }
      return true;
    },
    focusInput() {
      const input = sections[active].querySelector("textarea, input[type=number]");
      if (input) input.focus();
    },
    missing: () => sections.map((_, i) => i).filter((i) => valueOf(i) === undefined),
    answers: () => items.map((item, i) => ({ item: item.id, value: valueOf(i) })),
    isChoice: CHOICE_TYPES.has(type),
  };
}
