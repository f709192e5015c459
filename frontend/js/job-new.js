// Creating a job in the browser: preview the file, map its columns, set the question (or build a form of display
// blocks and questions), see a worker's view of one microtask, then create the draft job and upload the file (or
// the media archive that holds it) with a progress bar.

import { apiJSON, errorLines, uploadFile } from "./api.js";
import { $, el, setText } from "./dom.js";
import { MEDIA_TYPES } from "./display.js";
import { createBuilder } from "./form-builder.js";
import { sampleArchive, sampleFile } from "./preview-parse.js";
import { completeDisplay } from "./questions/index.js";
import { renderTask } from "./task-view.js";

const form = $("job-form");
let sample = { columns: [], rows: [], estimatedRows: null };
const currency = $("cost-estimate").dataset.currency || ""; // the deployment's (QUORUM_CURRENCY)
let createdJobId = null;
const previewMedia = new Map(); // file name in the archive -> data: URL (or null), once read

const builder = createBuilder({
  blocksList: $("display-blocks"),
  questionsList: $("questions"),
  typeChoices: [...$("f-type").options].map((o) => [o.value, o.textContent]),
  onChange: () => schedulePreview(),
});
const usingBuilder = () => $("f-builder").checked;

function fillSelect(select, columns, guess, emptyLabel) {
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: emptyLabel }), ...columns.map((c) => el("option", { value: c, text: c })));
  select.value = columns.includes(current) ? current : columns.includes(guess) ? guess : "";
}

function shownColumns() {
  if (usingBuilder()) return new Set(builder.display().map((b) => b.column));
  return new Set([$("f-text-field").value, ...[...$("f-shown-fields").selectedOptions].map((o) => o.value)]);
}

function renderTable() {
  const box = $("file-preview");
  if (!sample.columns.length) {
    box.replaceChildren(sample.note ? el("p", { class: "error", text: sample.note }) : "");
    return;
  }
  const gold = $("f-gold-field").value;
  const shown = shownColumns();
  const head = el("tr", {}, ...sample.columns.map((c) => el("th", { scope: "col", class: c === gold ? "col-gold" : shown.has(c) ? "col-shown" : "", text: c })));
  const body = sample.rows.slice(0, 5).map((row) => el("tr", {}, ...sample.columns.map((c) => el("td", { text: row[c] === undefined ? "" : typeof row[c] === "string" ? row[c] : JSON.stringify(row[c]) }))));
  const estimate = sample.estimatedRows === null ? "" : `About ${sample.estimatedRows.toLocaleString()} rows. `;
  const source = sample.dataName ? `From ${sample.dataName} in the archive. ` : "";
  box.replaceChildren(
    el("p", { class: "muted", text: `${source}${estimate}First ${Math.min(5, sample.rows.length)} rows:` }),
    el("div", { class: "scroll-x" }, el("table", { class: "table compact", id: "preview-rows" }, el("thead", {}, head), el("tbody", {}, ...body))),
  );
}

function lines(id) {
  return $(id).value.split("\n").map((o) => o.trim()).filter(Boolean);
}

function num(id) {
  const value = $(id).value.trim();
  return value === "" ? null : Number(value);
}

