// The question types the browser knows, by the name the server uses (docs/FORMS.md). A type is one module with
// render(container, question, {idPrefix, label, promptHidden, onChange}) returning
// {element, pickable, completesOnPick, value(), problem(), focus(), pick(n), key(event)?}:
//   value()    the answer, or undefined while there is none (or it is not acceptable yet);
//   problem()  "" or why the typed answer is not acceptable (shown to the worker, blocks the submit);
//   pick(key)  digit key "0".."9" chose something (true) or means nothing here (false);
//   key(event) optional: another key (an arrow, Delete, a label's digit...) the question used (true) or not;
//   pickable   digit keys act on it; completesOnPick: one pick (or key) answers it.
// The context also carries the `item` ({id, data, media}) and the job's display `blocks`: a type that shows a column
// itself (spans, boxes, pairs) draws that column's block (display.js renderBlock) and says which with
// claimedColumns(definition) -> {column: block type}, as the server's plugin does.
// For the New job page's builder it also has edit(container, definition, {idPrefix}) drawing the type's own
// settings and returning a function that reads them ({options}, {min, max, integer}, ...), and
// conditionValues(question): the answers a later question's show_if may name, or null when none can; and
// sameAnswer(question, a, b): whether an answer meets a show_if value, compared as the server compares them.
// Optional for the results pages: showResult(container, question, result, {item, blocks}) draws a result (false:
// it cannot), and ranksCandidates: the job's results include a ranking (GET /api/jobs/<id>/ranking/).
// Static imports: the page's Content-Security-Policy allows scripts from this server only.

import * as boxes from "./boxes.js";
import * as free_text from "./free_text.js";
import * as multiple_choice from "./multiple_choice.js";
import * as number from "./number.js";
import * as pairwise from "./pairwise.js";
import * as rating from "./rating.js";
import * as single_choice from "./single_choice.js";
import * as spans from "./spans.js";

const TYPES = { single_choice, multiple_choice, free_text, number, rating, pairwise, spans, boxes };

export const TYPE_NAMES = Object.keys(TYPES);

export function questionType(name) {
  return Object.hasOwn(TYPES, name) ? TYPES[name] : null;
}

// {column: block type} of the columns the questions show themselves (tasks/forms.py Form.claimed_columns).
export function claimedBlocks(questions) {
  const out = {};
  for (const question of questions) {
    const type = questionType(question.type);
    if (type && type.claimedColumns) for (const [column, block] of Object.entries(type.claimedColumns(question))) if (column && !(column in out)) out[column] = block;
  }
  return out;
}

// The display with a block for each claimed column that has none, as tasks/forms.py complete_display makes it on
// the server (the New job page's preview has only what the requester built).
export function completeDisplay(display, questions) {
  const blocks = [...(display || [])];
  for (const [column, type] of Object.entries(claimedBlocks(questions))) if (!blocks.some((b) => b.column === column)) blocks.push({ type, column, label: "" });
  return blocks;
}
