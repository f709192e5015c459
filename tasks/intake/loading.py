"""Write an upload's rows with COPY in one transaction: all of them become Items and Microtasks, or none do.

Slicing happens while the rows stream: ordinary items fill ordinary microtasks of ``items_per_microtask``, gold
items fill gold microtasks of the same size (the scheduler mixes those in as checks). Microtask rows go to a
scratch file as each one closes and are COPYed after the items, so memory stays flat whatever the file size.

Two paths write the same rows. The careful path parses, checks and locates every row one at a time and is the
one that reports errors. A clean CSV file takes the fast path (``fast_csv``), which works on batches of rows;
at the first thing it is not sure of it gives up, the transaction rolls back, and the careful path starts over.
"""

import select
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from psycopg.copy import LibpqWriter

from tasks import partitions
from tasks.models import Item, Job, Microtask

from .errors import IntakeError
from .readers import detect_format, read_rows
from .rows import RowRules, split_row, to_json

COPY_CHUNK = 1 << 20
PROGRESS_EVERY = 50_000
NULL = "\\N"
# Off in tests that compare both paths on the same file.
FAST_PATH = True


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


class FlushingWriter(LibpqWriter):
    """COPY data goes out before the next chunk is made, so a server slower than the parser holds the parser back.

    psycopg leaves COPY data in libpq's output buffer on Linux, and libpq enlarges that buffer rather than wait:
    a million rows would pile up there and memory would grow with the file.
    """

    def write(self, data) -> None:
        super().write(data)
        pgconn = self.connection.pgconn
        while pgconn.flush():  # 1 while data is left to send
            readable, _, _ = select.select([pgconn.socket], [pgconn.socket], [])
            if readable:
                pgconn.consume_input()  # a notice from the server must not block it, and so us


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

    def place_run(self, n: int) -> list[int]:
        """The indexes of ``n`` consecutive ordinary items: ``place(False)`` n times, a microtask at a time."""
        out: list[int] = []
        while n:
            slot = self.open[False]
            if slot is None or slot[1] == self.size:
                if slot is not None:
                    self.close(False)
                slot = self.open[False] = [self.next_index, 0]
                self.next_index += 1
            take = min(n, self.size - slot[1])
            out.extend(repeat(slot[0], take))
            slot[1] += take
            n -= take
        return out

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


class Load:
    """What one ingest attempt has written so far; both paths advance it."""

    def __init__(self, job: Job, path: Path, filename: str, slicer: Slicer, on_progress: Callable[[int], None]):
        self.job = job
        self.path = path
        self.filename = filename
        self.rules = RowRules.for_job(job, filename)
        self.slicer = slicer
        self.on_progress = on_progress
        self.max_row = settings.QUORUM_MAX_ROW_BYTES
        self.max_columns = settings.QUORUM_MAX_COLUMNS
        self.limit = settings.QUORUM_MAX_ITEMS_PER_JOB
        self.position = job.item_count
        self.rows = 0
        self.gold_items = 0
        self.columns: dict[str, None] = dict.fromkeys(job.columns or [])
        self.prefix = f"{job.pk}\t"
        # A file of items Quorum made itself (drawn pairs), not one to turn into items (tasks/pairs.py).
        self.rows_are_items = False

    def advance(self, rows: int) -> None:
        """Count rows written; progress is reported each time another PROGRESS_EVERY rows are done."""
        before = self.rows // PROGRESS_EVERY
        self.rows += rows
        self.position += rows
        if self.rows // PROGRESS_EVERY != before:
            self.on_progress(self.rows)


def columns_note(load: Load, keys, line: int) -> None:
    """Add the column names not seen yet, in the order they come: the job's ``columns`` name every column its items
    have (the export writes them all), so a job has at most QUORUM_MAX_COLUMNS."""
    columns = load.columns
    for key in keys:
        if key not in columns:
            if len(columns) >= load.max_columns:
                raise IntakeError(
                    f"the job would have more than the limit of {load.max_columns} columns",
                    file=load.filename,
                    line=line,
                    field=key,
                )
            columns[key] = None


def stored_size_error(load: Load, data_json: str, line: int) -> IntakeError | None:
    """The item data as stored (column names included) is what workers are sent; a row of short values under many
    columns is small in the file and large there, so the row limit applies to it too."""
    if len(data_json) * 4 <= load.max_row:
        return None
    size = len(data_json.encode())
    if size <= load.max_row:
        return None
    return IntakeError(
        f"the row takes {size} bytes as item data (column names included), more than the limit of {load.max_row} bytes",
        file=load.filename,
        line=line,
    )


