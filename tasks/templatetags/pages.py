"""Template filters of the requester pages. They return plain strings, so Django escapes them."""

import json

from django import template

register = template.Library()


@register.filter
def item_text(data: dict, field: str) -> str:
    """What a worker sees of an item: its text column, or every field when the job names none."""
    if field and isinstance(data, dict) and field in data:
        value = data[field]
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return json.dumps(data, ensure_ascii=False)


@register.filter
def as_json(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@register.filter
def question_results(item, job) -> list[dict]:
    """``item|question_results:job``: a form's results per question, in the job's question order: [{name, result, confidence, ...}]. Empty for a
    one-question job (its result is the item's own). A filter, not ``item.results.items`` in the template: a
    question named "items" would shadow the dict method there."""
    results = getattr(item, "results", None)
    if not isinstance(results, dict) or not results:
        return []
    order = [q.get("name") for q in (getattr(job, "questions", None) or []) if isinstance(q, dict)]
    names = [n for n in order if n in results] + [n for n in results if n not in order]
    rows = []
    for name in names:
        entry = results[name] if isinstance(results[name], dict) else {"result": results[name]}
        rows.append(
            {"name": name, **{k: entry.get(k) for k in ("result", "confidence", "method", "answers", "agreement")}}
        )
    return rows
