"""Result exports, streamed from a server-side cursor so a million rows take flat memory."""

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.db import connection

from .models import Job

BATCH = 2000

EXPORT_SQL = """
SELECT i.position, i.external_id, i.data, i.gold, i.result, i.confidence, i.result_source, i.result_method,
       i.answer_count, i.agreement,
       COALESCE((SELECT json_agg(json_build_object('worker', a.worker_id, 'value', a.value, 'counts', a.counts)
                                 ORDER BY a.id)
                 FROM tasks_answer a WHERE a.job_id = i.job_id AND a.item_id = i.id), '[]'::json)
FROM tasks_item i
WHERE i.job_id = %s
ORDER BY i.position
"""

RESULT_COLUMNS = ["result", "confidence", "source", "method", "answer_count", "agreement", "answers"]


def _load(value):
    return json.loads(value) if isinstance(value, str) else value


def export_records(job: Job) -> Iterator[list[dict]]:
    """Batches of result records, one per item, in item order."""
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
            ) in rows:
                gold, result = _load(gold), _load(result)
                if gold is not None:
                    result, confidence, source = gold, 1.0, "gold"
                batch.append(
                    {
                        "position": position,
                        "id": external_id,
                        "item": _load(data),
                        "result": result,
                        "confidence": confidence,
                        "source": source or None,
                        "method": method or None,
                        "answer_count": count,
                        "agreement": agreement,
                        "answers": _load(answers),
                    }
                )
            yield batch


# A spreadsheet runs a cell that starts with one of these as a formula; worker answers and item data can.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value, spreadsheet: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if spreadsheet and isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value  # shown as the text it is, never run
    return str(value)


def csv_header(job: Job) -> list[str]:
    """The item's columns, then the result columns; an item column named like a result column becomes item.<name>,
    so every header is unique and a CSV reader keeps both."""
    return [f"item.{c}" if c in RESULT_COLUMNS else c for c in job.columns or []] + RESULT_COLUMNS


def export_csv(job: Job, spreadsheet: bool = False) -> Iterator[bytes]:
    """``spreadsheet`` quotes text cells that a spreadsheet would run as formulas (=, +, -, @) with a leading '."""
    columns = list(job.columns or [])
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(csv_header(job))
    yield buf.getvalue().encode()
    for batch in export_records(job):
        buf.seek(0)
        buf.truncate()
        for rec in batch:
            item = rec["item"]
            writer.writerow(
                [csv_cell(item.get(c), spreadsheet) for c in columns]
                + [csv_cell(rec[c], spreadsheet) for c in RESULT_COLUMNS]
            )
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