def copy_careful(load: Load, copy) -> None:
    """One row at a time, through the readers and row checks that say exactly what is wrong and where."""
    rules, filename, limit, columns, slicer = load.rules, load.filename, load.limit, load.columns, load.slicer
    prefix = load.prefix
    buf: list[str] = []
    buffered = 0
    rows = read_rows(load.path, filename, load.max_row, load.max_columns)
    if not load.rows_are_items:
        rows = rules.form.items_from_rows(rows, filename)
    for line, row in rows:
        external_id, data, gold = split_row(rules, line, row)
        if load.position >= limit:
            raise IntakeError(f"the job would have more than the limit of {limit} items", file=filename, line=line)
        if not columns.keys() >= data.keys():
            columns_note(load, data, line)
        data_json = to_json(data, rules, line)
        if too_large := stored_size_error(load, data_json, line):
            raise too_large
        is_gold = gold is not None
        load.gold_items += is_gold
        mt_index = slicer.place(is_gold)
        record = (
            f"{prefix}{load.position}\t{mt_index}\t"
            f"{NULL if external_id is None else copy_text(external_id)}\t"
            f"{copy_text(data_json)}\t"
            f"{copy_text(to_json(gold, rules, line)) if is_gold else NULL}\n"
        )
        buf.append(record)
        buffered += len(record)
        if buffered >= COPY_CHUNK:
            copy.write("".join(buf))
            buf.clear()
            buffered = 0
        load.advance(1)
    if buf:
        copy.write("".join(buf))


def ingest_file(
    job_id: int,
    path: Path,
    filename: str,
    *,
    on_progress: Callable[[int], None] = lambda rows: None,
    on_done: Callable[[IngestResult], None] = lambda result: None,
    before_rows: Callable[[Job], None] | None = None,
    rows_are_items: bool = False,
) -> IngestResult:
    """Parse, validate and store every row of ``path`` for the job, or raise IntakeError and store nothing.

    Runs its own transaction (a savepoint inside a caller's) and takes the job's row lock, so two uploads to one
    job are written one after the other. ``on_done`` runs inside the transaction, to record the outcome
    atomically with the rows; ``before_rows`` too, under the lock before any row is read (an archive's media
    files are recorded there, so the rows' checks see them and they stay only if the rows do). ``rows_are_items``:
    the rows are stored as they are, even where the form makes its items from the rows (drawn pairs appended by
    tasks/pairs.py).
    """
    from .fast_csv import GiveUp, copy_fast_csv

    if FAST_PATH and path.stat().st_size > 0 and detect_format(path, filename) == "csv":
        try:
            return _ingest(job_id, path, filename, copy_fast_csv, on_progress, on_done, before_rows, rows_are_items)
        except GiveUp:
            pass  # rolled back; the careful path finds and reports what is wrong, or stores the file row by row
    return _ingest(job_id, path, filename, copy_careful, on_progress, on_done, before_rows, rows_are_items)


def _ingest(
    job_id, path, filename, copy_rows, on_progress, on_done, before_rows=None, rows_are_items=False
) -> IngestResult:
    started = time.perf_counter()
    with transaction.atomic(), tempfile.TemporaryFile("w+", encoding="utf-8") as mt_lines:
        # The job's row lock: uploads to one job go one after the other, and a delete or a cancel (which take it
        # first too) waits for this ingest, or this ingest for them. Raises Job.DoesNotExist if it was deleted.
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status in (Job.Status.CANCELLED, Job.Status.DONE):
            # Accepted before the job ended: its microtasks would be open work on a job nobody may work on.
            ended = "was cancelled" if job.status == Job.Status.CANCELLED else "is done"
            raise IntakeError(f"the job {ended}; it takes no more data", file=filename)
        if before_rows is not None:
            before_rows(job)
        load = Load(job, path, filename, Slicer(job, mt_lines), on_progress)
        load.rows_are_items = rows_are_items
        with connection.cursor() as cursor:
            pg = cursor.cursor  # the psycopg cursor underneath Django's wrapper
            # The job's first rows go into new tables without indexes, attached (indexes built in bulk) once
            # loaded; later uploads append to the job's tables, indexes and all.
            first = not partitions.job_partitioned(cursor, job.pk)
            if first:
                partitions.tables_create(cursor, job.pk)
            items_table = partitions.name(Item._meta.db_table, job.pk)
            microtasks_table = partitions.name(Microtask._meta.db_table, job.pk)
            columns = "job_id, position, microtask_index, external_id, data, gold"
            with pg.copy(f"COPY {items_table} ({columns}) FROM STDIN", writer=FlushingWriter(pg)) as copy:
                copy_rows(load, copy)
            if load.rows == 0:
                raise IntakeError("the file has no data rows", file=filename, line=2)
            load.slicer.finish()
            mt_lines.seek(0)
            columns = "job_id, index, is_gold, item_count, answers_wanted"
            with pg.copy(f"COPY {microtasks_table} ({columns}) FROM STDIN", writer=FlushingWriter(pg)) as copy:
                while chunk := mt_lines.read(COPY_CHUNK):
                    copy.write(chunk)
            if first:
                partitions.tables_attach(cursor, job.pk)
        job.item_count = load.position
        job.microtask_count = load.slicer.next_index
        job.columns = list(load.columns)
        job.save(update_fields=["item_count", "microtask_count", "columns"])
        result = IngestResult(
            rows=load.rows,
            items=load.rows,
            microtasks=load.slicer.count,
            gold_items=load.gold_items,
            columns=list(load.columns),
            seconds=time.perf_counter() - started,
        )
        on_done(result)
    return result
