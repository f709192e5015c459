"""Intake: every bad-input case of docs/INTAKE.md is rejected with its file, line and field, storing nothing."""

import csv
import importlib
import io
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from tasks import exports, services, views_api
from tasks.intake import loading
from tasks.models import Item, Job, Microtask, Upload
from tests import factories

pytestmark = pytest.mark.django_db

GOOD = b"id,text,gold\na,first,apple\nb,second,\n"
API_JOB = {"name": "Fruit", "question_type": "single_choice", "options": ["apple", "banana"], "text_field": "text"}


def named_file(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def ingest(job, data: bytes, filename="items.csv"):
    return factories.ingest_now(job, data, filename)


def assert_failed(upload, line, field, words):
    assert upload.status == Upload.Status.FAILED, upload.error
    assert upload.error["file"] == upload.filename
    assert upload.error["line"] == line
    assert upload.error["field"] == field
    assert words in upload.error["message"], upload.error["message"]


def test_csv_rows_become_items_and_microtasks():
    job = factories.make_job(items_per_microtask=2)
    rows = factories.fruit_rows(7, gold_every=3)  # gold at 0, 3, 6
    upload = ingest(job, factories.csv_bytes(rows))
    assert upload.status == Upload.Status.DONE, upload.error
    assert upload.items_created == 7
    job.refresh_from_db()
    assert job.item_count == 7
    assert job.columns == ["id", "text"]
    # 4 ordinary items -> 2 microtasks; 3 gold items -> 2 gold microtasks.
    assert Microtask.objects.filter(job=job, is_gold=False).count() == 2
    assert Microtask.objects.filter(job=job, is_gold=True).count() == 2
    assert job.microtask_count == 4
    first = Item.objects.get(job=job, position=0)
    assert first.gold == "apple" and first.external_id == "i0" and first.data == {"id": "i0", "text": "item number 0"}
    for mt in Microtask.objects.filter(job=job):
        assert mt.items.count() == mt.item_count
        assert all((item.gold is not None) == mt.is_gold for item in mt.items)


def test_csv_with_bom_quotes_commas_and_newlines():
    job = factories.make_job()
    data = '\ufeffid,text\n1,"hello, world"\n2,"two\nlines ""quoted"""\n'.encode()
    upload = ingest(job, data)
    assert upload.status == Upload.Status.DONE, upload.error
    texts = list(Item.objects.filter(job=job).order_by("position").values_list("data__text", flat=True))
    assert texts == ["hello, world", 'two\nlines "quoted"']


def test_jsonl_and_json_array():
    job = factories.make_job()
    jsonl = b'{"id": 1, "text": "a", "gold": "apple"}\n\n{"id": 2, "text": "b\\tc \\\\ d"}\n'
    assert ingest(job, jsonl, "items.jsonl").status == Upload.Status.DONE
    array = json.dumps([{"text": f"x{i}", "n": i} for i in range(1000)], indent=1).encode()
    upload = ingest(job, array, "items.json")
    assert upload.status == Upload.Status.DONE, upload.error
    job.refresh_from_db()
    assert job.item_count == 1002
    assert Item.objects.get(job=job, position=1).data["text"] == "b\tc \\ d"
    assert Item.objects.get(job=job, position=1001).data == {"text": "x999", "n": 999}


def test_second_upload_appends():
    job = factories.make_job()
    ingest(job, GOOD)
    ingest(job, GOOD)
    job.refresh_from_db()
    assert job.item_count == 4
    assert sorted(Item.objects.filter(job=job).values_list("position", flat=True)) == [0, 1, 2, 3]


def nested_row(lists: int) -> bytes:
    """A row whose field 'deep' holds lists ``lists`` deep: the row itself is one more level."""
    return b'{"text": "b", "deep": ' + b"[" * lists + b"1" + b"]" * lists + b', "z": 1}'


DEEP_ROW = nested_row(10_000)
LONG_NUMBER_ROW = b'{"text": "b", "n": {"m": ' + b"7" * 5000 + b"}}"

BAD_CASES = [
    # (case, filename, data, line, field, words)
    ("empty file", "items.csv", b"", 1, None, "empty"),
    ("header only", "items.csv", b"id,text\n", 2, None, "no data rows"),
    ("wrong field count", "items.csv", b"id,text\n1,a\n2,b,extra\n", 3, None, "expected 2 fields"),
    ("unclosed quote", "items.csv", b'id,text\n1,"never closed\n', 2, None, "never closed"),
    ("duplicate column", "items.csv", b"id,id\n1,2\n", 1, "id", "appears twice"),
    ("blank column name", "items.csv", b"id,\n1,2\n", 1, None, "has no name"),
    ("undecodable byte", "items.csv", b"id,text\n1,ok\n2,caf\xe9\n", 3, None, "not valid UTF-8"),
    ("gold not an option", "items.csv", b"id,text,gold\n1,a,apple\n2,b,mango\n", 3, "gold", "not one of the options"),
    ("missing text column", "items.csv", b"id,body\n1,a\n", 2, "text", "text column 'text' is missing"),
    ("invalid JSON line", "items.jsonl", b'{"text": "a"}\n{"text": \n', 2, None, "invalid JSON"),
    ("JSON line not an object", "items.jsonl", b'{"text": "a"}\n[1, 2]\n', 2, None, "JSON object"),
    ("JSON array element not an object", "items.json", b'[{"text": "a"},\n 5]', 2, None, "JSON object"),
    ("JSON array never closed", "items.json", b'[{"text": "a"},\n {"text": "b"}', 2, None, "never closed"),
    ("NUL character", "items.jsonl", b'{"text": "a\\u0000b"}\n', 1, None, "NUL"),
    ("header not valid CSV", "items.csv", b'"id"x,text\n1,a\n', 1, None, "header row is not valid CSV"),
    ("malformed CSV row", "items.csv", b'id,text\n1,"quoted"junk\n', 2, None, "malformed CSV"),
    ("id over 200 characters", "items.csv", b"id,text\n" + b"x" * 201 + b",a\n", 2, "id", "longer than 200"),
    ("file ends inside a UTF-8 character", "items.csv", b"id,text\n1,caf\xc3", 2, None, "middle of a UTF-8"),
    ("JSON file not an array", "items.json", b'{"text": "a"}', 1, None, "'[' first"),
    ("JSON array without commas", "items.json", b'[{"text": "a"}\n {"text": "b"}]', 2, None, "expected ','"),
    ("data after the JSON array", "items.json", b'[{"text": "a"}]\nmore', 2, None, "after the closing"),
    ("invalid JSON in the array", "items.json", b'[{"text": "a"},\n {"text": }]', 2, None, "invalid JSON"),
    ("blank JSON file", "items.json", b"  \n", 1, None, "empty"),
    ("NUL byte in CSV", "items.csv", b"id,text\n1,a\x00b\n", 2, None, "NUL"),
    ("NaN in a JSON line", "items.jsonl", b'{"text": "a"}\n{"text": "b", "score": NaN}\n', 2, None, "NaN"),
    ("number beyond JSON's range", "items.json", b'[{"text": "a"},\n {"text": "b", "s": 1e400}]', 2, None, "too large"),
    ("lone surrogate escape", "items.jsonl", b'{"text": "a"}\n{"text": "\\ud83d"}\n', 2, None, "lone surrogate"),
    (
        "JSON line nested 10,000 deep",
        "items.jsonl",
        b'{"text": "a"}\n' + DEEP_ROW + b"\n",
        2,
        "deep",
        "nested deeper than 32 levels",
    ),
    (
        "JSON element nested 10,000 deep",
        "items.json",
        b'[{"text": "a"},\n ' + DEEP_ROW + b"]",
        2,
        "deep",
        "nested deeper than 32 levels",
    ),
    (
        "JSON line nested 33 deep",
        "items.jsonl",
        b'{"text": "a"}\n' + nested_row(32) + b"\n",
        2,
        "deep",
        "nested deeper than 32 levels",
    ),
    (
        "JSON element nested 33 deep",
        "items.json",
        b'[{"text": "a"},\n ' + nested_row(32) + b"]",
        2,
        "deep",
        "nested deeper than 32 levels",
    ),
    (
        "5,000-digit integer in a JSON line",
        "items.jsonl",
        b'{"text": "a"}\n' + LONG_NUMBER_ROW + b"\n",
        2,
        "n",
        "a number with more than 4300 digits",
    ),
    (
        "5,000-digit integer in a JSON array",
        "items.json",
        b'[{"text": "a"},\n ' + LONG_NUMBER_ROW + b"]",
        2,
        "n",
        "a number with more than 4300 digits",
    ),
    (
        "undecodable byte where the check reads on",
        "items.csv",
        b"id,text\n1," + b"a" * 245 + b"\xc3A\n",
        2,
        None,
        "byte 0xc3 at offset 255 is not valid UTF-8",
    ),
    (
        "invalid JSON early in a long array",
        "items.json",
        ("[\n" + ",\n".join('{"text": }' if i == 3 else f'{{"text": "x{i}"}}' for i in range(5000)) + "\n]").encode(),
        5,
        None,
        "invalid JSON (Expecting value)",
    ),
]


@pytest.mark.parametrize("case,filename,data,line,field,words", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_located_and_stores_nothing(case, filename, data, line, field, words):
    job = factories.make_job()
    ingest(job, GOOD)
    before = list(Item.objects.filter(job=job).order_by("position").values_list("id", "data"))
    upload = ingest(job, data, filename)
    assert_failed(upload, line, field, words)
    job.refresh_from_db()
    assert job.item_count == 2 and job.microtask_count == 2
    assert list(Item.objects.filter(job=job).order_by("position").values_list("id", "data")) == before
    assert Microtask.objects.filter(job=job).count() == 2


def test_json_nested_31_deep_and_long_decimals_are_stored():
    job = factories.make_job()
    long_decimal = b"1." + b"5" * 5000
    upload = ingest(job, nested_row(31) + b"\n" + b'{"text": "c", "x": ' + long_decimal + b"}\n", "items.jsonl")
    assert upload.status == Upload.Status.DONE, upload.error
    assert Item.objects.filter(job=job).count() == 2


def test_row_over_size_limit(settings):
    settings.QUORUM_MAX_ROW_BYTES = 100
    job = factories.make_job()
    upload = ingest(job, b"id,text\n1,short\n2," + b"x" * 200 + b"\n")
    assert_failed(upload, 3, None, "limit of 100 bytes")


@pytest.mark.parametrize(
    "filename,data,line,words",
    [
        ("items.jsonl", b'{"text": "short"}\n{"text": "' + b"x" * 200 + b'"}\n', 2, "limit of 100 bytes"),
        ("items.json", b'[{"text": "short"},\n {"text": "' + b"x" * 200 + b'"}]', 2, "limit of 100 bytes"),
        ("items.csv", b'id,text\n1,"' + b"x" * 200 + b'"\n', 2, "a field is longer than the row limit of 100 bytes"),
        ("items.csv", b"id,text\n" + b"y" * 60 + b"," + b"x" * 60 + b"\n", 2, "the row is longer than the limit"),
        # 80 characters, 160 bytes: the limit is in bytes in every format.
        ("items.csv", "id,text\n1,{}\n".format("é" * 80).encode(), 2, "the row is longer than the limit"),
        ("items.json", '[{{"text": "{}"}}]'.format("é" * 80).encode(), 1, "limit of 100 bytes"),
    ],
    ids=["jsonl", "json", "csv field", "csv row", "csv row in bytes", "json element in bytes"],
)
def test_row_over_size_limit_in_every_format(settings, filename, data, line, words):
    settings.QUORUM_MAX_ROW_BYTES = 100
    job = factories.make_job()
    upload = ingest(job, data, filename)
    assert_failed(upload, line, None, words)


def test_more_items_than_job_limit(settings):
    settings.QUORUM_MAX_ITEMS_PER_JOB = 3
    job = factories.make_job()
    upload = ingest(job, factories.csv_bytes(factories.fruit_rows(5)))
    assert_failed(upload, 5, None, "limit of 3 items")
    assert Item.objects.filter(job=job).count() == 0


def test_number_and_multiple_choice_gold():
    job = factories.make_job(question_type="number", options=[])
    upload = ingest(job, b"text,gold\na,3.5\nb,seven\n")
    assert_failed(upload, 3, "gold", "not a number")
    upload = ingest(job, b"text,gold\na,3.5\nb,inf\n")
    assert_failed(upload, 3, "gold", "not a finite number")
    job = factories.make_job(question_type="multiple_choice")
    upload = ingest(job, b"text,gold\na,apple|mango\n")
    assert_failed(upload, 2, "gold", "gold answer 'mango' is not one of the options")
    upload = ingest(job, b"text,gold\na,apple|cherry\n")
    assert upload.status == Upload.Status.DONE
    assert Item.objects.get(job=job).gold == ["apple", "cherry"]


def test_json_ids_and_gold_keep_their_json_meaning():
    job = factories.make_job(question_type="free_text", options=[])
    rows = b'{"id": true, "text": "a", "gold": 5}\n{"id": 1.0, "text": "b"}\n{"id": {"k": 1}, "text": "c"}\n'
    assert ingest(job, rows, "items.jsonl").status == Upload.Status.DONE
    stored = list(Item.objects.filter(job=job).order_by("position").values_list("external_id", "gold"))
    assert stored == [("true", "5"), ("1.0", None), ('{"k":1}', None)]
    upload = ingest(job, b'{"text": "a", "gold": ["x", "y"]}\n', "items.jsonl")
    assert_failed(upload, 1, "gold", "must be text")
    job = factories.make_job(question_type="number", options=[])
    upload = ingest(job, b'{"text": "a", "gold": true}\n', "items.jsonl")
    assert_failed(upload, 1, "gold", "'true' is not a number")


def test_blank_lines_before_the_csv_header_are_skipped():
    job = factories.make_job()
    upload = ingest(job, b"\r\n\nid,text\n1,a\n")
    assert upload.status == Upload.Status.DONE, upload.error
    assert list(Item.objects.filter(job=job).values_list("external_id", "data")) == [("1", {"id": "1", "text": "a"})]
    upload = ingest(job, b"\nid,id\n1,2\n")
    assert_failed(upload, 2, "id", "appears twice")


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "careful"])
def test_a_job_names_every_column_and_the_export_writes_them_all(monkeypatch, fast):
    monkeypatch.setattr(loading, "FAST_PATH", fast)
    job = factories.make_job()
    header = ["text"] + [f"c{i}" for i in range(299)]
    data = (",".join(header) + "\n" + ",".join(f"v{i}" for i in range(len(header))) + "\n").encode()
    assert ingest(job, data).status == Upload.Status.DONE
    job.refresh_from_db()
    assert job.columns == header
    table = list(csv.reader(io.StringIO(b"".join(exports.export_csv(job)).decode())))
    assert table[0] == header + exports.RESULT_COLUMNS
    assert table[1][: len(header)] == [f"v{i}" for i in range(len(header))]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "careful"])
