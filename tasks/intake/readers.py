"""Streaming readers: each yields ``(line_number, row_dict)`` and never holds the whole file in memory.

The format comes from the file name (``.csv``, ``.jsonl``/``.ndjson``, ``.json``) or, failing that, from the
first non-blank byte (``[`` is a JSON array, ``{`` JSON Lines, anything else CSV).
"""

import codecs
import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import IntakeError

Row = tuple[int, dict]
CHUNK = 1 << 16
# Item data holds objects and lists at most this many levels deep, the row itself being the first: deeper data is
# nothing a person reads, and every later encoder and decoder (jsonb, the workers' browsers) recurses per level.
MAX_DEPTH = 32


def detect_format(path: Path, filename: str) -> str:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if name.endswith((".csv", ".txt")):
        return "csv"
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl"
    return "csv"


def count_lines(path: Path) -> int:
    """Newlines in the file: a cheap upper bound on the rows, for progress."""
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (0 if last == b"\n" else 1)


def read_rows(path: Path, filename: str, max_row_bytes: int, max_columns: int | None = None) -> Iterator[Row]:
    fmt = detect_format(path, filename)
    if path.stat().st_size == 0:
        raise IntakeError("the file is empty", file=filename, line=1)
    try:
        if fmt == "csv":
            yield from read_csv(path, filename, max_row_bytes, max_columns)
        else:
            yield from (read_jsonl if fmt == "jsonl" else read_json_array)(path, filename, max_row_bytes)
    except UnicodeDecodeError:
        raise undecodable_error(path, filename) from None


def undecodable_error(path: Path, filename: str) -> IntakeError:
    """Find the first byte that is not UTF-8 and say where it is."""
    offset, line = 0, 1  # of the start of ``data``
    data = b""  # what is left undecoded: the start of a character cut at the end of the last read
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            data += chunk
            try:
                _, used = codecs.utf_8_decode(data, "strict", False)
            except UnicodeDecodeError as exc:
                return IntakeError(
                    f"byte 0x{data[exc.start : exc.start + 1].hex()} at offset {offset + exc.start} is not valid "
                    "UTF-8; save the file as UTF-8",
                    file=filename,
                    line=line + data.count(b"\n", 0, exc.start),
                )
            line += data.count(b"\n", 0, used)
            offset += used
            data = data[used:]
    return IntakeError("the file ends in the middle of a UTF-8 character", file=filename, line=line)


def longer_than(text_length: int, texts, limit: int) -> bool:
    """Whether ``texts`` (of ``text_length`` characters together) take more than ``limit`` bytes as UTF-8.
    Encodes only when the answer is not already plain from the length (a character is 1 to 4 bytes)."""
    if text_length > limit:
        return True
    if text_length * 4 <= limit:
        return False
    return sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) > limit


def read_csv(path: Path, filename: str, max_row_bytes: int, max_columns: int | None = None) -> Iterator[Row]:
    csv.field_size_limit(max_row_bytes)
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="", errors="strict")
        reader = csv.reader(text, strict=True)
        try:
            header = next(reader)
            while not header:  # blank lines before the header are skipped, as they are between rows
                header = next(reader)
        except StopIteration:
            raise IntakeError("the file is empty", file=filename, line=1) from None
        except csv.Error as exc:
            raise IntakeError(f"the header row is not valid CSV ({exc})", file=filename, line=1) from None
        header = [h.strip() for h in header]
        if max_columns is not None and len(header) > max_columns:
            raise IntakeError(
                f"the header has {len(header)} columns, more than the limit of {max_columns}",
                file=filename,
                line=reader.line_num,
            )
        check_header(header, filename, reader.line_num)
        width = len(header)
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise IntakeError(csv_error_message(exc, max_row_bytes), file=filename, line=start) from None
            line, start = start, reader.line_num + 1
            if not row:
                continue
            if len(row) != width:
                raise IntakeError(
                    f"expected {width} fields as in the header, found {len(row)}", file=filename, line=line
                )
            if longer_than(sum(map(len, row)), row, max_row_bytes):
                raise IntakeError(
                    f"the row is longer than the limit of {max_row_bytes} bytes", file=filename, line=line
                )
            yield line, dict(zip(header, row, strict=True))


def csv_error_message(exc: csv.Error, max_row_bytes: int) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than the row limit of {max_row_bytes} bytes"
    if "unexpected end of data" in text:
        return "a quoted field is never closed (unexpected end of file)"
    return f"malformed CSV: {text}"


def check_header(header: list[str], filename: str, line: int = 1) -> None:
    seen = set()
    for i, name in enumerate(header, start=1):
        if not name:
            raise IntakeError(f"column {i} of the header has no name", file=filename, line=line)
        if name in seen:
            raise IntakeError(f"column name '{name}' appears twice in the header", file=filename, line=line, field=name)
        seen.add(name)


def read_jsonl(path: Path, filename: str, max_row_bytes: int) -> Iterator[Row]:
    with open(path, "rb") as f:
        line_no = 0
        while True:
            raw = f.readline(max_row_bytes + 2)
            if not raw:
                return
            line_no += 1
            if len(raw) > max_row_bytes and not raw.endswith(b"\n") or len(raw) > max_row_bytes + 1:
                raise IntakeError(
                    f"the row is longer than the limit of {max_row_bytes} bytes", file=filename, line=line_no
                )
            if line_no == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except UnicodeDecodeError:
                raise
            except json.JSONDecodeError as exc:
                raise IntakeError(
                    f"invalid JSON ({exc.msg} at column {exc.colno})", file=filename, line=line_no
                ) from None
            except (RecursionError, ValueError) as exc:
                raise undecodable_json(exc, raw.decode("utf-8", "replace"), filename, line_no) from None
            if not isinstance(value, dict):
                raise IntakeError("expected a JSON object on each line", file=filename, line=line_no)
            check_depth(value, filename, line_no)
            yield line_no, value


