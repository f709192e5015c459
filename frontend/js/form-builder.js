// The New job page's form builder (docs/FORMS.md): display blocks and questions as rows the requester adds,
// removes and reorders. The rows are the state: display() and questions() read them into the JSON the API
// takes. Each question type draws its own settings (questions/<type>.js `edit`), so nothing here names one.

import { el } from "./dom.js";
import { questionType } from "./questions/index.js";

const BLOCK_TYPES = [
  ["text", "Text"],
  ["markdown", "Markdown"],
  ["image", "Image"],
  ["audio", "Audio"],
  ["video", "Video"],
  ["link", "Link"],
];

let counter = 0;
const nextId = (kind) => `${kind}${++counter}`;

function field(id, text, input, className = "") {
  input.id = id;
  return el("div", { class: className }, el("label", { for: id, text }), input);
}

// Refills a select only when its choices changed, keeping what was chosen.
function setChoices(select, choices) {
  const signature = JSON.stringify(choices);
  if (select.dataset.choices === signature) return;
  const chosen = new Set([...select.selectedOptions].map((o) => o.value));
  select.dataset.choices = signature;
  select.replaceChildren(...choices.map(([value, text]) => el("option", { value, text, selected: chosen.has(value) })));
}

function columnChoices(columns, current, emptyText) {
  const names = current && !columns.includes(current) ? [...columns, current] : columns;
  return [["", emptyText], ...names.map((c) => [c, c])];
}

function rowActions(row, what, onChange) {
  const move = (step) => {
    const sibling = step < 0 ? row.previousElementSibling : row.nextElementSibling;
    if (!sibling) return;
    if (step < 0) sibling.before(row);
    else sibling.after(row);
    onChange();
  };
  return el(
    "div",
    { class: "builder-actions" },
    el("button", { type: "button", class: "small", text: "↑", "aria-label": `Move ${what} up`, onclick: () => move(-1) }),
    el("button", { type: "button", class: "small", text: "↓", "aria-label": `Move ${what} down`, onclick: () => move(1) }),
    el("button", { type: "button", class: "small danger", text: "Remove", "aria-label": `Remove ${what}`, onclick: () => { row.remove(); onChange(); } }),
  );
}

