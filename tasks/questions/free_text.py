"""Free text: a short answer typed by the worker; answers agree when they read the same once normalised."""

import json

from ..aggregation.text import normalise_text
from .base import MAX_TEXT_LENGTH, DefinitionError, QuestionType, _show


class FreeText(QuestionType):
    name = "free_text"
    label = "Free text"
    aggregation = "text"

    def check_definition(self, definition):
        limit = definition.get("max_length", MAX_TEXT_LENGTH)
        if type(limit) is not int or not 1 <= limit <= MAX_TEXT_LENGTH:
            raise DefinitionError(f"max_length must be a whole number from 1 to {MAX_TEXT_LENGTH}", "max_length")
        return {"max_length": limit}

    def answer_problem(self, definition, value):
        # PostgreSQL stores no NUL character in text or jsonb.
        if not isinstance(value, str) or "\x00" in value:
            return "must be text without NUL characters"
        if len(value) > definition.get("max_length", MAX_TEXT_LENGTH):
            return f"must be at most {definition.get('max_length', MAX_TEXT_LENGTH)} characters"
        return ""

    def parse_gold(self, definition, raw):
        if isinstance(raw, (dict, list)):
            raise ValueError("gold answer for a free-text question must be text, not a JSON object or list")
        text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
        problem = self.answer_problem(definition, text)
        if problem:  # a known answer no worker could type would mark every worker wrong
            raise ValueError(f"gold answer {_show(text)} {problem}")
        return text

    def same(self, definition, a, b):
        return normalise_text(str(a)) == normalise_text(str(b))

    def label_of(self, definition, value):
        return normalise_text(str(value))