def read_json_array(path: Path, filename: str, max_row_bytes: int) -> Iterator[Row]:
    """A JSON array of objects, decoded one element at a time from a sliding window."""
    decoder = json.JSONDecoder()
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict")
        buf, pos, line, eof = "", 0, 1, False

        def fill() -> None:
            nonlocal buf, pos, eof
            chunk = text.read(CHUNK)
            eof = not chunk
            buf = buf[pos:] + chunk
            pos = 0

        def skip_ws() -> None:
            nonlocal pos, line
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    if buf[pos] == "\n":
                        line += 1
                    pos += 1
                if pos < len(buf) or eof:
                    return
                fill()

        fill()
        skip_ws()
        if pos >= len(buf):
            raise IntakeError("the file is empty", file=filename, line=1)
        if buf[pos] != "[":
            raise IntakeError("expected a JSON array of objects ('[' first)", file=filename, line=line)
        pos += 1
        first = True
        while True:
            skip_ws()
            if pos >= len(buf):
                raise IntakeError("the JSON array is never closed (']' missing)", file=filename, line=line)
            if buf[pos] == "]":
                pos += 1
                skip_ws()
                if pos < len(buf):
                    raise IntakeError("unexpected data after the closing ']'", file=filename, line=line)
                return
            if not first:
                if buf[pos] != ",":
                    raise IntakeError("expected ',' between array elements", file=filename, line=line)
                pos += 1
                skip_ws()
            first = False
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    if eof or not cut_short(exc, len(buf)):
                        raise IntakeError(
                            f"invalid JSON ({exc.msg})",
                            file=filename,
                            line=exc.lineno + line - 1 - buf.count("\n", 0, pos),
                        ) from None
                    if len(buf) - pos > max_row_bytes:
                        raise IntakeError(
                            f"the element is longer than the limit of {max_row_bytes} bytes", file=filename, line=line
                        ) from None
                    fill()
                except (RecursionError, ValueError) as exc:
                    raise undecodable_json(exc, buf[pos : pos + max_row_bytes + 1], filename, line) from None
            if longer_than(end - pos, (buf[pos:end],), max_row_bytes):
                raise IntakeError(
                    f"the element is longer than the limit of {max_row_bytes} bytes", file=filename, line=line
                )
            if not isinstance(value, dict):
                raise IntakeError("expected each element of the array to be a JSON object", file=filename, line=line)
            check_depth(value, filename, line)
            yield line, value
            line += buf.count("\n", pos, end)
            pos = end


def cut_short(exc: json.JSONDecodeError, buffered: int) -> bool:
    """Whether a decoding error may only mean that the element goes on past what is buffered so far: a string
    still open, or an error within a token's length of the end. Anything earlier is invalid JSON already."""
    return exc.msg.startswith("Unterminated string") or exc.pos >= buffered - 64


def too_deep_message() -> str:
    return f"the row is nested deeper than {MAX_DEPTH} levels (objects and lists inside one another)"


def check_depth(row: dict, filename: str, line: int) -> None:
    """Refuse a row whose objects and lists nest deeper than MAX_DEPTH, naming the field that does."""
    for field, value in row.items():
        if isinstance(value, (dict, list)) and nested_deeper_than(value, MAX_DEPTH - 1):
            raise IntakeError(too_deep_message(), file=filename, line=line, field=str(field))


def nested_deeper_than(value: dict | list, limit: int) -> bool:
    """Whether ``value`` (itself one level) holds objects and lists more than ``limit`` levels deep."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def undecodable_json(exc: Exception, text: str, filename: str, line: int) -> IntakeError:
    """The decoder's RecursionError (nesting thousands deep) or ValueError (an integer longer than Python converts)
    as a located error: what is wrong, and in which field of the row."""
    problem, field = locate_json_problem(text)
    if problem == "depth" or isinstance(exc, RecursionError):
        message = too_deep_message()
    elif problem == "digits":
        message = f"the row holds a number with more than {sys.get_int_max_str_digits()} digits; send it as text"
    else:
        message = f"invalid JSON ({exc})"
    return IntakeError(message, file=filename, line=line, field=field)


JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
JSON_KEY_END = re.compile(r"[ \t\r\n]*:")
JSON_INTEGER = re.compile(r"-?([0-9]+)([.eE]?)")


def locate_json_problem(text: str) -> tuple[str | None, str | None]:
    """Scan one row's JSON text: ("depth" or "digits" or None, the top-level field where that is). Runs only on
    a row the decoder refused, so its speed does not matter."""
    depth, field, i, n = 0, None, 0, len(text)
    max_digits = sys.get_int_max_str_digits()
    while i < n:
        c = text[i]
        if c == '"':
            string = JSON_STRING.match(text, i)
            if string is None:
                break
            if depth == 1 and JSON_KEY_END.match(text, string.end()):
                try:
                    field = json.loads(string.group())
                except ValueError:
                    field = None
            i = string.end()
            continue
        if c in "{[":
            depth += 1
            if depth > MAX_DEPTH:
                return "depth", field
        elif c in "}]":
            depth -= 1
            if depth <= 0:
                break
        elif c in "-0123456789":
            number = JSON_INTEGER.match(text, i)
            if number:
                if max_digits and not number.group(2) and len(number.group(1)) > max_digits:
                    return "digits", field
                i = number.end()
                continue
        i += 1
    return None, field
