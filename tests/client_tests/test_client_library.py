"""The client library against a small fake server: the webhook calls in the API's shape (the endpoints may be
missing from a server), each kind of API error as its exception, uploads streamed from disk, and waits that ride over 429s."""

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from quorum_client import (
    AuthenticationError,
    Client,
    Conflict,
    ConnectionFailed,
    Delivery,
    JobStopped,
    NotFound,
    RateLimited,
    ServerError,
    ValidationError,
    WaitTimeout,
    WebhookEndpoint,
    load_definition,
)
from quorum_client.progressbar import ProgressBar

from .fake_api import FakeApi

ROOT = Path(__file__).resolve().parents[2]
QUORUM = ROOT / ".venv" / "bin" / "quorum"

ENDPOINT = {
    "id": 3,
    "url": "https://hooks.example.org/quorum",
    "job": None,
    "events": ["job.done", "item.result"],
    "active": True,
    "batch_size": 100,
    "batch_seconds": 1.0,
    "created_at": "2026-12-06T08:00:00Z",
}


def delivery(id, status="failed", **more):
    return {
        "id": id,
        "endpoint": 3,
        "job": 12,
        "event": "item.result",
        "status": status,
        "attempts": 4,
        "response_code": 500,
        "error": "HTTP 500",
        "next_attempt_at": None,
        "created_at": "2026-12-06T08:01:00Z",
        "delivered_at": None,
        **more,
    }


def progress(status="open", items=10, items_done=0, results=0):
    return {"job": 5, "status": status, "items": items, "items_done": items_done, "microtasks": 2,
            "microtasks_done": 0, "answers": items_done * 2, "answers_remaining": (items - items_done) * 2,
            "results": results, "answers_per_minute": 0, "workers_active": 1}  # fmt: skip


@pytest.fixture
def fake():
    with FakeApi() as api:
        yield api


@pytest.fixture
def client(fake):
    with Client(fake.url, "t0ken") as c:
        yield c


def test_every_request_carries_the_token(fake, client):
    fake.on("GET", "/api/jobs/", body={"count": 0, "next": None, "results": []})
    assert client.list_jobs() == []
    assert fake.requests[0]["headers"]["Authorization"] == "Token t0ken"


def test_webhook_endpoints_listed_across_pages_and_created_with_the_shared_shape(fake, client):
    page2 = f"{fake.url}/api/webhooks/?page=2"
    fake.on("GET", "/api/webhooks/", body={"count": 2, "next": page2, "results": [ENDPOINT]})
    fake.on("GET", "/api/webhooks/", body={"count": 2, "next": None, "results": [{**ENDPOINT, "id": 4, "job": 12}]})
    endpoints = client.list_webhooks()
    assert [e.id for e in endpoints] == [3, 4] and endpoints[1].job == 12
    assert isinstance(endpoints[0], WebhookEndpoint) and endpoints[0].events == ["job.done", "item.result"]
    assert fake.requests[1]["query"] == {"page": "2"}

    fake.on("POST", "/api/webhooks/", 201, {**ENDPOINT, "id": 5, "job": 12, "secret": "s3cret"})
    created = client.create_webhook("https://hooks.example.org/quorum", ["item.result"], job=12, batch_size=50)
    assert created.id == 5 and created.secret == "s3cret"
    sent = json.loads(fake.requests[-1]["body"])
    assert sent == {"url": "https://hooks.example.org/quorum", "events": ["item.result"], "job": 12, "active": True,
                    "batch_size": 50}  # fmt: skip


def test_one_endpoint_read_changed_and_deleted(fake, client):
    fake.on("GET", "/api/webhooks/3/", body=ENDPOINT)
    fake.on("PATCH", "/api/webhooks/3/", body={**ENDPOINT, "active": False})
    fake.on("DELETE", "/api/webhooks/3/", 204)
    assert client.get_webhook(3).url == ENDPOINT["url"]
    assert client.update_webhook(3, active=False).active is False
    assert json.loads(fake.requests[-1]["body"]) == {"active": False}
    assert client.delete_webhook(3) is None
    assert fake.requests[-1]["method"] == "DELETE"


