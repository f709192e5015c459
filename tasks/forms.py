"""A job's form: the display blocks that show an item and the questions asked about it (docs/FORMS.md).

``Form.for_job`` reads a job's ``display`` and ``questions``, or derives them from the old single-question fields
(the shorthand), so every other part of Quorum sees one shape. ``check_display`` and ``check_questions`` validate
what a requester sends; the question types themselves live in ``tasks/questions/``.
"""

import re
from dataclasses import dataclass, field
from functools import cached_property

from .questions import QUESTION_TYPES, DefinitionError, QuestionType, question_type

BLOCK_TYPES = ("text", "markdown", "image", "audio", "video", "link")
MEDIA_BLOCK_TYPES = ("image", "audio", "video")
MAX_BLOCKS = 20
MAX_QUESTIONS = 20
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SHORTHAND_NAME = "answer"
COMMON_KEYS = {"name", "type", "prompt", "required", "show_if", "gold_column"}


class FormError(ValueError):
    """A display or question definition that cannot be used; ``field`` says where, e.g. ``questions[1].options``."""

    def __init__(self, message: str, field: str):
        super().__init__(f"{field}: {message}")
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Question:
    name: str
    plugin: QuestionType
    definition: dict  # the whole checked definition, as stored and as sent to browsers

    @property
    def type(self) -> str:
        return self.plugin.name

    @property
    def required(self) -> bool:
        return self.definition.get("required", True)

    @property
    def show_if(self) -> dict | None:
        return self.definition.get("show_if")

    @property
    def gold_column(self) -> str:
        return self.definition["gold_column"]

    def answer_problem(self, value, data: dict | None = None) -> str:
        """What is wrong with an answer; with the item's ``data``, also what is wrong given the item."""
        problem = self.plugin.answer_problem(self.definition, value)
        if not problem and data is not None:
            problem = self.plugin.item_problem(self.definition, value, data)
        return problem

    def normalise(self, value):
        return self.plugin.normalise(self.definition, value)

    def same(self, a, b) -> bool:
        return self.plugin.same(self.definition, a, b)


@dataclass(frozen=True)
class Form:
    questions: tuple[Question, ...]
    # Display blocks; empty means "every column as text" (a shorthand job that names no text column).
    display: tuple[dict, ...] = ()
    by_name: dict = field(default_factory=dict, compare=False)

    @classmethod
    def for_job(cls, job) -> "Form":
        return cls.build(
            display=job.display or shorthand_display(job.text_field, job.shown_fields),
            questions=job.questions or [shorthand_question(job)],
        )

    @classmethod
    def build(cls, display: list, questions: list) -> "Form":
        made = tuple(Question(q["name"], QUESTION_TYPES[q["type"]], q) for q in questions)
        return cls(made, tuple(display), {q.name: q for q in made})

    @property
    def single(self) -> bool:
        """One question: answers, gold and results are bare values, as before forms."""
        return len(self.questions) == 1

    def shown_columns(self) -> list[str]:
        """The columns workers receive ([] = every column but the id and gold ones)."""
        return list(dict.fromkeys(block["column"] for block in self.display))

    def media_blocks(self) -> list[dict]:
        return [block for block in self.display if block["type"] in MEDIA_BLOCK_TYPES]

    def claimed_columns(self) -> list[str]:
        """Columns a question shows itself (spans' text, boxes' image, a pair's candidates)."""
        return list(dict.fromkeys(c for q in self.questions for c in q.plugin.claimed_columns(q.definition)))

    def gold_columns(self) -> list[str]:
        return list(dict.fromkeys(q.gold_column for q in self.questions))

    def public(self) -> dict:
        """What a worker's browser needs to show the form (sent with every lease: built once per form)."""
        return self._public

    @cached_property
    def _public(self) -> dict:
        questions = [{k: v for k, v in q.definition.items() if k != "gold_column"} for q in self.questions]
        return {"display": list(self.display), "questions": questions, "claimed_columns": self.claimed_columns()}

    # --- answers ----------------------------------------------------------------------------------------------
    def values(self, answer) -> dict:
        """{question name: value} of one stored answer (a one-question job stores the bare value)."""
        if self.single:
            return {} if answer is None else {self.questions[0].name: answer}
        return answer if isinstance(answer, dict) else {}

    def applies(self, question: Question, values: dict) -> bool:
        """Whether ``question`` is shown, given the answers (or results) to the questions before it."""
        condition = question.show_if
        if not condition:
            return True
        parent = self.by_name[condition["question"]]
        if not self.applies(parent, values):
            return False
        given = values.get(parent.name)
        if given is None:
            return False
        wanted = condition["in"] if "in" in condition else [condition["equals"]]
        if isinstance(given, list):  # multiple choice: any wanted option among those chosen
            return any(w in given for w in wanted)
        return any(parent.same(given, w) for w in wanted)

    def answer_problem(self, answer, data: dict | None = None) -> str:
        """What is wrong with one item's answer ("" when nothing), naming the question; with the item's ``data``
        (as its worker got it), also what is wrong given the item (a span past the end of its text)."""
        if self.single:
            problem = self.questions[0].answer_problem(answer, data)
            return f"the answer {problem}" if problem else ""
        if not isinstance(answer, dict):
            return "the answer must be an object {question name: value} (this job asks several questions)"
        if unknown := [name for name in answer if name not in self.by_name]:
            return f"there is no question named {str(unknown[0])[:64]!r}"
        for question in self.questions:
            value = answer.get(question.name)
            if not self.applies(question, answer):
                if value is not None:
                    return f"question '{question.name}' is not shown for these answers; leave it out"
                continue
            if value is None:
                if question.required:
                    return f"question '{question.name}' needs an answer"
                continue
            problem = question.answer_problem(value, data)
            if problem:
                return f"the answer to question '{question.name}' {problem}"
        return ""

    def normalise(self, answer):
        if self.single:
            return self.questions[0].normalise(answer)
        return {q.name: q.normalise(answer[q.name]) for q in self.questions if answer.get(q.name) is not None}

    # --- gold -------------------------------------------------------------------------------------------------
    def parse_gold(self, row: dict) -> tuple[object, str | None, str]:
        """Takes the gold columns out of a data row; returns (gold or None, column at fault, message)."""
        raw = {column: row.pop(column, None) for column in self.gold_columns()}
        gold = {}
        for question in self.questions:
            value = raw.get(question.gold_column)
            if value is None or value == "":
                continue
            try:
                gold[question.name] = question.plugin.parse_gold(question.definition, value)
            except ValueError as error:
                where = "" if self.single else f" (question '{question.name}')"
                return None, question.gold_column, f"{error}{where}"
        if not gold:
            return None, None, ""
        return (gold[self.questions[0].name] if self.single else gold), None, ""

    def row_problem(self, row: dict, gold) -> tuple[str, str] | None:
        """(column, message) of what a question type finds wrong with a data row (``gold`` as parse_gold gave it)."""
        known = self.values(gold)
        for question in self.questions:
            if question.plugin.checks_rows:
                found = question.plugin.row_problem(question.definition, row, known.get(question.name))
                if found:
                    column, message = found
                    return column, message if self.single else f"{message} (question '{question.name}')"
        return None

    def items_from_rows(self, rows, filename: str):
        """The (line, row) pairs intake stores as items: the file's own, unless a question makes its items from
        them (``QuestionType.items_from_rows``; drawn pairs)."""
        for question in self.questions:
            made = question.plugin.items_from_rows(question.definition, rows, filename)
            if made is not None:
                return made
        return rows

    @property
    def checks_rows(self) -> bool:
        return any(q.plugin.checks_rows for q in self.questions)


