"""What every question type answers for the rest of Quorum: how it is defined, what a valid answer is, when two
answers are the same, how gold is read, how answers are aggregated and exported, and which browser module shows it.

A type is one subclass of ``QuestionType`` in its own module, registered in ``tasks/questions/__init__.py``.
Definitions are plain dicts (as stored on the job); the methods take the definition they apply to.
"""

import json
import math


class DefinitionError(ValueError):
    """A question definition that cannot be used; ``field`` is the key at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


MAX_TEXT_LENGTH = 10_000


class QuestionType:
    name = ""
    label = ""
    # How answers become one result: "categorical" (labels; Dawid-Skene and votes), "numeric", or "text".
    aggregation = "categorical"
    # Whether the automated path (text classification) can answer it.
    machine_answerable = False
    # Whether a known answer is one of the definition's options, spelled as written (intake's fast path checks
    # such gold answers by set membership, without the plugin's parser).
    gold_is_an_option = False
    # Whether its rows need the plugin's own check at intake (``row_problem``): the fast CSV path gives up then.
    checks_rows = False
    # Whether the New job page's simple mode (a prompt and options) can define it; others need the form builder.
    simple = True
    # Whether its answers rank candidates (pairwise comparisons: tasks/rankings.py).
    ranks_candidates = False
    # A mark list (MarkList) counts two answers the same, and a gold check right, when ``score`` reaches this.
    pass_mark = 1.0

    @property
    def js_module(self) -> str:
        return f"questions/{self.name}.js"

    # --- definition -------------------------------------------------------------------------------------------
    def check_definition(self, definition: dict) -> dict:
        """The type's own keys, checked and with defaults filled; raises DefinitionError."""
        return {}

    # --- answers ----------------------------------------------------------------------------------------------
    def answer_problem(self, definition: dict, value) -> str:
        """What is wrong with an answer ("" when nothing)."""
        raise NotImplementedError

    def item_problem(self, definition: dict, value, data: dict) -> str:
        """What is wrong with a valid answer given the item it answers (its data as workers get it), e.g. a span
        past the end of the text ("" when nothing)."""
        return ""

    def normalise(self, definition: dict, value):
        """One spelling per answer, so equal answers are equal JSON."""
        return value

    def same(self, definition: dict, a, b) -> bool:
        """Whether two answers agree (gold checks, agreement)."""
        return self.label_of(definition, a) == self.label_of(definition, b)

    def score(self, definition: dict, given, known) -> float:
        """How well an answer matches a known one, 0..1 (span F1, box matching ...); a mark list (``MarkList``)
        counts two answers the same, and so a gold check right, when it reaches ``pass_mark``."""
        return 1.0 if self.same(definition, given, known) else 0.0

    def parse_gold(self, definition: dict, raw):
        """A known answer as read from a data file (CSV gives text); raises ValueError with a message."""
        value = self.normalise(definition, raw)
        problem = self.answer_problem(definition, value)
        if problem:
            raise ValueError(f"gold answer {_show(raw)}: {problem}")
        return value

    def redundancy(self, definition: dict) -> int | None:
        """The answers per item this question sets for its job, or None to leave the requester's redundancy."""
        return None

    # --- data ---------------------------------------------------------------------------------------------------
    def claimed_columns(self, definition: dict) -> dict[str, str]:
        """{column: display block type} of the columns the question shows itself (the text spans are marked on,
        the image boxes are drawn on): the form adds a block for each one the display lacks, and the worker page
        draws them inside the question instead of above it."""
        return {}

    def items_from_rows(self, definition: dict, rows, filename: str):
        """The item rows intake stores, from the file's (line, row) pairs, when the question makes its own items
        (drawn pairs: rows are candidates, items are pairs of them); None when the rows are the items."""
        return None

    def row_problem(self, definition: dict, row: dict, gold) -> tuple[str, str] | None:
        """(column, message) of what is wrong with a data row for this question, given its known answer for the
        question (parsed, or None), or None when nothing is (only asked of types with ``checks_rows``)."""
        return None

    # --- aggregation ------------------------------------------------------------------------------------------
    def labels(self, definition: dict) -> list[str]:
        """Categorical types: the labels known up front, in order (their codes are these indexes)."""
        return []

    def label_of(self, definition: dict, value) -> str:
        """Categorical types: the label an answer counts as in a vote."""
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    def value_of_label(self, definition: dict, label: str):
        return json.loads(label)

    # --- exports ----------------------------------------------------------------------------------------------
    def export_cell(self, value) -> str:
        if value is None:
            return ""
        if isinstance(value, (list, dict)):
            return json.dumps(value, ensure_ascii=False)
        return str(value)


