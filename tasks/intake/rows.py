"""Turn one parsed row into what an Item stores, or say exactly what is wrong with it."""

import json
import math
import re
from dataclasses import dataclass

from tasks.models import QuestionType

from .errors import IntakeError


@dataclass(frozen=True)
class RowRules:
    """What a job asks of each row; built once per upload."""

    filename: str
    question_type: str
    options: tuple[str, ...]
    gold_field: str
    id_field: str
    text_field: str

    @classmethod
    def for_job(cls, job, filename: str) -> "RowRules":
        return cls(
            filename=filename,
            question_type=job.question_type,
            options=tuple(str(o) for o in job.options or ()),
            gold_field=job.gold_field,
            id_field=job.id_field,
            text_field=job.text_field,
        )

    def error(self, message: str, line: int, field: str | None = None) -> IntakeError:
        return IntakeError(message, file=self.filename, line=line, field=field)


def split_row(rules: RowRules, line: int, row: dict) -> tuple[str | None, dict, object]:
    """Returns (external id, item data, gold answer or None)."""
    raw_gold = row.pop(rules.gold_field, None)
    if rules.text_field and rules.text_field not in row:
        raise rules.error(f"the text column '{rules.text_field}' is missing", line, rules.text_field)
    external_id = row.get(rules.id_field)
    if external_id is not None:
        # A JSON id that is not a string keeps its JSON spelling: true, 1.0, {"k":1} (not Python's True, {'k': 1}).
        external_id = external_id if isinstance(external_id, str) else to_json(external_id, rules, line)
        if len(external_id) > 200:
            raise rules.error("the id is longer than 200 characters", line, rules.id_field)
    gold = None if raw_gold is None or raw_gold == "" else parse_gold(rules, line, raw_gold)
    return external_id, row, gold


def parse_gold(rules: RowRules, line: int, value: object) -> object:
    field = rules.gold_field
    kind = rules.question_type
    if kind == QuestionType.SINGLE_CHOICE:
        text = str(value)
        if text not in rules.options:
            raise rules.error(f"gold answer '{text}' is not one of the options {list(rules.options)}", line, field)
        return text
    if kind == QuestionType.MULTIPLE_CHOICE:
        if isinstance(value, list):
            chosen = [str(v) for v in value]
        else:
            chosen = [part.strip() for part in str(value).split("|") if part.strip()]
        unknown = [c for c in chosen if c not in rules.options]
        if unknown:
            raise rules.error(
                f"gold answer '{unknown[0]}' is not one of the options {list(rules.options)}", line, field
            )
        return sorted(set(chosen), key=rules.options.index)
    if kind == QuestionType.NUMBER:
        if isinstance(value, bool):
            raise rules.error(f"gold answer '{to_json(value, rules, line)}' is not a number", line, field)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise rules.error(f"gold answer '{value}' is not a number", line, field) from None
        if not math.isfinite(number):
            raise rules.error(f"gold answer '{value}' is not a finite number", line, field)
        return number
    if isinstance(value, (dict, list)):
        raise rules.error("gold answer for a free-text question must be text, not a JSON object or list", line, field)
    return value if isinstance(value, str) else to_json(value, rules, line)


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