def shorthand_display(text_field: str, shown_fields: list | None) -> list[dict]:
    columns = [c for c in dict.fromkeys([text_field, *(shown_fields or [])]) if c]
    return [{"type": "text", "column": c, "label": ""} for c in columns]


def shorthand_question(job) -> dict:
    """The one question of a job defined by the old fields (question_type, question, options, gold_field)."""
    definition = {
        "name": SHORTHAND_NAME,
        "type": job.question_type,
        "prompt": job.question or "",
        "required": True,
        "gold_column": job.gold_field,
    }
    plugin = QUESTION_TYPES.get(job.question_type, QUESTION_TYPES["free_text"])
    try:
        definition.update(plugin.check_definition({"options": job.options or []}))
    except DefinitionError:  # a draft without its options yet: keep what there is
        definition["options"] = [str(o) for o in job.options or []]
    return definition


# --- checking what a requester sends ------------------------------------------------------------------------------
def check_display(blocks) -> list[dict]:
    if not isinstance(blocks, list):
        raise FormError("must be a list of blocks", "display")
    if len(blocks) > MAX_BLOCKS:
        raise FormError(f"at most {MAX_BLOCKS} blocks", "display")
    checked = []
    for n, block in enumerate(blocks):
        where = f"display[{n}]"
        if not isinstance(block, dict):
            raise FormError("must be an object {type, column, label}", where)
        if unknown := set(block) - {"type", "column", "label"}:
            raise FormError(f"unknown key {sorted(unknown)[0]!r}", where)
        if block.get("type") not in BLOCK_TYPES:
            raise FormError(f"type must be one of: {', '.join(BLOCK_TYPES)}", f"{where}.type")
        column = block.get("column")
        if not isinstance(column, str) or not 0 < len(column.strip()) <= 200:
            raise FormError("column must name a column of the data (1 to 200 characters)", f"{where}.column")
        label = block.get("label") or ""
        if not isinstance(label, str) or len(label) > 200:
            raise FormError("label must be text of at most 200 characters", f"{where}.label")
        checked.append({"type": block["type"], "column": column.strip(), "label": label})
    return checked


