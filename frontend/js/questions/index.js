// The question types the browser knows, by the name the server uses (docs/FORMS.md). A type is one module with
// render(container, question, {idPrefix, label, promptHidden, onChange}) returning
// {element, pickable, completesOnPick, value(), problem(), focus(), pick(n)}:
//   value()    the answer, or undefined while there is none (or it is not acceptable yet);
//   problem()  "" or why the typed answer is not acceptable (shown to the worker, blocks the submit);
//   pick(key)  digit key "0".."9" chose something (true) or means nothing here (false);
//   pickable   digit keys act on it; completesOnPick: one pick answers it.
// For the New job page's builder it also has edit(container, definition, {idPrefix}) drawing the type's own
// settings and returning a function that reads them ({options}, {min, max, integer}, ...), and
// conditionValues(question): the answers a later question's show_if may name, or null when none can; and
// sameAnswer(question, a, b): whether an answer meets a show_if value, compared as the server compares them.
// Static imports: the page's Content-Security-Policy allows scripts from this server only.

import * as free_text from "./free_text.js";
import * as multiple_choice from "./multiple_choice.js";
import * as number from "./number.js";
import * as rating from "./rating.js";
import * as single_choice from "./single_choice.js";

const TYPES = { single_choice, multiple_choice, free_text, number, rating };

export const TYPE_NAMES = Object.keys(TYPES);

export function questionType(name) {
  return Object.hasOwn(TYPES, name) ? TYPES[name] : null;
}
