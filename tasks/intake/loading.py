"""Write an upload's rows with COPY in one transaction: all of them become Items and Microtasks, or none do.

Slicing happens while the rows stream: ordinary items fill ordinary microtasks of ``items_per_microtask``, gold
items fill gold microtasks of the same size (the scheduler mixes those in as checks). Microtask rows go to a
scratch file as each one closes and are COPYed after the items, so memory stays flat whatever the file size.
"""

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from tasks.models import Item, Job, Microtask

from .errors import IntakeError
from .readers import read_rows
from .rows import RowRules, split_row, to_json

COPY_CHUNK = 1 << 20
PROGRESS_EVERY = 50_000
NULL = "\\N"


@dataclass
class IngestResult:
    rows: int
    items: int
    microtasks: int
    gold_items: int
    columns: list[str]
    seconds: float


def copy_text(value: str) -> str:
    """Escape a value for COPY's text format."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


class Slicer:
    """Hands out microtask indexes while rows stream and writes each microtask's COPY line when it closes."""

    def __init__(self, job: Job, out):
        self.job_id = job.pk
        self.size = job.items_per_microtask
        self.wanted = job.redundancy
        self.next_index = job.microtask_count
        self.out = out
        self.open = {False: None, True: None}  # is_gold -> [index, filled]
        self.count = 0

    def place(self, is_gold: bool) -> int:
        slot = self.open[is_gold]
        if slot is None or slot[1] == self.size:
            if slot is not None:
                self.close(is_gold)
            slot = self.open[is_gold] = [self.next_index, 0]
            self.next_index += 1
        slot[1] += 1
        return slot[0]

    def close(self, is_gold: bool) -> None:
        index, filled = self.open[is_gold]
        gold = "t" if is_gold else "f"
        self.out.write(f"{self.job_id}\t{index}\t{gold}\t{filled}\t{self.wanted}\n")
        self.count += 1
        self.open[is_gold] = None

    def finish(self) -> None:
        for is_gold in (False, True):
            if self.open[is_gold] is not None:
                self.close(is_gold)


def ingest_file(
    job_id: int,
    path: Path,
    filename: str,
    *,
    on_progress: Callable[[int], None] = lambda rows: None,
    on_done: Callable[[IngestResult], None] = lambda result: None,
) -> IngestResult:
    """Parse, validate and store every row of ``path`` for the job, or raise IntakeError and store nothing.

    Runs its own transaction and takes the job's row lock, so two uploads to one job are written one after
    the other. ``on_done`` runs inside the transaction, to record the outcome atomically with the rows.
    """
    started = time.perf_counter()
    item_table = Item._meta.db_table
    microtask_table = Microtask._meta.db_table
    max_row = settings.QUORUM_MAX_ROW_BYTES
    with transaction.atomic(), tempfile.TemporaryFile("w+", encoding="utf-8") as mt_lines:
        job = Job.objects.select_for_update().get(pk=job_id)
        rules = RowRules.for_job(job, filename)
        limit = settings.QUORUM_MAX_ITEMS_PER_JOB
        slicer = Slicer(job, mt_lines)
        position = job.item_count
        rows = gold_items = 0
        columns: dict[str, None] = dict.fromkeys(job.columns or [])
        prefix = f"{job.pk}\t"
        buf: list[str] = []
        buffered = 0
        with connection.cursor() as cursor:
            pg = cursor.cursor  # the psycopg cursor underneath Django's wrapper
            copy_sql = f"COPY {item_table} (job_id, position, microtask_index, external_id, data, gold) FROM STDIN"
            with pg.copy(copy_sql) as copy:
                for line, row in read_rows(path, filename, max_row):
                    external_id, data, gold = split_row(rules, line, row)
                    if position >= limit:
                        raise IntakeError(
                            f"the job would have more than the limit of {limit} items", file=filename, line=line
                        )
                    if len(columns) < 200:
                        for key in data:
                            if key not in columns:
                                columns[key] = None
                    is_gold = gold is not None
                    gold_items += is_gold
                    mt_index = slicer.place(is_gold)
                    record = (
                        f"{prefix}{position}\t{mt_index}\t"
                        f"{NULL if external_id is None else copy_text(external_id)}\t"
                        f"{copy_text(to_json(data, rules, line))}\t"
                        f"{copy_text(to_json(gold, rules, line)) if is_gold else NULL}\n"
                    )
                    buf.append(record)
                    buffered += len(record)
                    if buffered >= COPY_CHUNK:
                        copy.write("".join(buf))
                        buf.clear()
                        buffered = 0
                    position += 1
                    rows += 1
                    if rows % PROGRESS_EVERY == 0:
                        on_progress(rows)
                if buf:
                    copy.write("".join(buf))
            if rows == 0:
                raise IntakeError("the file has no data rows", file=filename, line=2)
            slicer.finish()
            mt_lines.seek(0)
            with pg.copy(
                f"COPY {microtask_table} (job_id, index, is_gold, item_count, answers_wanted) FROM STDIN"
            ) as copy:
                while chunk := mt_lines.read(COPY_CHUNK):
                    copy.write(chunk)
        job.item_count = position
        job.microtask_count = slicer.next_index
        job.columns = list(columns)
        job.save(update_fields=["item_count", "microtask_count", "columns"])
        result = IngestResult(
            rows=rows,
            items=rows,
            microtasks=slicer.count,
            gold_items=gold_items,
            columns=list(columns),
            seconds=time.perf_counter() - started,
        )
        on_done(result)
    return result
