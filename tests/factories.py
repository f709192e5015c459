"""Test data, made through the services a user's actions go through."""

import csv
import io
import itertools
from pathlib import Path

from django.contrib.auth import get_user_model

from tasks import services
from tasks.models import Job
from workers.services import user_create

_counter = itertools.count(1)
PASSWORD = "a-long-test-password"


def make_requester(username: str | None = None):
    User = get_user_model()
    return user_create(username=username or f"requester{next(_counter)}", password=PASSWORD, role=User.Role.REQUESTER)


def make_worker(username: str | None = None):
    User = get_user_model()
    return user_create(username=username or f"worker{next(_counter)}", password=PASSWORD, role=User.Role.WORKER)


def make_job(owner=None, **fields) -> Job:
    defaults = {
        "name": "Label fruit",
        "instructions": "Pick the right label.",
        "question": "Which fruit is it?",
        "question_type": "single_choice",
        "options": ["apple", "banana", "cherry"],
        "text_field": "text",
        "items_per_microtask": 1,
        "redundancy": 3,
    }
    defaults.update(fields)
    return services.job_create(owner=owner or make_requester(), **defaults)


def make_form_job(questions: list[dict], display: list[dict] | None = None, owner=None, **fields) -> Job:
    """A job with a form (docs/FORMS.md): questions checked as the API checks them; shows the text column (and
    the columns its questions show themselves, as the API adds them)."""
    from tasks.forms import check_display, check_questions, complete_display

    fields.setdefault("gold_field", "gold")
    fields.setdefault("text_field", "")
    checked = check_questions(questions, fields["gold_field"])
    return make_job(
        owner,
        questions=checked,
        display=complete_display(check_display(display or [{"type": "text", "column": "text"}]), checked),
        **fields,
    )


def csv_bytes(rows: list[dict], header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    header = header or list(rows[0])
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def fruit_rows(count: int, gold_every: int = 0) -> list[dict]:
    fruits = ["apple", "banana", "cherry"]
    return [
        {"id": f"i{i}", "text": f"item number {i}", "gold": fruits[i % 3] if gold_every and i % gold_every == 0 else ""}
        for i in range(count)
    ]


def ingest_now(job: Job, data: bytes, filename: str = "items.csv", tmp_path: Path | None = None):
    """Store and ingest a file in this process (no Celery); returns the refreshed Upload."""
    upload = services.upload_create(job=job, filename=filename, source=io.BytesIO(data), in_background=False)
    return services.upload_ingest(upload.pk)


def png_bytes(width: int = 16, height: int = 16, seed: int = 0) -> bytes:
    """A valid PNG of random pixels (noise does not compress: 128x128 is about 50 KB)."""
    import random
    import struct
    import zlib

    noise = random.Random(seed).randbytes(width * height * 3)
    rows = b"".join(b"\x00" + noise[y * width * 3 : (y + 1) * width * 3] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")


# The first bytes of other media files: enough for Quorum to tell what they are.
MP3_BYTES = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
WAV_BYTES = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64
SVG_BYTES = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def submitted_assignment(job, worker, microtask, value="apple"):
    """A microtask answered by ``worker`` (every item ``value``) and waiting for review, written directly."""
    from datetime import timedelta

    from django.utils import timezone

    from tasks.models import Answer, Assignment, Microtask

    now = timezone.now()
    assignment = Assignment.objects.create(
        microtask=microtask, job=job, worker=worker, status="submitted", leased_at=now - timedelta(minutes=5),
        expires_at=now, submitted_at=now,
    )  # fmt: skip
    for item in microtask.items:
        Answer.objects.create(assignment=assignment, item=item, job=job, worker=worker, value=value)
    Microtask.objects.filter(pk=microtask.pk).update(answer_count=1, status="done", completed_at=now)
    return assignment


def commit_op(op: dict) -> dict:
    """One scheduler op (``{"op": "l" | "s" | "r", ...}``, tasks/scheduling/store.py) through the batch function on
    this connection, as a server's batch runs it; its result."""
    import json

    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT quorum_commit_batch(%s::jsonb)::text", [json.dumps([op])])
        return json.loads(cur.fetchone()[0])[0]