def test_deliveries_filtered_paged_and_limited(fake, client):
    fake.on("GET", "/api/webhooks/3/deliveries/",
            body={"count": 3, "next": f"{fake.url}/api/webhooks/3/deliveries/?page=2&status=failed",
                  "results": [delivery(30), delivery(29)]})  # fmt: skip
    fake.on("GET", "/api/webhooks/3/deliveries/", body={"count": 3, "next": None, "results": [delivery(28)]})
    found = client.deliveries(3, status="failed", job=12)
    assert [d.id for d in found] == [30, 29, 28]
    assert isinstance(found[0], Delivery) and found[0].status == "failed" and found[0].response_code == 500
    assert fake.requests[0]["query"] == {"status": "failed", "job": "12"}
    assert fake.requests[1]["query"] == {"page": "2", "status": "failed"}
    fake.routes.clear()
    fake.on(
        "GET", "/api/webhooks/3/deliveries/", body={"count": 3, "next": "x", "results": [delivery(30), delivery(29)]}
    )
    assert [d.id for d in client.deliveries(3, limit=1)] == [30]


def test_resend_posts_to_the_delivery_and_returns_it_pending_with_its_attempts(fake, client):
    fake.on("POST", "/api/webhooks/deliveries/30/resend/", 202, delivery(30, status="pending"))
    again = client.resend(30)
    assert again.status == "pending" and again.attempts == 4
    assert fake.requests[-1]["method"] == "POST"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "words"),
    [
        (401, {"detail": "Invalid token."}, {}, AuthenticationError, "401 Invalid token."),
        (403, {"detail": "You do not have permission to perform this action."}, {}, AuthenticationError, "403"),
        (404, {"detail": "No Job matches the given query."}, {}, NotFound, "404 No Job matches"),
        (409, {"detail": "a cancelled job cannot be published"}, {}, Conflict, "cancelled job cannot be published"),
        (429, {"detail": "Request was throttled."}, {"Retry-After": "7"}, RateLimited, "retry after 7 s"),
        (500, b"<h1>Server Error</h1>", {}, ServerError, "500 server error"),
    ],
)
def test_api_errors_become_exceptions_that_say_what_went_wrong(fake, client, status, body, headers, kind, words):
    fake.on("GET", "/api/jobs/5/", status, body, headers)
    with pytest.raises(kind) as caught:
        client.get_job(5)
    assert words in str(caught.value) and "GET /api/jobs/5/" in str(caught.value)
    assert caught.value.status == status
    if kind is RateLimited:
        assert caught.value.retry_after == 7


def test_a_refused_definition_carries_the_field_errors(fake, client):
    fake.on("POST", "/api/jobs/", 400, {"redundancy": ["redundancy must be between 1 and 100"],
                                        "questions": {"0": {"options": ["options must be distinct"]}}})  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        client.create_job({"name": "x", "redundancy": 0})
    assert caught.value.fields["redundancy"] == ["redundancy must be between 1 and 100"]
    assert caught.value.fields["questions.0.options"] == ["options must be distinct"]
    assert "redundancy: redundancy must be between 1 and 100" in str(caught.value)


def test_a_refused_file_names_file_line_and_field(fake, client, tmp_path):
    error = {
        "file": "items.csv",
        "line": 3,
        "field": "gold",
        "message": "gold answer 'mango' is not one of the options",
    }
    fake.on("POST", "/api/jobs/5/uploads/", 400, {"detail": error["message"], "error": error})
    data = tmp_path / "items.csv"
    data.write_text("id,text,gold\n1,a,apple\n2,b,mango\n")
    with pytest.raises(ValidationError) as caught:
        client.upload(5, data)
    assert (caught.value.file, caught.value.line, caught.value.field) == ("items.csv", 3, "gold")
    assert "items.csv line 3, field gold: gold answer 'mango'" in str(caught.value)


def test_an_unreachable_server_is_a_connection_error():
    with Client("http://127.0.0.1:9", "t") as client, pytest.raises(ConnectionFailed, match="cannot reach"):
        client.get_job(1)


def test_upload_is_streamed_from_disk_in_chunks_with_its_length_declared(fake, client, tmp_path):
    fake.on("POST", "/api/jobs/5/uploads/", 202, lambda req: {"id": 9, "job": 5, "filename": req["query"]["filename"],
                                                             "size_bytes": len(req["body"]), "status": "pending"})  # fmt: skip
    data = tmp_path / "big items.csv"
    content = b"id,text\n" + b"".join(b"%d,row number %d\n" % (i, i) for i in range(1000))
    data.write_bytes(content)
    seen = []
    upload = client.upload(5, data, chunk_size=1024, progress=lambda sent, total: seen.append((sent, total)))
    request = fake.requests[-1]
    assert request["body"] == content and request["headers"]["Content-Length"] == str(len(content))
    assert "Transfer-Encoding" not in request["headers"]  # the length is declared, so a server can refuse at once
    assert request["query"] == {"filename": "big items.csv"}
    assert upload.id == 9 and upload.filename == "big items.csv" and upload.size_bytes == len(content)
    # A callback per 1 KiB chunk, as the chunks went out: the file is never read whole.
    assert seen[0] == (0, len(content)) and seen[-1] == (len(content), len(content))
    assert len(seen) == 1 + -(-len(content) // 1024)
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)