def check_questions(questions, gold_field: str = "gold") -> list[dict]:
    if not isinstance(questions, list):
        raise FormError("must be a list of questions", "questions")
    if len(questions) > MAX_QUESTIONS:
        raise FormError(f"at most {MAX_QUESTIONS} questions", "questions")
    checked: list[dict] = []
    seen: dict[str, dict] = {}
    for n, raw in enumerate(questions):
        where = f"questions[{n}]"
        if not isinstance(raw, dict):
            raise FormError("must be an object {name, type, prompt, ...}", where)
        name = raw.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise FormError("name must be 1 to 64 letters, digits, _ or -", f"{where}.name")
        where = f"questions[{n}] '{name}'"
        if name in seen:
            raise FormError(f"the name '{name}' is used by an earlier question; names must be unique", f"{where}.name")
        try:
            plugin = question_type(raw.get("type"))
            definition = {"name": name, "type": plugin.name}
            prompt = raw.get("prompt") or ""
            if not isinstance(prompt, str) or len(prompt) > 500:
                raise DefinitionError("prompt must be text of at most 500 characters", "prompt")
            definition["prompt"] = prompt
            required = raw.get("required", True)
            if not isinstance(required, bool):
                raise DefinitionError("required is true or false", "required")
            definition["required"] = required
            gold_column = raw.get("gold_column") or (gold_field if not questions[1:] else f"{gold_field}_{name}")
            if not isinstance(gold_column, str) or len(gold_column) > 200:
                raise DefinitionError("gold_column must name a column (at most 200 characters)", "gold_column")
            definition["gold_column"] = gold_column
            definition.update(plugin.check_definition(raw))
            if raw.get("show_if") is not None:
                definition["show_if"] = _check_condition(raw["show_if"], seen)
        except DefinitionError as error:
            raise FormError(str(error), f"{where}.{error.field}" if error.field else where) from None
        known = COMMON_KEYS | set(definition)
        if unknown := set(raw) - known - {"options", "min", "max", "integer", "max_length", "scale", "labels"}:
            raise FormError(f"unknown key {sorted(unknown)[0]!r}", where)
        seen[name] = definition
        checked.append(definition)
    if not checked:
        raise FormError("a job asks at least one question", "questions")
    return checked


def complete_display(display: list[dict], questions: list[dict]) -> list[dict]:
    """The display with a block for every column a question shows itself (``claimed_columns``): a job that marks
    spans on ``text`` shows ``text`` even when its display names nothing. A block of another type than the
    question needs (boxes on a text block) is refused."""
    blocks = list(display)
    by_column = {block["column"]: block for block in blocks}
    for n, definition in enumerate(questions):
        plugin = QUESTION_TYPES[definition["type"]]
        for column, block_type in plugin.claimed_columns(definition).items():
            block = by_column.get(column)
            if block is None:
                block = by_column[column] = {"type": block_type, "column": column, "label": ""}
                blocks.append(block)
            elif block_type == "image" and block["type"] != "image":
                raise FormError(
                    f"'{column}' is shown as a {block['type']} block; {plugin.label.lower()} need an image block",
                    f"questions[{n}] '{definition['name']}'.column",
                )
            elif block_type == "text" and block["type"] not in ("text", "markdown") and plugin.name == "spans":
                raise FormError(
                    f"'{column}' is shown as a {block['type']} block; spans are marked on a text block",
                    f"questions[{n}] '{definition['name']}'.column",
                )
    if len(blocks) > MAX_BLOCKS:
        raise FormError(f"at most {MAX_BLOCKS} blocks", "display")
    return blocks


def _check_condition(condition, earlier: dict[str, dict]) -> dict:
    if not isinstance(condition, dict) or not isinstance(condition.get("question"), str):
        raise DefinitionError("show_if must be {question, equals} or {question, in}", "show_if")
    parent = earlier.get(condition["question"])
    if parent is None:
        raise DefinitionError(
            f"show_if names '{str(condition['question'])[:64]}', which is not an earlier question "
            "(a condition can only depend on a question asked before it)",
            "show_if",
        )
    if ("equals" in condition) == ("in" in condition):
        raise DefinitionError("show_if needs exactly one of equals (a value) or in (a list of values)", "show_if")
    wanted = condition["in"] if "in" in condition else [condition["equals"]]
    if not isinstance(wanted, list) or not wanted or len(wanted) > 50:
        raise DefinitionError("show_if.in must be a list of 1 to 50 values", "show_if")
    plugin = QUESTION_TYPES[parent["type"]]
    for value in wanted:
        check = value if parent["type"] != "multiple_choice" else [value]
        problem = plugin.answer_problem(parent, plugin.normalise(parent, check))
        if problem:
            raise DefinitionError(
                f"show_if value {value!r} can never be an answer to '{parent['name']}': it {problem}", "show_if"
            )
    key = "in" if "in" in condition else "equals"
    return {"question": parent["name"], key: condition[key]}
