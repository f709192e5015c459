"""A number, optionally whole and within a range."""

from .base import DefinitionError, QuestionType, _show, is_number


class Number(QuestionType):
    name = "number"
    label = "Number"
    aggregation = "numeric"

    def check_definition(self, definition):
        checked = {}
        for key in ("min", "max"):
            if definition.get(key) is not None:
                if not is_number(definition[key]):
                    raise DefinitionError(f"{key} must be a number", key)
                checked[key] = definition[key]
        if "min" in checked and "max" in checked and checked["min"] > checked["max"]:
            raise DefinitionError("min must not be above max", "min")
        integer = definition.get("integer", False)
        if not isinstance(integer, bool):
            raise DefinitionError("integer is true or false", "integer")
        checked["integer"] = integer
        return checked

    def answer_problem(self, definition, value):
        if not is_number(value):
            return "must be a finite number"
        if definition.get("integer") and value != int(value):
            return "must be a whole number"
        if definition.get("min") is not None and value < definition["min"]:
            return f"must be at least {definition['min']}"
        if definition.get("max") is not None and value > definition["max"]:
            return f"must be at most {definition['max']}"
        return ""

    def parse_gold(self, definition, raw):
        if isinstance(raw, bool):
            raise ValueError(f"gold answer {_show(raw)} is not a number")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"gold answer {_show(raw)} is not a number") from None
        problem = self.answer_problem(definition, number)
        if problem:
            raise ValueError(f"gold answer {_show(raw)} {problem.replace('must be', 'is not')}")
        return number

    def same(self, definition, a, b):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False

    def label_of(self, definition, value):
        return repr(float(value))
