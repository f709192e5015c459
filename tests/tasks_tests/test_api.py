"""The requester API: jobs, uploads through a real Celery worker, exports, and who may do what."""

import csv
import io
import json
import time

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tasks.models import Item, Job, Microtask, Upload
from tests import factories

JOB = {
    "name": "Sentiment",
    "instructions": "Read the text.",
    "question": "Is it positive?",
    "question_type": "single_choice",
    "options": ["pos", "neg"],
    "text_field": "text",
    "items_per_microtask": 10,
    "redundancy": 3,
    "priority": 7,
    "lease_seconds": 120,
    "reward": "0.05",
}


def wait_upload(client, upload_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/uploads/{upload_id}/").json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.2)
    raise TimeoutError(body)


@pytest.mark.django_db(transaction=True)
def test_upload_100k_rows_through_celery_and_export_round_trip(requester_api, celery_worker_process):
    job = requester_api.post("/api/jobs/", JOB, format="json").json()
    rows = [
        {"id": f"r{i}", "text": f"text {i}, with a comma", "gold": "pos" if i % 1000 == 0 else ""}
        for i in range(100_000)
    ]
    data = factories.csv_bytes(rows)
    response = requester_api.post(f"/api/jobs/{job['id']}/uploads/", {"file": io.BytesIO(data)}, format="multipart")
    assert response.status_code == 202, response.content
    body = wait_upload(requester_api, response.json()["id"])
    assert body["status"] == "done", body
    assert body["rows_done"] == 100_000 and body["items_created"] == 100_000
    assert Item.objects.filter(job_id=job["id"]).count() == 100_000
    # 99,900 ordinary items in 9,990 microtasks of 10, 100 gold items in 10 gold microtasks.
    assert Microtask.objects.filter(job_id=job["id"], is_gold=False).count() == 9_990
    assert Microtask.objects.filter(job_id=job["id"], is_gold=True).count() == 10

    exported = b"".join(requester_api.get(f"/api/jobs/{job['id']}/export/?format=csv"))
    table = list(csv.DictReader(io.StringIO(exported.decode())))
    assert len(table) == 100_000
    assert table[1]["id"] == "r1" and table[1]["text"] == "text 1, with a comma" and table[1]["result"] == ""
    assert table[0]["result"] == "pos" and table[0]["source"] == "gold"
    lines = b"".join(requester_api.get(f"/api/jobs/{job['id']}/export/?format=jsonl")).splitlines()
    assert len(lines) == 100_000
    assert json.loads(lines[5])["item"] == {"id": "r5", "text": "text 5, with a comma"}


@pytest.mark.django_db(transaction=True)
def test_raw_body_upload_and_failed_upload_reports_location(requester_api, celery_worker_process):
    job = requester_api.post("/api/jobs/", JOB, format="json").json()
    response = requester_api.post(
        f"/api/jobs/{job['id']}/uploads/?filename=items.jsonl",
        data=b'{"text": "ok"}\n{"text": "bad"\n',
        content_type="application/x-ndjson",
    )
    assert response.status_code == 202, response.content
    body = wait_upload(requester_api, response.json()["id"])
    assert body["status"] == "failed"
    assert body["error"] == {"file": "items.jsonl", "line": 2, "field": None, "message": body["error"]["message"]}
    assert "invalid JSON" in body["error"]["message"]
    assert Item.objects.filter(job_id=job["id"]).count() == 0


@pytest.mark.django_db
def test_job_validation_errors(requester_api):
    response = requester_api.post("/api/jobs/", {**JOB, "options": ["only one"]}, format="json")
    assert response.status_code == 400 and "options" in response.json()
    response = requester_api.post("/api/jobs/", {**JOB, "question_type": "colour"}, format="json")
    assert response.status_code == 400 and "question_type" in response.json()
    response = requester_api.post("/api/jobs/", {**JOB, "redundancy": 3, "max_answers": 2}, format="json")
    assert response.status_code == 400 and "max_answers" in response.json()


@pytest.mark.django_db
def test_publish_pause_resume_cancel(requester_api):
    job = requester_api.post("/api/jobs/", JOB, format="json").json()
    assert requester_api.post(f"/api/jobs/{job['id']}/publish/").status_code == 409  # no items yet
    factories.ingest_now(requester_api.user.jobs.get(pk=job["id"]), b"text\na\nb\n")
    assert requester_api.post(f"/api/jobs/{job['id']}/publish/").json()["status"] == "open"
    assert requester_api.post(f"/api/jobs/{job['id']}/pause/").json()["status"] == "paused"
    assert requester_api.post(f"/api/jobs/{job['id']}/resume/").json()["status"] == "open"
    assert requester_api.post(f"/api/jobs/{job['id']}/cancel/").json()["status"] == "cancelled"
    assert requester_api.post(f"/api/jobs/{job['id']}/resume/").status_code == 409


# --- permissions -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_gets_401(api):
    for url in ["/api/jobs/", "/api/uploads/1/", "/api/me/"]:
        assert api.get(url).status_code == 401
    assert api.post("/api/jobs/", JOB, format="json").status_code == 401


@pytest.mark.django_db
def test_requester_never_sees_another_requesters_job(requester_api):
    other = factories.make_job()
    factories.ingest_now(other, b"text\nsecret\n")
    upload = Upload.objects.get(job=other)
    assert requester_api.get("/api/jobs/").json()["results"] == []
    for url in [f"/api/jobs/{other.pk}/", f"/api/jobs/{other.pk}/items/", f"/api/jobs/{other.pk}/export/",
                f"/api/jobs/{other.pk}/uploads/", f"/api/uploads/{upload.pk}/"]:  # fmt: skip
        assert requester_api.get(url).status_code == 404, url
    assert requester_api.patch(f"/api/jobs/{other.pk}/", {"name": "mine"}, format="json").status_code == 404
    assert requester_api.post(f"/api/jobs/{other.pk}/publish/").status_code == 404
    assert requester_api.delete(f"/api/jobs/{other.pk}/").status_code == 404
    other.refresh_from_db()
    assert other.name == "Label fruit"


@pytest.mark.django_db
def test_worker_cannot_use_requester_endpoints(api, worker):
    job = factories.make_job()
    api.force_authenticate(worker)
    assert api.get("/api/jobs/").status_code == 403
    assert api.post("/api/jobs/", JOB, format="json").status_code == 403
    assert api.get(f"/api/jobs/{job.pk}/export/").status_code == 403
    assert api.get(f"/api/jobs/{job.pk}/items/").status_code == 403


@pytest.mark.django_db
def test_signup_and_token_auth(api):
    response = api.post(
        "/api/auth/signup/",
        {"username": "ana", "password": "correct horse battery", "email": "ana@example.com", "role": "requester"},
        format="json",
    )
    assert response.status_code == 201
    token = response.json()["token"]
    assert Token.objects.get(key=token).user.username == "ana"
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/me/").json()["role"] == "requester"
    assert api.post("/api/jobs/", JOB, format="json").status_code == 201
    response = api.post("/api/auth/token/", {"username": "ana", "password": "correct horse battery"}, format="json")
    assert response.json()["token"] == token


@pytest.mark.django_db
def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/jobs/{id}/uploads/" in response.content
    as_json = client.get("/api/schema/?format=json")
    assert as_json["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert "/api/jobs/{id}/uploads/" in as_json.json()["paths"]


@pytest.mark.django_db
def test_staff_open_any_job_through_the_api_as_on_the_pages_and_list_their_own():
    job = factories.make_job()
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(3)))
    staff = factories.make_requester()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    api = APIClient()
    api.force_authenticate(staff)
    assert api.get(f"/api/jobs/{job.pk}/").status_code == 200
    assert api.get(f"/api/jobs/{job.pk}/export/").status_code == 200
    assert api.get(f"/api/uploads/{job.uploads.get().pk}/").status_code == 200
    assert api.get("/api/jobs/").json()["count"] == 0