def test_a_header_of_100000_empty_columns_is_refused(monkeypatch, fast):
    monkeypatch.setattr(loading, "FAST_PATH", fast)
    job = factories.make_job()
    header = ",".join(["text"] + [f"c{i}" for i in range(100_000)])
    upload = ingest(job, (header + "\n" + "\n".join("a" + "," * 100_000 for _ in range(3)) + "\n").encode())
    assert_failed(upload, 1, None, "the header has 100001 columns, more than the limit of 1000")
    assert not Item.objects.filter(job=job).exists()


def test_a_job_has_at_most_the_column_limit_over_all_its_uploads(settings):
    settings.QUORUM_MAX_COLUMNS = 4
    job = factories.make_job()
    assert ingest(job, b"id,text,a\n1,x,y\n").status == Upload.Status.DONE
    upload = ingest(job, b'{"text": "b", "a": 1}\n{"text": "c", "b": 2}\n{"text": "d", "c": 3}\n', "more.jsonl")
    assert_failed(upload, 3, "c", "the job would have more than the limit of 4 columns")
    job.refresh_from_db()
    assert job.columns == ["id", "text", "a"] and job.item_count == 1


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "careful"])
def test_the_row_limit_bounds_the_stored_item_data(settings, monkeypatch, fast):
    """Short values under long column names: a small row in the file, a large item for every worker."""
    monkeypatch.setattr(loading, "FAST_PATH", fast)
    settings.QUORUM_MAX_ROW_BYTES = 100
    job = factories.make_job()
    header = ["text"] + [f"column_number_{i:02}" for i in range(5)]
    upload = ingest(job, (",".join(header) + "\na,,,,,\n").encode())
    assert_failed(upload, 2, None, "as item data (column names included), more than the limit of 100 bytes")
    assert ingest(job, (",".join(header[:3]) + "\na,,\n").encode()).status == Upload.Status.DONE


