// Creating a job in the browser: preview the file, map its columns, set the question and the terms, see a
// worker's view of one microtask, then create the draft job and upload the file with a progress bar.

import { apiJSON, errorLines, uploadFile } from "./api.js";
import { $, el, frameScheduler, setText } from "./dom.js";
import { sampleFile } from "./preview-parse.js";
import { renderTask } from "./task-view.js";

const form = $("job-form");
let sample = { columns: [], rows: [], estimatedRows: null };
let createdJobId = null;

function fillSelect(select, columns, guess, emptyLabel) {
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: emptyLabel }), ...columns.map((c) => el("option", { value: c, text: c })));
  select.value = columns.includes(current) ? current : columns.includes(guess) ? guess : "";
}

function renderTable() {
  const box = $("file-preview");
  if (!sample.columns.length) {
    box.replaceChildren(sample.note ? el("p", { class: "error", text: sample.note }) : "");
    return;
  }
  const gold = $("f-gold-field").value;
  const shown = new Set([$("f-text-field").value, ...[...$("f-shown-fields").selectedOptions].map((o) => o.value)]);
  const head = el("tr", {}, ...sample.columns.map((c) => el("th", { scope: "col", class: c === gold ? "col-gold" : shown.has(c) ? "col-shown" : "", text: c })));
  const body = sample.rows.slice(0, 5).map((row) => el("tr", {}, ...sample.columns.map((c) => el("td", { text: row[c] === undefined ? "" : typeof row[c] === "string" ? row[c] : JSON.stringify(row[c]) }))));
  const estimate = sample.estimatedRows === null ? "" : `About ${sample.estimatedRows.toLocaleString()} rows. `;
  box.replaceChildren(
    el("p", { class: "muted", text: `${estimate}First ${Math.min(5, sample.rows.length)} rows:` }),
    el("div", { class: "scroll-x" }, el("table", { class: "table compact", id: "preview-rows" }, el("thead", {}, head), el("tbody", {}, ...body))),
  );
}

function options() {
  return $("f-options").value.split("\n").map((o) => o.trim()).filter(Boolean);
}

function num(id) {
  const value = $(id).value.trim();
  return value === "" ? null : Number(value);
}

function payload() {
  const columns = sample.columns;
  const gold = $("f-gold-field").value;
  const id = $("f-id-field").value;
  return {
    name: $("f-name").value.trim(),
    instructions: $("f-instructions").value,
    question: $("f-question").value.trim(),
    question_type: $("f-type").value,
    options: options(),
    text_field: $("f-text-field").value,
    shown_fields: [...$("f-shown-fields").selectedOptions].map((o) => o.value).filter((c) => c !== $("f-text-field").value),
    // No gold or id column chosen: name one the file does not have, so no column is taken by accident.
    gold_field: gold || (columns.includes("gold") ? "__no_gold__" : "gold"),
    id_field: id || (columns.includes("id") ? "__no_id__" : "id"),
    redundancy: num("f-redundancy"),
    max_answers: num("f-max-answers"),
    target_confidence: num("f-target-confidence"),
    items_per_microtask: num("f-items-per-microtask"),
    priority: num("f-priority"),
    lease_seconds: num("f-lease"),
    reward: $("f-reward").value.trim() || "0",
    budget: $("f-budget").value.trim() || null,
  };
}

