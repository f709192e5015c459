"""Result exports, streamed from a server-side cursor so a million rows take flat memory.

A job with one question exports ``result``, ``confidence``, ... as before forms; a form exports each question's
result and figures (``<name>.result``, ``<name>.confidence``, ... in CSV, ``"results": {name: {...}}`` in JSON
Lines), each result written by its question type (``QuestionType.export_cell``). Gold items export their known
answers with confidence 1 and source ``gold``.
"""

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.db import connection

from .forms import Form
from .models import Job

BATCH = 2000

EXPORT_SQL = """
SELECT i.position, i.external_id, i.data, i.gold, i.result, i.confidence, i.result_source, i.result_method,
       i.answer_count, i.agreement,
       COALESCE((SELECT json_agg(json_build_object('worker', a.worker_id, 'value', a.value, 'counts', a.counts)
                                 ORDER BY a.id)
                 FROM tasks_answer a WHERE a.job_id = i.job_id AND a.item_id = i.id), '[]'::json),
       i.results
FROM tasks_item i
WHERE i.job_id = %s
ORDER BY i.position
"""

RESULT_COLUMNS = ["result", "confidence", "source", "method", "answer_count", "agreement", "answers"]
# A form: these per question (<name>.result, ...), then the item's own columns (its confidence is the lowest of
# the questions that apply).
QUESTION_COLUMNS = ["result", "confidence", "method", "answer_count", "agreement"]
FORM_COLUMNS = ["confidence", "source", "method", "answer_count", "agreement", "answers"]


def _load(value):
    return json.loads(value) if isinstance(value, str) else value


def _question_results(form: Form, stored: dict | None, gold) -> dict:
    """A form's per-question results as exported: the stored ones, or a gold item's known answers (confidence 1)."""
    known = form.values(gold) if gold is not None else {}
    stored = stored or {}
    out = {}
    for question in form.questions:
        if question.name in known:
            out[question.name] = {
                "result": known[question.name], "confidence": 1.0, "method": None, "answer_count": None,
                "agreement": None,
            }  # fmt: skip
            continue
        details = {} if gold is not None else stored.get(question.name) or {}
        out[question.name] = {
            "result": details.get("result"),
            "confidence": details.get("confidence"),
            "method": details.get("method"),
            "answer_count": details.get("answers"),
            "agreement": details.get("agreement"),
        }
    return out


def export_records(job: Job) -> Iterator[list[dict]]:
    """Batches of result records, one per item, in item order; a form's records add ``results`` per question."""
    form = Form.for_job(job)
    with connection.chunked_cursor() as cursor:
        cursor.execute(EXPORT_SQL, [job.pk])
        while rows := cursor.fetchmany(BATCH):
            batch = []
            for (
                position,
                external_id,
                data,
                gold,
                result,
                confidence,
                source,
                method,
                count,
                agreement,
                answers,
                results,
            ) in rows:
                gold, result = _load(gold), _load(result)
                record = {
                    "position": position,
                    "id": external_id,
                    "item": _load(data),
                    "result": gold if gold is not None else result,
                    "confidence": 1.0 if gold is not None else confidence,
                    "source": "gold" if gold is not None else source or None,
                    "method": method or None,
                    "answer_count": count,
                    "agreement": agreement,
                    "answers": _load(answers),
                }
                if not form.single:
                    record["results"] = _question_results(form, _load(results), gold)
                batch.append(record)
            yield batch


# A spreadsheet runs a cell that starts with one of these as a formula; worker answers and item data can.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _guarded(text: str, spreadsheet: bool) -> str:
    if spreadsheet and text.startswith(FORMULA_STARTS):
        return "'" + text  # shown as the text it is, never run
    return text


def csv_cell(value, spreadsheet: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return _guarded(value, spreadsheet) if isinstance(value, str) else str(value)


def result_columns(form: Form) -> list[str]:
    if form.single:
        return RESULT_COLUMNS
    return [f"{q.name}.{column}" for q in form.questions for column in QUESTION_COLUMNS] + FORM_COLUMNS


def csv_header(job: Job, form: Form | None = None) -> list[str]:
    """The item's columns, then the result columns; an item column named like a result column becomes item.<name>,
    so every header is unique and a CSV reader keeps both."""
    results = result_columns(form or Form.for_job(job))
    taken = set(results)
    return [f"item.{c}" if c in taken else c for c in job.columns or []] + results


def _form_cells(form: Form, rec: dict, spreadsheet: bool) -> list[str]:
    """A form's result cells: each question's result as its type writes it (export_cell), then the figures."""
    cells = []
    for question in form.questions:
        details = rec["results"][question.name]
        result = details["result"]
        cells.append("" if result is None else _guarded(question.plugin.export_cell(result), spreadsheet))
        cells += [csv_cell(details[c]) for c in QUESTION_COLUMNS[1:]]
    return cells + [csv_cell(rec[c], spreadsheet) for c in FORM_COLUMNS]


# Excel reads a CSV as the system's code page unless it starts with a UTF-8 byte order mark.
UTF8_BOM = "\ufeff"


def export_csv(job: Job, spreadsheet: bool = False) -> Iterator[bytes]:
    """``spreadsheet`` quotes text cells that a spreadsheet would run as formulas (=, +, -, @) with a leading ',
    and starts the file with a UTF-8 byte order mark, so Excel reads accented text as written."""
    form = Form.for_job(job)
    columns = list(job.columns or [])
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(csv_header(job, form))
    yield ((UTF8_BOM if spreadsheet else "") + buf.getvalue()).encode()
    for batch in export_records(job):
        buf.seek(0)
        buf.truncate()
        for rec in batch:
            item = rec["item"]
            if form.single:
                results = [csv_cell(rec[c], spreadsheet) for c in RESULT_COLUMNS]
            else:
                results = _form_cells(form, rec, spreadsheet)
            writer.writerow([csv_cell(item.get(c), spreadsheet) for c in columns] + results)
        yield buf.getvalue().encode()


def export_jsonl(job: Job) -> Iterator[bytes]:
    for batch in export_records(job):
        yield "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in batch).encode()


async def iterate_in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Serve a sync generator under ASGI one chunk at a time (Django would otherwise buffer it whole)."""
    done = object()
    try:
        while (chunk := await sync_to_async(next, thread_sensitive=True)(chunks, done)) is not done:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()
