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
