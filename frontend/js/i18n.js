// The browser's strings in the page's language. base.html loads Django's catalog (/jsi18n/, from
// locale/<language>/LC_MESSAGES/djangojs.po) before any module; a page without it (or a string it lacks) shows
// the English text. Placeholders are named, as in the .po files: format(gettext("Item %(n)s of %(total)s"), {...}).

const catalog = globalThis.django;

export function gettext(text) {
  return catalog ? catalog.gettext(text) : text;
}

export function ngettext(singular, plural, count) {
  return catalog ? catalog.ngettext(singular, plural, count) : count === 1 ? singular : plural;
}

export function pgettext(context, text) {
  return catalog ? catalog.pgettext(context, text) : text;
}

// Fills %(name)s placeholders from `values` (values are inserted as text: callers put the result in textContent).
export function format(template, values) {
  return template.replace(/%\((\w+)\)s/g, (whole, name) => (Object.hasOwn(values, name) ? String(values[name]) : whole));
}