function payload() {
  const columns = sample.columns;
  const gold = $("f-gold-field").value;
  const id = $("f-id-field").value;
  const body = {
    name: $("f-name").value.trim(),
    instructions: $("f-instructions").value,
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
  if (usingBuilder()) {
    body.display = builder.display();
    body.questions = builder.questions();
    body.media_origins = lines("f-media-origins");
  } else {
    body.question = $("f-question").value.trim();
    body.question_type = $("f-type").value;
    body.options = lines("f-options");
    body.text_field = $("f-text-field").value;
    body.shown_fields = [...$("f-shown-fields").selectedOptions].map((o) => o.value).filter((c) => c !== $("f-text-field").value);
  }
  return body;
}

function asText(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

// What the server sends workers for a simple job (docs/PROTOCOL.md): the shown columns only, or every column but
// the id and gold ones when the job names none; the text is the text column alone, else "name: value" lines.
function simpleItem(row, p, goldField, idField) {
  const shown = [p.text_field, ...p.shown_fields].filter(Boolean);
  const data = shown.length ? Object.fromEntries(shown.filter((c) => c in row).map((c) => [c, row[c]])) : { ...row };
  if (goldField) delete data[goldField];
  if (!shown.length && idField) delete data[idField];
  const names = Object.keys(data);
  const only = p.text_field && names.length === 1 && names[0] === p.text_field;
  const text = only ? data[p.text_field] : names.map((c) => `${c}: ${asText(data[c])}`).join("\n");
  return { data, text };
}

// A simple job's display, as tasks/forms.py shorthand_display derives it: its shown columns as text blocks (none:
// the item's text, every column).
function shorthandDisplay(p) {
  return [...new Set([p.text_field, ...p.shown_fields].filter(Boolean))].map((column) => ({ type: "text", column, label: "" }));
}

// A form's item: the columns its blocks name; media as workers get it (an http(s) URL as it is, a file of the
// archive as an inline image once read; the server signs uploaded files for workers).
function formItem(row, blocks) {
  const data = Object.fromEntries(blocks.filter((b) => b.column in row).map((b) => [b.column, row[b.column]]));
  const media = {};
  for (const block of blocks) {
    if (!MEDIA_TYPES.has(block.type) || !(block.column in row)) continue;
    const value = asText(row[block.column]);
    if (/^https?:\/\//i.test(value)) media[block.column] = value;
    else if (previewMedia.get(value)) media[block.column] = previewMedia.get(value);
    else if (!previewMedia.has(value) && sample.mediaURL && block.type === "image") {
      previewMedia.set(value, null);
      sample.mediaURL(value).then((url) => {
        previewMedia.set(value, url);
        if (url) schedulePreview();
      });
    }
  }
  return { data, media };
}

function renderPreview() {
  const building = usingBuilder();
  for (const node of document.querySelectorAll(".simple-only")) node.hidden = building;
  $("simple-question").hidden = building;
  $("form-builder").hidden = !building;
  builder.refresh();
  const p = payload();
  const goldField = $("f-gold-field").value;
  const idField = $("f-id-field").value;
  const work = sample.rows.filter((r) => !goldField || r[goldField] === undefined || r[goldField] === "");
  // The server adds a block for each column a question shows itself (spans' text, boxes' image): so does the preview.
  const display = building ? completeDisplay(p.display, p.questions) : [];
  const items = work.slice(0, Math.max(1, Math.min(p.items_per_microtask || 1, 20))).map((row, i) => ({ id: i, ...(building ? formItem(row, display) : simpleItem(row, p, goldField, idField)) }));
  const root = $("worker-preview");
  if (!items.length) {
    root.replaceChildren(el("p", { class: "muted", text: "Choose a file to see a microtask." }));
  } else if (building && !p.questions.length) {
    root.replaceChildren(el("p", { class: "muted", text: "Add a question to see a microtask." }));
  } else {
    const job = building
      ? { name: p.name || "Your job", instructions: p.instructions, display, questions: p.questions }
      : { name: p.name || "Your job", instructions: p.instructions, question: p.question, question_type: p.question_type, options: p.options, display: shorthandDisplay(p) };
    renderTask(root, { job, items }, { prefix: "preview" });
    if (p.instructions) root.append(el("details", {}, el("summary", { text: "Instructions (one click away for workers)" }), el("p", { class: "prewrap", text: p.instructions })));
  }
  $("f-options").disabled = !["single_choice", "multiple_choice"].includes($("f-type").value);
  const rows = sample.estimatedRows;
  if (rows && p.items_per_microtask && p.redundancy) {
    const microtasks = Math.ceil(rows / p.items_per_microtask);
    const cost = microtasks * p.redundancy * Number(p.reward || 0);
    setText("cost-estimate", `About ${microtasks.toLocaleString()} microtasks × ${p.redundancy} answers × ${currency} ${p.reward} ≈ ${currency} ${cost.toFixed(2)} at the minimum redundancy.`);
  }
  renderTable();
}

// The preview follows each change at once (a handful of rows): a later, batched redraw could undo a click the
// requester has just made in the preview.
const schedulePreview = () => renderPreview();
form.addEventListener("input", schedulePreview);
form.addEventListener("change", schedulePreview);

// The builder starts from the simple fields: their question, and the columns they show as text blocks.
function startBuilder() {
  if (!usingBuilder() || !builder.empty) return;
  const shown = [$("f-text-field").value, ...[...$("f-shown-fields").selectedOptions].map((o) => o.value)].filter(Boolean);
  const skip = new Set([$("f-gold-field").value, $("f-id-field").value]);
  for (const column of shown.length ? [...new Set(shown)] : sample.columns.filter((c) => !skip.has(c))) builder.addBlock({ type: "text", column });
  builder.addQuestion({ name: "answer", type: $("f-type").value, prompt: $("f-question").value.trim(), options: lines("f-options") });
}
$("f-builder").addEventListener("change", startBuilder);
$("add-block").addEventListener("click", () => builder.addBlock({ column: sample.columns[0] || "" }));
$("add-question").addEventListener("click", () => builder.addQuestion());

let reading = 0;

// Reads the chosen file once per choice (never from itself: that re-read the file in a loop and reset the column
// choices many times a second). A read overtaken by a newer choice is dropped. Without an items file, the media
// archive's items file is the sample.
async function readChosenFile() {
  const file = $("f-file").files[0];
  const archive = $("f-archive").files[0];
  if (!file && !archive) return;
  const mine = ++reading;
  const read = file ? await sampleFile(file) : await sampleArchive(archive);
  if (mine !== reading) return;
  sample = read;
  previewMedia.clear();
  fillSelect($("f-text-field"), sample.columns, sample.columns.includes("text") ? "text" : "", "All columns");
  fillSelect($("f-gold-field"), sample.columns, "gold", "None");
  fillSelect($("f-id-field"), sample.columns, "id", "None");
  const more = $("f-shown-fields");
  const chosen = new Set([...more.selectedOptions].map((o) => o.value));
  more.replaceChildren(...sample.columns.map((c) => el("option", { value: c, text: c, selected: chosen.has(c) })));
  builder.setColumns(sample.columns);
  if (!$("f-name").value) $("f-name").value = (file || archive).name.replace(/\.[^.]+$/, "");
  renderPreview();
}
$("f-file").addEventListener("change", readChosenFile);
$("f-archive").addEventListener("change", readChosenFile);

function showErrors(lines) {
  const box = $("form-errors");
  box.hidden = lines.length === 0;
  box.replaceChildren(...lines.map((line) => el("p", { text: line })));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("f-file").files[0];
  const archive = $("f-archive").files[0];
  if (!file && !archive) return showErrors(["Choose a file of items (or a media archive holding one) first."]);
  // The archive carries its own items file: two would make two sets of items.
  if (file && archive) return showErrors(["Choose the items file or the media archive that holds it, not both."]);
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
    const uploaded = await uploadFile(`/api/jobs/${createdJobId}/uploads/`, file || archive, (loaded, total) => {
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

startBuilder();
renderPreview();
// A file chosen before this module ran (a fast user, or the browser restoring the form) is read now.
readChosenFile();
