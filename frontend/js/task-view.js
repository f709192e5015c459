// Renders one microtask per docs/PROTOCOL.md `task.assigned` (docs/FORMS.md): for each item its display blocks,
// then the job's questions, each drawn by its question type's module (questions/index.js), with `show_if`
// conditions applied as the worker answers. Used by the worker page and by the New job page's preview, so the
// preview is exactly what workers see.

import { el } from "./dom.js";
import { renderDisplay } from "./display.js";
import { claimedBlocks, questionType } from "./questions/index.js";
import { format, gettext } from "./i18n.js";

// Jobs from before forms carry only the shorthand fields: they ask one question named "answer".
export function jobQuestions(job) {
  if (Array.isArray(job.questions) && job.questions.length) return job.questions;
  return [{ name: "answer", type: job.question_type, prompt: job.question || "", required: true, options: job.options || [] }];
}

// Whether the answer to a shown question meets a `show_if` condition ({question, equals} or {question, in}), as
// tasks/forms.py Form.applies decides it: a list answer (multiple choice) when it holds any wanted value.
export function conditionHolds(condition, source, value) {
  if (value === undefined) return false;
  const wanted = Object.hasOwn(condition, "in") ? condition.in || [] : [condition.equals];
  if (Array.isArray(value)) return wanted.some((w) => value.includes(w));
  const type = questionType(source.type);
  const same = type && type.sameAnswer ? type.sameAnswer : (_, a, b) => a === b;
  return wanted.some((w) => same(source, value, w));
}

function unsupported(container, question) {
  container.append(el("p", { class: "error", text: format(gettext("This page cannot show a question of type “%(type)s”. Reload the page."), { type: question.type }) }));
  return { element: container, pickable: false, completesOnPick: false, value: () => undefined, problem: () => gettext("This question cannot be answered here."), focus: () => {}, pick: () => false };
}