export function createBuilder({ blocksList, questionsList, typeChoices, onChange }) {
  let columns = [];
  // The file's columns, offered by the question types' column inputs (questions/labels.js columnInput).
  const columnList = el("datalist", { id: "form-columns" });
  questionsList.after(columnList);
  const changed = () => {
    refresh();
    onChange();
  };

  function addBlock(block = {}) {
    const id = nextId("block");
    const type = el("select", {}, ...BLOCK_TYPES.map(([value, text]) => el("option", { value, text })));
    type.value = block.type || "text";
    const column = el("select");
    const label = el("input", { maxlength: 200, value: block.label || "" });
    const row = el("li", { class: "builder-row block-row" });
    row.append(
      el("div", { class: "row" }, field(`${id}-type`, "Show as", type), field(`${id}-column`, "Column", column), field(`${id}-label`, "Label (optional)", label)),
      rowActions(row, "display block", changed),
    );
    row.read = () => {
      const out = { type: type.value, column: column.value };
      if (label.value.trim()) out.label = label.value.trim();
      return out;
    };
    row.refresh = () => setChoices(column, columnChoices(columns, column.value || block.column, "Choose a column"));
    row.refresh();
    column.value = block.column || "";
    blocksList.append(row);
    changed();
    return row;
  }

  function addQuestion(definition = {}) {
    const id = nextId("question");
    const count = questionsList.children.length + 1;
    const name = el("input", { maxlength: 64, pattern: "[A-Za-z0-9_\\-]+", value: definition.name || `q${count}`, spellcheck: "false" });
    const type = el("select", {}, ...typeChoices.map(([value, text]) => el("option", { value, text })));
    type.value = definition.type || typeChoices[0][0];
    const prompt = el("input", { maxlength: 500, value: definition.prompt || "" });
    const required = el("input", { type: "checkbox", id: `${id}-required`, checked: definition.required !== false });
    const settings = el("div", { class: "type-settings" });
    const showIf = el("select");
    const showIfValues = el("select", { multiple: true, size: 3 });
    const gold = el("select");
    let readSettings = () => ({});

    function drawSettings(from) {
      settings.replaceChildren();
      const plugin = questionType(type.value);
      readSettings = plugin && plugin.edit ? plugin.edit(settings, from, { idPrefix: id }) : () => ({});
    }
    type.addEventListener("change", () => drawSettings({ ...readSettings() }));
    drawSettings(definition);

    const row = el("li", { class: "builder-row question-row" });
    row.append(
      el("div", { class: "row" }, field(`${id}-name`, "Name", name), field(`${id}-type`, "Type", type), field(`${id}-prompt`, "Prompt", prompt, "grow")),
      el("label", { class: "choice", for: required.id }, required, " Required"),
      settings,
      el(
        "div",
        { class: "row" },
        field(`${id}-show-if`, "Ask only when", showIf),
        field(`${id}-show-if-values`, "has the answer", showIfValues),
        field(`${id}-gold`, "Gold column (known answers)", gold),
      ),
      rowActions(row, "question", changed),
    );
    row.questionName = () => name.value.trim();
    row.read = () => {
      const out = { name: name.value.trim(), type: type.value, prompt: prompt.value.trim(), required: required.checked, ...readSettings() };
      const values = [...showIfValues.selectedOptions].map((o) => JSON.parse(o.value));
      if (showIf.value && values.length) out.show_if = values.length === 1 ? { question: showIf.value, equals: values[0] } : { question: showIf.value, in: values };
      if (gold.value) out.gold_column = gold.value;
      return out;
    };
    // A condition names an earlier question whose type offers values to name.
    row.refresh = () => {
      const earlier = [];
      for (let r = row.previousElementSibling; r; r = r.previousElementSibling) earlier.unshift(r);
      const candidates = earlier.map((r) => r.read()).filter((q) => q.name && questionType(q.type)?.conditionValues?.(q));
      setChoices(showIf, [["", "Always"], ...candidates.map((q) => [q.name, q.prompt ? `${q.name}: ${q.prompt}` : q.name])]);
      if (!showIf.value && definition.show_if && candidates.some((q) => q.name === definition.show_if.question)) showIf.value = definition.show_if.question;
      const source = candidates.find((q) => q.name === showIf.value);
      setChoices(showIfValues, source ? questionType(source.type).conditionValues(source).map((v) => [JSON.stringify(v), String(v)]) : []);
      showIfValues.disabled = !source;
      if (definition.show_if && source && source.name === definition.show_if.question && !showIfValues.selectedOptions.length) {
        const wanted = new Set(("in" in definition.show_if ? definition.show_if.in : [definition.show_if.equals]).map((v) => JSON.stringify(v)));
        for (const option of showIfValues.options) option.selected = wanted.has(option.value);
      }
      setChoices(gold, columnChoices(columns, gold.value || definition.gold_column, "None"));
      if (!gold.value && definition.gold_column) gold.value = definition.gold_column;
    };
    questionsList.append(row);
    changed();
    return row;
  }

  function refresh() {
    for (const row of [...blocksList.children, ...questionsList.children]) row.refresh();
  }

  return {
    addBlock,
    addQuestion,
    setColumns(names) {
      columns = names;
      columnList.replaceChildren(...names.map((name) => el("option", { value: name })));
      refresh();
    },
    refresh,
    get empty() {
      return !blocksList.children.length && !questionsList.children.length;
    },
    display: () => [...blocksList.children].map((row) => row.read()),
    questions: () => [...questionsList.children].map((row) => row.read()),
  };
}
