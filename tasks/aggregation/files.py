"""Answers and gold files for the offline tools: reading, validation with located errors, and coding.

An answers file has the header ``worker,item,label`` (other columns are ignored); a gold file ``item,label``.
A repeated (worker, item) pair keeps the worker's LAST answer in file order, the rule the platform follows
when a worker's answer is replaced.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import NO_LABEL, Answers


class AnswersFileError(Exception):
    """A malformed answers or gold file: which file, which line (1-based, header is line 1), which field."""

    def __init__(self, message: str, *, file: str, line: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message, self.file, self.line, self.field = message, file, line, field

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


@dataclass
class RawAnswers:
    """Answers as read, after the duplicate rule; parallel lists of strings."""

    workers: list[str]
    items: list[str]
    labels: list[str]
    duplicates_dropped: int


def _rows(path: Path, required: tuple[str, ...]):
    name = str(path)
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise AnswersFileError(f"cannot open the file ({exc.strerror})", file=name) from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise AnswersFileError(
                    f"the file is empty; expected the header {','.join(required)}", file=name, line=1
                )
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise AnswersFileError(
                    f"the header lacks the column '{missing[0]}' (expected {','.join(required)}, got {','.join(header)})",
                    file=name,
                    line=1,
                    field=missing[0],
                )
            positions = [header.index(c) for c in required]
            width = len(header)
            for row in reader:
                line = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != width:
                    raise AnswersFileError(f"expected {width} fields, found {len(row)}", file=name, line=line)
                values = [row[p].strip() for p in positions]
                for column, value in zip(required, values, strict=True):
                    if not value:
                        raise AnswersFileError("the value is empty", file=name, line=line, field=column)
                yield line, values
        except csv.Error as exc:
            raise AnswersFileError(f"not valid CSV ({exc})", file=name, line=reader.line_num) from None
        except UnicodeDecodeError:
            raise AnswersFileError("the file is not UTF-8 text", file=name, line=reader.line_num + 1) from None


def read_answers(path: str | Path) -> RawAnswers:
    """Read ``worker,item,label`` rows; a repeated (worker, item) pair keeps its last answer."""
    latest: dict[tuple[str, str], str] = {}
    rows = 0
    for _line, (worker, item, label) in _rows(Path(path), ("worker", "item", "label")):
        key = (worker, item)
        # Re-inserting moves the pair to the end, so the kept answer sits where it was last given.
        latest.pop(key, None)
        latest[key] = label
        rows += 1
    if not latest:
        raise AnswersFileError("the file has a header but no answers", file=str(path), line=2)
    workers = [w for w, _ in latest]
    items = [i for _, i in latest]
    return RawAnswers(workers, items, list(latest.values()), rows - len(latest))


def read_gold(path: str | Path) -> dict[str, str]:
    """Read ``item,label`` rows; an item listed twice is an error (which known answer would be right?)."""
    gold: dict[str, str] = {}
    for line, (item, label) in _rows(Path(path), ("item", "label")):
        if item in gold and gold[item] != label:
            raise AnswersFileError(
                f"item '{item}' has two different gold labels ('{gold[item]}' and '{label}')",
                file=str(path),
                line=line,
                field="label",
            )
        gold[item] = label
    return gold


def parse_numbers(raw: RawAnswers, path: str | Path) -> np.ndarray:
    """Labels as floats, for numeric methods; the error names the first answer that is not a finite number."""
    try:
        values = np.array(raw.labels, dtype=np.float64)
    except ValueError:
        values = None
    if values is None or not np.isfinite(values).all():
        for position, label in enumerate(raw.labels):
            try:
                ok = np.isfinite(float(label))
            except ValueError:
                ok = False
            if not ok:
                raise AnswersFileError(
                    f"'{label}' (worker '{raw.workers[position]}', item '{raw.items[position]}') is not a finite number",
                    file=str(path),
                    field="label",
                ) from None
    return values


class Codes:
    """Dense integer codes for strings, in order of first appearance."""

    def __init__(self, values: list[str] | None = None):
        self.index: dict[str, int] = {}
        self.values: list[str] = []
        if values:
            self.encode(values)

    def encode(self, values: list[str]) -> np.ndarray:
        index, known = self.index, self.values
        out = np.empty(len(values), dtype=np.int64)
        for position, value in enumerate(values):
            code = index.get(value)
            if code is None:
                code = index[value] = len(known)
                known.append(value)
            out[position] = code
        return out

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class CodedAnswers:
    answers: Answers
    items: Codes
    workers: Codes
    labels: Codes


def code_answers(raw: RawAnswers, gold: dict[str, str] | None = None) -> tuple[CodedAnswers, np.ndarray]:
    """Codes for answers, plus gold label codes per answered item (NO_LABEL where unknown).

    Gold labels nobody gave still get a code, so a method can learn that the crowd never picks them.
    """
    items, workers, labels = Codes(), Codes(), Codes()
    item_codes = items.encode(raw.items)
    worker_codes = workers.encode(raw.workers)
    label_codes = labels.encode(raw.labels)
    gold_codes = np.full(len(items), NO_LABEL, dtype=np.int64)
    if gold:
        for item, label in gold.items():
            code = items.index.get(item)
            if code is not None:
                gold_codes[code] = labels.encode([label])[0]
    answers = Answers.from_codes(item_codes, worker_codes, label_codes, len(items), len(workers), len(labels))
    return CodedAnswers(answers, items, workers, labels), gold_codes