function renderPreview() {
  const p = payload();
  const goldField = $("f-gold-field").value;
  const idField = $("f-id-field").value;
  const work = sample.rows.filter((r) => !goldField || r[goldField] === undefined || r[goldField] === "");
  const items = work.slice(0, Math.max(1, Math.min(p.items_per_microtask || 1, 20))).map((row, i) => {
    // What the server sends workers (docs/PROTOCOL.md): the shown columns only, or every column but the id and
    // gold ones when the job names none; the text is the text column alone, else "name: value" lines.
    const shown = [p.text_field, ...p.shown_fields].filter(Boolean);
    const data = shown.length ? Object.fromEntries(shown.filter((c) => c in row).map((c) => [c, row[c]])) : { ...row };
    if (goldField) delete data[goldField];
    if (!shown.length && idField) delete data[idField];
    const names = Object.keys(data);
    const only = p.text_field && names.length === 1 && names[0] === p.text_field;
    const text = only ? data[p.text_field] : names.map((c) => `${c}: ${typeof data[c] === "string" ? data[c] : JSON.stringify(data[c])}`).join("\n");
    return { id: i, data, text };
  });
  const root = $("worker-preview");
  if (!items.length) {
    root.replaceChildren(el("p", { class: "muted", text: "Choose a file to see a microtask." }));
  } else {
    renderTask(root, { job: { name: p.name || "Your job", instructions: p.instructions, question: p.question, question_type: p.question_type, options: p.options }, items }, { prefix: "preview" });
    if (p.instructions) root.append(el("details", {}, el("summary", { text: "Instructions (one click away for workers)" }), el("p", { class: "prewrap", text: p.instructions })));
  }
  $("f-options").disabled = !["single_choice", "multiple_choice"].includes(p.question_type);
  const rows = sample.estimatedRows;
  if (rows && p.items_per_microtask && p.redundancy) {
    const microtasks = Math.ceil(rows / p.items_per_microtask);
    const cost = microtasks * p.redundancy * Number(p.reward || 0);
    setText("cost-estimate", `About ${microtasks.toLocaleString()} microtasks × ${p.redundancy} answers × ${p.reward} ≈ ${cost.toFixed(2)} at the minimum redundancy.`);
  }
  renderTable();
}

const schedulePreview = frameScheduler(renderPreview);
form.addEventListener("input", schedulePreview);
form.addEventListener("change", schedulePreview);

let reading = 0;

// Reads the chosen file once per choice (never from itself: that re-read the file in a loop and reset the column
// choices many times a second). A read overtaken by a newer choice is dropped.
async function readChosenFile() {
  const file = $("f-file").files[0];
  if (!file) return;
  const mine = ++reading;
  const read = await sampleFile(file);
  if (mine !== reading) return;
  sample = read;
  fillSelect($("f-text-field"), sample.columns, sample.columns.includes("text") ? "text" : "", "All columns");
  fillSelect($("f-gold-field"), sample.columns, "gold", "None");
  fillSelect($("f-id-field"), sample.columns, "id", "None");
  const more = $("f-shown-fields");
  const chosen = new Set([...more.selectedOptions].map((o) => o.value));
  more.replaceChildren(...sample.columns.map((c) => el("option", { value: c, text: c, selected: chosen.has(c) })));
  if (!$("f-name").value) $("f-name").value = file.name.replace(/\.[^.]+$/, "");
  renderPreview();
}
$("f-file").addEventListener("change", readChosenFile);

function showErrors(lines) {
  const box = $("form-errors");
  box.hidden = lines.length === 0;
  box.replaceChildren(...lines.map((line) => el("p", { text: line })));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("f-file").files[0];
  if (!file) return showErrors(["Choose a file of items first."]);
  const button = $("create-job");
  button.disabled = true;
  showErrors([]);
  try {
    const body = payload();
    const saved = createdJobId ? await apiJSON("PATCH", `/api/jobs/${createdJobId}/`, body) : await apiJSON("POST", "/api/jobs/", body);
    if (!saved.ok) return showErrors(errorLines(saved.data));
    createdJobId = saved.data.id;
    $("upload-status").hidden = false;
    const bar = $("upload-progress");
    const uploaded = await uploadFile(`/api/jobs/${createdJobId}/uploads/`, file, (loaded, total) => {
      bar.value = Math.round((100 * loaded) / total);
      setText("upload-text", `${Math.round(loaded / 1024).toLocaleString()} of ${Math.round(total / 1024).toLocaleString()} KB`);
    });
    if (!uploaded.ok) return showErrors(errorLines(uploaded.data));
    bar.value = 100;
    location.assign(`/jobs/${createdJobId}/`);
  } finally {
    button.disabled = false;
  }
});

renderPreview();
// A file chosen before this module ran (a fast user, or the browser restoring the form) is read now.
readChosenFile();
