"""Choice questions: one option (single_choice) or a set of options (multiple_choice)."""

import json

from .base import QuestionType, check_options


class SingleChoice(QuestionType):
    name = "single_choice"
    label = "Single choice"
    machine_answerable = True
    gold_is_an_option = True

    def check_definition(self, definition):
        return {"options": check_options(definition)}

    def answer_problem(self, definition, value):
        if isinstance(value, str) and value in definition["options"]:
            return ""
        return f"must be one of the options {definition['options']}"

    def parse_gold(self, definition, raw):
        # A CSV gives every gold answer as text; JSON may give 1 for the option "1".
        text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
        if text not in definition["options"]:
            raise ValueError(f"gold answer '{text}' is not one of the options {definition['options']}")
        return text

    def labels(self, definition):
        return list(definition["options"])

    def label_of(self, definition, value):
        return str(value)

    def value_of_label(self, definition, label):
        return label

    def same(self, definition, a, b):
        return str(a).strip().casefold() == str(b).strip().casefold()


class MultipleChoice(QuestionType):
    """The chosen SET is one label: "a and b" is one answer, and the result is the set the crowd agrees on."""

    name = "multiple_choice"
    label = "Multiple choice"

    def check_definition(self, definition):
        return {"options": check_options(definition)}

    def answer_problem(self, definition, value):
        if isinstance(value, list) and all(isinstance(v, str) and v in definition["options"] for v in value):
            return ""
        return f"must be a list of options from {definition['options']}"

    def normalise(self, definition, value):
        if not isinstance(value, list):
            return value
        order = {o: n for n, o in enumerate(definition["options"])}
        return sorted({str(v) for v in value}, key=lambda v: (order.get(v, len(order)), v))

    def parse_gold(self, definition, raw):
        if isinstance(raw, list):
            chosen = [str(v) for v in raw]
        else:  # a CSV cell: options separated by |
            chosen = [part.strip() for part in str(raw).split("|") if part.strip()]
        unknown = [c for c in chosen if c not in definition["options"]]
        if unknown:
            raise ValueError(f"gold answer '{unknown[0]}' is not one of the options {definition['options']}")
        return self.normalise(definition, chosen)

    def label_of(self, definition, value):
        chosen = value if isinstance(value, list) else json.loads(value) if isinstance(value, str) else [value]
        return json.dumps(self.normalise(definition, chosen), ensure_ascii=False)

    def value_of_label(self, definition, label):
        return json.loads(label)

    def export_cell(self, value):
        return "|".join(map(str, value)) if isinstance(value, list) else super().export_cell(value)
