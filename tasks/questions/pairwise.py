"""Pairwise comparison: the worker sees two candidates and says which is better (or, where allowed, that they are
equal). An answer is "left", "right" or "equal". Each pair gets its preferred side as a result (a categorical vote);
the candidates of a group get a ranking (tasks/aggregation/ranking.py).

The pairs come one of two ways (``pairs``): "given", each data row holds the two candidates (the ``left`` and
``right`` columns); or "drawn", each data row is one candidate (``candidate_column``) of a group, and Quorum draws
the pairs, first a few per candidate, then those that most reduce the ranking's uncertainty, up to
``comparisons_per_candidate`` (tasks/pairs.py).
"""

from .base import DefinitionError, QuestionType, check_column, check_flag, check_whole

SIDES = ("left", "right")
EQUAL = "equal"
# The columns of a drawn pair's item.
DRAWN_LEFT, DRAWN_RIGHT, DRAWN_GROUP = "left", "right", "group"


class Pairwise(QuestionType):
    name = "pairwise"
    label = "Pairwise comparison"
    simple = False
    checks_rows = True
    ranks_candidates = True

    def check_definition(self, definition):
        pairs = definition.get("pairs", "given")
        if pairs not in ("given", "drawn"):
            raise DefinitionError(
                'pairs is "given" (each row holds two candidates) or "drawn" (rows are candidates)', "pairs"
            )
        out = {"pairs": pairs, "allow_equal": check_flag(definition, "allow_equal")}
        group = definition.get("group_column") or ""
        out["group_column"] = check_column(definition, "group_column") if group else ""
        if pairs == "given":
            out["left"] = check_column(definition, "left", "left")
            out["right"] = check_column(definition, "right", "right")
            if out["left"] == out["right"]:
                raise DefinitionError("left and right must be two different columns", "right")
        else:
            out["candidate_column"] = check_column(definition, "candidate_column", "candidate")
            out["comparisons_per_candidate"] = check_whole(definition, "comparisons_per_candidate", 6, 2, 50)
            out["left"], out["right"] = DRAWN_LEFT, DRAWN_RIGHT
        return out

    def redundancy(self, definition):
        # Drawn pairs are asked once each: the ranking pools every answer, and a new pair tells it more than a
        # second answer to the same pair (bench/annotation.py).
        return 1 if definition.get("pairs") == "drawn" else None

    def sides(self, definition) -> list[str]:
        return [*SIDES, EQUAL] if definition.get("allow_equal") else list(SIDES)

    def claimed_columns(self, definition):
        return {definition["left"]: "text", definition["right"]: "text"}

    def answer_problem(self, definition, value):
        if isinstance(value, str) and value in self.sides(definition):
            return ""
        if value == EQUAL:
            return 'cannot be "equal": this job asks for a preferred side ("left" or "right")'
        return f"must name a side: {' or '.join(repr(s) for s in self.sides(definition))}"

    def parse_gold(self, definition, raw):
        text = str(raw).strip().lower()
        if text not in self.sides(definition):
            raise ValueError(f"gold answer '{str(raw)[:80]}' is not a side: {', '.join(self.sides(definition))}")
        return text

    def labels(self, definition):
        return self.sides(definition)

    def label_of(self, definition, value):
        return str(value)

    def value_of_label(self, definition, label):
        return label

    def items_from_rows(self, definition, rows, filename):
        if definition["pairs"] != "drawn":
            return None
        from tasks.pairs import pair_rows_from_candidates

        return pair_rows_from_candidates(definition, rows, filename)

    def row_problem(self, definition, row, gold):
        left, right = definition["left"], definition["right"]
        for column in (left, right):
            if row.get(column) in (None, ""):
                return column, f"the candidate column '{column}' is missing or empty"
        if str(row[left]) == str(row[right]):
            return right, f"the pair compares '{str(row[left])[:80]}' with itself"
        return None
