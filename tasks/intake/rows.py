"""Turn one parsed row into what an Item stores, or say exactly what is wrong with it."""

import json
import re
from dataclasses import dataclass

from tasks.forms import Form
from tasks.media import MediaRules
from tasks.media import row_problem as media_problem

from .errors import IntakeError


@dataclass(frozen=True)
class RowRules:
    """What a job asks of each row; built once per upload."""

    filename: str
    form: Form
    gold_field: str  # the one question's gold column (the fast CSV path handles one-question jobs only)
    id_field: str
    text_field: str
    # Columns the display blocks name: each row must have them.
    display_columns: tuple[str, ...] = ()
    # What the media columns may hold (tasks/media.py); None when the form shows no media.
    media: MediaRules | None = None

    @classmethod
    def for_job(cls, job, filename: str) -> "RowRules":
        form = Form.for_job(job)
        return cls(
            filename=filename,
            form=form,
            gold_field=form.questions[0].gold_column,
            id_field=job.id_field,
            text_field=job.text_field,
            display_columns=tuple(form.shown_columns()) if job.display else (),
            media=MediaRules.for_job(job, form),
        )

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(self.form.questions[0].definition.get("options", ()))

    def error(self, message: str, line: int, field: str | None = None) -> IntakeError:
        return IntakeError(message, file=self.filename, line=line, field=field)


def split_row(rules: RowRules, line: int, row: dict) -> tuple[str | None, dict, object]:
    """Returns (external id, item data, gold answer or None)."""
    gold, gold_column, problem = rules.form.parse_gold(row)
    if problem:
        raise rules.error(problem, line, gold_column)
    if rules.text_field and rules.text_field not in row:
        raise rules.error(f"the text column '{rules.text_field}' is missing", line, rules.text_field)
    for column in rules.display_columns:
        if column not in row:
            raise rules.error(f"the column '{column}' that the display shows is missing", line, column)
    if rules.media is not None and (wrong := media_problem(rules.media, row)):
        raise rules.error(wrong[1], line, wrong[0])
    if rules.form.checks_rows and (wrong := rules.form.row_problem(row, gold)):
        raise rules.error(wrong[1], line, wrong[0])
    external_id = row.get(rules.id_field)
    if external_id is not None:
        # A JSON id that is not a string keeps its JSON spelling: true, 1.0, {"k":1} (not Python's True, {'k': 1}).
        external_id = external_id if isinstance(external_id, str) else to_json(external_id, rules, line)
        if len(external_id) > 200:
            raise rules.error("the id is longer than 200 characters", line, rules.id_field)
    return external_id, row, gold


def parse_gold(rules: RowRules, line: int, value: object) -> object:
    """One gold answer of a one-question job (the fast CSV path)."""
    question = rules.form.questions[0]
    try:
        return question.plugin.parse_gold(question.definition, value)
    except ValueError as error:
        raise rules.error(str(error), line, rules.gold_field) from None


# A \u0000 escape that is not itself escaped: an even number of backslashes before it (the text "\u0000" is not NUL).
NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def to_json(value: object, rules: RowRules, line: int) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # Python reads NaN, Infinity and 1e400 (infinite as a float); JSON has no such numbers
        message = "the row holds NaN, Infinity or a number too large to store; JSON has no such number"
        raise rules.error(message, line) from None
    # PostgreSQL's jsonb cannot store the NUL character.
    if "\\u0000" in text and NUL_ESCAPE.search(text):
        raise rules.error("the row contains a NUL character (\\0), which cannot be stored", line)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a JSON escape such as \ud83d on its own: half of a character
            message = "the row holds a lone surrogate escape (half of a \\uXXXX pair), not a character"
            raise rules.error(message, line) from None
    return text