export function renderTask(root, task, { prefix = "t", onChange = () => {} } = {}) {
  const { job, items } = task;
  const questions = jobQuestions(job);
  const isForm = questions.length > 1;
  // The columns a question shows itself (the text spans are marked on, a pair's candidates): not drawn above it.
  const claimed = new Set(job.claimed_columns || Object.keys(claimedBlocks(questions)));
  const sections = [];
  root.replaceChildren();
  root.append(el("h2", { class: "task-job", text: job.name }));
  // One question: its prompt once above the items, as a heading for all of them.
  if (!isForm && questions[0].prompt) root.append(el("p", { class: "task-question", text: questions[0].prompt }));

  items.forEach((item, index) => {
    const name = `${prefix}-item-${index}`;
    const heading = items.length > 1 ? format(gettext("Item %(n)s of %(total)s"), { n: index + 1, total: items.length }) : gettext("Item");
    const section = el("section", { class: "task-item", "data-index": index, "aria-label": heading });
    const display = el("div", { class: "item-display" });
    renderDisplay(display, job.display, item, claimed);
    section.append(display);
    const fields = questions.map((question, q) => {
      const wrapper = el("div", { class: "question", "data-question": question.name, "data-type": question.type });
      const prompt = question.prompt || (isForm ? question.name : "");
      const context = {
        idPrefix: `${name}-q${q}`,
        label: isForm ? prompt : `${heading}: ${prompt || gettext("your answer")}`,
        promptHidden: !isForm && Boolean(prompt),
        onChange: () => changed(index),
        item,
        blocks: job.display || [],
      };
      const type = questionType(question.type);
      const control = type ? type.render(wrapper, question, context) : unsupported(wrapper, question);
      section.append(wrapper);
      return { question, wrapper, control, shown: true };
    });
    section.addEventListener("click", () => setActive(index));
    section.addEventListener("focusin", () => setActive(index));
    root.append(section);
    sections.push({ section, fields });
  });

  // Shows the questions whose conditions hold, in order: a question hidden by its condition hides the ones that
  // depend on it too.
  function applyConditions(index) {
    const { fields } = sections[index];
    const byName = new Map();
    for (const field of fields) {
      const condition = field.question.show_if;
      const source = condition ? byName.get(condition.question) : null;
      field.shown = !condition || Boolean(source && source.shown && conditionHolds(condition, source.question, source.control.value()));
      field.wrapper.hidden = !field.shown;
      byName.set(field.question.name, field);
    }
  }

  function missingIn(index) {
    const out = [];
    for (const { question, control, shown } of sections[index].fields) {
      if (!shown) continue;
      const problem = control.problem();
      if (problem) out.push({ index, question: question.name, prompt: question.prompt || question.name, message: problem });
      else if (question.required !== false && control.value() === undefined) out.push({ index, question: question.name, prompt: question.prompt || question.name, message: "" });
    }
    return out;
  }

  function changed(index) {
    applyConditions(index);
    const { section, fields } = sections[index];
    const open = new Set(missingIn(index).map((m) => m.question));
    section.classList.toggle("answered", open.size === 0);
    for (const field of fields) if (!open.has(field.question.name)) field.wrapper.classList.remove("needs-answer");
    onChange();
  }

  function valueOf(index) {
    const shown = sections[index].fields.filter((f) => f.shown);
    if (!isForm) return shown[0].control.value();
    const value = {};
    for (const { question, control } of shown) {
      const answer = control.value();
      if (answer !== undefined) value[question.name] = answer;
    }
    return value;
  }

  let active = 0;
  function setActive(index) {
    active = Math.max(0, Math.min(sections.length - 1, index));
    sections.forEach((s, i) => s.section.classList.toggle("active", i === active));
  }

  function firstShown(index, test = () => true) {
    return sections[index].fields.find((f) => f.shown && test(f));
  }

  // The question keys act on: the focused one in the active item, else the item's first one that takes keys.
  function keyTarget() {
    const { section, fields } = sections[active];
    const focused = document.activeElement;
    if (focused && section.contains(focused)) {
      const field = fields.find((f) => f.shown && f.wrapper.contains(focused));
      if (field) return field;
    }
    return firstShown(active, (f) => f.control.pickable || Boolean(f.control.key));
  }

  // After a pick: one that completes the item moves on to the next item still open; otherwise the picked question
  // keeps the focus, so Tab goes on to the next question.
  function picked(field) {
    const from = active;
    if (field.control.completesOnPick && missingIn(from).length === 0) {
      const nextOpen = sections.findIndex((_, i) => i > from && missingIn(i).length > 0);
      if (nextOpen !== -1) {
        moveTo(nextOpen);
        return;
      }
    }
    field.control.focus();
  }

  function moveTo(index) {
    setActive(index);
    const field = firstShown(active);
    if (field) field.control.focus();
  }

  sections.forEach((_, i) => applyConditions(i));
  setActive(0);
  return {
    get active() {
      return active;
    },
    setActive,
    next: () => moveTo(active + 1),
    previous: () => moveTo(active - 1),
    // Number key n: pick in the question it targets.
    pick(key) {
      const field = keyTarget();
      if (!field || !field.control.pick(key)) return false;
      picked(field);
      return true;
    },
    // Any other key the targeted question may use (its own key(event)): true when it did.
    key(event) {
      const field = keyTarget();
      if (!field || !field.control.key || !field.control.key(event)) return false;
      if (field.control.completesOnPick) picked(field);
      return true;
    },
    // Puts the cursor in the first question of the active item when it takes typing.
    focusInput() {
      const field = firstShown(active);
      if (field && !field.control.pickable) field.control.focus();
    },
    // What still needs an answer: [{index (of the item), question (name), prompt, message}].
    missing: () => sections.flatMap((_, i) => missingIn(i)),
    // Shows the worker one thing that still needs an answer: its item becomes active, its question focused.
    showMissing(entry) {
      setActive(entry.index);
      const field = sections[entry.index].fields.find((f) => f.question.name === entry.question);
      if (!field) return;
      field.wrapper.classList.add("needs-answer");
      field.control.focus();
    },
    // One question: the bare value per item; several: {name: value} without hidden or unanswered questions.
    answers: () => items.map((item, i) => ({ item: item.id, value: valueOf(i) })),
    // Plays or pauses the first audio or video of the active item; false when it has none.
    togglePlay() {
      const media = sections[active].section.querySelector("audio, video");
      if (!media) return false;
      if (media.paused) media.play().catch(() => {});
      else media.pause();
      return true;
    },
    isChoice: Boolean(sections.length && sections[0].fields[0].control.pickable),
    isForm,
  };
}
