"""A rating scale 1..N with optional labels for its two ends (Likert)."""

from .base import DefinitionError, QuestionType, _show, is_number


class Rating(QuestionType):
    name = "rating"
    label = "Rating scale"

    def check_definition(self, definition):
        scale = definition.get("scale", 5)
        if type(scale) is not int or not 2 <= scale <= 10:
            raise DefinitionError("scale must be a whole number from 2 to 10", "scale")
        labels = definition.get("labels") or []
        if (
            not isinstance(labels, list)
            or len(labels) not in (0, 2)
            or not all(isinstance(x, str) and len(x) <= 100 for x in labels)
        ):
            raise DefinitionError(
                "labels names the two ends of the scale: [low, high], each at most 100 characters", "labels"
            )
        return {"scale": scale, "labels": labels}

    def answer_problem(self, definition, value):
        if is_number(value) and value == int(value) and 1 <= value <= definition["scale"]:
            return ""
        return f"must be a whole number from 1 to {definition['scale']}"

    def normalise(self, definition, value):
        return int(value) if isinstance(value, float) and value.is_integer() else value

    def parse_gold(self, definition, raw):
        try:
            number = int(str(raw).strip())
        except ValueError:
            raise ValueError(
                f"gold answer {_show(raw)} is not a whole number from 1 to {definition['scale']}"
            ) from None
        if not 1 <= number <= definition["scale"]:
            raise ValueError(f"gold answer {_show(raw)} is not a whole number from 1 to {definition['scale']}")
        return number

    def labels(self, definition):
        return [str(n) for n in range(1, definition["scale"] + 1)]

    def label_of(self, definition, value):
        return str(value)

    def value_of_label(self, definition, label):
        return int(label)