class MarkList(QuestionType):
    """A type whose answer is a list of marks on the item (spans, boxes): answers agree when the type's ``score``
    reaches ``pass_mark``, and a known answer is a JSON list, possibly an exported result whose marks carry
    ``confidence`` and ``workers`` (left out here)."""

    mark_keys: frozenset[str] = frozenset()

    def same(self, definition, a, b):
        return self.score(definition, a, b) >= self.pass_mark

    def parse_gold(self, definition, raw):
        value = json_value(raw)
        if isinstance(value, list):
            value = [{k: v for k, v in m.items() if k in self.mark_keys} if isinstance(m, dict) else m for m in value]
        value = self.normalise(definition, value)
        problem = self.answer_problem(definition, value)
        if problem:
            raise ValueError(f"gold answer {problem}")
        return value


def _show(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return f"'{text[:80]}'"


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_options(definition: dict) -> list[str]:
    options = definition.get("options")
    if not isinstance(options, list) or not all(
        isinstance(o, (str, int, float)) and not isinstance(o, bool) for o in options
    ):
        raise DefinitionError("options must be a list of strings", "options")
    options = [str(o).strip() for o in options]
    if len(options) < 2:
        raise DefinitionError("a choice question needs at least two options", "options")
    if len(options) > 50:
        raise DefinitionError("a choice question has at most 50 options", "options")
    if any(not o or len(o) > 200 for o in options):
        raise DefinitionError("each option is 1 to 200 characters", "options")
    if len(set(options)) != len(options):
        raise DefinitionError("options must be distinct", "options")
    return options


def check_labels(definition: dict, *, at_most: int = 30) -> list[str]:
    """The labels a worker gives spans or boxes: 1 to ``at_most`` distinct strings."""
    labels = definition.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise DefinitionError("labels must be a list of strings", "labels")
    labels = [x.strip() for x in labels]
    if not 1 <= len(labels) <= at_most:
        raise DefinitionError(f"give 1 to {at_most} labels", "labels")
    if any(not x or len(x) > 100 for x in labels):
        raise DefinitionError("each label is 1 to 100 characters", "labels")
    if len(set(labels)) != len(labels):
        raise DefinitionError("labels must be distinct", "labels")
    return labels


def check_column(definition: dict, key: str, default: str | None = None) -> str:
    column = definition.get(key, default)
    if not isinstance(column, str) or not 0 < len(column.strip()) <= 200:
        raise DefinitionError(f"{key} must name a column of the data (1 to 200 characters)", key)
    return column.strip()


def check_whole(definition: dict, key: str, default: int, low: int, high: int) -> int:
    value = definition.get(key, default)
    if type(value) is not int or not low <= value <= high:
        raise DefinitionError(f"{key} must be a whole number from {low} to {high}", key)
    return value


def json_value(raw):
    """A data file's cell holding JSON (a CSV gives text); other values as they are."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            raise ValueError(f"gold answer {_show(raw)} is not JSON") from None
    return raw


def check_flag(definition: dict, key: str, default: bool = False) -> bool:
    value = definition.get(key, default)
    if not isinstance(value, bool):
        raise DefinitionError(f"{key} is true or false", key)
    return value


def list_problem(value, things: str, shape: str, limit: int) -> str:
    """What is wrong with the outside of an annotation answer: a list of at most ``limit`` ``things``."""
    if not isinstance(value, list):
        return f"must be a list of {things} {shape}"
    if len(value) > limit:
        return f"has {len(value)} {things}; at most {limit}"
    return ""