def test_job_counts_after_failure_match_items():
    job = factories.make_job()
    ingest(job, b"id,text\n1,a\n2,b,c\n")
    job.refresh_from_db()
    assert job.item_count == 0 and Job.objects.get(pk=job.pk).microtask_count == 0


# --- the fast path for clean CSV stores exactly what the careful path stores ----------------------------------

# Valid, and awkward: a BOM, quoting, a newline, a tab, backslashes, non-ASCII, a '%' in a column name, a blank
# line, gold answers in some rows. The fast path takes all of it.
TRICKY_CSV = (
    "\ufeffid,text,pct%s,gold\n"
    'a1,"comma, ""quote"" and\nnewline",50%,apple\n'
    "a2,back\\slash and tab\tinside,\u00e9\u4e2d\U0001f600,\n"
    'a3,"{""json"": [1, 2]}",,cherry\n'
    "\n"
    "a5,control \x01 char,\\n,banana\n"
)
# Valid too, but the fast path leaves them to the careful one: an id that COPY must escape, a literal "\u0000".
GIVE_UP_CSV = TRICKY_CSV + "a\\6,an id with a backslash,x,\n" + "a7,text,\\u0000 is not NUL,\n"


def stored(job):
    items = list(
        Item.objects.filter(job=job)
        .order_by("position")
        .values_list("position", "microtask_index", "external_id", "data", "gold")
    )
    microtasks = list(Microtask.objects.filter(job=job).order_by("index").values_list("index", "is_gold", "item_count"))
    job.refresh_from_db()
    return items, microtasks, job.columns, job.item_count, job.microtask_count


