"""Text spans: the worker marks stretches of an item's text and labels each (named entities, evidence, toxic
phrases). An answer is a list of {start, end, label}: character offsets into the text column (code points, end
exclusive), so "Ada" at the start of "Ada Lovelace" is {"start": 0, "end": 3, "label": "PER"}."""

from .base import MarkList, check_column, check_flag, check_labels, check_whole, list_problem

SPAN_KEYS = frozenset({"start", "end", "label", "text"})  # "text" may echo the marked text; it is not stored


def _text(data: dict, column: str) -> str | None:
    value = data.get(column)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def span_f1(given: list[dict], known: list[dict]) -> float:
    """Exact-match span F1 over (start, end, label); two empty answers agree."""
    a = {(s["start"], s["end"], s["label"]) for s in given}
    b = {(s["start"], s["end"], s["label"]) for s in known}
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


class Spans(MarkList):
    name = "spans"
    label = "Text spans"
    simple = False
    aggregation = "spans"
    checks_rows = True
    pass_mark = 0.8
    mark_keys = SPAN_KEYS

    def check_definition(self, definition):
        return {
            "labels": check_labels(definition),
            "column": check_column(definition, "column"),
            "overlap": check_flag(definition, "overlap"),
            "max_spans": check_whole(definition, "max_spans", 100, 1, 500),
        }

    def claimed_columns(self, definition):
        return {definition["column"]: "text"}

    def answer_problem(self, definition, value):
        if problem := list_problem(value, "spans", "{start, end, label}", definition["max_spans"]):
            return problem
        for n, span in enumerate(value, 1):
            if not isinstance(span, dict) or not {"start", "end", "label"} <= set(span) or set(span) - SPAN_KEYS:
                return f"span {n} must be an object {{start, end, label}}"
            start, end = span["start"], span["end"]
            if not (type(start) is int and type(end) is int):
                return f"span {n}: start and end must be whole numbers (character offsets)"
            if start < 0 or end <= start:
                return f"span {n} ({start}-{end}) must have 0 <= start < end"
            if span["label"] not in definition["labels"]:
                return f"span {n}: label {str(span['label'])[:100]!r} is not one of {definition['labels']}"
        if not definition.get("overlap"):
            ordered = sorted(value, key=lambda s: (s["start"], s["end"]))
            for a, b in zip(ordered, ordered[1:], strict=False):
                if b["start"] < a["end"]:
                    return (
                        f"spans {a['start']}-{a['end']} and {b['start']}-{b['end']} overlap; "
                        "this job does not allow overlapping spans"
                    )
        return ""

    def item_problem(self, definition, value, data):
        text = _text(data, definition["column"])
        length = len(text) if text is not None else 0
        for n, span in enumerate(value, 1):
            if span["end"] > length:
                return f"span {n} ({span['start']}-{span['end']}) goes past the end of the text ({length} characters)"
        return ""

    def normalise(self, definition, value):
        if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
            return value
        kept = {(s.get("start"), s.get("end"), s.get("label")) for s in value}
        try:
            ordered = sorted(kept, key=lambda s: (s[0], s[1], str(s[2])))
        except TypeError:  # offsets that are not numbers: answer_problem says so
            return value
        return [{"start": s, "end": e, "label": label} for s, e, label in ordered]

    def score(self, definition, given, known):
        return span_f1(given or [], known or [])

    def row_problem(self, definition, row, gold):
        column = definition["column"]
        if column not in row:
            return column, f"the column '{column}' with the text to mark spans on is missing"
        problem = self.item_problem(definition, gold, row) if gold is not None else ""
        return (definition["gold_column"], f"gold answer: {problem}") if problem else None