@pytest.mark.django_db
def test_a_csv_for_a_spreadsheet_runs_no_formula_and_every_header_is_unique():
    job = factories.make_job(question_type="free_text", options=[])
    rows = b'{"id": "a", "text": "=1+1", "result": "mine"}\n{"id": "b", "text": "-2 degrees", "result": "x"}\n'
    assert factories.ingest_now(job, rows, "items.jsonl").status == "done"
    Item.objects.filter(job=job, external_id="a").update(result="@SUM(A1)", result_source="human", confidence=0.5)
    api = APIClient()
    api.force_authenticate(job.owner)

    def table(query: str) -> list[dict]:
        raw = b"".join(api.get(f"/api/jobs/{job.pk}/export/?format=csv{query}"))
        # The spreadsheet file starts with a UTF-8 byte order mark (Excel reads the file as UTF-8 then).
        assert raw.startswith(b"\xef\xbb\xbf") == ("spreadsheet" in query)
        body = raw.decode("utf-8-sig")
        reader = csv.reader(io.StringIO(body))
        header = next(reader)
        assert len(header) == len(set(header)), header
        return [dict(zip(header, row, strict=True)) for row in reader]

    exact, safe = table(""), table("&spreadsheet=1")
    assert [r["text"] for r in exact] == ["=1+1", "-2 degrees"]  # as stored, for programs
    assert exact[0]["item.result"] == "mine" and exact[0]["result"] == "@SUM(A1)"
    assert [r["text"] for r in safe] == ["'=1+1", "'-2 degrees"]
    assert safe[0]["result"] == "'@SUM(A1)" and safe[0]["confidence"] == "0.5"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field,value,words",
    [
        ("redundancy", 0, "between 1 and 100"),
        ("budget", "-5", "above 0"),
        ("reward", "-1", "cannot be negative"),
    ],
)
def test_job_settings_that_would_break_the_job_are_field_errors(requester_api, field, value, words):
    created = requester_api.post("/api/jobs/", {**JOB, field: value}, format="json")
    assert created.status_code == 400 and words in created.json()[field][0]
    job = requester_api.post("/api/jobs/", JOB, format="json").json()
    changed = requester_api.patch(f"/api/jobs/{job['id']}/", {field: value}, format="json")
    assert changed.status_code == 400 and words in changed.json()[field][0]