def careful_never_runs(*args):
    raise AssertionError("the careful path ran")


@pytest.mark.parametrize("items_per_microtask", [1, 2, 3])
@pytest.mark.parametrize("text,fast", [(TRICKY_CSV, True), (GIVE_UP_CSV, False)], ids=["fast", "gives-up"])
def test_fast_and_careful_paths_store_the_same(monkeypatch, items_per_microtask, text, fast):
    data = text.encode()
    first_job = factories.make_job(items_per_microtask=items_per_microtask)
    ingest(first_job, GOOD)
    with monkeypatch.context() as patch:
        if fast:
            patch.setattr(loading, "copy_careful", careful_never_runs)
        assert ingest(first_job, data).status == Upload.Status.DONE
    monkeypatch.setattr(loading, "FAST_PATH", False)
    careful_job = factories.make_job(items_per_microtask=items_per_microtask)
    ingest(careful_job, GOOD)
    assert ingest(careful_job, data).status == Upload.Status.DONE
    first, careful = stored(first_job), stored(careful_job)
    assert first == careful
    assert first[0][2][3] == {"id": "a1", "text": 'comma, "quote" and\nnewline', "pct%s": "50%"}
    assert first[0][5][3] == {"id": "a5", "text": "control \x01 char", "pct%s": "\\n"}


