"""The client and the `quorum` command against a running server: uvicorn, a real Celery worker for intake,
simulated workers answering over WebSockets, and the results pass run as Celery beat would run it."""

import asyncio
import contextlib
import csv
import io
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection
from quorum_client import AuthenticationError, Client, NotFound, UploadFailed, ValidationError

from tasks import exports, results
from tasks.models import Job
from tests import factories
from tests.e2e.workers import SimWorker, token
from tests.servers import asgi_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
QUORUM = ROOT / ".venv" / "bin" / "quorum"

DEFINITION = """\
name: Fruit, from the client
instructions: Pick the fruit the text names.
question: Which fruit is it?
question_type: single_choice
options: [apple, banana, cherry]
text_field: text
items_per_microtask: 2
redundancy: 2
lease_seconds: 60
"""


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), asgi_server() as url:
        yield url


@pytest.fixture
def files(tmp_path):
    definition = tmp_path / "job.yaml"
    definition.write_text(DEFINITION)
    data = tmp_path / "items.csv"
    data.write_bytes(factories.csv_bytes(factories.fruit_rows(12)))
    return definition, data


@pytest.fixture
def requester_token():
    return token(factories.make_requester())


@contextlib.contextmanager
def crowd_answering(url: str, workers: int = 3, idle: float = 6.0):
    """Simulated workers answer whatever they are sent until none comes for ``idle`` seconds, while a thread does
    Celery beat's part: the results pass every 0.3 s (it writes results and marks finished jobs done)."""
    keys = [token(factories.make_worker()) for _ in range(workers)]
    ws_url = url.replace("http", "ws")
    stop = threading.Event()

    def beat():
        try:
            while not stop.is_set():
                results.results_pending()
                stop.wait(0.3)
        finally:
            connection.close()

    async def answer_all():
        await asyncio.gather(*[SimWorker(k, [ws_url], think=0.3).run(idle_timeout=idle) for k in keys])

    threads = [threading.Thread(target=beat), threading.Thread(target=asyncio.run, args=(answer_all(),))]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)


def exported(job_id: int, kind: str) -> bytes:
    job = Job.objects.get(pk=job_id)
    return b"".join(exports.export_csv(job) if kind == "csv" else exports.export_jsonl(job))


def test_create_upload_publish_wait_and_download(server, files, requester_token, tmp_path, celery_worker_process):
    definition, data = files
    with Client(server, requester_token) as client:
        job = client.create_job(definition)
        assert job.status == "draft" and job.name == "Fruit, from the client"
        sent = []
        upload = client.upload(job.id, data, chunk_size=64, progress=lambda done, total: sent.append((done, total)))
        assert upload.status in ("pending", "running", "done") and upload.filename == "items.csv"
        assert sent[0] == (0, data.stat().st_size) and sent[-1] == (data.stat().st_size,) * 2 and len(sent) > 3
        ingested = client.wait_upload(upload, timeout=60)
        assert ingested.items_created == 12 and ingested.microtasks_created == 6
        assert client.publish(job.id).status == "open"

        seen = []
        with crowd_answering(server):
            final = client.wait(job.id, timeout=120, poll=0.3, on_progress=seen.append)
        assert final.status == "done" and final.items == final.items_done == final.results == 12
        assert final.answers == 24
        assert seen[0].items_done < 12, "the wait began before the answers were in"
        assert [p.items_done for p in seen] == sorted(p.items_done for p in seen)

        for kind in ("csv", "jsonl"):
            target = tmp_path / f"results.{kind}"
            written = client.download_results(job.id, target, kind)
            assert target.read_bytes() == exported(job.id, kind) and written == target.stat().st_size
        rows = list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text())))
        assert len(rows) == 12 and {row["result"] for row in rows} == {"apple"}
        assert [j.id for j in client.list_jobs()] == [job.id]


def test_a_wrong_token_is_an_authentication_error(server, files):
    _, data = files
    with Client(server, "not-a-token") as client:
        with pytest.raises(AuthenticationError) as caught:
            client.list_jobs()
        assert caught.value.status == 401 and "Invalid token" in str(caught.value)
        # An upload is refused before its body is read.
        with pytest.raises(AuthenticationError):
            client.upload(1, data)