@pytest.mark.django_db
def test_options_cannot_change_once_items_exist(requester_api):
    job = requester_api.post("/api/jobs/", JOB, format="json").json()
    assert requester_api.patch(f"/api/jobs/{job['id']}/", {"options": ["yes", "no"]}, format="json").status_code == 200
    factories.ingest_now(Job.objects.get(pk=job["id"]), b"id,text\n1,a\n")
    refused = requester_api.patch(f"/api/jobs/{job['id']}/", {"options": ["x", "y"]}, format="json")
    assert refused.status_code == 400 and "cannot change once items exist" in refused.json()["options"][0]
    same = requester_api.patch(f"/api/jobs/{job['id']}/", {"options": ["yes", "no"]}, format="json")
    assert same.status_code == 200


@pytest.mark.django_db
def test_progress_counts_a_jobs_work_without_gold_for_its_owner_only(requester_api):
    job = factories.make_job(owner=requester_api.user, items_per_microtask=2, redundancy=2)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(10, gold_every=5)))  # 8 items, 2 gold
    body = requester_api.get(f"/api/jobs/{job.pk}/progress/").json()
    assert body == {"job": job.pk, "status": "draft", "items": 8, "items_done": 0, "microtasks": 4,
                    "microtasks_done": 0, "answers": 0, "answers_remaining": 16, "results": 0,
                    "answers_per_minute": 0, "workers_active": 0}  # fmt: skip
    other = APIClient()
    other.force_authenticate(factories.make_requester())
    assert other.get(f"/api/jobs/{job.pk}/progress/").status_code == 404
    assert APIClient().get(f"/api/jobs/{job.pk}/progress/").status_code in (401, 403)