def test_a_clean_csv_takes_the_fast_path(monkeypatch):
    monkeypatch.setattr(loading, "copy_careful", careful_never_runs)
    job = factories.make_job(items_per_microtask=4)
    upload = ingest(job, factories.csv_bytes(factories.fruit_rows(25_000, gold_every=7)))
    assert upload.status == Upload.Status.DONE, upload.error
    assert upload.items_created == 25_000
    assert Item.objects.filter(job=job, gold__isnull=False).count() == len(range(0, 25_000, 7))


def test_file_over_the_upload_limit_is_refused_and_not_stored(settings, requester_api):
    settings.QUORUM_MAX_UPLOAD_BYTES = 1000
    job = requester_api.post("/api/jobs/", {**API_JOB}, format="json").json()
    body = factories.csv_bytes(factories.fruit_rows(200))
    assert 1000 < len(body) < 1000 + views_api.MULTIPART_OVERHEAD
    uploads = services.upload_dir()
    before = set(uploads.iterdir())
    # Streamed past the limit (raw body and multipart), and refused from its Content-Length alone.
    raw = requester_api.post(f"/api/jobs/{job['id']}/uploads/?filename=big.csv", data=body, content_type="text/csv")
    multipart = requester_api.post(f"/api/jobs/{job['id']}/uploads/", {"file": io.BytesIO(body)}, format="multipart")
    big = b"x" * (1000 + views_api.MULTIPART_OVERHEAD + 1)
    declared = requester_api.post(f"/api/jobs/{job['id']}/uploads/?filename=big.csv", data=big, content_type="text/csv")
    for response in (raw, multipart, declared):
        assert response.status_code == 413, response.content
        assert response.json()["error"]["message"] == "the file is larger than the limit of 1000 bytes"
    assert raw.json()["error"]["file"] == "big.csv"
    assert Upload.objects.filter(job_id=job["id"]).count() == 0
    assert set(uploads.iterdir()) == before