def test_wait_upload_reports_the_line_of_a_failed_ingest(fake, client):
    base = {"id": 9, "job": 5, "filename": "items.csv"}
    fake.on("GET", "/api/uploads/9/", body={**base, "status": "running", "rows_done": 1, "rows_total": 3})
    fake.on("GET", "/api/uploads/9/", body={**base, "status": "failed", "error": {
        "file": "items.csv", "line": 4, "field": "text", "message": "the text column 'text' is missing"}})  # fmt: skip
    seen = []
    with pytest.raises(ValidationError) as caught:
        client.wait_upload(9, poll=0.01, on_progress=lambda u: seen.append(u.status))
    assert seen == ["running", "failed"]
    assert str(caught.value) == "upload 9 failed: items.csv line 4, field text: the text column 'text' is missing"
    assert caught.value.upload.id == 9


def test_wait_follows_progress_and_waits_out_a_429(fake, client):
    fake.on("GET", "/api/jobs/5/progress/", body=progress(items_done=3))
    fake.on("GET", "/api/jobs/5/progress/", 429, {"detail": "Request was throttled."}, {"Retry-After": "0.05"})
    fake.on("GET", "/api/jobs/5/progress/", body=progress(items_done=10, results=10))
    fake.on("GET", "/api/jobs/5/progress/", body=progress(status="done", items_done=10, results=10))
    seen = []
    final = client.wait(5, poll=0.01, on_progress=lambda p: seen.append((p.status, p.items_done)))
    assert final.status == "done" and final.fraction == 1.0
    assert seen == [("open", 3), ("open", 10), ("done", 10)]


def test_wait_until_results_returns_before_the_job_is_marked_done(fake, client):
    fake.on("GET", "/api/jobs/5/progress/", body=progress(items_done=10, results=10))
    assert client.wait(5, until="results", poll=0.01).results == 10


def test_wait_ends_on_a_cancelled_job_a_draft_and_a_timeout(fake, client):
    fake.on("GET", "/api/jobs/5/progress/", body=progress(status="cancelled"))
    with pytest.raises(JobStopped, match="job 5 is cancelled"):
        client.wait(5, poll=0.01)
    fake.routes.clear()
    fake.on("GET", "/api/jobs/5/progress/", body=progress(status="draft"))
    with pytest.raises(JobStopped, match="draft; publish it first"):
        client.wait(5, poll=0.01)
    fake.routes.clear()
    fake.on("GET", "/api/jobs/5/progress/", body=progress(items_done=2))
    with pytest.raises(WaitTimeout) as caught:
        client.wait(5, timeout=0.2, poll=0.05)
    assert caught.value.last.items_done == 2