def test_a_bad_data_file_names_its_line_and_field(server, requester_token, tmp_path, celery_worker_process):
    bad = tmp_path / "fruit.csv"
    bad.write_text("id,text,gold\n1,an apple,apple\n2,a mango,mango\n")
    with Client(server, requester_token) as client:
        job = client.create_job({"name": "Fruit", "question_type": "single_choice", "options": ["apple", "banana"]})
        with pytest.raises(UploadFailed) as caught:
            client.wait_upload(client.upload(job.id, bad), timeout=60)
        assert (caught.value.file, caught.value.line, caught.value.field) == ("fruit.csv", 3, "gold")
        assert "fruit.csv line 3, field gold: gold answer 'mango' is not one of the options" in str(caught.value)
        assert client.get_job(job.id).item_count == 0


def test_a_bad_definition_names_the_field(server, requester_token):
    with Client(server, requester_token) as client:
        with pytest.raises(ValidationError) as caught:
            client.create_job({"name": "Fruit", "question_type": "single_choice", "options": ["a"], "redundancy": 0})
        assert caught.value.status == 400
        assert caught.value.fields == {"redundancy": ["redundancy must be between 1 and 100"]}
        with pytest.raises(NotFound):
            client.get_job(10**9)


def quorum(*args: str, url: str, key: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    env.update(QUORUM_URL=url, QUORUM_TOKEN=key, QUORUM_CONFIG="/nonexistent/quorum.json")
    return subprocess.run([str(QUORUM), *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_the_command_creates_uploads_waits_and_downloads(
    server, files, requester_token, tmp_path, celery_worker_process
):
    definition, data = files
    created = quorum("jobs", "create", str(definition), url=server, key=requester_token)
    assert created.returncode == 0, created.stderr
    job_id = int(created.stdout)
    uploaded = quorum("upload", str(job_id), str(data), url=server, key=requester_token)
    assert uploaded.returncode == 0, uploaded.stderr
    assert "items.csv: sending" in uploaded.stderr and "12 items, 6 microtasks" in uploaded.stderr
    assert quorum("publish", str(job_id), url=server, key=requester_token).returncode == 0
    with crowd_answering(server):
        waited = quorum("wait", str(job_id), "--poll", "0.3", "--timeout", "120", url=server, key=requester_token)
    assert waited.returncode == 0, waited.stderr
    assert "items answered" in waited.stderr and f"job {job_id} done: 12/12 items answered, 12 results" in waited.stderr
    out = tmp_path / "out.csv"
    downloaded = quorum("results", str(job_id), "-o", str(out), url=server, key=requester_token)
    assert downloaded.returncode == 0, downloaded.stderr
    assert out.read_bytes() == exported(job_id, "csv")
    listed = quorum("jobs", "list", url=server, key=requester_token)
    assert f"{job_id}  done" in listed.stdout

    refused = quorum("jobs", "list", url=server, key="not-a-token")
    assert refused.returncode == 1 and refused.stderr.startswith("quorum: error: GET /api/jobs/: 401 Invalid token.")


def test_run_does_it_all_in_one_command(server, files, requester_token, tmp_path, celery_worker_process):
    definition, data = files
    out = tmp_path / "results.jsonl"
    with crowd_answering(server, idle=20):
        done = quorum("run", str(definition), str(data), "--wait", "--poll", "0.3", "--timeout", "120",
                      "-o", str(out), "--format", "jsonl", url=server, key=requester_token)  # fmt: skip
    assert done.returncode == 0, done.stderr
    job_id = int(done.stdout)
    assert out.read_bytes() == exported(job_id, "jsonl") and len(out.read_text().splitlines()) == 12


def test_webhook_calls_against_the_server(server, requester_token, tmp_path, celery_worker_process):
    with httpx.Client(base_url=server, headers={"Authorization": f"Token {requester_token}"}) as raw:
        if raw.get("/api/webhooks/").status_code == 404:
            pytest.skip("this server has no webhook endpoints")
    with Client(server, requester_token) as client:
        created = client.create_webhook("https://hooks.invalid/quorum", ["job.published"])
        assert created.secret and created.events == ["job.published"] and created.job is None
        assert [e.id for e in client.list_webhooks()] == [created.id]
        assert client.deliveries(created.id) == []

        job = client.create_job({"name": "Hooked", "question_type": "single_choice", "options": ["a", "b"]})
        data = tmp_path / "items.csv"
        data.write_text("id,text\n1,one\n")
        client.wait_upload(client.upload(job.id, data), timeout=60)
        client.publish(job.id)
        deadline = time.monotonic() + 60
        while not (found := client.deliveries(created.id, job=job.id)) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert [(d.event, d.job) for d in found] == [("job.published", job.id)]
        again = client.resend(found[0].id)
        assert again.id == found[0].id and again.status == "pending"
        with pytest.raises(NotFound):
            client.resend(10**9)
        client.delete_webhook(created.id)
        assert client.list_webhooks() == []