@pytest.mark.parametrize(
    "sent,kept",
    [
        ("a\x00b.csv", "ab.csv"),
        ("tab\there\n.csv", "tabhere.csv"),
        ("é" * 200 + ".csv", "é" * 125 + ".csv"),  # 400 bytes: cut to 254 bytes, the extension kept
        ("x" * 400, "x" * 255),
        ("../../etc/passwd", "passwd"),
        ("\x01\x02", "upload"),
        ("invoice\u202efdp.csv", "invoicefdp.csv"),
    ],
    ids=["NUL", "control characters", "400 bytes", "no extension", "a path", "nothing left", "right-to-left override"],
)
def test_a_file_name_is_cleaned_before_it_is_stored(requester_api, sent, kept):
    job = requester_api.post("/api/jobs/", {**API_JOB}, format="json").json()
    url = f"/api/jobs/{job['id']}/uploads/"
    raw = requester_api.post(url, data=GOOD, content_type="text/csv", QUERY_STRING=f"filename={quote(sent)}")
    assert raw.status_code == 202, raw.content
    assert raw.json()["filename"] == kept
    if kept != "upload":  # Django's multipart parser drops a file part whose name is only control characters
        multipart = requester_api.post(url, {"file": named_file(GOOD, sent)}, format="multipart")
        assert multipart.status_code == 202, multipart.content
        assert multipart.json()["filename"] == kept
    for upload in Upload.objects.filter(job_id=job["id"]):
        assert len(upload.filename.encode()) <= 255
        assert Path(upload.path).parent == services.upload_dir()
        assert len(Path(upload.path).name.encode()) <= 255


def test_jobs_ingested_under_the_old_200_column_cap_get_every_column_back():
    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("tasks.migrations.0010_intake_hardening")
    job = factories.make_job()
    header = ["text"] + [f"c{i}" for i in range(249)]
    ingest(job, (",".join(header) + "\n" + ",".join("v" for _ in header) + "\n").encode())
    ingest(job, b'{"text": "b", "late": 1}\n', "more.jsonl")
    Job.objects.filter(pk=job.pk).update(columns=header[:200])  # as an ingest before the fix left it
    with connection.schema_editor() as editor:
        migration.complete_job_columns(apps, editor)
    job.refresh_from_db()
    assert job.columns[:200] == header[:200]
    assert sorted(job.columns[200:-1]) == sorted(header[200:]) and job.columns[-1] == "late"
    assert next(exports.export_csv(job)).decode().splitlines()[0].split(",")[:251] == job.columns