def test_results_are_written_beside_the_target_and_renamed_only_when_complete(fake, client, tmp_path):
    fake.on("GET", "/api/jobs/5/export/", body=b"id,result\ni1,apple\n")
    target = tmp_path / "out.csv"
    assert client.download_results(5, target, "jsonl") == 19
    assert target.read_bytes() == b"id,result\ni1,apple\n"
    assert fake.requests[-1]["query"] == {"format": "jsonl"}
    fake.on("GET", "/api/jobs/6/export/", 404, {"detail": "Not found."})
    with pytest.raises(NotFound):
        client.download_results(6, tmp_path / "none.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_definition_that_is_not_yaml_names_its_line(tmp_path):
    bad = tmp_path / "job.yaml"
    bad.write_text("name: Fruit\nquestion_type: single_choice\noptions: [apple, banana\nredundancy: 2\n")
    with pytest.raises(ValidationError) as caught:
        load_definition(bad)
    assert caught.value.line == 4 and f"{bad} line 4: not valid YAML" in str(caught.value)
    listed = tmp_path / "list.yaml"
    listed.write_text("- name: a\n")
    with pytest.raises(ValidationError, match="a mapping of settings"):
        load_definition(listed)
    broken = tmp_path / "job.json"
    broken.write_text('{\n  "name": "x",\n}\n')
    with pytest.raises(ValidationError, match="line 3: not valid JSON"):
        load_definition(broken)


def test_progress_bar_prints_plain_lines_when_not_on_a_terminal(tmp_path):
    with open(tmp_path / "log", "w") as stream:
        bar = ProgressBar("job 5", unit="items answered", stream=stream, plain_interval=0)
        bar.update(3, 10, "3 results")
        bar.close()
    lines = (tmp_path / "log").read_text().splitlines()
    assert lines[0].startswith("job 5  [") and "30% 3/10 items answered" in lines[0] and "3 results" in lines[0]


def test_progress_bar_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = ProgressBar("items.csv: sending", as_bytes=True, stream=stream)
    bar.update(0, 2048)
    bar.interval = 0
    bar.update(1024, 2048)
    bar.close()
    drawn = stream.getvalue()
    assert drawn.count("\r\x1b[K") == 3 and drawn.endswith("\n") and drawn.count("\n") == 1
    assert "50% 1.0 KiB/2.0 KiB" in drawn and "100%" not in drawn


# -- the command line, as a separate process ----------------------------------------------------------------------


def quorum(*args, url, token="t0ken", config=None, stdin=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    env.update(QUORUM_URL=url, QUORUM_TOKEN=token, QUORUM_CONFIG=str(config or "/nonexistent/quorum.json"))
    return subprocess.run([str(QUORUM), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


def test_cli_webhooks_list_deliveries_and_resend(fake):
    fake.on("GET", "/api/webhooks/", body={"count": 1, "next": None, "results": [ENDPOINT]})
    fake.on("GET", "/api/webhooks/3/deliveries/", body={"count": 1, "next": None, "results": [delivery(30)]})
    fake.on("POST", "/api/webhooks/deliveries/30/resend/", 202, delivery(30, status="pending"))
    listed = quorum("webhooks", "list", url=fake.url)
    assert listed.returncode == 0, listed.stderr
    assert "https://hooks.example.org/quorum" in listed.stdout and "job.done,item.result" in listed.stdout
    shown = quorum("webhooks", "deliveries", "3", "--status", "failed", url=fake.url)
    assert shown.returncode == 0 and "item.result" in shown.stdout and "HTTP 500" in shown.stdout
    assert fake.requests[-1]["query"]["status"] == "failed"
    resent = quorum("webhooks", "resend", "30", url=fake.url)
    assert resent.returncode == 0 and "delivery 30 queued again (pending, 4 attempts so far)" in resent.stderr
    as_json = quorum("webhooks", "deliveries", "3", "--json", url=fake.url)
    assert json.loads(as_json.stdout)[0]["id"] == 30


def test_cli_api_errors_exit_non_zero_with_one_clear_line(fake):
    fake.on("POST", "/api/webhooks/deliveries/31/resend/", 404, {"detail": "Not found."})
    result = quorum("webhooks", "resend", "31", url=fake.url)
    assert result.returncode == 1
    assert result.stderr == "quorum: error: POST /api/webhooks/deliveries/31/resend/: 404 Not found.\n"
    missing = quorum("jobs", "list", url="", token="")
    assert missing.returncode == 2 and "no server" in missing.stderr


def test_cli_login_stores_the_token_readable_by_its_owner_only(fake, tmp_path):
    fake.on("POST", "/api/auth/token/", body={"token": "fresh-token", "expires_at": None})
    config = tmp_path / "conf" / "quorum.json"
    env_token = ""  # no token yet: login gets one
    result = quorum("--url", fake.url, "login", "-u", "ann", "--password-stdin", url="", token=env_token,
                    config=config, stdin="s3cret pass\n")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(fake.requests[-1]["body"]) == {"username": "ann", "password": "s3cret pass"}
    assert json.loads(config.read_text()) == {"url": fake.url, "token": "fresh-token"}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    # Later commands use the stored URL and token.
    fake.on("GET", "/api/jobs/", body={"count": 0, "next": None, "results": []})
    assert quorum("jobs", "list", url="", token="", config=config).returncode == 0
    assert fake.requests[-1]["headers"]["Authorization"] == "Token fresh-token"
    fake.routes[("POST", "/api/auth/token/")] = [(400, {"non_field_errors": ["Unable to log in"]}, {})]
    refused = quorum("--url", fake.url, "login", "-u", "ann", "--password-stdin", url="", token="", config=config,
                     stdin="wrong\n")  # fmt: skip
    assert refused.returncode == 1 and "wrong username or password for 'ann'" in refused.stderr


def test_the_package_imports_without_django():
    code = "import sys, quorum_client; assert 'django' not in sys.modules; print(quorum_client.__version__)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
